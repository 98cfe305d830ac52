"""Which frames a fine-tuning clip and each test view use (spec paper.md C.2 'test protocol', videomae.md
2.2-2.3; VideoMAE `kinetics.py`).

Training: a random end e in [clip_len x rate, n), then clip_len indices evenly spaced over [e - clip_len x rate,
e) (an effective stride a little above `rate`); a video shorter than that is spread over its whole length and
padded with its last frame.
Test: read every rate-th frame of the whole video (padded with the last to at least clip_len), resize the
short side to the crop size, then take `num_clips` clips of clip_len consecutive read frames at evenly spaced
starts and `num_crops` square crops evenly spaced along the long side: num_clips x num_crops views per video
(UCF101 5 x 3, HMDB51 10 x 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def train_indices(num_frames: int, clip_len: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    if num_frames < 1:
        raise ValueError("a video with no frames")
    span = clip_len * rate
    if num_frames <= span:
        index = np.linspace(0, num_frames, num=num_frames // rate)
        index = np.concatenate([index, np.full(clip_len - num_frames // rate, num_frames)])
        return np.clip(index, 0, num_frames - 1).astype(np.int64)
    end = int(rng.integers(span, num_frames))
    index = np.linspace(end - span, end, num=clip_len)
    return np.clip(index, end - span, end - 1).astype(np.int64)


def full_read_indices(num_frames: int, clip_len: int, rate: int) -> np.ndarray:
    """Every rate-th frame, padded with the last one up to clip_len."""
    index = list(range(0, num_frames, rate))
    index += [index[-1]] * max(0, clip_len - len(index))
    return np.asarray(index, dtype=np.int64)


def evenly_spaced(length: int, window: int, count: int) -> list[int]:
    """Starts of `count` windows over `length`: int(i * (length - window) / (count - 1)), never negative; a
    single window is centred (the reference divides by zero there)."""
    if count == 1:
        return [max(0, (length - window) // 2)]
    step = max((length - window) / (count - 1), 0.0)
    return [int(i * step) for i in range(count)]


@dataclass(frozen=True)
class ViewPlan:
    clip_len: int = 16
    rate: int = 4
    num_clips: int = 5          # UCF101 5, HMDB51 10
    num_crops: int = 3
    size: int = 224

    @property
    def count(self) -> int:
        return self.num_clips * self.num_crops


def _resize_short_side(x: torch.Tensor, size: int) -> torch.Tensor:
    """(T, 3, H, W) float -> bilinear resize so that the short side is `size` (long side truncated, as
    VideoMAE's resize_clip)."""
    h, w = x.shape[-2:]
    out = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)
    return x if out == (h, w) else F.interpolate(x, size=out, mode="bilinear", align_corners=False)


def multi_views(read: torch.Tensor, views: ViewPlan) -> torch.Tensor:
    """read: the test-read frames (T', 3, H, W) float, already normalised. Returns (views, 3, clip_len, size,
    size), clip-major (view k = clip k // num_crops, crop k % num_crops)."""
    x = _resize_short_side(read, views.size)
    h, w = x.shape[-2:]
    long_side = max(h, w)
    out = []
    for t0 in evenly_spaced(x.shape[0], views.clip_len, views.num_clips):
        clip = x[t0:t0 + views.clip_len]
        for s in evenly_spaced(long_side, views.size, views.num_crops):
            crop = clip[:, :, s:s + views.size, :] if h > w else clip[..., s:s + views.size]
            out.append(crop.permute(1, 0, 2, 3))
    return torch.stack(out)
