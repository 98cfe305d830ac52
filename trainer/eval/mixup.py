"""Mixup / CutMix for video batches and the soft-target loss (spec paper.md C.2; videomae.md 2.2, pitfall 13).

VideoMAE's settings: mixup alpha 0.8, cutmix alpha 1.0, applied to every batch (prob 1.0), cutmix chosen
with probability 0.5, one lambda per batch ('batch' mode, each clip mixed with the batch reversed), label
smoothing 0.1 folded into the mixed targets, SoftTargetCrossEntropy. timm's Mixup indexes x[:, :, y, x] and
on a (B, C, T, H, W) batch cuts T and H; here the box is cut over the last two axes (H, W) only, so it is the
same box in every frame. Draws come from the generator the caller passes (draws.mixup(seed, rank, step)),
not from global state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class MixupOptions:
    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    prob: float = 1.0               # share of batches that are mixed at all
    switch_prob: float = 0.5        # when both are on: share of mixed batches that use cutmix
    label_smoothing: float = 0.1

    @property
    def enabled(self) -> bool:
        return self.prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)


@dataclass(frozen=True)
class MixDraw:
    lam: float                              # weight of each clip's own label after box correction
    box: tuple[int, int, int, int] | None   # (top, bottom, left, right) of the cutmix box, None for mixup


def cut_box(height: int, width: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """timm's rand_bbox: a box of sqrt(1 - lam) of each side, centred uniformly, clipped at the borders."""
    ratio = math.sqrt(1.0 - lam)
    ch, cw = int(height * ratio), int(width * ratio)
    cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
    return (max(cy - ch // 2, 0), min(cy + ch // 2, height), max(cx - cw // 2, 0), min(cx + cw // 2, width))


def draw(options: MixupOptions, height: int, width: int, rng: np.random.Generator) -> MixDraw:
    """This batch's lambda and box. The lambda of a cutmix box is corrected to the area actually pasted."""
    if not options.enabled or rng.random() >= options.prob:
        return MixDraw(1.0, None)
    use_cutmix = options.cutmix_alpha > 0 and (options.mixup_alpha <= 0 or rng.random() < options.switch_prob)
    if not use_cutmix:
        return MixDraw(float(rng.beta(options.mixup_alpha, options.mixup_alpha)), None)
    box = cut_box(height, width, float(rng.beta(options.cutmix_alpha, options.cutmix_alpha)), rng)
    top, bottom, left, right = box
    return MixDraw(1.0 - (bottom - top) * (right - left) / (height * width), box)


def soft_targets(labels: torch.Tensor, num_classes: int, lam: float, smoothing: float) -> torch.Tensor:
    off = smoothing / num_classes
    one_hot = torch.full((labels.shape[0], num_classes), off, device=labels.device)
    one_hot.scatter_(1, labels.view(-1, 1), 1.0 - smoothing + off)
    return lam * one_hot + (1.0 - lam) * one_hot.flip(0)


def mix_batch(x: torch.Tensor, labels: torch.Tensor, num_classes: int, options: MixupOptions,
              rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, MixDraw]:
    """x: (B, C, T, H, W) or (B, C, H, W). Returns (mixed x, soft targets (B, classes), the draw). Clip i is
    mixed with clip B-1-i. A batch of odd size mixes its middle clip with itself, as in timm."""
    d = draw(options, x.shape[-2], x.shape[-1], rng)
    if d.box is not None:
        top, bottom, left, right = d.box
        x = x.clone()
        x[..., top:bottom, left:right] = x.flip(0)[..., top:bottom, left:right]
    elif d.lam < 1.0:
        x = x * d.lam + x.flip(0) * (1.0 - d.lam)
    return x, soft_targets(labels, num_classes, d.lam, options.label_smoothing), d


def soft_target_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -sum(target * log_softmax(logits)), in fp32."""
    return torch.sum(-targets * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()
