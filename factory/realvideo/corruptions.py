"""The 14 UCF101-P corruptions (spec paper.md G) on (T, H, W, 3) uint8 clips, severities 1-5.

Parameters are the reference's (`video_pertube.py`, from Schiappa et al.'s benchmark); the arithmetic is
redone cleanly: every corruption reads uint8 and returns uint8, float work happens in [0, 1] and is rounded
(not truncated) back, and nothing passes 0-255 floats through ToPILImage (spec H.15). Randomness comes only
from the generator handed in; `corrupt` derives it from (seed, video index, corruption, severity), so every
model is tested on the same corrupted videos.

Where each applies, as in the reference test loader: spatial corruptions act on every frame of a test crop
(224 x 224 after the short-side resize; pixel parameters such as the translate offset and the defocus radius
are in those pixels); temporal ones act on the whole video after it is read at the test sampling rate and
before clips are cut. `reverse` keeps every k-th frame and so returns ceil(T / k) frames; every other
corruption keeps the shape.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import skimage.util
from PIL import Image

from synthvid.manifests.seeds import substream

SEVERITIES = (1, 2, 3, 4, 5)
_CHUNK = 8          # frames per float block: bounds memory on long videos (the result does not depend on it)


def _to_float(clip: np.ndarray) -> np.ndarray:
    return clip.astype(np.float32) / 255.0


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _blockwise(clip: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """fn over consecutive frame blocks, in order (so a generator inside fn is consumed deterministically)."""
    out = np.empty_like(clip)
    for s in range(0, clip.shape[0], _CHUNK):
        out[s:s + _CHUNK] = fn(clip[s:s + _CHUNK])
    return out


# ----------------------------------------------------------------------------------------------------------
# Camera motion.

def translate(clip: np.ndarray, max_offset: int, rng: np.random.Generator) -> np.ndarray:
    """One offset (dy, dx) in [0, max_offset) per clip: the window starts there and the uncovered bottom and
    right edges are black."""
    dy, dx = (int(v) for v in rng.integers(0, max_offset, size=2))
    out = np.zeros_like(clip)
    h, w = clip.shape[1:3]
    out[:, :max(0, h - dy), :max(0, w - dx)] = clip[:, dy:, dx:]
    return out


def _rotate_frame(frame: np.ndarray, degrees: float) -> np.ndarray:
    # PIL's rotate as the reference calls it: counter-clockwise about the centre, nearest neighbour, black fill.
    return np.asarray(Image.fromarray(frame).rotate(float(degrees)))


def rotate(clip: np.ndarray, max_degrees: int, rng: np.random.Generator) -> np.ndarray:
    """A new whole-degree angle for every frame, uniform over [-max, max] (both ends included)."""
    angles = rng.integers(-max_degrees, max_degrees, size=clip.shape[0], endpoint=True)
    return np.stack([_rotate_frame(f, a) for f, a in zip(clip, angles)])


def static_rotate(clip: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    """The same fixed angle for every frame."""
    return np.stack([_rotate_frame(f, degrees) for f in clip])


# ----------------------------------------------------------------------------------------------------------
# Noise.

def shot_noise(clip: np.ndarray, photons: float, rng: np.random.Generator) -> np.ndarray:
    return _blockwise(clip, lambda b: _to_uint8(rng.poisson(_to_float(b) * photons) / photons))


def speckle_noise(clip: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    def block(b):
        x = _to_float(b)
        return _to_uint8(x + x * (sigma * rng.standard_normal(x.shape, dtype=np.float32)))
    return _blockwise(clip, block)


def gaussian_noise(clip: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    def block(b):
        return _to_uint8(_to_float(b) + sigma * rng.standard_normal(b.shape, dtype=np.float32))
    return _blockwise(clip, block)


def impulse_noise(clip: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper on each value independently (scikit-image's s&p, half salt, half pepper)."""
    return _blockwise(clip, lambda b: _to_uint8(skimage.util.random_noise(b, mode="s&p", amount=amount, rng=rng)))


# ----------------------------------------------------------------------------------------------------------
# Blur.

def disk_kernel(radius: int, alias_sigma: float) -> np.ndarray:
    """ImageNet-C's defocus kernel: a normalised disk on a 17x17 grid (a (2r+1) grid past radius 8), softened
    by a small Gaussian (kernel 3, or 5 past radius 8) against aliasing."""
    half, ksize = (8, 3) if radius <= 8 else (radius, 5)
    grid = np.arange(-half, half + 1)
    xs, ys = np.meshgrid(grid, grid)
    disk = (xs ** 2 + ys ** 2 <= radius ** 2).astype(np.float32)
    return cv2.GaussianBlur(disk / disk.sum(), (ksize, ksize), alias_sigma)


