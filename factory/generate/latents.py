"""Per-video latents of the dead-leaves model, struct-of-arrays, drawn from named sub-streams.

Each latent group has its own stream keyed by (seed, video index, group name) and always makes the same
draws, whatever the variant: switching a property on adds a group's effect without moving any other draw.
So video i of `moving-shapes` and `transforming-shapes` have identical positions, colours, radii, shapes
and speeds, and `accelerating-shapes` only adds accelerations. Values are derived from uniforms by affine
maps, so the slow variants' speeds are exactly half of the others'.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .params import SHAPES, VideoParams
from synthvid.manifests.seeds import substream

SHAPE_CODE = {name: i for i, name in enumerate(SHAPES)}

# Stream names are part of the determinism contract: renaming one changes every dataset.
STREAMS = ("duration", "radius", "position", "colour", "shape", "direction", "speed", "acceleration", "affine",
           "texture", "crop", "clip", "background", "static")


@dataclass
class Latents:
    frames: int               # T
    radius: np.ndarray        # (N,) int32 px
    x0: np.ndarray            # (N,) int32 initial centre
    y0: np.ndarray
    colour: np.ndarray        # (N, 3) uint8 RGB
    shape: np.ndarray         # (N,) int8 index into SHAPES
    shape_angles: np.ndarray  # (N, 4) float64: oriented-square angle / rectangle angle / sorted polygon angles
    direction: np.ndarray     # (N,) rad
    speed: np.ndarray         # (N,) px/frame
    acceleration: np.ndarray  # (N,)
    rotation: np.ndarray      # (N,) rad/frame
    scale: np.ndarray         # (N, 2) per-axis rate /frame
    shear: np.ndarray         # (N, 2)
    # Pool choices as uniforms in [0, 1): mapped to items when rendering, so they do not depend on the pool
    item_u: np.ndarray        # (N,) which pool item fills the object
    crop_u: np.ndarray        # (N, 2) where its crop sits in the item
    clip_u: np.ndarray        # (N,) start frame in a latent-walk clip (dynamic crops)
    background_u: np.ndarray  # (4,) RGB of a random background colour, then a background item
    static_u: np.ndarray      # (2,) Bernoulli draw of a static replacement, then its item

    @property
    def count(self) -> int:
        return int(self.radius.shape[0])

    def to_records(self) -> np.ndarray:
        """One structured row per object (the sample's .latents.npz, one array per field)."""
        dtype = [("radius", "<i4"), ("x0", "<i4"), ("y0", "<i4"), ("colour", "u1", (3,)), ("shape", "i1"),
                 ("shape_angles", "<f8", (4,)), ("direction", "<f8"), ("speed", "<f8"), ("acceleration", "<f8"),
                 ("rotation", "<f8"), ("scale", "<f8", (2,)), ("shear", "<f8", (2,)), ("item_u", "<f8"),
                 ("crop_u", "<f8", (2,)), ("clip_u", "<f8")]
        rec = np.zeros(self.count, dtype=dtype)
        for name, *_ in dtype:
            rec[name] = getattr(self, name)
        return rec

    def summary(self) -> dict:
        """A compact audit of the draws, for the sample JSON."""
        def stats(a):
            if a.size == 0:
                return None
            return [round(float(a.min()), 6), round(float(np.median(a)), 6), round(float(a.max()), 6)]
        return {
            "objects": self.count,
            "shape_counts": {s: int((self.shape == i).sum()) for i, s in enumerate(SHAPES)},
            "radius_min_median_max": stats(self.radius),
            "speed_min_median_max": stats(self.speed),
            "acceleration_min_median_max": stats(self.acceleration),
            "rotation_min_median_max": stats(self.rotation),
        }


def radius_grid_cdf(params: VideoParams) -> tuple[np.ndarray, np.ndarray]:
    """The reference code's truncated power law: CDF ∝ cumsum(r^-σ − r_max^-σ) on a linear grid."""
    grid = np.linspace(params.radius_min, params.radius_max, params.radius_grid_points)
    density = 1.0 / grid ** params.radius_sigma - 1.0 / params.radius_max ** params.radius_sigma
    cdf = np.cumsum(density)
    return grid, cdf / cdf[-1]


def video_frames(params: VideoParams, seed: int, index: int) -> int:
    """The frame count of video `index`, without drawing anything else."""
    return int(substream(seed, index, "duration").integers(params.frames_min, params.frames_max + 1))


def sample_latents(params: VideoParams, seed: int, index: int) -> Latents:
    n, res = params.objects, params.size
    s = lambda name: substream(seed, index, name)  # noqa: E731

    frames = video_frames(params, seed, index)

    grid, cdf = radius_grid_cdf(params)
    u = s("radius").random(n)
    nearest = np.abs(cdf[None, :] - u[:, None]).argmin(axis=1)
    radius = np.maximum((grid[nearest] * res).astype(np.int32), 1)

    span = max(1, int(params.position_range * res))
    pos = s("position").integers(0, span, size=(n, 2))
    colour = (s("colour").random((n, 3)) * 255).astype(np.uint8)

    shape_rng = s("shape")
    which = np.minimum((shape_rng.random(n) * len(params.shapes)).astype(np.int64), len(params.shapes) - 1)
    codes = np.array([SHAPE_CODE[name] for name in params.shapes], np.int8)
    shape = codes[which]
    raw_angles = shape_rng.random((n, 4))
    shape_angles = np.zeros((n, 4))
    shape_angles[:, 0] = raw_angles[:, 0] * 2 * np.pi               # oriented square
    shape_angles[:, 1] = raw_angles[:, 1] * np.pi / 2                 # rectangle
    tri = np.sort(raw_angles[:, :3] * 2 * np.pi, axis=1)
    quad = np.sort(raw_angles * 2 * np.pi, axis=1)
    is_tri = shape == SHAPE_CODE["triangle"]
    is_quad = shape == SHAPE_CODE["quadrilateral"]
    shape_angles[is_tri, :3] = tri[is_tri]
    shape_angles[is_tri, 3] = tri[is_tri, 2]
    shape_angles[is_quad] = quad[is_quad]

    direction = s("direction").random(n) * 2 * np.pi
    speed = params.speed_min + s("speed").random(n) * (params.speed_max - params.speed_min)
    acceleration = (2 * s("acceleration").random(n) - 1) * params.acceleration_max

    aff = s("affine").random((n, 5)) * 2 - 1
    if params.affine:
        rotation = aff[:, 0] * params.rotation_rate_max
        scale = aff[:, 1:3] * params.scale_rate_max
        shear = aff[:, 3:5] * params.shear_rate_max
    else:
        rotation, scale, shear = np.zeros(n), np.zeros((n, 2)), np.zeros((n, 2))

    return Latents(frames=frames, radius=radius, x0=pos[:, 0].astype(np.int32), y0=pos[:, 1].astype(np.int32),
                   colour=colour, shape=shape, shape_angles=shape_angles, direction=direction, speed=speed,
                   acceleration=acceleration, rotation=rotation, scale=scale, shear=shear,
                   item_u=s("texture").random(n), crop_u=s("crop").random((n, 2)), clip_u=s("clip").random(n),
                   background_u=s("background").random(4), static_u=s("static").random(2))


def make_latents(frames: int, objects: list[dict]) -> Latents:
    """Hand-written latents (golden tests, demos): each object a dict of the fields above; missing motion
    and affine fields default to zero, shape to 'circle'."""
    n = len(objects)
    get = lambda key, default: [o.get(key, default) for o in objects]  # noqa: E731
    angles = np.zeros((n, 4))
    for i, o in enumerate(objects):
        a = list(o.get("shape_angles", []))
        angles[i, :len(a)] = a
    return Latents(
        frames=frames,
        radius=np.array(get("radius", 10), np.int32).reshape(n),
        x0=np.array(get("x0", 0), np.int32).reshape(n), y0=np.array(get("y0", 0), np.int32).reshape(n),
        colour=np.array(get("colour", (255, 255, 255)), np.uint8).reshape(n, 3),
        shape=np.array([SHAPE_CODE[o.get("shape", "circle")] for o in objects], np.int8).reshape(n),
        shape_angles=angles,
        direction=np.array(get("direction", 0.0), float).reshape(n),
        speed=np.array(get("speed", 0.0), float).reshape(n),
        acceleration=np.array(get("acceleration", 0.0), float).reshape(n),
        rotation=np.array(get("rotation", 0.0), float).reshape(n),
        scale=np.array(get("scale", (0.0, 0.0)), float).reshape(n, 2),
        shear=np.array(get("shear", (0.0, 0.0)), float).reshape(n, 2),
        item_u=np.array(get("item_u", 0.0), float).reshape(n),
        crop_u=np.array(get("crop_u", (0.0, 0.0)), float).reshape(n, 2),
        clip_u=np.array(get("clip_u", 0.0), float).reshape(n),
        background_u=np.zeros(4), static_u=np.ones(2),
    )


LATENT_FIELDS = [f.name for f in fields(Latents)]
