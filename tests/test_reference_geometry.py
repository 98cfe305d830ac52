"""The all-reference geometry (`params.REFERENCE_GEOMETRY`) renders the authors' pixels.

`authors_frame` below is a plain, per-object re-statement of the authors' formulas (spec/paper.md A.0 and
H.8), written for this test: integer centres truncated after v(t) = v0 + a t, culling by centre, local
corners in the shape's [0, 2r] box cast to int32 (the oriented square: its half-side r√2/2 cast to int32,
then turned by its angle, fractional), the homogeneous R(ωt) S(1 + s t) Sh(h t) about the pivot
(r//2, r//2), linear in t, global corners cast to int32, `cv2.fillPoly`; circles `cv2.ellipse` with radii
int(r (1 + s t)) and the radian angle ωt passed as degrees (the on-the-fly class of stages 1-5).
Frames of it are frozen in tests/data/reference_geometry.npz (rewrite with
`python tests/test_reference_geometry.py --write`), so a change of OpenCV's rasterisation shows too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from synthvid.factory.generate.latents import SHAPE_CODE, sample_latents
from synthvid.factory.generate.params import REFERENCE_GEOMETRY
from synthvid.factory.generate.recipe import from_variant
from synthvid.factory.generate.render import Renderer

FIXTURE = Path(__file__).parent / "data" / "reference_geometry.npz"
SIZE = 64
# (variant, seed, video index, frames): static, moving, mixed-shape, affine and accelerating stages
CASES = [("static-circles", 0, 0, (0,)), ("moving-circles", 1, 2, (0, 9)), ("moving-shapes", 2, 1, (0, 7, 15)),
         ("transforming-shapes", 3, 0, (0, 11, 19)), ("accelerating-shapes", 4, 3, (0, 13, 19)),
         ("accelerating-shapes", 5, 1, (5, 18))]


def reference_params(variant: str):
    return from_variant(variant, {"size": SIZE, "frames_min": 20, "frames_max": 20, "objects": 40,
                                  **REFERENCE_GEOMETRY}).params


def _box_corners(shape: str, r: int, angles: np.ndarray) -> np.ndarray:
    if shape == "square":
        s = r * np.sqrt(2)
        return np.array([(0, 0), (s, 0), (s, s), (0, s)]).astype(np.int32)
    if shape == "oriented_square":
        h = r * np.sqrt(2) / 2
        half = np.array([(-h, -h), (h, -h), (h, h), (-h, h)]).astype(np.int32)
        c, s = np.cos(angles[0]), np.sin(angles[0])
        return (np.array([[c, -s], [s, c]]) @ half.T).T + np.array([r, r])
    if shape == "rectangle":
        a = angles[1]
        rc, rs = r * np.cos(a), r * np.sin(a)
        return np.array([(rc + r, rs + r), (rc + r, -rs + r), (-rc + r, -rs + r), (-rc + r, rs + r)]).astype(np.int32)
    k = 3 if shape == "triangle" else 4
    return np.array([(r * np.cos(a) + r, r * np.sin(a) + r) for a in angles[:k]]).astype(np.int32)


def _pivot_affine(r: int, rot: float, sx: float, sy: float, hx: float, hy: float) -> np.ndarray:
    """The homogeneous R @ S @ Sh about the pivot (r//2, r//2)."""
    p = r // 2
    c, s = np.cos(rot), np.sin(rot)
    R = np.array([(c, -s, p * (1 - c) + p * s), (s, c, p * (1 - c) - p * s), (0, 0, 1)])
    S = np.array([(sx, 0, p * (1 - sx)), (0, sy, p * (1 - sy)), (0, 0, 1)])
    Sh = np.array([(1, hx, -hx * p), (hy, 1, -hy * p), (0, 0, 1)])
    return R @ S @ Sh


def authors_frame(lat, params, t: int) -> np.ndarray:
    res = params.size
    img = np.zeros((res, res, 3), np.uint8)
    names = {code: name for name, code in SHAPE_CODE.items()}
    for i in range(lat.count):
        colour = tuple(int(c) for c in lat.colour[i])
        r = int(lat.radius[i])
        v = lat.speed[i] + lat.acceleration[i] * t
        cx, cy = np.array((lat.x0[i] + v * np.cos(lat.direction[i]) * t,
                           lat.y0[i] + v * np.sin(lat.direction[i]) * t), dtype=np.int32)
        if cx <= -res or cx >= 2 * res or cy <= -res or cy >= 2 * res:
            continue
        shape = names[int(lat.shape[i])]
        if shape == "circle":
            rx = ry = r
            angle = 0.0
            if params.affine:
                angle = lat.rotation[i] * t
                rx, ry = r * (1 + lat.scale[i, 0] * t), r * (1 + lat.scale[i, 1] * t)
            cv2.ellipse(img, (int(cx), int(cy)), (int(rx), int(ry)), angle, 0, 360, colour, -1)
            continue
        corners = _box_corners(shape, r, lat.shape_angles[i])
        if params.affine:
            A = _pivot_affine(r, lat.rotation[i] * t, 1 + lat.scale[i, 0] * t, 1 + lat.scale[i, 1] * t,
                              lat.shear[i, 0] * t, lat.shear[i, 1] * t)
            corners = (A @ np.concatenate([corners, np.ones((len(corners), 1))], 1).T).T[:, :2]
        corners = np.array((cx, cy)) + np.array(corners)
        cv2.fillPoly(img, np.array(corners, dtype=np.int32)[None], colour)
    return img


def _reference_frames() -> dict:
    out = {}
    for variant, seed, index, frames in CASES:
        params = reference_params(variant)
        lat = sample_latents(params, seed, index)
        for t in frames:
            out[f"{variant}/{seed}/{index}/{t}"] = authors_frame(lat, params, t)
    return out


@pytest.fixture(scope="module")
def frozen() -> dict:
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def test_the_fixture_is_the_authors_formulas(frozen):
    computed = _reference_frames()
    assert sorted(computed) == sorted(frozen)
    for key, frame in computed.items():
        assert np.array_equal(frame, frozen[key]), key
    for key, frame in frozen.items():                     # scenes of several objects, not empty frames
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 4, key


@pytest.mark.parametrize("variant,seed,index,frames", CASES)
def test_reference_mode_renders_the_authors_pixels(frozen, variant, seed, index, frames):
    params = reference_params(variant)
    renderer = Renderer(sample_latents(params, seed, index), params)
    for t in frames:
        mine, theirs = renderer.frame(t), frozen[f"{variant}/{seed}/{index}/{t}"]
        differ = np.flatnonzero((mine != theirs).any(axis=2))
        assert not len(differ), f"{variant} t={t}: {len(differ)} pixels differ, first at {divmod(differ[0], SIZE)}"


def test_each_reference_choice_matters(frozen):
    """Dropping any one reference choice changes pixels of the affine stage: none is dead weight."""
    key = "transforming-shapes/3/0/19"
    lat = sample_latents(reference_params("transforming-shapes"), 3, 0)
    for name, paper_value in (("affine_mode", "compound"), ("affine_pivot", "centre"), ("square_geometry", "centred"),
                              ("circle_affine", "ellipse"), ("rasterise", "fast")):
        params = from_variant("transforming-shapes", {"size": SIZE, "frames_min": 20, "frames_max": 20,
                                                      "objects": 40, **REFERENCE_GEOMETRY, name: paper_value}).params
        assert not np.array_equal(Renderer(lat, params).frame(19), frozen[key]), name


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    FIXTURE.parent.mkdir(exist_ok=True)
    np.savez_compressed(FIXTURE, **_reference_frames())
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")