def defocus_blur(clip: np.ndarray, param: tuple[int, float], rng: np.random.Generator) -> np.ndarray:
    kernel = disk_kernel(*param)
    return _blockwise(clip, lambda b: np.stack([_to_uint8(cv2.filter2D(f, -1, kernel)) for f in _to_float(b)]))


def _zoom_axis(n: int, factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear-interpolation taps of ImageNet-C's clipped zoom along one axis of length n: take the centre
    ceil(n / factor) samples, zoom them by `factor` (scipy.ndimage.zoom, order 1, whose output sample i reads
    input (m_in - 1) / (m_out - 1) * i), and keep the centre n. Returns (lower index, upper index, weight)."""
    kept = int(np.ceil(n / factor))
    top = (n - kept) // 2
    zoomed = int(round(kept * factor))
    trim = (zoomed - n) // 2
    step = (kept - 1) / (zoomed - 1) if zoomed > 1 else 0.0
    pos = (trim + np.arange(n)) * step
    lower = np.minimum(np.floor(pos).astype(np.int64), kept - 1)
    upper = np.minimum(lower + 1, kept - 1)
    return top + lower, top + upper, (pos - lower).astype(np.float32)


def clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """Centre zoom of float frames (..., H, W, C) by `factor`, same shape. H and W are zoomed separately, so
    non-square frames work; on square frames this is the reference's clipped_zoom."""
    lo, hi, w = _zoom_axis(x.shape[-3], factor)
    x = x[..., lo, :, :] * (1 - w)[:, None, None] + x[..., hi, :, :] * w[:, None, None]
    lo, hi, w = _zoom_axis(x.shape[-2], factor)
    return x[..., lo, :] * (1 - w)[:, None] + x[..., hi, :] * w[:, None]


def zoom_blur(clip: np.ndarray, factors: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """Mean of the frame and its centre zooms by every factor (the list starts at 1, so the frame counts twice,
    as in the reference)."""
    def block(b):
        x = _to_float(b)
        total = x.copy()
        for factor in factors:
            total += clipped_zoom(x, factor)
        return _to_uint8(total / (len(factors) + 1))
    return _blockwise(clip, block)


# ----------------------------------------------------------------------------------------------------------
# Digital.

def jpeg(clip: np.ndarray, quality: int, rng: np.random.Generator) -> np.ndarray:
    """Each frame through Pillow's JPEG encoder at `quality` (Pillow's default 4:2:0 subsampling) and back."""
    def frame(f):
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, format="JPEG", quality=int(quality))
        return np.asarray(Image.open(buf).convert("RGB"))
    return np.stack([frame(f) for f in clip])


# ----------------------------------------------------------------------------------------------------------
# Temporal: each picks frame indices.

def freeze_indices(total: int, share: float | None, floor: int, rng: np.random.Generator) -> np.ndarray:
    """k = int(share * T) random frames (at least `floor`; share None means k = floor), sorted; each
    is held until the next pick, and the tail is padded with the video's last frame (frames before the first
    pick are dropped, as in the reference)."""
    k = floor if share is None else int(max(share * total, floor))
    picks = np.sort(rng.choice(total, size=min(k, total), replace=False))
    holds = np.diff(np.append(picks, total))
    order = np.repeat(picks, holds)
    return np.concatenate([order, np.full(total - len(order), total - 1, dtype=order.dtype)])


def freeze(clip: np.ndarray, param: tuple[float | None, int], rng: np.random.Generator) -> np.ndarray:
    return clip[freeze_indices(clip.shape[0], *param, rng)]


def _segments(total: int, length: int) -> list[np.ndarray]:
    return [np.arange(s, min(s + length, total)) for s in range(0, total, length)]


def box_jumble(clip: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Consecutive segments of `length` frames (the last may be shorter), in a random order."""
    segments = _segments(clip.shape[0], length)
    return clip[np.concatenate([segments[i] for i in rng.permutation(len(segments))])]


def jumble(clip: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Frames shuffled within each consecutive segment of `length` frames."""
    return clip[np.concatenate([rng.permutation(seg) for seg in _segments(clip.shape[0], length)])]


def reverse(clip: np.ndarray, stride: int, rng: np.random.Generator) -> np.ndarray:
    """Every `stride`-th frame, played backwards: ceil(T / stride) frames."""
    return clip[::stride][::-1].copy()


# ----------------------------------------------------------------------------------------------------------
# The registry, in the order of the paper's Fig 3.

@dataclass(frozen=True)
class Corruption:
    name: str                           # the name users type
    figure: str                         # the paper's Fig 3 label
    reference: str                      # the reference code's key (video_pertube.py)
    category: str                       # camera | noise | blur | digital | temporal
    params: tuple                       # the parameter of severities 1..5
    fn: Callable[[np.ndarray, object, np.random.Generator], np.ndarray]

    @property
    def temporal(self) -> bool:
        return self.category == "temporal"


def _zoom_factors(stop: float, step: float) -> tuple[float, ...]:
    # np.arange exactly as the reference calls it: its float end point makes severity 1 run 1.00..1.11
    # (12 factors), not 1.00..1.10.
    return tuple(float(f) for f in np.arange(1, stop, step))


CORRUPTIONS: dict[str, Corruption] = {c.name: c for c in [
    Corruption("translate", "translate", "translate", "camera", tuple(8 * s for s in SEVERITIES), translate),
    Corruption("rotate", "rotate", "rotate", "camera", tuple(6 * s + 1 for s in SEVERITIES), rotate),
    # The reference's list has a sixth angle, 180, that no severity reaches.
    Corruption("static_rotate", "imgrotate", "static_rotate", "camera", (7.5, 15, 30, 45, 90), static_rotate),
    Corruption("shot", "shot", "shot_noise", "noise", (250, 100, 50, 30, 15), shot_noise),
    Corruption("speckle", "speckle", "speckle_noise", "noise", (.15, .2, .25, .3, .35), speckle_noise),
    Corruption("gaussian", "gauss", "gaussian_noise", "noise", (.08, .12, .18, .26, .38), gaussian_noise),
    Corruption("impulse", "impulse", "impulse_noise", "noise", (.03, .06, .09, .17, .27), impulse_noise),
    Corruption("defocus", "defocus", "defocus_blur", "blur", ((3, .1), (4, .5), (6, .5), (8, .5), (10, .5)),
               defocus_blur),
    Corruption("zoom", "zoom", "zoom_blur", "blur", (_zoom_factors(1.11, .01), _zoom_factors(1.16, .01),
               _zoom_factors(1.21, .02), _zoom_factors(1.26, .02), _zoom_factors(1.31, .03)), zoom_blur),
    Corruption("jpeg", "jpeg", "compression", "digital", (25, 18, 15, 10, 7), jpeg),
    # k = int([.4T, .2T, .1T, max(.05T, 2), 1]): (share of T, floor on k).
    Corruption("freeze", "freeze", "freeze", "temporal", ((.4, 0), (.2, 0), (.1, 0), (.05, 2), (None, 1)), freeze),
    Corruption("box_jumble", "boxjumble", "box_jumble", "temporal", tuple((s + 1) ** 2 for s in SEVERITIES),
               box_jumble),
    Corruption("jumble", "jumble", "jumble", "temporal", tuple(64 // 2 ** s for s in SEVERITIES), jumble),
    Corruption("reverse", "reverse", "reverse_sampling", "temporal", tuple(2 ** s for s in SEVERITIES), reverse),
]}


def stream_name(name: str, severity: int, view: int = 0) -> str:
    """The seed sub-stream of one (corruption, severity) and test view (crop) of a video; the video index is
    the other key. View 0 is the whole video's stream."""
    return f"ucf101p/{name}/{severity}" + (f"/view{view}" if view else "")


def corrupt(clip: np.ndarray, name: str, severity: int, *, seed: int, index: int, view: int = 0) -> np.ndarray:
    """Corruption `name` at `severity` (1-5) of video `index` (its test crop `view`), drawn from
    substream(seed, index, stream_name(name, severity, view))."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose from {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity}: choose from 1-5")
    if clip.dtype != np.uint8 or clip.ndim != 4 or clip.shape[-1] != 3 or clip.shape[0] == 0:
        raise ValueError(f"expected a (T, H, W, 3) uint8 clip with T >= 1, got {clip.dtype} {clip.shape}")
    c = CORRUPTIONS[name]
    return c.fn(clip, c.params[severity - 1], substream(seed, index, stream_name(name, severity, view)))


def _int_range(text: str, what: str) -> list[int]:
    values = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            values.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise ValueError(f"{what} {text!r}: use numbers and ranges such as 1-5 or 1,3") from None
    return values


def parse_selection(corruptions: str, severities: str) -> list[tuple[str, int]]:
    """`--corruption all|name[,name...]` x `--severity 1-5|1,3` -> (name, severity) pairs in registry order."""
    names = list(CORRUPTIONS) if corruptions.strip() == "all" else [n.strip() for n in corruptions.split(",")]
    unknown = [n for n in names if n not in CORRUPTIONS]
    if unknown:
        raise ValueError(f"unknown corruption {unknown[0]!r}; choose from all, {', '.join(CORRUPTIONS)}")
    levels = _int_range(severities, "severity")
    bad = [s for s in levels if s not in SEVERITIES]
    if bad or not levels:
        raise ValueError(f"severity {severities!r}: levels are 1-5")
    order = list(CORRUPTIONS)
    return [(n, s) for n in sorted(set(names), key=order.index) for s in sorted(set(levels))]
