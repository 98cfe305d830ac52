"""latents -> frames. Pure: any frame is a function of (latents, params, t) alone.

Per frame, object geometry for all N objects is one batch of numpy operations; only objects whose bounding
box meets the canvas reach OpenCV, one fill call each, in creation (z) order. A static video renders once.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .latents import SHAPE_CODE, Latents
from .params import VideoParams

_CIRCLE = SHAPE_CODE["circle"]
_SQUARE = SHAPE_CODE["square"]
_ORIENTED = SHAPE_CODE["oriented_square"]
_RECT = SHAPE_CODE["rectangle"]
_TRI = SHAPE_CODE["triangle"]

cv2.setNumThreads(1)  # parallelism comes from Ray tasks; OpenCV's thread pool would only add jitter
_LABELS = [(k,) for k in range(256)]  # fill values of the 8-bit label map, built once


def _local_corners(lat: Latents, params: VideoParams) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4, 2) polygon corners `b` and (N, 2) pivots `p` in the object's frame: a pixel of the object at
    time t is centre(t) + p + A(t) (b - p). Paper geometry: corners relative to the shape's centre, pivot
    at the centre. Reference geometry: corners in the shape's [0, 2r] box (box origin at the centre,
    truncated to int before the affine step), pivot (r//2, r//2), square spanning (0,0)-(r√2, r√2)."""
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
        # box coordinates: the box origin sits on the object's centre, corners truncated to int
        corners = np.trunc(corners + r[:, :, None])
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
        self.pools = pools or {}
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
        self._setup_pools()
        self.radius_f = lat.radius.astype(np.float64)
        self.colour_arr = lat.colour
        self._labels = np.zeros((self.res, self.res), np.uint8)
        self._labels16 = np.zeros((self.res, self.res), np.uint16)
        self._cmap = np.zeros((256, 1, 3), np.uint8)
        self._cmap[0, 0] = self.background_colour
        self.all_circles = bool(np.all(self.is_circle))
        self.radius_l = lat.radius.tolist()
        rel = self.corners - self.pivots[:, None, :]
        self.local_x, self.local_y = rel[:, :, 0].copy(), rel[:, :, 1].copy()
        self.pivot_x, self.pivot_y = self.pivots[:, 0:1].copy(), self.pivots[:, 1:2].copy()

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
        if self._static_image is not None:
            img[:] = self._static_image
            return img
        if self.lat.count == 0:
            img[:] = self.background_colour
            background = self._background_image(t)
            if background is not None:
                img[:] = background
            return img
        res, params, lat = self.res, self.params, self.lat
        cx, cy = self.centres(t)
        A = self.matrices(t)
        r = self.radius_f

        # polygon corners of every object in one batch (skipped when every object is a circle)
        if not self.all_circles:
            lx, ly = self.local_x, self.local_y
            if A is not None:
                lx, ly = (A[:, 0, 0, None] * lx + A[:, 0, 1, None] * ly,
                          A[:, 1, 0, None] * lx + A[:, 1, 1, None] * ly)
            px = cx[:, None] + self.pivot_x + lx
            py = cy[:, None] + self.pivot_y + ly
            rnd = np.trunc if params.affine_pivot == "reference" else np.rint

        circle = self.is_circle
        mode = params.circle_affine if A is not None else "none"
        if mode == "ellipse":   # exact axis-aligned half-extents of the ellipse r·A·(unit circle)
            ext_x = r * np.hypot(A[:, 0, 0], A[:, 0, 1])
            ext_y = r * np.hypot(A[:, 1, 0], A[:, 1, 1])
        elif mode == "reference-onthefly":
            ext_x = ext_y = np.abs(1 + lat.scale * t).max(axis=1) * r
        else:
            ext_x = ext_y = r

        if params.culling == "centre":
            visible = (cx > -res) & (cx < 2 * res) & (cy > -res) & (cy < 2 * res)
        elif self.all_circles:
            visible = (cx + ext_x >= -1) & (cx - ext_x <= res) & (cy + ext_y >= -1) & (cy - ext_y <= res)
        else:
            x_lo = np.where(circle, cx - ext_x, px.min(axis=1))
            x_hi = np.where(circle, cx + ext_x, px.max(axis=1))
            y_lo = np.where(circle, cy - ext_y, py.min(axis=1))
            y_hi = np.where(circle, cy + ext_y, py.max(axis=1))
            visible = (x_hi >= -1) & (x_lo <= res) & (y_hi >= -1) & (y_lo <= res)

        idx = np.flatnonzero(visible)
        if not self.all_circles:
            pts = np.stack([rnd(px[idx]), rnd(py[idx])], -1).astype(np.int32)
        vis_circle = circle[idx]
        ell = {}
        if mode == "ellipse" and vis_circle.any():
            ci = idx[vis_circle]
            a, b, c, d = A[ci, 0, 0], A[ci, 0, 1], A[ci, 1, 0], A[ci, 1, 1]
            # closed-form SVD of a 2x2 matrix: singular values Q±R, rotation of U
            e, f, g, h = (a + d) / 2, (a - d) / 2, (c + b) / 2, (c - b) / 2
            q, rr = np.hypot(e, h), np.hypot(f, g)
            ang = np.degrees((np.arctan2(g, f) + np.arctan2(h, e)) / 2)
            ax1 = np.rint((q + rr) * r[ci]).astype(np.int64).tolist()
            ax2 = np.rint(np.abs(q - rr) * r[ci]).astype(np.int64).tolist()
            ell = dict(zip(ci.tolist(), zip(ax1, ax2, ang.tolist())))

        # Paint a label map (visible object k -> label k+1; one byte per pixel while labels fit, a third of
        # the bytes of RGB) and colour it with one lookup. Textured objects then take their crops where
        # their label shows.
        n = len(idx)
        labels = self._labels if n < 256 else self._labels16
        labels[:] = 0
        nverts = self.nverts
        fill_poly, circle_fn, ellipse_fn = cv2.fillConvexPoly, cv2.circle, cv2.ellipse
        cxl, cyl, rl = cx.tolist(), cy.tolist(), self.radius_l
        paint = _LABELS if n < 256 else [(k,) for k in range(n + 1)]
        for j, i in enumerate(idx.tolist()):
            label = paint[j + 1]
            if circle[i]:
                if mode == "none":
                    circle_fn(labels, (cxl[i], cyl[i]), rl[i], label, -1)
                elif mode == "ellipse":
                    a1, a2, angle = ell[i]
                    ellipse_fn(labels, (cxl[i], cyl[i]), (a1, a2), angle, 0, 360, label, -1)
                else:  # the on-the-fly reference: axis-scaled radii, a radian angle passed as degrees
                    axes = (max(int(rl[i] * (1 + lat.scale[i, 0] * t)), 0),
                            max(int(rl[i] * (1 + lat.scale[i, 1] * t)), 0))
                    ellipse_fn(labels, (cxl[i], cyl[i]), axes, float(lat.rotation[i] * t), 0, 360, label, -1)
            else:
                fill_poly(labels, pts[j, :nverts[i]], label)
        if n < 256:
            cmap = self._cmap
            cmap[1:n + 1, 0] = self.colour_arr[idx]
            cv2.applyColorMap(labels, cmap, dst=img)   # img[y, x] = cmap[label[y, x]], one pass
        else:
            palette = np.concatenate([self._cmap[:1, 0], self.colour_arr[idx]])
            np.take(palette, labels, axis=0, out=img)
        background = self._background_image(t)
        if background is not None:
            cv2.copyTo(background, cv2.compare(labels, 0, cv2.CMP_EQ), img)
        if self.textured and n:
            self._composite(img, labels, idx, cx, cy, A, pts if not self.all_circles else None, ell, t)
        return img

    # -- pools: textured objects, backgrounds, static replacements ----------------------------------------
    def _setup_pools(self) -> None:
        p, lat, res = self.params, self.lat, self.res
        self.background_colour = np.array(p.background, np.uint8)
        if p.background_mode == "random-colour":
            self.background_colour = (lat.background_u[:3] * 255).astype(np.uint8)
        self.textured = p.fill == "pool"
        self._bg_pool = self._bg_image = self._static_image = None
        self.static_replacement = False
        if p.background_mode in ("pool-image", "pool-clip"):
            self._bg_pool = self._pool(p.background_pool or p.pool)
            self._bg_item = min(int(lat.background_u[3] * self._bg_pool.items), self._bg_pool.items - 1)
            if p.background_mode == "pool-image":
                self._bg_image = self._resize(self._bg_pool.frame(self._bg_item, 0), res)
        if p.static_fraction > 0 and lat.static_u[0] < p.static_fraction:
            pool = self._pool(p.static_pool)
            self.static_replacement = True
            self._static_item = min(int(lat.static_u[1] * pool.items), pool.items - 1)
            self._static_image = self._resize(pool.frame(self._static_item, 0), res)
        if self.textured:
            pool = self._pool(p.pool)
            self._fill_pool = pool
            self.items = np.minimum((lat.item_u * pool.items).astype(np.int64), pool.items - 1)
            room = np.maximum(2 * res - 2 * lat.radius, 0).astype(np.float64)
            self.crop_offset = (np.zeros((lat.count, 2)) if p.crop == "reference"
                                else np.floor(lat.crop_u * room[:, None]))
            self._scale = 2 * res / p.item_px           # items stand for a (2 res)^2 texture, as the reference
            self._item_cache: dict = {}
            # static items: one atlas per video (slots filled on first show), one remap per frame
            uniq, slot_of = np.unique(self.items, return_inverse=True)
            cols = max(1, math.ceil(math.sqrt(len(uniq))))
            P = self._item_px = p.item_px
            self._atlas_ok = (not p.dynamic and lat.count > 0 and cols * P < 32000 and
                              math.ceil(len(uniq) / cols) * P < 32000)
            if self._atlas_ok:
                self._slot_of, self._atlas_cols = slot_of.reshape(-1), cols
                self._slot_loaded = np.zeros(len(uniq), bool)
                # one spare row and column: bilinear neighbours of the last slot's edge stay inside
                self._atlas = np.zeros((math.ceil(len(uniq) / cols) * P + 1, cols * P + 1, 3), np.uint8)
                self._grid_y, self._grid_x = (g.astype(np.float32) for g in np.mgrid[0:res, 0:res])
        self.is_static = self.static_replacement or not (
            self.moving or p.dynamic or p.background_mode == "pool-clip")

    def _pool(self, name: str):
        try:
            return self.pools[name]
        except KeyError:
            raise RuntimeError(f"pool {name!r} is not open for this render (have: {sorted(self.pools)})") from None

    @staticmethod
    def _resize(image: np.ndarray, res: int) -> np.ndarray:
        if image.shape[0] == res and image.shape[1] == res:
            return image
        return cv2.resize(image, (res, res), interpolation=cv2.INTER_AREA if image.shape[0] > res else cv2.INTER_LINEAR)

    def _background_image(self, t: int) -> np.ndarray | None:
        if self._bg_image is not None:
            return self._bg_image
        if self._bg_pool is not None:   # a whole-frame clip: frame t of the clip
            return self._resize(self._bg_pool.frame(self._bg_item, t), self.res)
        return None

    def sample_info(self) -> dict:
        """What the sample JSON records about pool draws (auditing the variant's defining property)."""
        p, info = self.params, {}
        if p.static_fraction > 0:
            info["static_replacement"] = self.static_replacement
            if self.static_replacement:
                info["static_item"] = self._static_item
        if p.background_mode == "random-colour":
            info["background_colour"] = [int(c) for c in self.background_colour]
        if self._bg_pool is not None:
            info["background_item"] = self._bg_item
        if self.textured:
            info["pool_items"] = {"distinct": int(len(np.unique(self.items)))}
            if hasattr(self._fill_pool, "source_of"):
                sources = [self._fill_pool.source_of(i) for i in self.items]
                info["pool_items"]["from_each_source"] = [sources.count(0), sources.count(1)]
        return info

    def _item_frame(self, i: int, t: int) -> np.ndarray:
        pool, item = self._fill_pool, int(self.items[i])
        if not self.params.dynamic:
            # one decode per item and video (an object keeps its item for life); bounded, oldest out first
            frame = self._item_cache.get(item)
            if frame is None:
                frame = pool.frame(item, 0)
                if len(self._item_cache) >= ITEM_CACHE:
                    del self._item_cache[next(iter(self._item_cache))]
                self._item_cache[item] = frame
            return frame
        length = pool.clip_length(item)
        if length == 1:
            return pool.frame(item, 0)
        # ping-pong through the clip from the object's start frame: a latent walk has no seam to jump
        k = int(self.lat.clip_u[i] * length) + t
        period = 2 * length - 2
        k %= period
        return pool.frame(item, k if k < length else period - k)

    def _composite(self, img, labels, idx, cx, cy, A, pts, ell, t) -> None:
        """Fill each textured object that shows with its crop: the item is warped with the object's affine
        map (so the crop moves, turns, scales and shears with it), only over the object's bounding box, and
        copied where the object's label shows. The geometry of every shown object is one batch of numpy;
        the loop is one warp, one compare and one masked copy per object (all OpenCV)."""
        p, res, lat = self.params, self.res, self.lat
        counts = np.bincount(labels.ravel(), minlength=len(idx) + 1)[1:]
        show = np.flatnonzero(counts[:len(idx)])            # fully hidden objects cost nothing
        if not len(show):
            return
        obj = idx[show]
        m = len(obj)
        r = self.radius_f[obj]
        circle = self.is_circle[obj]
        Ai = A[obj] if A is not None else np.broadcast_to(np.eye(2), (m, 2, 2)).copy()
        if circle.any():
            if A is None or p.circle_affine == "none":
                Ai[circle] = np.eye(2)
            elif p.circle_affine == "reference-onthefly":
                d = 1 + lat.scale[obj[circle]] * t
                Ai[circle] = 0
                Ai[circle, 0, 0], Ai[circle, 1, 1] = d[:, 0], d[:, 1]
        centre = np.stack([cx[obj], cy[obj]], 1).astype(np.float64)
        pivot, shift = np.zeros((m, 2)), np.repeat(r[:, None], 2, axis=1)
        poly = ~circle
        if poly.any():
            pivot[poly] = self.pivots[obj[poly]]
            if p.affine_pivot == "reference":
                shift[poly] = 0
        M = np.empty((m, 2, 3))
        M[:, :, :2] = Ai * self._scale
        M[:, :, 2] = centre + pivot - np.einsum("nij,nj->ni", Ai, self.crop_offset[obj] + shift + pivot)
        if self._atlas_ok:
            self._composite_atlas(img, labels, show, obj, M)
            return
        lo, hi = np.empty((m, 2)), np.empty((m, 2))       # the per-object path: bounding boxes
        if circle.any():
            ext = np.abs(Ai[circle]).sum(axis=2) * r[circle, None] + 1
            lo[circle], hi[circle] = centre[circle] - ext, centre[circle] + ext
        if poly.any():
            pp = pts[show[poly]]
            lo[poly], hi[poly] = pp.min(axis=1), pp.max(axis=1)
        x0y0 = np.maximum(np.floor(lo).astype(np.int64), 0)
        x1y1 = np.minimum(np.ceil(hi).astype(np.int64) + 1, res)
        M[:, :, 2] -= x0y0
        boxes = np.concatenate([x0y0, x1y1], 1).tolist()
        labels_of = (show + 1).tolist()
        warp, compare, copy_to, bounding = cv2.warpAffine, cv2.compare, cv2.copyTo, cv2.boundingRect
        flags, border, eq = cv2.INTER_LINEAR, cv2.BORDER_REFLECT_101, cv2.CMP_EQ
        saturate, colours = p.saturate, lat.colour
        for q, i in enumerate(obj.tolist()):
            x0, y0, x1, y1 = boxes[q]
            if x1 <= x0 or y1 <= y0:
                continue
            mask = compare(labels[y0:y1, x0:x1], labels_of[q], eq)
            # warp only the box of the pixels that show (objects in front hide most of a large one)
            bx, by, bw, bh = bounding(mask)
            if bw == 0 or bh == 0:
                continue
            Mq = M[q]
            if bx or by:
                Mq = Mq.copy()
                Mq[0, 2] -= bx
                Mq[1, 2] -= by
            crop = warp(self._item_frame(i, t), Mq, (bw, bh), flags=flags, borderMode=border)
            if saturate == "wrap":
                np.add(crop, colours[i], out=crop)                       # uint8 arithmetic wraps
            elif saturate == "clip":
                crop = cv2.add(crop, np.full_like(crop, 0) + colours[i])  # saturates at 255
            x0, y0 = x0 + bx, y0 + by
            copy_to(crop, mask[by:by + bh, bx:bx + bw], img[y0:y0 + bh, x0:x0 + bw])

    def _composite_atlas(self, img, labels, show, obj, M) -> None:
        """Static items: every shown object's item sits in one atlas image (decoded once per video), and
        one remap of the whole frame fills every object: per pixel, its object's inverse affine map
        (looked up by label) gives the item coordinate, reflected into the item (BORDER_REFLECT_101: for
        bilinear sampling, reflecting the coordinate equals reflecting the neighbours), then shifted to the
        item's atlas slot."""
        p = self.params
        P = self._item_px
        slots = self._slot_of[obj]
        for q in np.flatnonzero(~self._slot_loaded[slots]).tolist():
            s = int(slots[q])
            item = self._fill_pool.frame(int(self.items[obj[q]]), 0)
            if item.shape[0] != P or item.shape[1] != P:
                raise ValueError(f"pool item of {item.shape[:2]} px, expected {P} (item_px)")
            r0, c0 = (s // self._atlas_cols) * P, (s % self._atlas_cols) * P
            self._atlas[r0:r0 + P, c0:c0 + P] = item
            self._slot_loaded[s] = True
        n = int(show[-1]) + 2                               # labels in the map: 0 and show + 1
        # inverse affine map per shown object: frame pixel -> item pixel
        inv = np.empty_like(M)
        inv[:, :, :2] = np.linalg.inv(M[:, :, :2])
        inv[:, :, 2] = -np.einsum("nij,nj->ni", inv[:, :, :2], M[:, :, 2])
        table = np.zeros((8, max(n, 256)), np.float32)
        table[:6, show + 1] = inv.reshape(-1, 6).T
        table[6, show + 1] = (slots % self._atlas_cols) * P
        table[7, show + 1] = (slots // self._atlas_cols) * P
        table[6:, 0] = -1e6                 # background pixels map outside the atlas: remap leaves them be
        if labels.dtype == np.uint8:
            a, b, c, d, e, f, ox, oy = (cv2.LUT(labels, table[k, :256]) for k in range(8))
        else:
            a, b, c, d, e, f, ox, oy = (np.take(table[k], labels) for k in range(8))
        X, Y = self._grid_x, self._grid_y
        u = a
        u *= X
        b *= Y
        u += b
        u += c
        v = d
        v *= X
        e *= Y
        v += e
        v += f
        last, period = np.float32(P - 1), np.float32(2 * (P - 1))
        for w in (u, v):                                    # reflect-101 into [0, P-1] where needed
            lo, hi = cv2.minMaxLoc(w)[:2]
            if lo < 0 or hi > last:
                # x -> (P-1) - |x mod 2(P-1) - (P-1)|
                k = np.floor(w * np.float32(1 / period))
                k *= period
                w -= k
                w -= last
                np.abs(w, out=w)
                np.subtract(last, w, out=w)
                np.maximum(w, 0, out=w)
        u += ox
        v += oy
        if p.saturate == "none":
            # straight into the frame; BORDER_TRANSPARENT leaves the background (mapped outside) untouched
            cv2.remap(self._atlas, u, v, cv2.INTER_LINEAR, dst=img, borderMode=cv2.BORDER_TRANSPARENT)
            return
        filled = cv2.remap(self._atlas, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if p.saturate == "wrap":       # img holds each object's flat colour where its label shows
            np.add(filled, img, out=filled)                           # uint8 arithmetic wraps
        elif p.saturate == "clip":
            filled = cv2.add(filled, img)                             # saturates at 255
        mask = cv2.compare(labels, 0, cv2.CMP_GT) if labels.dtype == np.uint8 else (labels > 0).view(np.uint8)
        cv2.copyTo(filled, mask, img)


ITEM_CACHE = 256      # decoded items kept per video: 256 x 256 px x 3 B = 48 MB at most


def render_frame(latents: Latents, params: VideoParams, t: int) -> np.ndarray:
    return Renderer(latents, params).frame(t).copy()


def render_video(latents: Latents, params: VideoParams) -> list[np.ndarray]:
    return Renderer(latents, params).frames()
