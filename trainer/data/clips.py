"""One clip of one video: its temporal window and multi-scale crop box (drawn from the clip's own RNG),
the decode of only the sampled frames, and the uint8 collation of a micro-batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

MULTISCALE = (1.0, 0.875, 0.75, 0.66)


@dataclass(frozen=True)
class ClipSpec:
    num_frames: int = 16
    sampling_rate: int = 4
    input_size: int = 224
    scales: tuple = MULTISCALE
    max_distort: int = 1


def temporal_indices(n: int, spec: ClipSpec, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """16 frames at stride 4 from a window whose start is uniform over the video (spec C.1:
    o ~ randint(0, n - 64)). A shorter video gets start 0 and indices clamped to its last frame, as VideoMAE
    repeats the last frame; the second value says so, so the caller can count it."""
    span = spec.num_frames * spec.sampling_rate
    start = int(rng.integers(0, n - span + 1)) if n >= span else 0
    idx = start + spec.sampling_rate * np.arange(spec.num_frames)
    short = bool(idx[-1] >= n)
    return np.minimum(idx, n - 1), short


def multiscale_box(h: int, w: int, spec: ClipSpec, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """GroupMultiScaleCrop (VideoMAE transforms.py): crop sides from scales of the short side, sides within
    3 px of the input size snapped to it, width and height scales at most `max_distort` steps apart, offset
    one of 13 fixed positions. Returns (y0, x0, crop_h, crop_w); the resize to input_size runs on the device."""
    base = min(h, w)
    sizes = [int(base * s) for s in spec.scales]
    snap = [spec.input_size if abs(s - spec.input_size) < 3 else s for s in sizes]
    pairs = [(ch, cw) for i, ch in enumerate(snap) for j, cw in enumerate(snap) if abs(i - j) <= spec.max_distort]
    ch, cw = pairs[int(rng.integers(len(pairs)))]
    ch, cw = min(ch, h), min(cw, w)
    ws, hs = (w - cw) // 4, (h - ch) // 4
    offsets = [(0, 0), (0, 4 * ws), (4 * hs, 0), (4 * hs, 4 * ws), (2 * hs, 2 * ws),
               (2 * hs, 0), (2 * hs, 4 * ws), (4 * hs, 2 * ws), (0, 2 * ws),
               (1 * hs, 1 * ws), (1 * hs, 3 * ws), (3 * hs, 1 * ws), (3 * hs, 3 * ws)]
    y0, x0 = offsets[int(rng.integers(len(offsets)))]
    return y0, x0, ch, cw


class ClipDraw(NamedTuple):
    """Where one clip lies in its video: frame indices, crop box (y0, x0, h, w), and whether the window
    was longer than the video."""
    indices: np.ndarray
    box: tuple
    short: bool


def draw_clip(num_frames: int, height: int, width: int, spec: ClipSpec, rng: np.random.Generator) -> ClipDraw:
    """Temporal window first, then the box, both from the clip's RNG; nothing decoded yet, so the frames a
    clip needs are known before they are read."""
    idx, short = temporal_indices(num_frames, spec, rng)
    return ClipDraw(idx, multiscale_box(height, width, spec, rng), short)


def load_clip(loader, spec: ClipSpec, rng: np.random.Generator):
    """(frames (T, H, W, 3) uint8, crop box, short) for one video, only the sampled frames decoded. `loader`
    is a FramesPayload or anything with its `.num_frames`, `.height`, `.width` and `.frames(indices)`."""
    d = draw_clip(loader.num_frames, loader.height, loader.width, spec, rng)
    return loader.frames(d.indices), d.box, d.short


def collate_frames(clips: list[np.ndarray | None], shapes: list[tuple[int, int, int]] | None = None) -> torch.Tensor:
    """(B, T, H, W, 3) uint8, each clip padded to the batch's largest frame (crop boxes stay inside it). A
    None clip (handed over encoded, decoded on the device) stays zero; `shapes` gives every clip's (T, H, W)."""
    shapes = shapes or [c.shape[:3] for c in clips]
    t = shapes[0][0]
    h = max(s[1] for s in shapes)
    w = max(s[2] for s in shapes)
    full = all(c is not None and c.shape[1:3] == (h, w) for c in clips)
    # Nothing to pad (the usual case): no zero fill, which costs as much as the copy itself.
    out = (torch.empty if full else torch.zeros)((len(clips), t, h, w, 3), dtype=torch.uint8)
    for i, c in enumerate(clips):
        if c is not None:
            out[i, :, : c.shape[1], : c.shape[2]] = torch.from_numpy(np.ascontiguousarray(c))
    return out
