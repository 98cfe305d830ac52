"""The 28 variants as data: 1-8 the paper's progression (circles to image crops), 9-13 its slow versions,
14-28 the variants of its ablations (static replacements, dynamic StyleGAN, mixed pools, backgrounds,
saturation). Numbers and names are fixed: cards and `synthvid-factory list` show them."""

from __future__ import annotations

from ..params import SHAPES
from .registry import Variant, register_variant

ALL_SHAPES = list(SHAPES)
_FAST = {"speed_min": 1.2, "speed_max": 3.0}
_SLOW = {"speed_min": 0.6, "speed_max": 1.5}   # "50 % speed" (paper Tab 9): U(1.2, 3.0) halved
_AFFINE = {"affine": True}
_ACC = {"acceleration_max": 0.03}               # displacement v0 t + a t^2, Tab 8's ±0.06 as ½a't²

_STAGE = {
    1: {"shapes": ["circle"], "speed_min": 0.0, "speed_max": 0.0},
    2: {"shapes": ["circle"], **_FAST},
    3: {"shapes": ALL_SHAPES, **_FAST},
    4: {"shapes": ALL_SHAPES, **_FAST, **_AFFINE},
    5: {"shapes": ALL_SHAPES, **_FAST, **_AFFINE, **_ACC},
}


def _slow(stage: int) -> dict:
    return {**_STAGE[stage], **_SLOW}


def _pool(pool: str, **extra) -> dict:
    return {**_STAGE[5], "fill": "pool", "pool": pool, **extra}


_WRAP = {"saturate": "wrap"}
_COLOUR_BG = {"background_mode": "random-colour"}
_IMAGE_BG = {"background_mode": "pool-image"}
# Dynamic crops ping-pong through short clips (no seam); whole-frame videos need a clip as long as the video.
_DYNAMIC = {"dynamic": True, "clip_frames": 32}
_PARAMS = {
    6: _pool("textures"),
    7: _pool("stylegan"),
    8: _pool("images"),
    13: {**_pool("textures"), **_SLOW},
    14: {**_STAGE[5], "static_fraction": 0.05, "static_pool": "images"},
    15: {**_STAGE[5], "static_fraction": 0.05, "static_pool": "stylegan"},
    16: _pool("stylegan-clips", **_DYNAMIC),
    17: {**_STAGE[5], "objects": 0, "background_mode": "pool-clip", "background_pool": "stylegan-clips",
         "clip_frames": 200},
    18: _pool("images+stylegan"),
    19: _pool("images+textures"),
    20: _pool("images", **_COLOUR_BG),
    21: _pool("images", **_IMAGE_BG),
    22: _pool("textures", **_WRAP),
    23: _pool("textures", **_WRAP, **_COLOUR_BG),
    24: _pool("stylegan-clips", **_DYNAMIC, **_WRAP),
    25: _pool("images", **_WRAP),
    26: _pool("images+textures", **_WRAP),
    27: _pool("images", **_WRAP, **_COLOUR_BG),
    28: _pool("images", **_WRAP, **_IMAGE_BG),
}


