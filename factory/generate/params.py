"""Generator parameters: every number of the dead-leaves video model (spec paper.md A.0), overridable.

A variant is a base parameter set plus overrides (factory/variants). Recipe files override the same fields;
`resolve` rejects unknown keys and ill-typed values, naming the key.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

SHAPES = ("circle", "square", "oriented_square", "rectangle", "triangle", "quadrilateral")

# Geometry choices of spec H.8 / I: "paper" geometry by default, reference-code behaviour selectable.
CHOICES = {
    "affine_mode": ("compound", "linear"),
    "affine_pivot": ("centre", "reference"),
    "square_geometry": ("centred", "reference"),
    "circle_affine": ("ellipse", "none", "reference-onthefly"),
    "culling": ("bbox", "centre"),
    "fill": ("colour", "pool"),
    "crop": ("random", "reference"),
    "saturate": ("none", "wrap", "clip"),
    "background_mode": ("solid", "random-colour", "pool-image", "pool-clip"),
    "stylegan_prior": ("oriented", "high-freq"),
    "rasterise": ("fast", "reference"),
    "item_resample": ("bilinear", "nearest"),
    "image_fit": ("squash", "centre-crop"),
}

# Every geometry choice set to the authors' code (spec A.0, H.8): with these, flat shapes render the pixels
# of the authors' generator (tests/test_reference_geometry.py). Circles: "reference-onthefly" is the
# on-the-fly class of stages 1-5; the offline generator of stages 6-8 never transforms them ("none").
REFERENCE_GEOMETRY = {"affine_mode": "linear", "affine_pivot": "reference", "square_geometry": "reference",
                      "circle_affine": "reference-onthefly", "culling": "centre", "rasterise": "reference"}

# Parameters added after the first release, with the value that reproduces the builds made before they
# existed: a card records one only when it is set to something else, so earlier datasets keep their
# fingerprints (and resume) and a default build stays byte-identical.
LATER_FIELDS = {"rasterise": "fast", "item_resample": "bilinear", "image_fit": "squash"}
_UNSET = object()

# Pool sources an object fill, a background or a static replacement can draw from. "a+b" is a mixed pool:
# half of its items from each source, interleaved by a seeded shuffle.
POOL_SOURCES = ("textures", "stylegan", "stylegan-clips", "images")


@dataclass(frozen=True)
class VideoParams:
    size: int = 256                    # square canvas side, px
    fps: float = 25.0
    frames_min: int = 100              # frame count drawn per video, inclusive range
    frames_max: int = 200
    objects: int = 500                 # all exist from frame 0; creation order is the z-order
    radius_sigma: float = 3.0          # truncated power law r^-sigma on a grid (called "exponential" in the paper)
    radius_min: float = 0.1            # grid bounds as a fraction of size
    radius_max: float = 1.0
    radius_grid_points: int = 200
    position_range: float = 2.0        # initial centres U(0, position_range * size) per axis
    shapes: tuple = ("circle",)        # uniform over these
    speed_min: float = 1.2             # px/frame; both 0 means a static video
    speed_max: float = 3.0
    acceleration_max: float = 0.0      # a ~ U(-max, max); displacement v0 t + a t^2
    affine: bool = False
    rotation_rate_max: float = math.pi / 100   # rad/frame
    scale_rate_max: float = 0.005              # /frame, per axis
    shear_rate_max: float = 0.005              # /frame, per axis
    affine_mode: str = "compound"      # paper: per-frame compounding; reference code: linear in t
    affine_pivot: str = "centre"       # reference code pivots at (r//2, r//2) of the shape's box
    square_geometry: str = "centred"   # reference code's square spans (0,0)-(s,s) of the box, off-centre
    circle_affine: str = "ellipse"     # circles under affine: exact ellipse / unchanged / on-the-fly bug
    culling: str = "bbox"              # skip objects whose bounding box misses the canvas / reference centre rule
    rasterise: str = "fast"            # fillConvexPoly + circle / the authors' fillPoly + ellipse (other edge pixels)
    background: tuple = (0, 0, 0)      # RGB, for background_mode "solid"
    # --- pools (textured variants) ---
    fill: str = "colour"               # objects filled with their colour, or with a crop of a pool item
    pool: str = ""                     # the objects' pool: a source of POOL_SOURCES or "a+b" (mixed)
    pool_size: int = 0                 # items in each pool; 0: what the build can use (see factory/pools/sizing.py)
    pool_seed: int = 0                 # pools are datasets of their own, shared by every variant and seed
    item_px: int = 256                 # side of a stored pool item
    item_resample: str = "bilinear"    # how an item becomes a (2 size)^2 texture: bilinear / the authors' nearest
    image_fit: str = "squash"          # natural images into square items: whole image squashed / centre crop
    crop: str = "random"               # crop offset in the item resized to 2*size; "reference": top-left
    dynamic: bool = False              # crops change every frame along the item's latent-walk clip
    clip_frames: int = 200             # frames of a latent-walk clip (>= frames_max for whole-frame clips)
    stylegan_prior: str = "oriented"
    saturate: str = "none"             # add the object's colour to its crop, wrapping or clipping in uint8
    background_mode: str = "solid"     # solid / a random colour per video / a pool image / a pool clip
    background_pool: str = ""          # pool of pool-image / pool-clip backgrounds ("" = the objects' pool)
    static_fraction: float = 0.0       # Bernoulli share of videos replaced by one pool image, repeated
    static_pool: str = ""              # pool of those images

    @property
    def static(self) -> bool:
        return self.speed_max == 0 and self.acceleration_max == 0 and not self.affine

    def validate(self) -> "VideoParams":
        def bad(key, why):
            raise ValueError(f"parameter '{key}': {why}")
        if self.size < 8:
            bad("size", f"must be >= 8, got {self.size}")
        if not 1 <= self.frames_min <= self.frames_max:
            bad("frames_min", f"need 1 <= frames_min <= frames_max, got {self.frames_min}..{self.frames_max}")
        if self.objects < 0:
            bad("objects", "must be >= 0")
        if self.fps <= 0:
            bad("fps", "must be > 0")
        if not 0 < self.radius_min < self.radius_max:
            bad("radius_min", "need 0 < radius_min < radius_max")
        if self.radius_grid_points < 2:
            bad("radius_grid_points", "must be >= 2")
        if not 0 <= self.speed_min <= self.speed_max:
            bad("speed_min", f"need 0 <= speed_min <= speed_max, got {self.speed_min}..{self.speed_max}")
        if self.acceleration_max < 0:
            bad("acceleration_max", "must be >= 0")
        if not self.shapes or any(s not in SHAPES for s in self.shapes):
            bad("shapes", f"must be a non-empty list of {', '.join(SHAPES)}; got {list(self.shapes)}")
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                bad(key, f"must be one of {', '.join(allowed)}; got {getattr(self, key)!r}")
        if len(self.background) != 3 or any(not 0 <= int(c) <= 255 for c in self.background):
            bad("background", "must be three integers 0-255")
        for key in ("pool", "background_pool", "static_pool"):
            value = getattr(self, key)
            if value and any(part not in POOL_SOURCES for part in value.split("+")):
                bad(key, f"must be one of {', '.join(POOL_SOURCES)} or two joined by '+'; got {value!r}")
        if self.fill == "pool" and not self.pool:
            bad("pool", "fill = 'pool' needs a pool")
        if self.dynamic and self.pool != "stylegan-clips":
            bad("dynamic", "dynamic crops need pool = 'stylegan-clips'")
        if self.background_mode in ("pool-image", "pool-clip") and not (self.background_pool or self.pool):
            bad("background_pool", f"background_mode {self.background_mode!r} needs a pool")
        if not 0 <= self.static_fraction <= 1:
            bad("static_fraction", "must be in [0, 1]")
        if self.static_fraction > 0 and not self.static_pool:
            bad("static_pool", "static_fraction > 0 needs a static_pool")
        if self.pool_size < 0 or self.item_px < 8 or self.clip_frames < 1:
            bad("pool_size", "pool_size >= 0, item_px >= 8 and clip_frames >= 1")
        if self.item_resample == "nearest" and self.item_px > 2 * self.size:
            bad("item_resample", f"'nearest' stands an item up to 2 x size = {2 * self.size} px; item_px "
                                 f"{self.item_px} is larger (use bilinear, or item_px <= {2 * self.size})")
        if self.background_mode == "pool-clip" and self.clip_frames < self.frames_max:
            bad("clip_frames", f"whole-frame clips need clip_frames >= frames_max ({self.frames_max})")
        return self

    def pool_views(self) -> list[str]:
        """The pools this parameter set reads, as named in it ("textures", "images+textures", ...)."""
        names = set()
        if self.fill == "pool":
            names.add(self.pool)
        if self.background_mode in ("pool-image", "pool-clip"):
            names.add(self.background_pool or self.pool)
        if self.static_fraction > 0:
            names.add(self.static_pool)
        return sorted(names)

    def pools_needed(self) -> list[str]:
        """Every single-source pool this parameter set reads from (mixed pools split into their parts)."""
        return sorted({part for name in self.pool_views() for part in name.split("+")})

    def to_dict(self) -> dict:
        """Every parameter, as the card records it (LATER_FIELDS only when set away from their default)."""
        d = {k: v for k, v in dataclasses.asdict(self).items() if LATER_FIELDS.get(k, _UNSET) != v}
        d["shapes"] = list(self.shapes)
        d["background"] = list(self.background)
        return d


_FIELDS = {f.name: f for f in fields(VideoParams)}
_DEFAULTS = VideoParams()


def _coerce(key: str, value: Any) -> Any:
    default = getattr(_DEFAULTS, key)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"parameter '{key}': expected true/false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"parameter '{key}': expected an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"parameter '{key}': expected a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"parameter '{key}': expected a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ValueError(f"parameter '{key}': expected a list, got {value!r}")
        return tuple(value)
    raise TypeError(key)


def resolve(base: VideoParams, overrides: dict | None) -> VideoParams:
    """Apply overrides to a parameter set; unknown keys and ill-typed values raise ValueError naming the key."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown parameter '{unknown[0]}' (known: {', '.join(sorted(_FIELDS))})")
    return dataclasses.replace(base, **{k: _coerce(k, v) for k, v in overrides.items()}).validate()


def parse_frames(text: str) -> dict:
    """'100-200' or '30' -> frames_min/frames_max overrides (a CLI convenience)."""
    lo, _, hi = str(text).partition("-")
    try:
        lo_i, hi_i = int(lo), int(hi or lo)
    except ValueError:
        raise ValueError(f"--frames expects N or MIN-MAX, got {text!r}") from None
    return {"frames_min": lo_i, "frames_max": hi_i}
