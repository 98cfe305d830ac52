"""Amplitude-spectrum slope: fit A(f) = c / |f|^alpha to a set's radially averaged amplitude spectrum.

The paper (section 5.4, after Torralba & Oliva 2003) reports alpha per dataset; natural images have
alpha in [0.5, 2], its best synthetic sets 1.2-1.4. How it fits is not stated, so here it is exactly:

* a frame's luminance (Rec. 601 weights, values in [0, 1]) minus its mean, times a 2-D Hann window (a
  frame's edges otherwise add a cross of 1/f leakage that pulls alpha towards 1 or 2). The window's main
  lobe spans ~2 frequency bins, so frames under ~128 px bias steep slopes (alpha >= 2) upwards by ~0.1;
  at 256 px the fit recovers synthetic 1/f^alpha noise within ~0.03 (tests/test_analysis_metrics.py);
* |FFT| at every frequency f = sqrt(fx^2 + fy^2) in cycles per pixel, kept for F_LO <= f <= F_HI, so DC
  and the lowest bins (a few cycles per frame, smeared by the window) and the band near Nyquist
  (anti-aliasing, compression, demosaicing) stay out; cycles per pixel make sizes comparable;
* amplitudes are averaged inside BINS log-spaced frequency bins per frame, and those per-frame bin means
  averaged over all frames of the set (bins a frame size cannot populate are skipped for that size);
* alpha = -slope of an ordinary least-squares line through (log f, log mean amplitude) of the populated
  bins; log-spaced bins give each octave the same weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

F_LO = 0.02    # cycles/pixel: 5 cycles per 256 px frame
F_HI = 0.25    # cycles/pixel: half of Nyquist
BINS = 24
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def luminance(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float32 in [0, 1]."""
    return (frame.astype(np.float32) @ _LUMA) / 255.0


def _geometry(h: int, w: int):
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    keep = (f >= F_LO) & (f <= F_HI)
    bins = np.floor(BINS * np.log(f[keep] / F_LO) / np.log(F_HI / F_LO)).astype(np.int64).clip(0, BINS - 1)
    counts = np.bincount(bins, minlength=BINS)
    centres = np.bincount(bins, weights=f[keep], minlength=BINS) / np.maximum(counts, 1)
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    return keep, bins, counts, centres, window


@dataclass
class SpectrumAccumulator:
    """Running sum of per-frame binned amplitude spectra (all frame sizes pooled by frequency bin)."""

    amp_sum: np.ndarray = field(default_factory=lambda: np.zeros(BINS))
    freq_sum: np.ndarray = field(default_factory=lambda: np.zeros(BINS))
    frames_in_bin: np.ndarray = field(default_factory=lambda: np.zeros(BINS, np.int64))
    frames: int = 0
    flat_frames: int = 0   # uniform frames (a black static video): no spectrum, left out of the average
    _cache: dict = field(default_factory=dict, repr=False)

    def add(self, gray: np.ndarray) -> None:
        """One frame's luminance, (H, W) float in [0, 1]."""
        h, w = gray.shape
        if (h, w) not in self._cache:
            self._cache[(h, w)] = _geometry(h, w)
        keep, bins, counts, centres, window = self._cache[(h, w)]
        self.frames += 1
        centred = gray - gray.mean()
        if np.abs(centred).max() < 1e-6:   # a flat frame has no spectrum, only rounding noise
            self.flat_frames += 1
            return
        spectrum = np.abs(np.fft.rfft2(centred * window))
        sums = np.bincount(bins, weights=spectrum[keep], minlength=BINS)
        populated = counts > 0
        self.amp_sum[populated] += sums[populated] / counts[populated]
        self.freq_sum[populated] += centres[populated]
        self.frames_in_bin[populated] += 1

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin frequency in cycles/pixel, mean amplitude) over the populated bins."""
        ok = self.frames_in_bin > 0
        n = self.frames_in_bin[ok]
        return self.freq_sum[ok] / n, self.amp_sum[ok] / n


def fit_alpha(freqs: np.ndarray, amps: np.ndarray) -> tuple[float, float]:
    """(alpha, r^2) of log A = log c - alpha log f; NaN when fewer than 3 bins carry energy."""
    ok = amps > 0
    if ok.sum() < 3:
        return float("nan"), float("nan")
    x, y = np.log(freqs[ok]), np.log(amps[ok])
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    total = ((y - y.mean()) ** 2).sum()
    r2 = 1.0 - (resid ** 2).sum() / total if total > 0 else float("nan")
    return float(-slope), float(r2)