_ROWS = [
    # number, name, base, params, paper FT, requires, family, description
    (1, "static-circles", None, _STAGE[1], 67.8, None, "progression",
     "circles, speed 0: every frame equal"),
    (2, "moving-circles", "static-circles", _STAGE[2], 85.2, None, "progression",
     "circles at constant velocity U(1.2, 3.0) px/frame in a random direction"),
    (3, "moving-shapes", "moving-circles", _STAGE[3], 86.9, None, "progression",
     "shape uniform over circle, square, oriented square, rectangle, triangle, quadrilateral"),
    (4, "transforming-shapes", "moving-shapes", _STAGE[4], 87.7, None, "progression",
     "per-object rotation, scale and shear rates"),
    (5, "accelerating-shapes", "transforming-shapes", _STAGE[5], 88.1, None, "progression",
     "per-object acceleration a ~ U(-0.03, 0.03), displacement v0 t + a t^2"),
    (6, "accelerating-textures", "accelerating-shapes", _PARAMS[6], 89.4, None, "textured",
     "objects filled with statistical textures, pool 300k"),
    (7, "accelerating-stylegan", "accelerating-shapes", _PARAMS[7], 90.2, None, "textured",
     "objects filled with crops of untrained StyleGAN-Oriented images, pool 300k"),
    (8, "accelerating-image-crops", "accelerating-shapes", _PARAMS[8], 91.3, None, "textured",
     "objects filled with crops of natural images (paper: ImageNet train 1.3M)"),
    (9, "moving-circles-slow", "moving-circles", _slow(2), 84.9, None, "slow",
     "moving circles at speed U(0.6, 1.5)"),
    (10, "moving-shapes-slow", "moving-shapes", _slow(3), 88.3, None, "slow",
     "moving shapes at speed U(0.6, 1.5)"),
    (11, "transforming-shapes-slow", "transforming-shapes", _slow(4), 88.3, None, "slow",
     "transforming shapes at speed U(0.6, 1.5)"),
    (12, "accelerating-shapes-slow", "accelerating-shapes", _slow(5), 88.6, None, "slow",
     "accelerating shapes at speed U(0.6, 1.5)"),
    (13, "accelerating-textures-slow", "accelerating-textures", _PARAMS[13], 90.9, None, "slow",
     "accelerating textures at speed U(0.6, 1.5)"),
    (14, "accelerating-shapes-static-images", "accelerating-shapes", _PARAMS[14], 88.5, None, "ablation",
     "variant 5 with 5 % of videos replaced by a natural image repeated over all frames"),
    (15, "accelerating-shapes-static-stylegan", "accelerating-shapes", _PARAMS[15], 88.2, None, "ablation",
     "variant 5 with 5 % of videos replaced by a StyleGAN image repeated over all frames"),
    (16, "dynamic-stylegan-crops", "accelerating-stylegan", _PARAMS[16], 89.2, None, "ablation",
     "variant 7 with each object's StyleGAN crop changing every frame along a latent walk"),
    (17, "dynamic-stylegan-videos", None, _PARAMS[17], 68.7, None, "ablation",
     "no objects: whole frames are a StyleGAN latent walk"),
    (18, "image-stylegan-crops", "accelerating-image-crops", _PARAMS[18], 90.6, None, "ablation",
     "variant 8 with a mixed pool: half natural images, half StyleGAN images"),
    (19, "image-texture-crops", "accelerating-image-crops", _PARAMS[19], 89.7, None, "ablation",
     "variant 8 with a mixed pool: half natural images, half statistical textures"),
    (20, "image-crops-colour-bg", "accelerating-image-crops", _PARAMS[20], 89.9, None, "ablation",
     "variant 8, background a random solid colour per video"),
    (21, "image-crops-image-bg", "accelerating-image-crops", _PARAMS[21], 91.0, None, "ablation",
     "variant 8, background a random pool image per video"),
    (22, "saturated-textures", "accelerating-textures", _PARAMS[22], 88.9, None, "saturated",
     "variant 6 with a random colour added to each object's texture crop"),
    (23, "saturated-textures-colour-bg", "saturated-textures", _PARAMS[23], 87.8, None, "saturated",
     "variant 22 with a random solid background colour"),
    (24, "saturated-dynamic-stylegan-crops", "dynamic-stylegan-crops", _PARAMS[24], 87.5, None, "saturated",
     "variant 16 with a random colour added to each crop"),
    (25, "saturated-image-crops", "accelerating-image-crops", _PARAMS[25], 90.1, None, "saturated",
     "variant 8 with a random colour added to each crop"),
    (26, "saturated-image-texture-crops", "image-texture-crops", _PARAMS[26], 89.2, None, "saturated",
     "variant 19 with a random colour added to each crop"),
    (27, "saturated-image-crops-colour-bg", "image-crops-colour-bg", _PARAMS[27], 89.5, None, "saturated",
     "variant 20 with a random colour added to each crop"),
    (28, "saturated-image-crops-image-bg", "image-crops-image-bg", _PARAMS[28], 89.5, None, "saturated",
     "variant 21 with a random colour added to each crop"),
]

# The paper's 300k ImageNet subset (Tabs 10, 12); every other image variant used all of ImageNet train
# (factory/pools/sizing.py).
_PAPER_POOLS = {n: {"images": 300_000} for n in (20, 21, 25, 27, 28)}

for number, name, base, params, paper, requires, family, description in _ROWS:
    register_variant(Variant(name=name, number=number, description=description, paper_ucf101_ft=paper,
                             params=dict(params), base=base, requires=requires, family=family,
                             paper_pools=_PAPER_POOLS.get(number, {})))
