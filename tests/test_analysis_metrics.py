"""Dataset analysis, low-level metrics: spectrum slope, Lab Gaussians and KL, Frechet distance, log-det
diversity, optical flow and static frames, sampling. Pure numpy/OpenCV, small arrays."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2lab

from synthvid.trainer.analysis.colour import LabAccumulator, to_lab
from synthvid.trainer.analysis.gaussians import frechet_distance, logdet_diversity, mean_cov, symmetric_kl
from synthvid.trainer.analysis.motion import MotionAccumulator, flow_magnitude
from synthvid.trainer.analysis.objects import ObjectAccumulator
from synthvid.trainer.analysis.sampling import SampleSpec, choose_videos, clip_indices, flow_slots, motion_pairs
from synthvid.trainer.analysis.spectrum import SpectrumAccumulator, fit_alpha, luminance


def power_law_noise(alpha: float, n: int, seed: int) -> np.ndarray:
    """A periodic n x n field whose amplitude spectrum is exactly proportional to 1/|f|^alpha (random phase
    and Gaussian amplitude noise), scaled to [0, 1]."""
    rng = np.random.default_rng(seed)
    f = np.sqrt(np.fft.fftfreq(n)[:, None] ** 2 + np.fft.fftfreq(n)[None, :] ** 2)
    f[0, 0] = 1.0
    spectrum = (rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))) / f ** alpha
    spectrum[0, 0] = 0
    field = np.real(np.fft.ifft2(spectrum))
    return (field - field.min()) / (field.max() - field.min())


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.5, 2.0])
@pytest.mark.parametrize("cropped", [False, True], ids=["periodic", "cropped"])
def test_spectrum_fit_recovers_the_slope_of_power_law_noise(alpha, cropped):
    # cropped: a 256 px window of a 512 px field, so the frame edges do not wrap (as in a real image)
    acc = SpectrumAccumulator()
    for seed in range(6):
        acc.add(power_law_noise(alpha, 512, seed)[:256, :256] if cropped else power_law_noise(alpha, 256, seed))
    fitted, r2 = fit_alpha(*acc.curve())
    assert abs(fitted - alpha) < 0.05, (alpha, fitted)
    assert r2 > 0.98


def test_spectrum_pools_frame_sizes_by_frequency_and_ignores_flat_frames():
    acc = SpectrumAccumulator()
    for seed in range(4):
        acc.add(power_law_noise(1.0, 256, seed))
        acc.add(power_law_noise(1.0, 512, seed + 10)[:192, :320])   # another size joins the same bins
    assert abs(fit_alpha(*acc.curve())[0] - 1.0) < 0.05
    flat = SpectrumAccumulator()
    flat.add(np.full((64, 64), 0.3))
    assert np.isnan(fit_alpha(*flat.curve())[0])                  # no energy: no slope, not a number


def test_luminance_of_uint8_rgb():
    frame = np.zeros((2, 2, 3), np.uint8)
    frame[0, 0] = 255
    lum = luminance(frame)
    assert lum.dtype == np.float32 and lum[0, 0] == pytest.approx(1.0) and lum[1, 1] == 0


def _colour_frames(shift=(0, 0, 0), seed=0, n=6):
    rng = np.random.default_rng(seed)
    base = rng.normal([110, 90, 70], [40, 30, 25], size=(n, 32, 32, 3))
    return np.clip(base + np.array(shift), 0, 255).astype(np.uint8)


def _lab_gaussian(frames):
    acc = LabAccumulator()
    for f in frames:
        acc.add(f)
    return acc.gaussian()


def test_lab_conversion_agrees_with_scikit_image():
    rgb = np.random.default_rng(1).integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
    ours = to_lab(rgb)
    theirs = rgb2lab(rgb.astype(np.float64) / 255.0).reshape(-1, 3)
    assert np.abs(ours - theirs).max() < 0.5
    assert to_lab(np.full((1, 1, 3), 255, np.uint8))[0, 0] == pytest.approx(100.0, abs=0.01)


def test_colour_kl_is_zero_against_itself_and_grows_with_a_colour_shift():
    ref = _lab_gaussian(_colour_frames())
    assert symmetric_kl(*ref, *ref) == pytest.approx(0.0, abs=1e-9)
    kls = [symmetric_kl(*_lab_gaussian(_colour_frames((s, 0, -s))), *ref) for s in (0, 10, 25, 50)]
    assert kls[0] == pytest.approx(0.0, abs=1e-9)
    assert all(a < b for a, b in zip(kls, kls[1:])), kls
    # a different draw of the same colour distribution is close; a shifted one is far
    assert symmetric_kl(*_lab_gaussian(_colour_frames(seed=5)), *ref) < 0.05 * kls[-1]


def test_lab_gaussian_is_the_sample_mean_and_covariance_of_the_pixels():
    frames = _colour_frames(n=3)
    mu, cov = _lab_gaussian(frames)
    pixels = np.concatenate([to_lab(f) for f in frames])
    assert np.allclose(mu, pixels.mean(axis=0)) and np.allclose(cov, np.cov(pixels.T), rtol=1e-6, atol=1e-6)


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    g = mean_cov(x)
    assert frechet_distance(*g, *g) == pytest.approx(0.0, abs=1e-9)
    # a shifted copy: only the mean term remains
    shifted = mean_cov(x + 2.0)
    assert frechet_distance(*g, *shifted) == pytest.approx(5 * 4.0, rel=1e-9)
    # diagonal covariances: sum of (sqrt(a) - sqrt(b))^2
    a, b = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    assert frechet_distance(np.zeros(2), a, np.zeros(2), b) == pytest.approx((1 - 3) ** 2 + (2 - 1) ** 2)


def test_logdet_diversity_identical_frames_score_lower_than_distinct_ones():
    rng = np.random.default_rng(0)
    distinct = rng.normal(size=(64, 16))
    identical = np.repeat(distinct[:1], 64, axis=0)
    few = np.concatenate([np.repeat(distinct[:4], 16, axis=0)])   # 4 distinct frames, each 16 times
    scores = [logdet_diversity(x) for x in (identical, few, distinct)]
    assert scores[0] < scores[1] < scores[2]
    assert scores[0] == pytest.approx(16 * np.log(1e-6))       # the floor: every direction missing
    assert np.isfinite(logdet_diversity(distinct[:3]))          # fewer samples than dimensions still scores


def test_flow_magnitude_measures_a_known_shift_and_static_frames():
    rng = np.random.default_rng(0)
    field = (power_law_noise(1.5, 160, 0) * 255).astype(np.uint8)
    frame = np.repeat(field[:, :, None], 3, axis=2)
    moved = np.roll(frame, 2, axis=1)
    assert flow_magnitude(frame[16:-16, 16:-16], moved[16:-16, 16:-16]) == pytest.approx(2.0, abs=0.3)
    acc = MotionAccumulator()
    acc.add(frame, frame, with_flow=True)
    noisy = np.clip(frame.astype(np.int16) + rng.integers(-1, 2, frame.shape), 0, 255).astype(np.uint8)
    acc.add(frame, noisy, with_flow=False)      # sensor/compression-like noise still counts as static
    acc.add(frame, moved, with_flow=True)
    black = np.zeros((256, 256, 3), np.uint8)
    square = black.copy()
    square[100:110, 100:110] = 200                  # one small object moving 1 px: not a static frame
    acc.add(square, np.roll(square, 1, axis=1), with_flow=False)
    assert acc.static == 2 and acc.pairs == 4 and acc.flow_pairs == 2
    assert acc.static_share == pytest.approx(2 / 4)
    assert acc.mean_flow == pytest.approx((flow_magnitude(frame, frame) + flow_magnitude(frame, moved)) / 2, rel=1e-9)
    assert flow_magnitude(frame, frame) < 0.01


def test_sampling_is_a_pure_function_of_seed_and_video_index():
    spec = SampleSpec(videos=5, frames=16, stride=4, seed=3)
    chosen = choose_videos(list(range(40)), spec)
    assert chosen == choose_videos(list(reversed(range(40))), spec) and len(chosen) == 5
    assert chosen != choose_videos(list(range(40)), SampleSpec(videos=5, seed=4))
    assert choose_videos([7, 3], spec) == [3, 7]                       # fewer videos than asked: all of them
    a = clip_indices(150, 11, spec)
    assert np.array_equal(a, clip_indices(150, 11, spec)) and np.all(np.diff(a) == 4) and a[-1] < 150
    short = clip_indices(20, 11, spec)                                 # shorter than the 61-frame window
    assert short[0] == 0 and short.max() == 19
    assert motion_pairs(np.array([0, 19]), 20) == [(0, 1), (18, 19)] and motion_pairs(np.array([0]), 1) == []
    assert flow_slots(SampleSpec(frames=16, flow_pairs=4)) == {0, 5, 10, 15}
    with pytest.raises(ValueError):
        SampleSpec(frames=4, flow_pairs=5)


def test_object_statistics_from_the_latents_summary():
    acc = ObjectAccumulator()
    acc.add({"latents": {"objects": 500, "radius_min_median_max": [6, 8, 45], "speed_min_median_max": [1.2, 2.0, 3.0],
                         "acceleration_min_median_max": [-0.03, 0, 0.02], "rotation_min_median_max": [0, 0, 0]}})
    acc.add({"latents": {"objects": 300, "radius_min_median_max": [6, 12, 45], "speed_min_median_max": [1.2, 1.0, 3.0],
                         "acceleration_min_median_max": [-0.01, 0, 0.01], "rotation_min_median_max": [-0.1, 0, 0.05]}})
    acc.add(None)                                          # a sample without JSON
    acc.add({"latents": {"objects": 0}})                   # whole-frame videos: no objects
    s = acc.summary()
    assert s["obj_videos"] == 2 and s["obj_count"] == 400 and s["obj_radius_median"] == 10
    assert s["obj_speed_median"] == pytest.approx(1.5) and s["obj_accel_absmax"] == pytest.approx(0.02)
    assert s["obj_rotation_absmax"] == pytest.approx(0.05)
    assert ObjectAccumulator().summary()["obj_videos"] == 0
