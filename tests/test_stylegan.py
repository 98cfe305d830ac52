"""Untrained StyleGAN images and latent-walk clips (factory/pools/stylegan.py, spec/textures.md B).

Sizes are 32 px (full channel widths: 512 channels below 64 px), so each image costs ~0.3-0.6 s on one core.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from synthvid.factory.pools import stylegan as sg
from synthvid.factory.pools.stylegan_direct import direct_synthesis

SIZE = 32


def _rot180(f):
    return f[::-1, ::-1]


def test_oriented_dictionary_members():
    d = sg.oriented_dictionary().astype(np.float64)
    assert d.shape == (40, 3, 3)
    edges, bars, sparse = d[:8], d[8:16], d[16:20]
    np.testing.assert_array_equal(d[20:], -d[:20])                       # negatives of all 20
    for f in np.concatenate([edges, bars]):
        assert abs(f.sum()) < 1e-6                                          # zero mean
        assert np.abs(f).max() > 0.3
    for f in edges:
        np.testing.assert_allclose(_rot180(f), -f, atol=1e-6)               # a step edge is odd
    for f in bars:
        np.testing.assert_allclose(_rot180(f), f, atol=1e-6)                # a bar is even
    np.testing.assert_allclose(edges[0], [[1, 0, -1]] * 3, atol=1e-6)       # 0 deg: +1 | 0 | -1
    np.testing.assert_allclose(bars[0], np.array([[1, -2, 1]] * 3) * (2 / 3), atol=1e-6)
    # 8 distinct orientations: the edges' dominant gradient directions are spread over 180 deg
    angles = []
    for f in edges:
        gy, gx = (f[2] - f[0]).sum(), (f[:, 2] - f[:, 0]).sum()
        angles.append(np.degrees(np.arctan2(gy, gx)) % 180)
    assert len({round(a) for a in angles}) == 8
    assert len({tuple(np.round(f, 4).ravel()) for f in bars}) >= 6        # rotated bars differ (90/0 alike)
    delta, surround, plus, plus_sign = sparse
    np.testing.assert_array_equal(delta, [[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(surround, [[-1, -1, -1], [-1, 1, -1], [-1, -1, -1]])
    np.testing.assert_array_equal(plus, [[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    np.testing.assert_array_equal(plus_sign, [[-1, 1, -1], [1, 1, 1], [-1, 1, -1]])


def test_highfreq_dictionary_members():
    d = sg.highfreq_dictionary()
    assert d.shape == (40, 3, 3)
    assert set(np.unique(d)) <= {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal(d[16:40:2], -d[17:40:2])               # bars and sparse come in +- pairs


def test_layout_matches_stylegan2_at_256():
    convs, rgbs, num_ws = sg.layout(256)
    assert num_ws == 14 and len(convs) == 13 and len(rgbs) == 7
    assert [c.cout for c in convs][-2:] == [128, 128] and convs[0].cin == 512
    assert {sg.channels(r): r for r in (64, 128, 256)} == {512: 64, 256: 128, 128: 256}


def _structured(img: np.ndarray) -> float:
    """Mean correlation of horizontally adjacent pixels (iid noise: ~0)."""
    x = img.astype(np.float64)
    a, b = x[:, :-1].ravel(), x[:, 1:].ravel()
    return float(np.corrcoef(a, b)[0, 1])


def _follows_targets(img: np.ndarray, mean: np.ndarray, std: np.ndarray) -> bool:
    x = img.astype(np.float64) / 255.0
    ok = True
    for c in range(3):
        if mean[c] - 2 * std[c] < 0 or mean[c] + 2 * std[c] > 1 or std[c] <= 0:
            continue                                    # heavily clipped targets: skip this channel
        ok &= abs(x[..., c].mean() - mean[c]) < 0.04 and abs(x[..., c].std() - std[c]) < 0.04
    return bool(ok)


def _stylegan_like(img, mean, std) -> bool:
    return _follows_targets(img, mean, std) and _structured(img.mean(axis=2)) > 0.5


@pytest.fixture(scope="module")
def images():
    return {i: sg.make_stylegan_image(11, i, SIZE) for i in range(3)}


def test_per_channel_statistics_follow_sampled_targets(images):
    for i, img in images.items():
        assert img.shape == (SIZE, SIZE, 3) and img.dtype == np.uint8
        mean, std = sg.sample_colour_targets(11, i)
        assert _stylegan_like(img, mean, std), i
    # the targets are the reference's per-image random statistics
    draws = np.array([np.concatenate(sg.sample_colour_targets(0, i)) for i in range(400)])
    np.testing.assert_allclose(draws[:, :3].mean(0), [0.483, 0.455, 0.401], atol=0.03)
    np.testing.assert_allclose(draws[:, 3:].mean(0), [0.219, 0.213, 0.213], atol=0.015)
    np.testing.assert_allclose(draws[:, :3].std(0), [0.145, 0.142, 0.161], atol=0.02)


def test_plain_noise_fails_the_same_checks(images):
    rng = np.random.default_rng(0)
    for i in images:
        mean, std = sg.sample_colour_targets(11, i)
        noise = np.clip(rng.normal(mean, np.abs(std), (SIZE, SIZE, 3)), 0, 1)
        noise = (noise * 255).astype(np.uint8)
        assert _follows_targets(noise, mean, std)          # right colour statistics ...
        assert not _stylegan_like(noise, mean, std)        # ... but no spatial structure


def test_one_seed_twice_identical_two_seeds_differ(images):
    sg.network.cache_clear()
    again = sg.make_stylegan_image(11, 1, SIZE)
    assert np.array_equal(again, images[1])
    assert not np.array_equal(images[0], images[1])
    assert not np.array_equal(sg.make_stylegan_image(12, 1, SIZE), images[1])


def test_cpu_output_independent_of_callers_thread_setting(images):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert np.array_equal(sg.make_stylegan_image(11, 2, SIZE), images[2])
        assert torch.get_num_threads() == 2                                 # restored after the call
    finally:
        torch.set_num_threads(before)


def test_per_image_draws_are_recipe_shaped():
    d = sg.sample_draws(3, 5, 64, "oriented")
    convs, rgbs, num_ws = sg.layout(64)
    assert d.z.shape == (num_ws, sg.W_DIM)
    assert all(5 <= k <= 40 for k in d.n_sub)
    for idx, k in zip(d.filter_idx, d.n_sub):
        assert len(np.unique(idx)) <= k                                   # channels draw from the subset
    assert all(np.abs(b).max() <= sg.BIAS_RANGE for b in d.bias)
    assert all(0 <= s <= sg.NOISE_STRENGTH_MAX for s in d.strength)
    # one shared pink-noise map, area-resampled to every layer
    big = [n for n, c in zip(d.noise, convs) if c.res == 64][0]
    small = [n for n, c in zip(d.noise, convs) if c.res == 32][0]
    np.testing.assert_allclose(big.reshape(32, 2, 32, 2).mean(axis=(1, 3)), small, atol=1e-5)
    h = sg.sample_draws(3, 5, 64, "high-freq")
    assert all(k == 40 for k in h.n_sub) and all(not b.any() for b in h.bias)
    # images of one 400-image group share the persistent weights
    assert sg.network(3, 0, 64) is sg.network(3, 399 // sg.NETWORK_GROUP, 64)


@pytest.mark.parametrize("prior", sg.PRIORS)
def test_factored_forward_equals_the_direct_modulated_convolution(prior):
    """The fast forward (one mixed map per layer) is the same linear operator as a modulated conv per
    output channel, computed here directly in float64: equal up to float32 rounding."""
    draws = sg.sample_draws(5, 7, SIZE, prior)
    net = sg.network(5, 0, SIZE)
    zs = np.stack([draws.z, draws.z + 0.3 * np.float32(1)])
    fast = sg.synthesize(draws, net, SIZE, zs=zs)
    direct = direct_synthesis(draws, net, SIZE, zs)
    assert fast.shape == direct.shape == (2, 3, SIZE, SIZE)
    np.testing.assert_allclose(fast, direct, rtol=1e-3, atol=1e-4 * np.abs(direct).max())
    assert np.abs(fast[0] - fast[1]).max() > 1e-2 * np.abs(direct).max()    # the two latents differ


def test_highfreq_prior_runs_and_differs():
    a = sg.make_stylegan_image(11, 0, SIZE, prior="high-freq")
    assert a.shape == (SIZE, SIZE, 3)
    assert not np.array_equal(a, sg.make_stylegan_image(11, 0, SIZE))
    with pytest.raises(ValueError, match="prior"):
        sg.make_stylegan_image(11, 0, SIZE, prior="nope")


def test_latent_walk_clip():
    clip = sg.make_stylegan_clip(4, 2, frames=4, size=SIZE)
    assert clip.shape == (4, SIZE, SIZE, 3) and clip.dtype == np.uint8
    assert np.array_equal(clip, sg.make_stylegan_clip(4, 2, frames=4, size=SIZE))
    diffs = [np.abs(clip[t + 1].astype(int) - clip[t]).mean() for t in range(3)]
    assert all(d > 0 for d in diffs)                                    # the crop changes every frame
    assert max(diffs) < 20                                              # ... smoothly
    static = sg.make_stylegan_clip(4, 2, frames=3, size=SIZE, dz_scale=0.0)
    assert all(np.array_equal(static[0], f) for f in static[1:])         # dz = 0: one image repeated
    z = sg.latent_walk(4, 2, 5, np.zeros((2, 3), np.float32), 0.5)
    assert z.shape == (5, 2, 3) and not z[0].any()
    steps = np.diff(z, axis=0)
    assert 0.1 < steps.std() < 1.0


def test_factory_imports_without_torch():
    code = ("import sys; import synthvid.factory.pools.stylegan, synthvid.factory.pools.textures, "
            "synthvid.factory.pools.natural; assert 'torch' not in sys.modules, 'torch imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True)
