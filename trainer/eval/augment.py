"""Fine-tuning augmentation of one clip, VideoMAE's order (spec videomae.md 2.2, `kinetics.py: _aug_frame`):
RandAugment on the decoded frames (same ops on every frame), scale to [0, 1] and ImageNet-normalise, a random
resized crop (scale (0.08, 1), aspect (3/4, 4/3), bilinear; the same box on every frame), a horizontal flip
with p 0.5, and random erasing with p 0.25 (one box, the same in every frame, filled with per-pixel normal
noise). Repeated augmentation: each decoded video yields `num_sample` clips augmented independently.

All draws come from the numpy Generator passed in; `augment_repeats` derives one per repeat from
(seed, video index, epoch) through draws.augment, so a clip's augmentation does not depend on the worker or
batch it lands in.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .. import draws
from ..model import IMAGENET_MEAN, IMAGENET_STD
from .randaugment import RandAugmentOptions, apply_ops, sample_ops


@dataclass(frozen=True)
class AugmentOptions:
    size: int = 224
    randaug: RandAugmentOptions | None = field(default_factory=RandAugmentOptions)
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (0.75, 1.3333)
    flip: bool = True
    erase_prob: float = 0.25
    erase_area: tuple[float, float] = (0.02, 1 / 3)
    erase_aspect: float = 0.3               # log-uniform aspect in [0.3, 1 / 0.3]


def normalize(frames: torch.Tensor) -> torch.Tensor:
    """(T, 3, H, W) uint8 -> float, ImageNet-normalised, on the frames' device."""
    mean, std = _mean_std(frames.device)
    return (frames.float() / 255.0 - mean) / std


@functools.lru_cache(maxsize=8)
def _mean_std(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    # once per device: on a GPU each new small tensor is a blocking host-to-device copy, and this runs per clip
    return (torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1),
            torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1))


def crop_box(height: int, width: int, scale, ratio, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random resized crop: 10 tries at a random area share and log-uniform aspect,
    else the largest centre crop within the aspect range (VideoMAE's _get_param_spatial_crop)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = rng.uniform(*scale) * area
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h, endpoint=True)), int(rng.integers(0, width - w, endpoint=True)), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def erase_box(height: int, width: int, options: AugmentOptions, rng: np.random.Generator):
    """(top, left, h, w) of the erased box, or None (not erased this time, or no box fitted in 10 tries)."""
    if rng.random() >= options.erase_prob:
        return None
    log_aspect = (math.log(options.erase_aspect), math.log(1 / options.erase_aspect))
    for _ in range(10):
        target = rng.uniform(*options.erase_area) * height * width
        aspect = math.exp(rng.uniform(*log_aspect))
        h, w = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if w < width and h < height:
            return int(rng.integers(0, height - h, endpoint=True)), int(rng.integers(0, width - w, endpoint=True)), h, w
    return None


def augment_clip(frames, rng: np.random.Generator, options: AugmentOptions = AugmentOptions()) -> torch.Tensor:
    """(T, H, W, 3) uint8 frames (a numpy array, or a tensor on any device: the clip is augmented where it
    is) -> (3, T, size, size) float training clip. The draws are the same wherever it runs."""
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    x = frames.permute(0, 3, 1, 2)                                                      # (T, 3, H, W)
    if options.randaug is not None:
        x = apply_ops(x, sample_ops(rng, options.randaug))
    top, left, h, w = crop_box(x.shape[-2], x.shape[-1], options.crop_scale, options.crop_ratio, rng)
    # normalising is per pixel, so cropping first gives the same values for a fraction of the work
    x = F.interpolate(normalize(x[..., top:top + h, left:left + w]), size=(options.size, options.size),
                      mode="bilinear", align_corners=False)
    if options.flip and rng.random() < 0.5:
        x = x.flip(-1)
    box = erase_box(options.size, options.size, options, rng)
    if box is not None:
        top, left, h, w = box
        noise = rng.standard_normal((x.shape[0], 3, h, w), dtype=np.float32)
        x[..., top:top + h, left:left + w] = torch.from_numpy(noise).to(x.device)
    return x.permute(1, 0, 2, 3).contiguous()


def augment_repeats(frames, *, seed: int, index: int, epoch: int, num_sample: int = 2,
                    options: AugmentOptions = AugmentOptions()) -> list[torch.Tensor]:
    """Repeated augmentation: `num_sample` independently augmented clips of one decoded video (VideoMAE's
    num_sample; the lr is scaled by the batch of videos, not of clips)."""
    return [augment_clip(frames, draws.augment(seed, epoch, index, r), options) for r in range(num_sample)]
