"""Feature maps of a pretrained encoder (spec paper.md F, after Amir et al.'s "deep ViT features"): the
attention keys of the last encoder layer over many clips of one class, PCA over that pool, the first three
components as R, G, B; one h x w map per tubelet (2 frames).

Keys are LN1(x) W_k (+ the key bias, which is 0), all heads concatenated: the middle third of the last
block's qkv projection output, taken by a forward hook, with every token visible. The PCA is fitted from
accumulated first and second moments (float64), so the pool can be large and streamed; each component's sign
is fixed (largest-magnitude loading positive) so the colours do not flip between runs or machines. Colours
are each component's min-max over the maps being shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..model import VideoMAE


def encoder_keys(model: VideoMAE, clips: torch.Tensor) -> torch.Tensor:
    """clips (B, 3, T, H, W) ImageNet-normalised -> last-layer keys (B, N, D), tokens in (t, h, w) order."""
    attn = model.blocks[-1].attn
    if not isinstance(attn.k_norm, torch.nn.Identity):
        raise ValueError("the last block normalises its keys (qk_norm); hook k_norm instead of qkv")
    captured = {}

    def hook(_module, _inputs, output):
        d = output.shape[-1] // 3
        captured["keys"] = output[..., d:2 * d].detach()

    handle = attn.qkv.register_forward_hook(hook)
    try:
        with torch.no_grad():
            ids = torch.arange(model.cfg.num_tokens, device=clips.device).expand(clips.shape[0], -1)
            model.forward_encoder(clips, ids)
    finally:
        handle.remove()
    return captured["keys"].float()


class KeyPCA:
    """Streaming PCA: add() key batches, then components() gives the top principal directions."""

    def __init__(self, dim: int):
        self.count = 0
        self.total = torch.zeros(dim, dtype=torch.float64)
        self.outer = torch.zeros(dim, dim, dtype=torch.float64)

    def add(self, keys: torch.Tensor) -> None:
        x = keys.reshape(-1, keys.shape[-1]).to(torch.float64).cpu()
        self.count += x.shape[0]
        self.total += x.sum(0)
        self.outer += x.T @ x

    def fit(self, n: int = 3) -> "PCAProjection":
        if self.count < 2:
            raise ValueError("PCA needs at least two key vectors")
        mean = self.total / self.count
        cov = (self.outer - self.count * torch.outer(mean, mean)) / (self.count - 1)
        _, vectors = torch.linalg.eigh(cov)                 # ascending eigenvalues
        comps = vectors[:, -n:].flip(1).T.contiguous()      # (n, D), largest first
        idx = comps.abs().argmax(dim=1)
        signs = torch.sign(comps[torch.arange(n), idx])
        return PCAProjection(mean=mean, components=comps * signs[:, None])


@dataclass(frozen=True)
class PCAProjection:
    mean: torch.Tensor              # (D,) float64
    components: torch.Tensor        # (n, D) float64, unit rows

    def project(self, keys: torch.Tensor) -> torch.Tensor:
        return (keys.to(torch.float64).cpu() - self.mean) @ self.components.T


def to_rgb(projected: torch.Tensor) -> torch.Tensor:
    """(..., 3) projections -> colours in [0, 1], each component min-max scaled over everything given."""
    flat = projected.reshape(-1, projected.shape[-1])
    low, high = flat.min(0).values, flat.max(0).values
    return ((projected - low) / (high - low).clamp_min(1e-12)).float()


def key_maps(model: VideoMAE, clips: torch.Tensor, projection: PCAProjection) -> torch.Tensor:
    """(B, T', h, w, 3) colour maps of the clips' keys: one map per tubelet."""
    t, h, w = model.cfg.grid
    rgb = to_rgb(projection.project(encoder_keys(model, clips)))
    return rgb.reshape(clips.shape[0], t, h, w, 3)


def _upsample(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """(T', h, w, 3) maps in [0, 1] -> (T', height, width, 3) uint8, nearest (each token a block)."""
    ys, xs = height // maps.shape[1], width // maps.shape[2]
    return np.repeat(np.repeat(np.rint(maps * 255).astype(np.uint8), ys, axis=1), xs, axis=2)


def map_grid(frames: np.ndarray, maps: np.ndarray, tubelet: int) -> np.ndarray:
    """One picture: the first frame of every tubelet on top, its key map (nearest-upsampled) below.
    frames (T, H, W, 3) uint8, maps (T', h, w, 3) in [0, 1] -> (2H, T' W, 3) uint8."""
    frames = frames[::tubelet][:maps.shape[0]]
    big = _upsample(maps, frames.shape[1], frames.shape[2])
    return np.concatenate([np.concatenate(list(frames), axis=1), np.concatenate(list(big), axis=1)], axis=0)


def write_png(path: str, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, format="PNG")


def write_mp4(path: str, frames: np.ndarray, maps: np.ndarray, tubelet: int, fps: float = 8.0) -> None:
    """Input frames beside their key map (each map held for its tubelet's frames), H.264."""
    import av

    big = _upsample(maps, frames.shape[1], frames.shape[2])
    side = np.concatenate([frames[:maps.shape[0] * tubelet], np.repeat(big, tubelet, axis=0)], axis=2)
    side = side[:, : side.shape[1] // 2 * 2, : side.shape[2] // 2 * 2]     # yuv420p needs even sides
    with av.open(path, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=int(round(fps)))
        stream.width, stream.height, stream.pix_fmt = side.shape[2], side.shape[1], "yuv420p"
        for frame in side:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())
