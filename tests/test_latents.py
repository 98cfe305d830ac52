"""Statistics of the drawn latents against the spec (paper.md A.0), and the shared-draw promise."""

import numpy as np
import pytest

from synthvid.factory.generate.latents import SHAPE_CODE, radius_grid_cdf, sample_latents
from synthvid.factory.generate.params import SHAPES
from synthvid.factory.generate.recipe import from_variant
from synthvid.manifests.seeds import substream


def pooled(variant, videos=8, **overrides):
    recipe = from_variant(variant, overrides)
    lats = [sample_latents(recipe.params, 0, i) for i in range(videos)]
    return recipe.params, lats


def cat(lats, field):
    return np.concatenate([getattr(l, field) for l in lats])


def test_radius_law_matches_spec():
    params, lats = pooled("accelerating-shapes", videos=40)   # 20,000 objects
    r = cat(lats, "radius")
    # the population median sits on the 33/34 px boundary (P(r <= 33) = 0.497), so a sample lands on either
    assert 33 <= np.median(r) <= 35
    assert r.min() == 25 and r.max() <= 256
    assert 40 <= r.mean() <= 46
    assert 0.10 <= np.mean(r == 25) <= 0.16          # ~12.8 % of the mass on the smallest grid point
    grid, cdf = radius_grid_cdf(params)
    assert len(grid) == 200 and cdf[-1] == pytest.approx(1.0) and np.all(np.diff(cdf)[:-1] > 0)
    population_median = int(grid[np.searchsorted(cdf, 0.5)] * 256)
    assert population_median == 34


def test_motion_and_affine_ranges():
    params, lats = pooled("accelerating-shapes", videos=6)
    speed, acc = cat(lats, "speed"), cat(lats, "acceleration")
    assert speed.min() >= 1.2 and speed.max() <= 3.0 and speed.max() - speed.min() > 1.7
    assert acc.min() >= -0.03 and acc.max() <= 0.03 and acc.min() < -0.029 and acc.max() > 0.029
    rot, scale, shear = cat(lats, "rotation"), cat(lats, "scale"), cat(lats, "shear")
    assert np.abs(rot).max() <= np.pi / 100 and np.abs(rot).max() > 0.99 * np.pi / 100
    assert np.abs(scale).max() <= 0.005 and np.abs(shear).max() <= 0.005
    assert np.abs(scale).max() > 0.0049 and np.abs(shear).max() > 0.0049
    x0 = cat(lats, "x0")
    assert x0.min() >= 0 and x0.max() < 512 and 0.2 < np.mean((x0 < 256)) < 0.8
    direction = cat(lats, "direction")
    assert direction.min() >= 0 and direction.max() < 2 * np.pi


def test_shape_mix_uniform_over_six():
    _, lats = pooled("moving-shapes", videos=6)
    shapes = cat(lats, "shape")
    counts = np.bincount(shapes, minlength=6) / shapes.size
    assert np.all(np.abs(counts - 1 / 6) < 0.03), counts
    _, circles = pooled("moving-circles", videos=2)
    assert np.all(cat(circles, "shape") == SHAPE_CODE["circle"])


def test_frame_counts_in_range_inclusive():
    params = from_variant("moving-shapes").params
    frames = [sample_latents(params, 0, i).frames for i in range(300)]
    assert min(frames) >= 100 and max(frames) <= 200
    assert min(frames) < 105 and max(frames) > 195


def test_colour_is_int_of_uniform_times_255():
    _, lats = pooled("moving-circles", videos=4)
    colour = np.concatenate([l.colour for l in lats])
    assert colour.max() <= 254 and colour.min() == 0 and 120 < colour.mean() < 135


def test_progression_shares_draws():
    """Video i of transforming- and accelerating-shapes differ only by acceleration (paper 3.1)."""
    for i in range(3):
        a = sample_latents(from_variant("transforming-shapes").params, 7, i)
        b = sample_latents(from_variant("accelerating-shapes").params, 7, i)
        for field in ("frames", "radius", "x0", "y0", "colour", "shape", "shape_angles", "direction", "speed",
                      "rotation", "scale", "shear"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), field
        assert np.all(a.acceleration == 0) and np.any(b.acceleration != 0)
    # moving -> transforming adds only the affine rates; slow speeds are exactly half
    m = sample_latents(from_variant("moving-shapes").params, 7, 0)
    t = sample_latents(from_variant("transforming-shapes").params, 7, 0)
    assert np.array_equal(m.x0, t.x0) and np.array_equal(m.speed, t.speed) and np.all(m.rotation == 0)
    slow = sample_latents(from_variant("moving-shapes-slow").params, 7, 0)
    assert np.allclose(slow.speed, m.speed / 2)
    assert slow.speed.min() >= 0.6 and slow.speed.max() <= 1.5


def test_independent_of_global_rng_and_call_order():
    params = from_variant("accelerating-shapes").params
    np.random.seed(1)
    a = sample_latents(params, 3, 5)
    np.random.seed(2)
    np.random.random(100)
    sample_latents(params, 3, 4)                  # another video first: no shared state
    b = sample_latents(params, 3, 5)
    assert a.to_records().tobytes() == b.to_records().tobytes()
    c = sample_latents(params, 4, 5)
    assert a.to_records().tobytes() != c.to_records().tobytes()


def test_substreams_are_independent_by_name_seed_index():
    draws = {(s, i, n): substream(s, i, n).random() for s in (0, 1) for i in (0, 1) for n in ("speed", "colour")}
    assert len(set(draws.values())) == len(draws)
    assert substream(0, 0, "speed").random() == draws[(0, 0, "speed")]


def test_static_circles_are_static():
    params = from_variant("static-circles").params
    assert params.static
    lat = sample_latents(params, 0, 0)
    assert np.all(lat.speed == 0) and np.all(lat.acceleration == 0)
    assert set(SHAPES) >= {"circle"}
