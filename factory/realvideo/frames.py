"""Frame geometry of VideoMAE's test protocol on (T, H, W, 3) uint8 clips: resize the short side, then take
evenly spaced square crops along the long side (spec paper.md C.2 'test protocol', videomae.md 2.3).

The corrupt command needs this on the factory side (UCF101-P corrupts each test crop, as the reference does);
the trainer's multi-view test applies the same arithmetic to the frames it reads.
"""

from __future__ import annotations

import cv2
import numpy as np


def short_side_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(H, W) with the short side `size` and the long side scaled with it, truncated as VideoMAE's
    resize_clip does (int(size * long / short))."""
    if height <= width:
        return size, int(size * width / height)
    return int(size * height / width), size


def resize_short_side(frames: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of every frame so that the short side is `size` (unchanged if it already is)."""
    _check_clip(frames)
    height, width = short_side_shape(frames.shape[1], frames.shape[2], size)
    if (height, width) == frames.shape[1:3]:
        return frames
    out = np.empty((frames.shape[0], height, width, 3), np.uint8)
    for t, frame in enumerate(frames):
        out[t] = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
    return out


def crop_starts(long_side: int, size: int, count: int) -> list[int]:
    """Starts of `count` crops of `size` evenly spaced over `long_side`: first at 0, last at the end
    (VideoMAE: int(i * (long - size) / (count - 1))); a single crop is centred."""
    if size > long_side:
        raise ValueError(f"crop of {size} does not fit a side of {long_side}")
    if count == 1:
        return [(long_side - size) // 2]
    return [int(i * (long_side - size) / (count - 1)) for i in range(count)]


def long_side_crops(frames: np.ndarray, size: int, count: int = 3) -> list[np.ndarray]:
    """`count` square crops of `size` along the long side of frames whose short side is `size`."""
    _check_clip(frames)
    height, width = frames.shape[1:3]
    if min(height, width) != size:
        raise ValueError(f"frames of {width}x{height}: resize the short side to {size} first")
    if height >= width:
        return [frames[:, s:s + size] for s in crop_starts(height, size, count)]
    return [frames[:, :, s:s + size] for s in crop_starts(width, size, count)]


def _check_clip(frames: np.ndarray) -> None:
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (T, H, W, 3) uint8 frames, got {frames.dtype} {frames.shape}")
