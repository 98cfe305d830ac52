"""Untrained StyleGAN2-style images: "StyleGAN-Oriented" and "high-freq" (spec/textures.md B).

Public API (torch is imported lazily, inside the functions; importing this module needs numpy only)::

    make_stylegan_image(pool_seed, index, size=256, prior="oriented") -> (size, size, 3) uint8
    make_stylegan_clip(pool_seed, index, frames, size=256, prior="oriented", dz_scale=DZ_SCALE)
        -> (frames, size, size, 3) uint8
    oriented_dictionary() / highfreq_dictionary() -> (40, 3, 3) float32

The network is the StyleGAN2-ADA synthesis network of the reference (`training/network_randomized_v3.py`,
``--network_type sparse_new --random_configuration chin-chout --same_noise_map --bias_range 0.2``),
re-implemented in plain PyTorch (no custom CUDA ops), untrained:

- 256 px: blocks 4..256 px, channels ``min(32768 / res, 512)``, 'skip' architecture (ToRGB per block, images
  summed after [1,3,3,1] upsampling), ReLU with gain sqrt(2), no fp16, no clamp; 14 w's at 256 px.
- Mapping bypassed: ``w = LeakyReLU_0.2(z)``, ``z ~ N(0, 1)`` of shape [num_ws, 512].
- Style affines keep their default init (weights N(0,1), runtime gain 1/sqrt(512), bias 1); the 4x4 constant
  input is N(0,1). These are the only persistent weights of a network; the reference re-instantiates the
  network every 400 images, so do we: images ``400 k .. 400 k + 399`` of a pool share them (drawn from the
  sub-stream ``(pool_seed, k, "stylegan.network")``).
- Per image: every 3x3 conv weight is rebuilt from the 40-filter dictionary: per layer a random subset of
  ``n_sub ~ randint[5, 40]`` filters, each input channel draws one of them (shared across outputs, 'chin'),
  times N(0,1) per output channel ('chout'); modulated conv with demodulation. Biases ``U(-0.2, 0.2)``.
  One pink-noise map (512^2, ``1/r^alpha``, ``alpha ~ U(0.5, 1.5)``, random symmetric phase, times a 4x4
  Laplace(0,1) envelope upsampled with Lanczos, unit std), area-resampled to each layer, strength
  ``U(0, 0.3)`` per layer. ToRGB 1x1 weights N(0,1), no demodulation.
- Output colour: per channel standardise, then rescale to sampled statistics (R mean N(.483,.145) std
  N(.219,.063); G N(.455,.142) / N(.213,.062); B N(.401,.161) / N(.213,.069)), clip [0,1], x255, truncate.

``prior="high-freq"`` is the reference's ``--network_type random`` ("stylegan-highfreq", the Tab 10 row):
its own 40-filter dictionary (16 sign-quantised edges over 360 deg, 8 sign bars and their negatives, the 4
sparse filters and their negatives), every input channel draws from the whole dictionary (no subset), biases
stay 0, and each layer gets its own pink-noise map at its resolution without envelope (the reference draws
from a 100-map bank per layer; we draw fresh maps). Same ToRGB and colour statistics.

Seeding (the reference seeds nothing): every draw is numpy from named sub-streams of (pool seed, index) --
``stylegan.z``, ``stylegan.filters``, ``stylegan.bias``, ``stylegan.noise``, ``stylegan.torgb``,
``stylegan.colour`` (and ``stylegan.walk`` for clips) -- then converted to float32 tensors, so the draws are
identical on every device. On CPU the forward runs single-threaded (`torch.set_num_threads(1)` for the
duration of the call, restored afterwards) with deterministic algorithms, so output bytes are identical
run to run; a GPU forward (``device="cuda"``) is deterministic per GPU model but not byte-equal to CPU.
Fidelity notes: the up-sampling conv is "upsample ([1,3,3,1], gain 4) then 3x3 conv" instead of the
reference's fused transposed conv + filter (the same linear operator up to the order of two filters and a
border pixel). The reference saves its images as JPEG (q=95) and the released pools are JPEG; ours are
stored lossless (the pool payload), without that round trip: its 8x8-block artefacts are a property of
the released files, not of the prior, and each crop is resampled again when a video is rendered.

Speed (`GENERATOR_VERSION` 2). Because every conv weight is w[o, i] = chout[o] style[i] D[f(i)], each
output channel of a demodulated layer is a scalar multiple of one map Z = sum_k D_k * (sum_{i: f(i)=k}
style[i] x_i): `synthesize` computes that map (a 40 x cin channel mix, one 40-channel 3x3 conv) and the
per-channel noise + bias + ReLU as one (cout x 3) @ (3 x pixels) product, ~100x fewer operations than the
direct modulated convolution (`stylegan_direct.py`, the reference form it is tested against). Version 1
(the direct form) and version 2 differ by float rounding only: at most 1 grey level on ~0.03 % of pixels;
the version is in the pool's card and name, so the two are never mixed in one pool.

Dynamic StyleGAN (variants 16, 17, 24; paper 5.2: ``z_t = z_{t-1} + dz_t``, dz smaller than z_0). Without a
mapping network the latent is the per-layer ``z`` above ([num_ws, 512], before the LeakyReLU): it drives
only the styles (modulations), so a walk in it changes the image smoothly while the structure given by the
filters stays. One network per clip: dictionary choices, biases, noise map and strengths, ToRGB weights and
colour targets are drawn once per clip (index); only ``z`` walks, ``dz_t ~ N(0, dz_scale^2)`` i.i.d. per
element and frame. The colour standardisation uses statistics over the whole clip (per-frame
standardisation would make the brightness flicker), then the clip's sampled targets apply to every frame.

Chosen ``DZ_SCALE = 0.05`` (z_0 has std 1). Measured (64 px, clip of 24 frames): mean absolute
frame-to-frame change 3.6 grey levels (1.4 %), first-to-last 23 levels; 0.02 gives 1.5 / 8.8 (reads as nearly
static), 0.1 gives 6.3 / 47 (a new image within ~1 s of video). Over a 100-200 frame video the walk moves
``0.05 * sqrt(150) ~ 0.6`` z-std: the clip visibly evolves but stays one "scene", and the z variance grows to
at most 1.5, keeping the frames close to the static images' distribution.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass

import numpy as np

from synthvid.manifests.seeds import substream

from .stylegan_priors import highfreq_dictionary, oriented_dictionary, pink_noise

PRIORS = ("oriented", "high-freq")
W_DIM = 512
CHANNEL_BASE = 32768
CHANNEL_MAX = 512
NETWORK_GROUP = 400
BIAS_RANGE = 0.2
NOISE_STRENGTH_MAX = 0.3
NOISE_MAP_SIZE = 512
# 2: the factored forward (float rounding differs from 1, the direct modulated convolution)
GENERATOR_VERSION = 2
DZ_SCALE = 0.05
RELU_GAIN = math.sqrt(2.0)
CLIP_BATCH = 2         # clip frames per forward pass (larger batches only add memory traffic on CPUs)
# (mean mu, mean sigma, std mu, std sigma) per output channel (reference tensor_to_uint8_norm)
COLOUR_STATS = ((0.483, 0.145, 0.219, 0.063), (0.455, 0.142, 0.213, 0.062), (0.401, 0.161, 0.213, 0.069))


# --------------------------------------------------------------------------------------------------
# Network layout and draws
# --------------------------------------------------------------------------------------------------

def channels(res: int) -> int:
    return min(CHANNEL_BASE // res, CHANNEL_MAX)


@dataclass(frozen=True)
class ConvSpec:
    res: int
    cin: int
    cout: int
    up: bool
    w_index: int


@dataclass(frozen=True)
class RGBSpec:
    res: int
    cin: int
    w_index: int


@functools.lru_cache(maxsize=16)
def layout(size: int):
    """(conv specs, torgb specs, num_ws) of the synthesis network at `size` px (a power of 2, >= 8)."""
    if size < 8 or size & (size - 1):
        raise ValueError(f"StyleGAN size must be a power of two >= 8, got {size}")
    convs, rgbs = [], []
    w_idx = 0
    res = 4
    while res <= size:
        cout = channels(res)
        block_convs = []
        if res == 4:
            block_convs.append(ConvSpec(res, cout, cout, False, w_idx))
        else:
            block_convs.append(ConvSpec(res, channels(res // 2), cout, True, w_idx))
            block_convs.append(ConvSpec(res, cout, cout, False, w_idx + 1))
        convs += block_convs
        rgbs.append(RGBSpec(res, cout, w_idx + len(block_convs)))
        w_idx += len(block_convs)
        res *= 2
    return tuple(convs), tuple(rgbs), w_idx + 1


@dataclass
class Network:
    """Persistent (per 400-image group) weights: style affines and the constant input."""
    conv_affine: list      # per conv layer: (cin, W_DIM) float32 N(0,1)
    rgb_affine: list       # per torgb layer: (cin, W_DIM) float32 N(0,1)
    const: np.ndarray      # (512, 4, 4) float32


@functools.lru_cache(maxsize=2)
def network(pool_seed: int, group: int, size: int) -> Network:
    convs, rgbs, _ = layout(size)
    rng = substream(pool_seed, group, "stylegan.network")
    const = rng.standard_normal((channels(4), 4, 4), dtype=np.float32)
    conv_aff = [rng.standard_normal((c.cin, W_DIM), dtype=np.float32) for c in convs]
    rgb_aff = [rng.standard_normal((r.cin, W_DIM), dtype=np.float32) for r in rgbs]
    return Network(conv_aff, rgb_aff, const)


@dataclass
class ImageDraws:
    """Everything random about one image (or one clip's network), in numpy."""
    prior: str
    z: np.ndarray                  # (num_ws, W_DIM) float32
    filter_idx: list               # per conv: (cin,) indices into the dictionary
    n_sub: list                    # per conv: subset size (oriented) or 40
    chout: list                    # per conv: (cout,) float32 N(0,1)
    bias: list                     # per conv: (cout,) float32
    noise: list                    # per conv: (res, res) float32 noise map (unscaled)
    strength: np.ndarray           # per conv strength U(0, 0.3)
    torgb: list                    # per torgb: (3, cin) float32
    colour_mean: np.ndarray        # (3,)
    colour_std: np.ndarray         # (3,)


def _area_resample(img: np.ndarray, res: int) -> np.ndarray:
    k = img.shape[0] // res
    return img.reshape(res, k, res, k).mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


def sample_colour_targets(pool_seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(means, stds) of the 3 output channels of image `index` (the reference's per-image random stats)."""
    rng = substream(pool_seed, index, "stylegan.colour")
    draws = rng.standard_normal(6)
    mean = np.array([COLOUR_STATS[c][0] + COLOUR_STATS[c][1] * draws[2 * c] for c in range(3)])
    std = np.array([COLOUR_STATS[c][2] + COLOUR_STATS[c][3] * draws[2 * c + 1] for c in range(3)])
    return mean, std


def sample_draws(pool_seed: int, index: int, size: int, prior: str) -> ImageDraws:
    if prior not in PRIORS:
        raise ValueError(f"unknown StyleGAN prior {prior!r}; choose one of {PRIORS}")
    convs, rgbs, num_ws = layout(size)
    ndict = 40
    z = substream(pool_seed, index, "stylegan.z").standard_normal((num_ws, W_DIM), dtype=np.float32)
    frng = substream(pool_seed, index, "stylegan.filters")
    filter_idx, n_sub, chout = [], [], []
    for c in convs:
        if prior == "oriented":
            k = int(frng.integers(5, ndict + 1))
            subset = frng.permutation(ndict)[:k]
            filter_idx.append(subset[frng.integers(0, k, size=c.cin)])
        else:
            k = ndict
            filter_idx.append(frng.integers(0, ndict, size=c.cin))
        n_sub.append(k)
        chout.append(frng.standard_normal(c.cout, dtype=np.float32))
    brng = substream(pool_seed, index, "stylegan.bias")
    if prior == "oriented":
        bias = [brng.uniform(-BIAS_RANGE, BIAS_RANGE, size=c.cout).astype(np.float32) for c in convs]
    else:
        bias = [np.zeros(c.cout, dtype=np.float32) for c in convs]
    nrng = substream(pool_seed, index, "stylegan.noise")
    if prior == "oriented":
        shared = pink_noise(nrng, max(NOISE_MAP_SIZE, size), envelope=True)
        per_res = {res: _area_resample(shared, res) for res in sorted({c.res for c in convs})}
        noise = [per_res[c.res] for c in convs]
    else:
        noise = [pink_noise(nrng, c.res, envelope=False) for c in convs]
    strength = (nrng.random(len(convs)) * NOISE_STRENGTH_MAX).astype(np.float32)
    trng = substream(pool_seed, index, "stylegan.torgb")
    torgb = [trng.standard_normal((3, r.cin), dtype=np.float32) for r in rgbs]
    cmean, cstd = sample_colour_targets(pool_seed, index)
    return ImageDraws(prior, z, filter_idx, n_sub, chout, bias, noise, strength, torgb, cmean, cstd)


# --------------------------------------------------------------------------------------------------
# Forward (torch)
# --------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _torch_cpu_deterministic(device: str):
    import torch

    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    if device == "cpu":
        torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with torch.no_grad():
            yield torch
    finally:
        if device == "cpu":
            torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det)


def _upsample2d(torch, x):
    """[1,3,3,1] FIR upsampling by 2 (gain 4), as StyleGAN2's upfirdn2d.upsample2d."""
    f1 = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=x.dtype, device=x.device)
    f = torch.outer(f1, f1)
    f = f / f.sum() * 4.0
    c = x.shape[1]
    return torch.nn.functional.conv_transpose2d(x, f.expand(c, 1, 4, 4), stride=2, padding=1, groups=c)


def _layer_tensors(torch, draws: ImageDraws, net: Network, size: int, dev):
    """Per conv layer, the tensors of the factored forward (see `synthesize`): the one-hot filter choice
    (40, cin), the squared norms of the chosen filters (cin,), chout (cout,), the style affine, and the
    ReLU gain folded into the bias (cout,) and the scaled noise map (res, res)."""
    convs, _, _ = layout(size)
    dictionary = oriented_dictionary() if draws.prior == "oriented" else highfreq_dictionary()
    norms = (dictionary.astype(np.float64) ** 2).sum(axis=(1, 2)).astype(np.float32)
    g = np.float32(RELU_GAIN)
    layers = []
    for li, c in enumerate(convs):
        onehot = np.zeros((len(dictionary), c.cin), np.float32)
        onehot[draws.filter_idx[li], np.arange(c.cin)] = 1.0
        noise = draws.noise[li] * (np.float32(draws.strength[li]) * g)
        layers.append(tuple(torch.from_numpy(np.ascontiguousarray(a)).to(dev) for a in (
            onehot, norms[draws.filter_idx[li]], draws.chout[li], draws.bias[li] * g, noise, net.conv_affine[li])))
    return torch.from_numpy(dictionary[None]).to(dev), layers


def synthesize(draws: ImageDraws, net: Network, size: int, zs: np.ndarray | None = None,
               device: str = "cpu", batch: int = 8) -> np.ndarray:
    """Raw network output (B, 3, size, size) float32 for latents zs (B, num_ws, 512); default the draws' z.

    Factored, not a modulated convolution per output channel: every conv weight is
    w[o, i] = chout[o] * style[i] * D[f(i)] (one dictionary filter per input channel, 'chin-chout'), so with
    demodulation each output channel is scale[o] * Z with one map Z = sum_k D_k * P_k, where
    P_k = sum_{i: f(i) = k} style[i] x_i, and scale[o] = chout[o] / sqrt(chout[o]^2 sum_i style[i]^2 |D_f(i)|^2
    + 1e-8). A layer costs a (40 x cin) channel mix, one 40-channel 3x3 conv and the per-channel
    noise + bias + ReLU instead of cin x cout 3x3 convolutions (~84 GMAC an image at 256 px); the FIR
    upsampling is linear and per channel, so it runs on the 40 mixed channels. The same linear operator
    as the direct form up to float rounding (tests/test_stylegan.py checks it against a direct one)."""
    convs, rgbs, num_ws = layout(size)
    if zs is None:
        zs = draws.z[None]
    outs = []
    with _torch_cpu_deterministic(device) as torch:
        F = torch.nn.functional
        dev = torch.device(device)
        dict_t, layers = _layer_tensors(torch, draws, net, size, dev)
        rgb_aff = [torch.from_numpy(a).to(dev) for a in net.rgb_affine]
        torgb = [torch.from_numpy(t).to(dev) for t in draws.torgb]
        const = torch.from_numpy(net.const).to(dev)
        gain = 1.0 / math.sqrt(W_DIM)
        for start in range(0, zs.shape[0], batch):
            w = F.leaky_relu(torch.from_numpy(np.ascontiguousarray(zs[start:start + batch])).to(dev), 0.2)
            b = w.shape[0]
            x = const[None].expand(b, -1, -1, -1)
            img = None
            li = 0
            for ri, r in enumerate(rgbs):
                while li < len(convs) and convs[li].res == r.res:
                    c = convs[li]
                    onehot, norms, chout, bias, noise, affine = layers[li]
                    styles = w[:, c.w_index] @ affine.T * gain + 1.0                          # (B, cin)
                    h = x.shape[-1]
                    mixed = torch.bmm(onehot[None] * styles[:, None, :], x.reshape(b, c.cin, h * h))
                    mixed = mixed.reshape(b, -1, h, h)                                        # (B, 40, h, h)
                    if c.up:
                        mixed = _upsample2d(torch, mixed)
                    z = F.conv2d(mixed, dict_t, padding=1)                                    # (B, 1, res, res)
                    q = styles.square() @ norms                                               # (B,)
                    scale = chout[None] * torch.rsqrt(chout.square()[None] * q[:, None] + 1e-8) * RELU_GAIN
                    # ReLU(scale z + noise + bias) * gain (the gain folded into all three terms) as one
                    # (cout x 3) @ (3 x pixels) product per image: a single pass over the output
                    terms = torch.stack([scale, torch.ones_like(scale), bias[None].expand(b, -1)], 2)
                    maps = torch.stack([z.reshape(b, -1), noise.reshape(1, -1).expand(b, -1),
                                        torch.ones_like(z).reshape(b, -1)], 1)
                    x = torch.bmm(terms, maps).reshape(b, c.cout, c.res, c.res).relu_()
                    li += 1
                styles = (w[:, r.w_index] @ rgb_aff[ri].T * gain + 1.0) / math.sqrt(r.cin)   # (B, cin)
                h = x.shape[-1]
                y = torch.bmm(torgb[ri][None] * styles[:, None, :], x.reshape(b, r.cin, h * h)).reshape(b, 3, h, h)
                img = y if img is None else _upsample2d(torch, img) + y
            outs.append(img.to("cpu").numpy().astype(np.float32))
    return np.concatenate(outs, axis=0)


def _colourise(raw: np.ndarray, mean: np.ndarray, std: np.ndarray, axes: tuple) -> np.ndarray:
    """raw (..., 3, H, W) -> uint8 (..., H, W, 3): standardise per channel over `axes`, rescale, clip."""
    x = raw.astype(np.float64)
    mu = x.mean(axis=axes, keepdims=True)
    sd = x.std(axis=axes, keepdims=True)
    sd = np.where(sd > 0, sd, 1.0)
    shape = [1] * x.ndim
    shape[-3] = 3
    x = (x - mu) / sd * std.reshape(shape) + mean.reshape(shape)
    x = (np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.moveaxis(x, -3, -1).copy()


def make_stylegan_image(pool_seed: int, index: int, size: int = 256, prior: str = "oriented",
                        device: str = "cpu") -> np.ndarray:
    """Image `index` of the StyleGAN pool `pool_seed`: (size, size, 3) uint8, a pure function of its arguments."""
    draws = sample_draws(pool_seed, index, size, prior)
    net = network(pool_seed, index // NETWORK_GROUP, size)
    raw = synthesize(draws, net, size, device=device)[0]
    return _colourise(raw, draws.colour_mean, draws.colour_std, axes=(-2, -1))


def latent_walk(pool_seed: int, index: int, frames: int, z0: np.ndarray, dz_scale: float = DZ_SCALE) -> np.ndarray:
    """z_t = z_{t-1} + dz_t, dz_t ~ N(0, dz_scale^2) element-wise; returns (frames, *z0.shape) float32."""
    if frames < 1:
        raise ValueError(f"a clip needs at least 1 frame, got {frames}")
    rng = substream(pool_seed, index, "stylegan.walk")
    dz = rng.standard_normal((frames - 1, *z0.shape)).astype(np.float32) * np.float32(dz_scale)
    return np.concatenate([z0[None], z0[None] + np.cumsum(dz, axis=0, dtype=np.float32)], axis=0)


def make_stylegan_clip(pool_seed: int, index: int, frames: int, size: int = 256, prior: str = "oriented",
                       dz_scale: float = DZ_SCALE, device: str = "cpu") -> np.ndarray:
    """Latent-walk clip `index` of the dynamic pool `pool_seed`: (frames, size, size, 3) uint8.

    One network for the whole clip (all per-image draws of `index`); only z walks. Colour statistics are
    standardised over the whole clip, then set to the clip's sampled targets.
    """
    draws = sample_draws(pool_seed, index, size, prior)
    net = network(pool_seed, index // NETWORK_GROUP, size)
    zs = latent_walk(pool_seed, index, int(frames), draws.z, dz_scale)
    raw = synthesize(draws, net, size, zs=zs, device=device, batch=CLIP_BATCH)          # (T, 3, H, W)
    return _colourise(raw, draws.colour_mean, draws.colour_std, axes=(0, -2, -1))
