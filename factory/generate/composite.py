"""Pool content in a video: textured objects, pool-image or pool-clip backgrounds, random-colour
backgrounds, static replacements, and the saturated (colour-offset) crops.

`PoolFill` holds, for one video, every pool draw that does not depend on t (made once from the latents'
uniforms) and fills a frame's textured objects given the frame's geometry (`FrameGeometry`, from the
renderer). Static items go through one atlas and one remap of the whole frame; dynamic crops (latent-walk
clips) are warped object by object over the pixels where the object shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..pools.reader import MixedPool
from .latents import Latents
from .params import VideoParams

ITEM_CACHE = 256      # decoded items kept per video: 256 x 256 px x 3 B = 48 MB at most


@dataclass
class FrameGeometry:
    """Where the objects of frame t are, as the renderer drew them into the label map."""
    t: int
    cx: np.ndarray             # (N,) int32 centres of every object
    cy: np.ndarray
    A: np.ndarray | None       # (N, 2, 2) affine maps of every object, None without affine motion
    idx: np.ndarray            # the visible objects, in z order; object idx[k] has label k + 1
    pts: np.ndarray | None     # (len(idx), 4, 2) int32 polygon corners, None when every object is a circle


def resize_to(image: np.ndarray, res: int) -> np.ndarray:
    """A pool image at the frame's size: area-averaged down, bilinear up."""
    if image.shape[0] == res and image.shape[1] == res:
        return image
    return cv2.resize(image, (res, res), interpolation=cv2.INTER_AREA if image.shape[0] > res else cv2.INTER_LINEAR)


