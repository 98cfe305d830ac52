"""Statistical textures "stat-spectrum_color_wmm" (spec/textures.md A; Baradad et al. 2021, model "l").

One texture = one pure function of (pool seed, index, size)::

    make_texture(pool_seed, index, size=256) -> (size, size, 3) uint8

Every random draw comes from a named sub-stream of (pool seed, index) (`synthvid.manifests.seeds.substream`):
``textures.colour`` (colour model), ``textures.spectrum`` (slopes), ``textures.wmm`` (band shapes) and
``textures.init`` (the starting noise). A stage's draws never shift another's.

Recipe, in order (spec A.2-A.5):

1. Colour model: ``3 + floor(20 U)`` colours with proportions ``0.001 + U`` (normalised), a multinomial of N^2
   labels laid out sorted (contiguous blocks), colours ``256 U^3``; ``m x m`` box blur, ``m = ceil(10 U)``;
   per-pixel noise ``10 U`` (the MATLAB model that made the released set; the Python port's single scalar is
   a known deviation); rescale to [0, 256]. Colour PCA (eigenvectors of the 3x3 channel scatter); the
   decorrelated channels' 256-bin histograms are the colour targets.
   Boundary choice: the blur reflects at the borders ("symm", as the Python port) instead of MATLAB's zero
   padding, which would add an artificial dark frame to the colour histogram.
2. Spectrum: ``s ~ U(0.5, 3.5)``, ``d ~ N(0, 0.05)``, slopes ``s +- d`` on x / y,
   ``|F| = 1 / (eps + |fx/N|^sx + |fy/N|^sy)``, DC 0, same for the 3 channels.
3. WMM: a steerable pyramid with 4 orientations and 3 (size < 256) or 4 (size >= 256) scales; for every
   band but the low-pass residual, ``shat = 4^(N / band_height)``, ``rhat = 0.4 + 0.4 U``, target histogram
   ``exp(-|x/shat|^rhat)`` on ``x = -200:0.5:200`` with its mean / std.
4. Synthesis from ``256 U(0,1)``: 10 rounds of (spectrum, WMM, colour histograms), then inverse colour PCA,
   min-max to [0, 255], rounded to uint8.

Pyramid choice: our own numpy FFT steerable pyramid (`SteerablePyramid` below), not pyrtools.
It is the same construction as ``pyrtools.SteerablePyramidFreq(height, order=3)`` (the pyramid of the
Python port; real bands, raised-cosine radial masks, ``cos^3`` angular masks, centre cropping per octave),
checked against pyrtools to ~1e-5 in tests/test_textures.py. One deliberate difference, the band scale:
pyrtools' level-j coefficients are 4^j times the full-resolution amplitude, MATLAB's spatial ``buildSpyr``
with ``sp3Filters`` (``lofilt`` sums to 2) gives 2^j. Because the WMM targets fix each band's absolute
histogram (``shat = 4^scale``), this factor sets the relative energy of the octaves in the texture, so we use
the MATLAB scale (``normalisation="spatial"``, a Parseval tight frame), which made the released set the
paper trained on; ``normalisation="pyrtools"`` reproduces the Python port's scale exactly. Reasons for our
own pyramid:

- speed: the masks are built once per (size, height) and cached, and the transforms use the real FFT on a
  half plane; pyrtools rebuilds every mask from lookup tables and runs complex FFTs on every decompose /
  reconstruct call, which the 10 x 3 imposing rounds of every texture repeat 30 times;
- exact masks: closed-form masks instead of pyrtools' 256/1024-entry lookup-table interpolation, so the
  pyramid is a tight frame to float precision (reconstruction error ~1e-12 instead of ~1e-4);
- no dependency: the factory's generators need numpy only (pyrtools stays a test-only cross-check).

Histogram matching is rank based (the Python port's ``match_cumulative_cdf``): a band's values are replaced,
in rank order, by the target quantile function evaluated at ``(1..n)/n``. Because the standardise -> match ->
re-standardise sequence of the recipe is a fixed monotone map of ranks, its output for each band is
precomputed once per texture ("sorted targets") and one argsort per band and round remains.

Measured property worth knowing: the spectrum stage imposes the sampled slope exactly, but each round ends
with the WMM and colour stages, and the WMM targets fix the energy of every octave but the low-pass
residual. The finished textures' fitted amplitude slopes therefore cluster at ~0.5-1.0 whatever ``s`` was
(``s`` still shapes the coarsest blobs); this is a property of the recipe (same order of imposing as the
reference), not of this implementation.

Known, accepted differences from the released MATLAB set: legacy MATLAB RNG (bit equality impossible),
spatial `sp3Filters` pyramid there vs the frequency pyramid here (same family, same band layout), border
handling of the blur. The goal is the same distribution, reproducibly.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from synthvid.manifests.seeds import substream

NAME = "stat-spectrum_color_wmm"
N_ORIENTATIONS = 4
N_ITER = 10
SLOPE_RANGE = (0.5, 3.5)
NCOLORS_RANGE = (3, 22)
BLUR_RANGE = (1, 10)
RHAT_RANGE = (0.4, 0.8)
WMM_X = np.arange(-200.0, 200.0 + 0.25, 0.5)  # -200:0.5:200, 801 points
_EPS = np.finfo(np.float64).eps


def n_scales(size: int) -> int:
    """Pyramid height: 3 below 256 px (the recipe's 128 px setting), 4 from 256 px on."""
    return 4 if size >= 256 else 3


# --------------------------------------------------------------------------------------------------
# Steerable pyramid (frequency domain, real bands, half-plane FFT)
# --------------------------------------------------------------------------------------------------

def _radial_grid(n: int):
    """|w|/pi and angle on the rfft2 half plane of an n x n image (rows: all freqs, cols: 0..n/2)."""
    fy = np.fft.fftfreq(n)[:, None] * 2.0      # in units of pi: [-1, 1)
    fx = np.fft.rfftfreq(n)[None, :] * 2.0     # [0, 1]
    rad = np.sqrt(fx ** 2 + fy ** 2)
    angle = np.arctan2(np.broadcast_to(fy, rad.shape), np.broadcast_to(fx, rad.shape))
    return rad, angle


def _hi_lo(rad: np.ndarray, octave_shift: float):
    """Raised-cosine pair in log2 frequency, transition over log2(rad) in [-1 - shift, -shift].

    Same functions as pyrtools' rcosFn(twidth=1) with sqrt: hi = sin(pi/2 t), lo = cos(pi/2 t), t in [0,1].
    """
    with np.errstate(divide="ignore"):
        lr = np.log2(np.where(rad > 0, rad, 1e-300))
    t = np.clip(lr + 1.0 + octave_shift, 0.0, 1.0)
    return np.sin(0.5 * np.pi * t), np.cos(0.5 * np.pi * t)


class SteerablePyramid:
    """Real steerable pyramid of square n x n images, `height` levels, order 3 (4 orientations).

    Band list layout (same order as pyrtools' pyr_coeffs): ``[highpass residual, (level 0, ori 0..3),
    ..., (level height-1, ori 0..3), lowpass residual]``. Level j bands are (n / 2^j) square.
    Values match ``pyrtools.SteerablePyramidFreq(img, height, order=3)`` band for band.
    """

    def __init__(self, n: int, height: int, order: int = 3, normalisation: str = "spatial"):
        if normalisation not in ("spatial", "pyrtools"):
            raise ValueError(f"normalisation must be 'spatial' or 'pyrtools', got {normalisation!r}")
        if n % (2 ** (height + 1)) != 0:
            raise ValueError(f"pyramid size {n} must be divisible by 2^(height+1) = {2 ** (height + 1)}")
        self.n, self.height, self.order = n, height, order
        self.normalisation = normalisation
        # Level-j band gain relative to pyrtools' frequency pyramid (whose level-j coefficients are 4^j times
        # the full-resolution amplitude). "spatial" = 2^j like MATLAB buildSpyr/sp3Filters (lofilt sums to 2):
        # a Parseval tight frame, and the band scale the released MATLAB textures were made with.
        self.level_gain = [1.0 if normalisation == "pyrtools" else 0.5 ** j for j in range(height + 1)]
        self.nori = order + 1
        const = (2 ** (2 * order)) * (math.factorial(order) ** 2) / (self.nori * math.factorial(2 * order))
        rad, angle = _radial_grid(n)
        hi0, lo0 = _hi_lo(rad, 0.0)
        self.hi0 = hi0
        self.lo0 = lo0
        self.band_masks: list[list[np.ndarray]] = []   # per level: nori complex masks (himask * angle * (-i)^K)
        self.lo_masks: list[np.ndarray] = []           # per level: lowpass mask on the cropped grid
        self.shapes: list[int] = []
        m = n
        for _ in range(height):
            rad, angle = _radial_grid(m)
            him, _ = _hi_lo(rad, 1.0)
            masks = []
            for b in range(self.nori):
                ang = np.sqrt(const) * np.cos(angle - np.pi * b / self.nori) ** order
                masks.append(((-1j) ** order) * ang * him)
            self.band_masks.append(masks)
            self.shapes.append(m)
            m //= 2
            rad_c, _ = _radial_grid(m)
            _, lom = _hi_lo(rad_c * 0.5, 1.0)          # lowpass of the parent grid, seen on the child grid
            self.lo_masks.append(lom)
        self.low_size = m
        self.band_sizes = [n] + [s for s in self.shapes for _ in range(self.nori)] + [m]

    @staticmethod
    def _crop(spec: np.ndarray) -> np.ndarray:
        n = spec.shape[0]
        m = n // 2
        rows = np.r_[0:m // 2, n - m // 2:n]
        return spec[rows, : m // 2 + 1]

    @staticmethod
    def _pad(spec: np.ndarray, n: int) -> np.ndarray:
        m = spec.shape[0]
        out = np.zeros((n, n // 2 + 1), dtype=spec.dtype)
        out[: m // 2, : m // 2 + 1] = spec[: m // 2]
        out[n - m // 2:, : m // 2 + 1] = spec[m // 2:]
        return out

    def decompose(self, img: np.ndarray) -> list[np.ndarray]:
        n = self.n
        spec = np.fft.rfft2(img)
        bands = [np.fft.irfft2(spec * self.hi0, s=(n, n))]
        lo = spec * self.lo0
        for lev in range(self.height):
            m = self.shapes[lev]
            g = self.level_gain[lev]
            for mask in self.band_masks[lev]:
                bands.append(np.fft.irfft2(lo * (mask * g) if g != 1.0 else lo * mask, s=(m, m)))
            lo = self._crop(lo) * self.lo_masks[lev]
        bands.append(np.fft.irfft2(lo * self.level_gain[self.height], s=(self.low_size, self.low_size)))
        return bands

    def reconstruct(self, bands: list[np.ndarray]) -> np.ndarray:
        n = self.n
        lo = np.fft.rfft2(bands[-1]) / self.level_gain[self.height]
        k = len(bands) - 1
        for lev in reversed(range(self.height)):
            m = self.shapes[lev]
            lo = self._pad(lo * self.lo_masks[lev], m)
            k -= self.nori
            inv = 1.0 / self.level_gain[lev]
            for b, mask in enumerate(self.band_masks[lev]):
                lo = lo + np.conj(mask) * (np.fft.rfft2(bands[k + b]) * inv)
        spec = lo * self.lo0 + self.hi0 * np.fft.rfft2(bands[0])
        return np.fft.irfft2(spec, s=(n, n))


@functools.lru_cache(maxsize=8)
def get_pyramid(n: int, height: int, normalisation: str = "spatial") -> SteerablePyramid:
    return SteerablePyramid(n, height, normalisation=normalisation)


# --------------------------------------------------------------------------------------------------
# Model sampling
# --------------------------------------------------------------------------------------------------

def _quantile_values(quantiles: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """The target value taken by the k-th smallest of n samples (rank matching at (k+1)/n)."""
    q = np.arange(1, n + 1, dtype=np.float64) / n
    return np.interp(q, quantiles, values)


@dataclass
class ColourModel:
    ncolors: int
    blur: int
    noise: str
    labels: np.ndarray        # (N, N) colour index image (before blur)
    colours: np.ndarray       # (ncolors, 3) in [0, 256)
    reference: np.ndarray     # (3, N, N) blurred, noised, rescaled reference image
    pc: np.ndarray            # (3, 3) eigenvectors (columns)
    mean: np.ndarray          # (3,)
    hist: np.ndarray          # (3, 256) counts of the decorrelated channels
    bins: np.ndarray          # (3, 256) bin centres
    quantiles: np.ndarray     # (3, 256) CDF at the bins
    sorted_targets: np.ndarray  # (3, N*N) value of rank k after matching


def sample_colour_model(rng: np.random.Generator, n: int) -> ColourModel:
    ncolors = 3 + int(np.floor(20 * rng.random()))
    p = 0.001 + rng.random(ncolors)
    p /= p.sum()
    counts = rng.multinomial(n * n, p)
    labels = np.repeat(np.arange(ncolors), counts).reshape(n, n)        # sorted multinomial draw
    colours = 256.0 * rng.random((ncolors, 3))
    ref = colours[labels].transpose(2, 0, 1).astype(np.float64)         # (3, N, N)
    m = max(1, int(math.ceil(10 * rng.random())))
    if m > 1:
        ref = np.stack([ndimage.uniform_filter(c, size=m, mode="reflect") for c in ref])
    ref = ref + 10.0 * rng.random(ref.shape)
    ref = ref - ref.min()
    ref = 256.0 * ref / ref.max()
    x = ref.reshape(3, -1)
    mean = x.mean(axis=1)
    xc = x - mean[:, None]
    evals, evecs = np.linalg.eigh(xc @ xc.T)
    pc = evecs[:, ::-1]                                                  # descending variance
    decor = pc.T @ xc
    hist = np.empty((3, 256))
    bins = np.empty((3, 256))
    quant = np.empty((3, 256))
    targets = np.empty((3, n * n))
    for c in range(3):
        h, edges = np.histogram(decor[c], bins=256)
        hist[c] = h
        bins[c] = 0.5 * (edges[1:] + edges[:-1])
        quant[c] = np.cumsum(h) / decor[c].size
        targets[c] = _quantile_values(quant[c], bins[c], n * n)
    return ColourModel(ncolors, m, "per-pixel", labels, colours, ref, pc, mean, hist, bins, quant, targets)


@dataclass
class SpectrumModel:
    s: float
    d: float
    slope_x: float
    slope_y: float
    magnitude: np.ndarray     # (N, N//2 + 1) on the rfft half plane


def sample_spectrum(rng: np.random.Generator, n: int) -> SpectrumModel:
    lo, hi = SLOPE_RANGE
    s = lo + (hi - lo) * rng.random()
    d = rng.standard_normal() * abs(hi - lo) / 15 / 4
    sx, sy = s + d, s - d
    fy = np.abs(np.fft.fftfreq(n))[:, None]     # |k / N|, k signed in [-N/2, N/2)
    fx = np.abs(np.fft.rfftfreq(n))[None, :]
    fr = _EPS + fx ** sx + fy ** sy
    mag = 1.0 / fr
    mag[0, 0] = 0.0
    return SpectrumModel(s, d, sx, sy, mag)


@dataclass
class WMMModel:
    rhat: np.ndarray          # (3, nbands) shape exponents
    shat: np.ndarray          # (nbands,) widths (same for the 3 channels)
    mean: np.ndarray          # (3, nbands)
    std: np.ndarray           # (3, nbands)
    quantiles: np.ndarray     # (3, nbands, 801) target CDFs on WMM_X
    sorted_targets: list      # [channel][band] -> band value of rank k after match + re-standardise


def wmm_target(shat: float, rhat: float):
    """(histogram, mean, std, cdf) of exp(-|x/shat|^rhat) on WMM_X."""
    h = np.exp(-np.abs(WMM_X / shat) ** rhat)
    mean = float(np.sum(WMM_X * h) / np.sum(h))
    std = float(np.sqrt(np.sum((WMM_X - mean) ** 2 * h) / np.sum(h)))
    return h, mean, std, np.cumsum(h) / h.sum()


def sample_wmm(rng: np.random.Generator, pyr: SteerablePyramid) -> WMMModel:
    sizes = pyr.band_sizes[:-1]            # every band but the low-pass residual
    nb = len(sizes)
    shat = np.array([4.0 ** (pyr.n / s) for s in sizes])
    rhat = RHAT_RANGE[0] + (RHAT_RANGE[1] - RHAT_RANGE[0]) * rng.random((3, nb))
    mean = np.empty((3, nb))
    std = np.empty((3, nb))
    quant = np.empty((3, nb, WMM_X.size))
    sorted_targets = []
    for c in range(3):
        per_band = []
        for b, size in enumerate(sizes):
            _, mean[c, b], std[c, b], quant[c, b] = wmm_target(shat[b], rhat[c, b])
            t = _quantile_values(quant[c, b], WMM_X, size * size)
            sd = t.std()
            t = (t - t.mean()) / (sd if sd > 0 else 1.0) * std[c, b] + mean[c, b]
            per_band.append(t)
        sorted_targets.append(per_band)
    return WMMModel(rhat, shat, mean, std, quant, sorted_targets)


@dataclass
class TextureModel:
    size: int
    colour: ColourModel
    spectrum: SpectrumModel
    wmm: WMMModel
    pyramid: SteerablePyramid


def sample_texture_model(pool_seed: int, index: int, size: int = 256) -> TextureModel:
    """All parameters of one texture, drawn from its named sub-streams."""
    pyr = get_pyramid(size, n_scales(size))
    colour = sample_colour_model(substream(pool_seed, index, "textures.colour"), size)
    spectrum = sample_spectrum(substream(pool_seed, index, "textures.spectrum"), size)
    wmm = sample_wmm(substream(pool_seed, index, "textures.wmm"), pyr)
    return TextureModel(size, colour, spectrum, wmm, pyr)


# --------------------------------------------------------------------------------------------------
# Imposing
# --------------------------------------------------------------------------------------------------

def match_sorted(x: np.ndarray, sorted_targets: np.ndarray) -> np.ndarray:
    """Rank matching: the k-th smallest value of x becomes sorted_targets[k]."""
    out = np.empty(x.size, dtype=np.float64)
    out[np.argsort(x, axis=None)] = sorted_targets
    return out.reshape(x.shape)


def impose_spectrum(x: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    m = x.mean()
    s = x.std()
    phase = np.angle(np.fft.rfft2(x - m))
    y = np.fft.irfft2(magnitude * np.exp(1j * phase), s=x.shape)
    y = y - y.mean()
    sd = y.std()
    return y / (sd if sd > 0 else 1.0) * s + m


def impose_wmm(x: np.ndarray, pyr: SteerablePyramid, sorted_targets: list) -> tuple[np.ndarray, list]:
    """Impose the band marginals of one channel; returns (reconstruction, imposed bands)."""
    bands = pyr.decompose(x)
    for b, t in enumerate(sorted_targets):
        bands[b] = match_sorted(bands[b], t)
    return pyr.reconstruct(bands), bands


def synthesize(model: TextureModel, init: np.ndarray, n_iter: int = N_ITER) -> np.ndarray:
    """Run the imposing rounds on a (3, N, N) start image; returns the decorrelated-space result."""
    tmp = np.array(init, dtype=np.float64)
    for _ in range(n_iter):
        for c in range(3):
            y = impose_spectrum(tmp[c], model.spectrum.magnitude)
            y, _ = impose_wmm(y, model.pyramid, model.wmm.sorted_targets[c])
            tmp[c] = match_sorted(y, model.colour.sorted_targets[c])
    return tmp


def to_uint8_rgb(decor: np.ndarray, colour: ColourModel) -> np.ndarray:
    n = decor.shape[-1]
    rgb = colour.pc @ decor.reshape(3, -1) + colour.mean[:, None]
    rgb = rgb - rgb.min()
    mx = rgb.max()
    rgb = 255.0 * rgb / (mx if mx > 0 else 1.0)
    return np.rint(rgb).astype(np.uint8).reshape(3, n, n).transpose(1, 2, 0).copy()


def make_texture(pool_seed: int, index: int, size: int = 256) -> np.ndarray:
    """Texture `index` of the pool `pool_seed`: (size, size, 3) uint8, a pure function of its arguments."""
    size = int(size)
    model = sample_texture_model(pool_seed, index, size)
    init = 256.0 * substream(pool_seed, index, "textures.init").random((3, size, size))
    return to_uint8_rgb(synthesize(model, init), model.colour)
