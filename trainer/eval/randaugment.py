"""RandAugment for video: one sampled op list applied identically to every frame of a clip.

VideoMAE fine-tunes with timm's policy string `rand-m7-n4-mstd0.5-inc1` (spec paper.md C.2; the paper's table
says "(9, 0.5)", the code runs m7-n4): 4 ops drawn with replacement from timm's 'increasing' set, each
applied with probability 0.5, at magnitude 7 of 10 plus Gaussian noise of std 0.5 (clipped to [0, 10]), with
a random sign for the signed ops. VideoMAE samples once per clip and applies the same ops to all frames. This
module samples the ops from a numpy Generator (so a clip's augmentation is a function of its key) and applies
them with torchvision's tensor ops to the (T, C, H, W) uint8 stack, which treats T as a batch: the same op,
arguments and geometry for every frame. Pixel-level results follow torchvision's kernels, not PIL's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

LEVEL_MAX = 10.0
FILL = [128, 128, 128]          # timm's fill for exposed areas when no image mean is given (VideoMAE gives none)

# timm's _RAND_INCREASING_TRANSFORMS, in its order.
OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing", "SolarizeAdd",
       "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing", "ShearX", "ShearY",
       "TranslateXRel", "TranslateYRel")


@dataclass(frozen=True)
class RandAugmentOptions:
    num_ops: int = 4
    magnitude: float = 7.0
    magnitude_std: float = 0.5
    prob: float = 0.5


def _signed(value: float, rng: np.random.Generator) -> float:
    return -value if rng.random() < 0.5 else value


def _argument(op: str, level: float, rng: np.random.Generator) -> float | int | None:
    """timm's level_to_arg of each op (level in [0, 10])."""
    f = level / LEVEL_MAX
    if op == "Rotate":
        return _signed(30.0 * f, rng)
    if op in ("ShearX", "ShearY"):
        return _signed(0.3 * f, rng)
    if op in ("TranslateXRel", "TranslateYRel"):
        return _signed(0.45 * f, rng)
    if op.endswith("Increasing") and op[:-10] in ("Color", "Contrast", "Brightness", "Sharpness"):
        return max(0.1, 1.0 + _signed(0.9 * f, rng))
    if op == "PosterizeIncreasing":
        return 4 - int(4 * f)                  # bits kept
    if op == "SolarizeIncreasing":
        return 256 - int(256 * f)              # threshold
    if op == "SolarizeAdd":
        return min(128, int(110 * f))          # amount added below 128
    return None


def sample_ops(rng: np.random.Generator,
               options: RandAugmentOptions = RandAugmentOptions()) -> list[tuple[str, object]]:
    """The ops one clip gets, with their arguments: [(name, argument or None), ...]; skipped ops are absent."""
    chosen = rng.integers(0, len(OPS), size=options.num_ops)
    ops = []
    for index in chosen:
        if options.prob < 1.0 and rng.random() > options.prob:
            continue
        level = options.magnitude
        if options.magnitude_std > 0:
            level = rng.normal(level, options.magnitude_std)
        level = float(min(max(level, 0.0), LEVEL_MAX))
        ops.append((OPS[index], _argument(OPS[index], level, rng)))
    return ops


def _affine(frames: torch.Tensor, **kw) -> torch.Tensor:
    base = dict(angle=0.0, translate=[0, 0], scale=1.0, shear=[0.0, 0.0], center=[0.0, 0.0])
    return TF.affine(frames, **{**base, **kw}, interpolation=InterpolationMode.BILINEAR, fill=FILL)


def _apply(frames: torch.Tensor, op: str, arg) -> torch.Tensor:
    h, w = frames.shape[-2:]
    table = {
        "AutoContrast": lambda: TF.autocontrast(frames),
        "Equalize": lambda: TF.equalize(frames),
        "Invert": lambda: TF.invert(frames),
        "Rotate": lambda: TF.rotate(frames, arg, interpolation=InterpolationMode.BILINEAR, fill=FILL),
        "PosterizeIncreasing": lambda: TF.posterize(frames, max(0, arg)),
        "SolarizeIncreasing": lambda: frames if arg > 255 else TF.solarize(frames, arg),
        "SolarizeAdd": lambda: torch.where(frames < 128, (frames.int() + arg).clamp(0, 255).to(frames.dtype), frames),
        "ColorIncreasing": lambda: TF.adjust_saturation(frames, arg),
        "ContrastIncreasing": lambda: TF.adjust_contrast(frames, arg),
        "BrightnessIncreasing": lambda: TF.adjust_brightness(frames, arg),
        "SharpnessIncreasing": lambda: TF.adjust_sharpness(frames, arg),
        # Shear about the top-left corner, as PIL's affine transform in timm does.
        "ShearX": lambda: _affine(frames, shear=[math.degrees(math.atan(arg)), 0.0]),
        "ShearY": lambda: _affine(frames, shear=[0.0, math.degrees(math.atan(arg))]),
        "TranslateXRel": lambda: _affine(frames, translate=[int(round(-arg * w)), 0]),
        "TranslateYRel": lambda: _affine(frames, translate=[0, int(round(-arg * h))]),
    }
    return table[op]()


def apply_ops(frames: torch.Tensor, ops: list[tuple[str, object]]) -> torch.Tensor:
    """frames: (T, 3, H, W) uint8. Every op acts on all T frames at once, identically."""
    if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"expected (T, 3, H, W) uint8 frames, got {frames.dtype} {tuple(frames.shape)}")
    for op, arg in ops:
        frames = _apply(frames, op, arg)
    return frames
