"""latents -> frames. Pure: any frame is a function of (latents, params, t) alone.

Per frame, object geometry for all N objects is one batch of numpy operations; only objects whose bounding
box meets the canvas reach OpenCV, one fill call each, in creation (z) order. A static video renders once.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .composite import FrameGeometry, PoolFill
from .latents import SHAPE_CODE, Latents
from .params import VideoParams

_CIRCLE = SHAPE_CODE["circle"]
_SQUARE = SHAPE_CODE["square"]
_ORIENTED = SHAPE_CODE["oriented_square"]
_RECT = SHAPE_CODE["rectangle"]
_TRI = SHAPE_CODE["triangle"]

cv2.setNumThreads(1)  # parallelism comes from Ray tasks; OpenCV's thread pool would only add jitter
_LABELS = [(k,) for k in range(256)]  # fill values of the 8-bit label map, built once


def _fill_poly_reference(img, pts, colour):
    return cv2.fillPoly(img, [pts], colour)


def _circle_reference(img, centre, radius, colour, thickness):
    return cv2.ellipse(img, centre, (radius, radius), 0, 0, 360, colour, thickness)


# (polygon fill, filled circle, filled ellipse) per `rasterise`: OpenCV's convex-polygon and circle fills
# differ from its general polygon and ellipse fills on edge pixels; the authors' code calls the latter.
_RASTER = {"fast": (cv2.fillConvexPoly, cv2.circle, cv2.ellipse),
           "reference": (_fill_poly_reference, _circle_reference, cv2.ellipse)}


def _local_corners(lat: Latents, params: VideoParams) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4, 2) polygon corners `b` and (N, 2) pivots `p` in the object's frame: a pixel of the object at
    time t is centre(t) + p + A(t) (b - p). Paper geometry: corners relative to the shape's centre, pivot
    at the centre. Reference geometry: corners in the shape's [0, 2r] box (box origin at the centre,
    truncated to int before the affine step; the oriented square's half-side r√2/2 is truncated before it
    turns by its angle), pivot (r//2, r//2), square spanning (0,0)-(r√2, r√2)."""
    n = lat.count
    r = lat.radius.astype(np.float64)[:, None]
    ang = lat.shape_angles
    k = np.arange(4)
    corners = np.zeros((n, 4, 2))
    # circles never use corners; default everything to a square of half-side r/√2 (also the square itself)
    sq = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) / math.sqrt(2)
    corners[:] = sq[None] * r[:, :, None]
    oriented = lat.shape == _ORIENTED
    phi = ang[oriented, 0:1] + np.pi / 4 + k[None, :] * np.pi / 2
    corners[oriented] = np.stack([np.cos(phi), np.sin(phi)], -1) * r[oriented, :, None]
    rect = lat.shape == _RECT
    a = ang[rect, 1]
    rc, rs = np.cos(a), np.sin(a)
    corners[rect] = np.stack([np.stack([rc, rs], -1), np.stack([-rc, rs], -1),
                              np.stack([-rc, -rs], -1), np.stack([rc, -rs], -1)], 1) * r[rect, :, None]
    poly = lat.shape >= _TRI
    corners[poly] = np.stack([np.cos(ang[poly]), np.sin(ang[poly])], -1) * r[poly, :, None]

    pivots = np.zeros((n, 2))
    if params.square_geometry == "reference":
        side = r[:, 0] * math.sqrt(2)
        square = lat.shape == _SQUARE
        box = np.stack([np.zeros(n), np.zeros(n), side, side], 1)
        sq_ref = np.stack([box[:, [0, 2, 2, 0]], box[:, [1, 1, 3, 3]]], -1)  # (0,0),(s,0),(s,s),(0,s)
        corners[square] = sq_ref[square] - r[square, :, None]  # expressed relative to the box centre (r, r)
    if params.affine_pivot == "reference":
        # box coordinates: the box origin sits on the object's centre, corners truncated to int; the
        # oriented square truncates its half-side, then turns (its corners stay fractional)
        corners = np.trunc(corners + r[:, :, None])
        half = np.trunc(r[oriented, 0] * math.sqrt(2) / 2)[:, None]
        th = ang[oriented, 0:1]
        c, s = np.cos(th), np.sin(th)
        hx, hy = half * np.array([-1, 1, 1, -1]), half * np.array([-1, -1, 1, 1])
        corners[oriented] = np.stack([c * hx - s * hy, s * hx + c * hy], -1) + r[oriented, :, None]
        pivots = np.repeat((lat.radius // 2).astype(np.float64)[:, None], 2, axis=1)
    elif params.square_geometry == "reference":
        corners = corners + r[:, :, None]  # the off-centre square keeps its box offset under a centre pivot
        corners[lat.shape != _SQUARE] -= r[lat.shape != _SQUARE, :, None]
    return corners, pivots


def _rate_matrix(rot, sx, sy, hx, hy) -> np.ndarray:
    c, s = np.cos(rot), np.sin(rot)
    R = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    S = np.zeros_like(R)
    S[:, 0, 0], S[:, 1, 1] = sx, sy
    H = np.ones_like(R)
    H[:, 0, 1], H[:, 1, 0] = hx, hy
    return R @ S @ H


class Renderer:
    """Everything about one video that does not depend on t, computed once."""

    def __init__(self, latents: Latents, params: VideoParams, pools: dict | None = None):
        self.lat, self.params = latents, params
        self.res = params.size
        lat = latents
        self.corners, self.pivots = _local_corners(lat, params)
        self.nverts = np.where(lat.shape == _TRI, 3, 4)
        self.is_circle = lat.shape == _CIRCLE
        self.cos_d, self.sin_d = np.cos(lat.direction), np.sin(lat.direction)
        self.affine = params.affine and lat.count > 0
        if self.affine and params.affine_mode == "compound":
            self.rate = _rate_matrix(lat.rotation, 1 + lat.scale[:, 0], 1 + lat.scale[:, 1],
                                     lat.shear[:, 0], lat.shear[:, 1])
        self.moving = bool(np.any(lat.speed != 0) or np.any(lat.acceleration != 0) or self.affine)
        self._static_frame = None
        self.radius_f = lat.radius.astype(np.float64)
        self.fill = PoolFill(lat, params, pools or {}, self.res, (self.radius_f, self.is_circle, self.pivots))
        self.is_static = self.fill.static_replacement or not (self.moving or self.fill.moves_by_itself)
        self.colour_arr = lat.colour
        self._labels = np.zeros((self.res, self.res), np.uint8)
        self._labels16 = np.zeros((self.res, self.res), np.uint16)
        self._cmap = np.zeros((256, 1, 3), np.uint8)
        self._cmap[0, 0] = self.fill.background_colour
        self.all_circles = bool(np.all(self.is_circle))
        self.radius_l = lat.radius.tolist()
        rel = self.corners - self.pivots[:, None, :]
        self.local_x, self.local_y = rel[:, :, 0].copy(), rel[:, :, 1].copy()
        self.pivot_x, self.pivot_y = self.pivots[:, 0:1].copy(), self.pivots[:, 1:2].copy()

    def sample_info(self) -> dict:
        """What the sample JSON records about pool draws."""
        return self.fill.sample_info()

    def centres(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        lat = self.lat
        disp = (lat.speed + lat.acceleration * t) * t
        cx = (lat.x0 + disp * self.cos_d).astype(np.int32)   # truncation, as the reference
        cy = (lat.y0 + disp * self.sin_d).astype(np.int32)
        return cx, cy

    def matrices(self, t: int) -> np.ndarray | None:
        if not self.affine:
            return None
        lat = self.lat
        if self.params.affine_mode == "compound":
            return np.linalg.matrix_power(self.rate, t)
        return _rate_matrix(lat.rotation * t, 1 + lat.scale[:, 0] * t, 1 + lat.scale[:, 1] * t,
                            lat.shear[:, 0] * t, lat.shear[:, 1] * t)

    def frame(self, t: int, out: np.ndarray | None = None) -> np.ndarray:
        """Frame t, drawn into `out` when given (saves the allocation). A static video is drawn once and
        the same array is returned for every t."""
        if not 0 <= t < self.lat.frames:
            raise IndexError(f"frame {t} of a {self.lat.frames}-frame video")
        if self.is_static:
            if self._static_frame is None:
                self._static_frame = self._draw(0, np.empty((self.res, self.res, 3), np.uint8))
            return self._static_frame
        return self._draw(t, np.empty((self.res, self.res, 3), np.uint8) if out is None else out)

    def stream(self):
        """Every frame in order, drawn into one buffer (valid until the next frame is drawn)."""
        buf = np.empty((self.res, self.res, 3), np.uint8)
        for t in range(self.lat.frames):
            yield self.frame(t, out=buf)

    def frames(self, indices=None) -> list[np.ndarray]:
        indices = range(self.lat.frames) if indices is None else indices
        return [self.frame(int(t)) for t in indices]

    def _draw(self, t: int, img: np.ndarray) -> np.ndarray:
        fill = self.fill
        if fill.static_image is not None:
            img[:] = fill.static_image
            return img
        if self.lat.count == 0:
            img[:] = fill.background_colour
            background = fill.background_image(t)
            if background is not None:
                img[:] = background
            return img
        cx, cy = self.centres(t)
        A = self.matrices(t)
        px, py = self._corners(cx, cy, A)
        mode = self.params.circle_affine if A is not None else "none"
        ext_x, ext_y = self._circle_extents(mode, A, t)
        idx = self._visible(cx, cy, px, py, ext_x, ext_y)
        pts = None
        if not self.all_circles:
            rnd = np.trunc if self.params.affine_pivot == "reference" else np.rint
            pts = np.stack([rnd(px[idx]), rnd(py[idx])], -1).astype(np.int32)
        geo = FrameGeometry(t, cx, cy, A, idx, pts)
        labels = self._paint_labels(geo, mode, self._ellipses(geo) if mode == "ellipse" else {})
        self._colour(img, labels, idx)
        background = fill.background_image(t)
        if background is not None:
            cv2.copyTo(background, cv2.compare(labels, 0, cv2.CMP_EQ), img)
        if fill.textured and len(idx):
            fill.composite(img, labels, geo)
        return img

    def _corners(self, cx, cy, A) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Polygon corners (x, y) of every object in one batch (None when every object is a circle)."""
        if self.all_circles:
            return None, None
        lx, ly = self.local_x, self.local_y
        if A is not None:
            lx, ly = (A[:, 0, 0, None] * lx + A[:, 0, 1, None] * ly,
                      A[:, 1, 0, None] * lx + A[:, 1, 1, None] * ly)
        return cx[:, None] + self.pivot_x + lx, cy[:, None] + self.pivot_y + ly

    def _circle_extents(self, mode: str, A, t: int):
        """Half-extents (x, y) of the circles' bounding boxes."""
        r = self.radius_f
        if mode == "ellipse":   # exact axis-aligned half-extents of the ellipse r·A·(unit circle)
            return r * np.hypot(A[:, 0, 0], A[:, 0, 1]), r * np.hypot(A[:, 1, 0], A[:, 1, 1])
        if mode == "reference-onthefly":
            ext = np.abs(1 + self.lat.scale * t).max(axis=1) * r
            return ext, ext
        return r, r

    def _visible(self, cx, cy, px, py, ext_x, ext_y) -> np.ndarray:
        """Indices of the objects drawn this frame, in z order."""
        res, circle = self.res, self.is_circle
        if self.params.culling == "centre":
            visible = (cx > -res) & (cx < 2 * res) & (cy > -res) & (cy < 2 * res)
        elif self.all_circles:
            visible = (cx + ext_x >= -1) & (cx - ext_x <= res) & (cy + ext_y >= -1) & (cy - ext_y <= res)
        else:
            x_lo = np.where(circle, cx - ext_x, px.min(axis=1))
            x_hi = np.where(circle, cx + ext_x, px.max(axis=1))
            y_lo = np.where(circle, cy - ext_y, py.min(axis=1))
            y_hi = np.where(circle, cy + ext_y, py.max(axis=1))
            visible = (x_hi >= -1) & (x_lo <= res) & (y_hi >= -1) & (y_lo <= res)
        return np.flatnonzero(visible)

    def _ellipses(self, geo: FrameGeometry) -> dict:
        """Visible circle index -> (axis 1, axis 2, angle in degrees) of its image under A."""
        ci = geo.idx[self.is_circle[geo.idx]]
        if not len(ci):
            return {}
        A, r = geo.A, self.radius_f
        a, b, c, d = A[ci, 0, 0], A[ci, 0, 1], A[ci, 1, 0], A[ci, 1, 1]
        # closed-form SVD of a 2x2 matrix: singular values Q±R, rotation of U
        e, f, g, h = (a + d) / 2, (a - d) / 2, (c + b) / 2, (c - b) / 2
        q, rr = np.hypot(e, h), np.hypot(f, g)
        ang = np.degrees((np.arctan2(g, f) + np.arctan2(h, e)) / 2)
        ax1 = np.rint((q + rr) * r[ci]).astype(np.int64).tolist()
        ax2 = np.rint(np.abs(q - rr) * r[ci]).astype(np.int64).tolist()
        return dict(zip(ci.tolist(), zip(ax1, ax2, ang.tolist())))

    def _paint_labels(self, geo: FrameGeometry, mode: str, ell: dict) -> np.ndarray:
        """A label map of the visible objects (object idx[k] -> label k+1; one byte per pixel while labels
        fit, a third of the bytes of RGB), painted in z order: one OpenCV fill per object."""
        n, lat, t = len(geo.idx), self.lat, geo.t
        labels = self._labels if n < 256 else self._labels16
        labels[:] = 0
        nverts, circle, pts = self.nverts, self.is_circle, geo.pts
        fill_poly, circle_fn, ellipse_fn = _RASTER[self.params.rasterise]
        cxl, cyl, rl = geo.cx.tolist(), geo.cy.tolist(), self.radius_l
        paint = _LABELS if n < 256 else [(k,) for k in range(n + 1)]
        for j, i in enumerate(geo.idx.tolist()):
            label = paint[j + 1]
            if not circle[i]:
                fill_poly(labels, pts[j, :nverts[i]], label)
            elif mode == "none":
                circle_fn(labels, (cxl[i], cyl[i]), rl[i], label, -1)
            elif mode == "ellipse":
                a1, a2, angle = ell[i]
                ellipse_fn(labels, (cxl[i], cyl[i]), (a1, a2), angle, 0, 360, label, -1)
            else:  # the on-the-fly reference: axis-scaled radii, a radian angle passed as degrees
                axes = (max(int(rl[i] * (1 + lat.scale[i, 0] * t)), 0), max(int(rl[i] * (1 + lat.scale[i, 1] * t)), 0))
                ellipse_fn(labels, (cxl[i], cyl[i]), axes, float(lat.rotation[i] * t), 0, 360, label, -1)
        return labels

    def _colour(self, img: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> None:
        """img[y, x] = the colour of the object labelled there (the background colour for label 0)."""
        n = len(idx)
        if n < 256:
            cmap = self._cmap
            cmap[1:n + 1, 0] = self.colour_arr[idx]
            cv2.applyColorMap(labels, cmap, dst=img)   # one pass
        else:
            palette = np.concatenate([self._cmap[:1, 0], self.colour_arr[idx]])
            np.take(palette, labels, axis=0, out=img)


def render_frame(latents: Latents, params: VideoParams, t: int) -> np.ndarray:
    return Renderer(latents, params).frame(t).copy()


def render_video(latents: Latents, params: VideoParams) -> list[np.ndarray]:
    return Renderer(latents, params).frames()
