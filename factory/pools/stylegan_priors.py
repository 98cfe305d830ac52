"""The fixed parts of an untrained StyleGAN's prior (see stylegan.py): the two 40-filter 3x3 dictionaries
its conv weights are built from ("oriented" and "high-freq") and its pink-noise maps."""

from __future__ import annotations

import functools

import numpy as np


# --------------------------------------------------------------------------------------------------
# Filter dictionaries
# --------------------------------------------------------------------------------------------------

def _rotated_crops(base: np.ndarray, degrees: list[float], zero_mean: bool, sign: bool) -> list[np.ndarray]:
    from PIL import Image

    out = []
    for deg in degrees:
        rot = np.array(Image.fromarray(base.astype(np.float32), mode="F").rotate(deg, resample=Image.BILINEAR),
                       dtype=np.float64)
        crop = rot[4:7, 4:7].copy()
        if zero_mean:
            crop -= crop.mean()
        if sign:
            crop = np.sign(crop)
        out.append(crop)
    return out


def _sparse_filters() -> list[np.ndarray]:
    z1 = np.zeros((3, 3)); z1[1, 1] = 1                       # delta
    z2 = -np.ones((3, 3)); z2[1, 1] = 1                       # -1 surround, +1 centre
    z3 = np.ones((3, 3)); z3[0, 0] = z3[0, 2] = z3[2, 0] = z3[2, 2] = 0   # plus shape
    z4 = np.sign(z3 - 0.5)                                    # +1 plus, -1 corners
    return [z1, z2, z3, z4]


def _edge_bar_bases():
    edge = np.ones((11, 11)); edge[:, 5] = 0; edge[:, 6:] *= -1   # +1 | 0 | -1 step edge
    bar = np.ones((11, 11)); bar[:, 5] = -1                        # ones with a -1 centre column
    return edge, bar


@functools.lru_cache(maxsize=1)
def oriented_dictionary() -> np.ndarray:
    """The 40 3x3 filters of StyleGAN-Oriented: 8 zero-mean step edges and 8 zero-mean bars at k*22.5 deg,
    4 sparse filters, then the negatives of these 20 (same order)."""
    edge, bar = _edge_bar_bases()
    degs = [i * 180.0 / 8 for i in range(8)]
    filters = _rotated_crops(edge, degs, True, False) + _rotated_crops(bar, degs, True, False) + _sparse_filters()
    filters += [-f for f in filters]
    return np.array(filters, dtype=np.float32)


@functools.lru_cache(maxsize=1)
def highfreq_dictionary() -> np.ndarray:
    """The 40 filters of the reference's 'random' network (the high-freq prior): 16 sign-quantised edges over
    360 deg, 8 sign bars at k*22.5 deg each followed by its negative, 4 sparse filters each followed by its
    negative."""
    edge, bar = _edge_bar_bases()
    filters = _rotated_crops(edge, [i * 360.0 / 16 for i in range(16)], True, True)
    for f in _rotated_crops(bar, [i * 180.0 / 8 for i in range(8)], False, True):
        filters += [f, -f]
    for f in _sparse_filters():
        filters += [f, -f]
    return np.array(filters, dtype=np.float32)


# --------------------------------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------------------------------

def pink_noise(rng: np.random.Generator, size: int, envelope: bool) -> np.ndarray:
    """1/r^alpha noise with random symmetric phase, alpha ~ U(0.5, 1.5), optional Laplace envelope, unit std."""
    alpha = rng.random() + 0.5
    g = np.linspace(-1, 1, size + 1)
    py, px = np.meshgrid(g, g, indexing="ij")
    r = np.sqrt(px ** 2 + py ** 2)
    r[r == 0] = 1e-5
    mag = 1.0 / r ** alpha
    mag[size // 2, size // 2] = 0
    mag = mag + mag[::-1, ::-1]
    phase = rng.random(mag.shape) * 2 * np.pi
    phase = phase - phase[::-1, ::-1]
    f = np.real(np.fft.ifft2(np.fft.ifftshift(mag * np.exp(1j * phase))))[:-1, :-1]
    f = f - f.mean()
    if envelope:
        from PIL import Image

        lap = rng.laplace(size=(4, 4)).astype(np.float32)
        env = np.array(Image.fromarray(lap, mode="F").resize((size, size), Image.LANCZOS), dtype=np.float64)
        f = f * env
    sd = f.std()
    return (f / (sd if sd > 0 else 1.0)).astype(np.float32)