class PoolFill:
    """The pool draws of one video and the compositing of its textured objects."""

    def __init__(self, latents: Latents, params: VideoParams, pools: dict, res: int, geometry):
        self.lat, self.params, self.pools, self.res = latents, params, pools, res
        self.radius_f, self.is_circle, self.pivots = geometry   # the renderer's per-object constants
        self.background_colour = np.array(params.background, np.uint8)
        if params.background_mode == "random-colour":
            self.background_colour = (latents.background_u[:3] * 255).astype(np.uint8)
        self.textured = params.fill == "pool"
        self._bg_pool = self._bg_image = self.static_image = None
        self.static_replacement = False
        if params.background_mode in ("pool-image", "pool-clip"):
            self._bg_pool = self._pool(params.background_pool or params.pool)
            self._bg_item = min(int(latents.background_u[3] * self._bg_pool.items), self._bg_pool.items - 1)
            if params.background_mode == "pool-image":
                self._bg_image = resize_to(self._bg_pool.frame(self._bg_item, 0), res)
        if params.static_fraction > 0 and latents.static_u[0] < params.static_fraction:
            pool = self._pool(params.static_pool)
            self.static_replacement = True
            self._static_item = min(int(latents.static_u[1] * pool.items), pool.items - 1)
            self.static_image = resize_to(pool.frame(self._static_item, 0), res)
        if self.textured:
            self._setup_fill()

    def _setup_fill(self) -> None:
        p, lat, res = self.params, self.lat, self.res
        pool = self._fill_pool = self._pool(p.pool)
        self.items = np.minimum((lat.item_u * pool.items).astype(np.int64), pool.items - 1)
        room = np.maximum(2 * res - 2 * lat.radius, 0).astype(np.float64)
        self.crop_offset = (np.zeros((lat.count, 2)) if p.crop == "reference"
                            else np.floor(lat.crop_u * room[:, None]))
        self._scale = 2 * res / p.item_px           # items stand for a (2 res)^2 texture, as the reference
        self._nearest = p.item_resample == "nearest"
        if self._nearest:
            # the item pixel behind each pixel of its nearest-neighbour upsampling (OpenCV's rule, in float64)
            self._nearest_of = np.minimum(np.floor(np.arange(2 * res + 1) * (p.item_px / (2 * res))),
                                          p.item_px - 1).astype(np.float32)
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

    def _pool(self, name: str):
        try:
            return self.pools[name]
        except KeyError:
            raise RuntimeError(f"pool {name!r} is not open for this render (have: {sorted(self.pools)})") from None

    @property
    def moves_by_itself(self) -> bool:
        """The video changes with t even when nothing moves: dynamic crops or a whole-frame clip."""
        return self.params.dynamic or self.params.background_mode == "pool-clip"

    def background_image(self, t: int) -> np.ndarray | None:
        if self._bg_image is not None:
            return self._bg_image
        if self._bg_pool is not None:   # a whole-frame clip: frame t of the clip
            return resize_to(self._bg_pool.frame(self._bg_item, t), self.res)
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
            if isinstance(self._fill_pool, MixedPool):   # how many objects drew from each part
                sources = [self._fill_pool.source_of(i) for i in self.items]
                info["pool_items"]["from_each_source"] = [sources.count(0), sources.count(1)]
        return info

    # -- compositing ---------------------------------------------------------------------------------------
    def composite(self, img: np.ndarray, labels: np.ndarray, geo: FrameGeometry) -> None:
        """Fill each textured object that shows with its crop: the item is warped with the object's affine
        map (so the crop moves, turns, scales and shears with it) and copied where the object's label
        shows. The geometry of every shown object is one batch of numpy."""
        counts = np.bincount(labels.ravel(), minlength=len(geo.idx) + 1)[1:]
        show = np.flatnonzero(counts[:len(geo.idx)])            # fully hidden objects cost nothing
        if not len(show):
            return
        obj = geo.idx[show]
        Ai, centre = self._object_maps(obj, geo)
        if self._atlas_ok:
            self._composite_atlas(img, labels, show, obj, self._item_to_frame(obj, Ai, centre, self._scale))
        else:   # nearest: each item is upsampled to its (2 res)^2 texture first, then warped at scale 1
            M = self._item_to_frame(obj, Ai, centre, 1.0 if self._nearest else self._scale)
            self._composite_each(img, labels, (show, obj), M, self._boxes(show, obj, Ai, centre, geo), geo.t)

    def _object_maps(self, obj: np.ndarray, geo: FrameGeometry) -> tuple[np.ndarray, np.ndarray]:
        """(affine map, centre) of each shown object; circles keep their crop upright unless they turn
        into ellipses."""
        p, m = self.params, len(obj)
        circle = self.is_circle[obj]
        Ai = geo.A[obj] if geo.A is not None else np.broadcast_to(np.eye(2), (m, 2, 2)).copy()
        if circle.any():
            if geo.A is None or p.circle_affine == "none":
                Ai[circle] = np.eye(2)
            elif p.circle_affine == "reference-onthefly":
                d = 1 + self.lat.scale[obj[circle]] * geo.t
                Ai[circle] = 0
                Ai[circle, 0, 0], Ai[circle, 1, 1] = d[:, 0], d[:, 1]
        centre = np.stack([geo.cx[obj], geo.cy[obj]], 1).astype(np.float64)
        return Ai, centre

    def _item_to_frame(self, obj: np.ndarray, Ai: np.ndarray, centre: np.ndarray, scale: float) -> np.ndarray:
        """(m, 2, 3) maps from item pixels (`scale` frame px each) to frame pixels, through the object's crop
        offset and pivot."""
        m, r = len(obj), self.radius_f[obj]
        circle = self.is_circle[obj]
        pivot, shift = np.zeros((m, 2)), np.repeat(r[:, None], 2, axis=1)
        poly = ~circle
        if poly.any():
            pivot[poly] = self.pivots[obj[poly]]
            if self.params.affine_pivot == "reference":
                shift[poly] = 0
        M = np.empty((m, 2, 3))
        M[:, :, :2] = Ai * scale
        M[:, :, 2] = centre + pivot - np.einsum("nij,nj->ni", Ai, self.crop_offset[obj] + shift + pivot)
        return M

    def _boxes(self, show, obj, Ai, centre, geo: FrameGeometry) -> np.ndarray:
        """(m, 4) x0, y0, x1, y1 frame boxes of the shown objects, clipped to the frame."""
        m, r = len(obj), self.radius_f[obj]
        circle = self.is_circle[obj]
        poly = ~circle
        lo, hi = np.empty((m, 2)), np.empty((m, 2))
        if circle.any():
            ext = np.abs(Ai[circle]).sum(axis=2) * r[circle, None] + 1
            lo[circle], hi[circle] = centre[circle] - ext, centre[circle] + ext
        if poly.any():
            pp = geo.pts[show[poly]]
            lo[poly], hi[poly] = pp.min(axis=1), pp.max(axis=1)
        x0y0 = np.maximum(np.floor(lo).astype(np.int64), 0)
        x1y1 = np.minimum(np.ceil(hi).astype(np.int64) + 1, self.res)
        return np.concatenate([x0y0, x1y1], 1)

    def _composite_each(self, img, labels, shown, M, boxes, t: int) -> None:
        """Dynamic crops: per object, warp only the box of the pixels where its label shows (objects in
        front hide most of a large one), then copy through that mask. `shown`: (label - 1, object) pairs."""
        show, obj = shown
        M = M.copy()
        M[:, :, 2] -= boxes[:, :2]
        boxes, labels_of = boxes.tolist(), (show + 1).tolist()
        warp, copy_to, bounding = cv2.warpAffine, cv2.copyTo, cv2.boundingRect
        flags, border = cv2.INTER_LINEAR, cv2.BORDER_REFLECT_101
        saturate, colours = self.params.saturate, self.lat.colour
        for q, i in enumerate(obj.tolist()):
            x0, y0, x1, y1 = boxes[q]
            if x1 <= x0 or y1 <= y0:
                continue
            # numpy, not cv2.compare, which fails on a 1x1 box (an object showing in one corner pixel)
            mask = (labels[y0:y1, x0:x1] == labels_of[q]).view(np.uint8)
            bx, by, bw, bh = bounding(mask)
            if bw == 0 or bh == 0:
                continue
            Mq = M[q]
            if bx or by:
                Mq = Mq.copy()
                Mq[0, 2] -= bx
                Mq[1, 2] -= by
            item = self._item_frame(i, t)
            if self._nearest:
                item = cv2.resize(item, (2 * self.res, 2 * self.res), interpolation=cv2.INTER_NEAREST)
            crop = warp(item, Mq, (bw, bh), flags=flags, borderMode=border)
            if saturate == "wrap":
                np.add(crop, colours[i], out=crop)                       # uint8 arithmetic wraps
            elif saturate == "clip":
                crop = cv2.add(crop, np.full_like(crop, 0) + colours[i])  # saturates at 255
            x0, y0 = x0 + bx, y0 + by
            copy_to(crop, mask[by:by + bh, bx:bx + bw], img[y0:y0 + bh, x0:x0 + bw])

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

    def _composite_atlas(self, img, labels, show, obj, M) -> None:
        """Static items: every shown object's item sits in one atlas image (decoded once per video), and
        one remap of the whole frame fills every object: per pixel, its object's inverse affine map
        (looked up by label) gives the item coordinate, reflected into the item (BORDER_REFLECT_101: for
        bilinear sampling, reflecting the coordinate equals reflecting the neighbours), then shifted to the
        item's atlas slot."""
        slots = self._slot_of[obj]
        self._load_slots(obj, slots)
        u, v = self._atlas_coordinates(labels, show, slots, M)
        p = self.params
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

    def _load_slots(self, obj: np.ndarray, slots: np.ndarray) -> None:
        """Decode the items of objects shown for the first time into their atlas slots."""
        P = self._item_px
        for q in np.flatnonzero(~self._slot_loaded[slots]).tolist():
            s = int(slots[q])
            item = self._fill_pool.frame(int(self.items[obj[q]]), 0)
            if item.shape[0] != P or item.shape[1] != P:
                raise ValueError(f"pool item of {item.shape[:2]} px, expected {P} (item_px)")
            r0, c0 = (s // self._atlas_cols) * P, (s % self._atlas_cols) * P
            self._atlas[r0:r0 + P, c0:c0 + P] = item
            self._slot_loaded[s] = True

    def _atlas_coordinates(self, labels, show, slots, M) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) float32 atlas coordinates of every frame pixel; background pixels fall outside."""
        P = self._item_px
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
        for w in (u, v):
            if self._nearest:   # in the nearest-upsampled (2 res)^2 texture, then back to the item pixels
                w *= np.float32(self._scale)
                _reflect(w, 2 * self.res - 1)
                self._through_nearest(w)
            else:
                _reflect(w, P - 1)
        u += ox
        v += oy
        return u, v

    def _through_nearest(self, w: np.ndarray) -> None:
        """Texture coordinates -> item coordinates where bilinear sampling of the item equals bilinear
        sampling of its nearest-neighbour upsampling: the two texture pixels around w come from one item
        pixel (the weight no longer matters) or from two neighbours (the same weight between them)."""
        x0 = np.floor(w)
        w -= x0                                                  # the bilinear weight
        i = x0.astype(np.int32)
        a = np.take(self._nearest_of, i)
        w *= np.take(self._nearest_of, i + 1) - a
        w += a


def _reflect(w: np.ndarray, last: int) -> None:
    """Reflect-101 coordinates into [0, last] in place where needed (for bilinear sampling, reflecting the
    coordinate equals reflecting the neighbours): x -> last - |x mod 2 last - last|."""
    lo, hi = cv2.minMaxLoc(w)[:2]
    if lo >= 0 and hi <= last:
        return
    last, period = np.float32(last), np.float32(2 * last)
    k = np.floor(w * np.float32(1 / period))
    k *= period
    w -= k
    w -= last
    np.abs(w, out=w)
    np.subtract(last, w, out=w)
    np.maximum(w, 0, out=w)
