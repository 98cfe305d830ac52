"""Feature networks for FID, FVD and frame diversity, and the `--features` specs that pick them.

    checkpoint:PATH         a synthvid-train checkpoint (file, or run folder with checkpoint-last.pt):
                            VideoMAE encoder, all tokens visible, final LayerNorm, tokens mean-pooled.
                            Gives frame and clip features.
    random:PRESET[:SIZE]    the same architecture (trainer/model.py preset, input SIZE px, default 224) with
                            seeded random weights: self-contained, what the tests use; a random network's
                            distances are real but weaker than a trained one's, and the report says so.
    inception:PATH          torchvision's Inception-v3 architecture loading a state-dict file (e.g.
                            torchvision's inception_v3_google-0cc3c7bd.pth): 2048-d pool features, the
                            paper's FID features. Frame features only.
    i3d:PATH                a TorchScript I3D with the call contract of StyleGAN-V's FVD detector
                            (`i3d_torchscript.pt`): net(x, rescale=False, resize=False, return_features=True)
                            on (B, 3, T, 224, 224) in [-1, 1], giving its 400-d pre-softmax features.
                            Clip features only.

A VideoMAE has no image mode, so a frame is presented as a static clip: the frame repeated num_frames
times, an input static videos give it in pretraining. Clips of another length than the model's are
resampled evenly in time. Every network resizes the short side (antialiased bilinear) and centre-crops.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from synthvid.manifests.seeds import substream

from ..model import IMAGENET_MEAN, IMAGENET_STD, ModelConfig, VideoMAE, model_config
from .errors import AnalysisError

KINDS = ("checkpoint", "random", "inception", "i3d")
CHECKPOINT_FILE = "checkpoint-last.pt"   # what synthvid-train writes into a run folder


@dataclass(frozen=True)
class FeatureSpec:
    kind: str
    value: str

    @property
    def frames(self) -> bool:
        return self.kind != "i3d"

    @property
    def clips(self) -> bool:
        return self.kind != "inception"

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_feature_spec(text: str) -> FeatureSpec:
    kind, sep, value = str(text).partition(":")
    if not sep or kind not in KINDS or not value:
        raise AnalysisError(f"--features {text!r}: expected one of {', '.join(k + ':...' for k in KINDS)}")
    return FeatureSpec(kind, value)


def _sha(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def resize_crop(frames: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, size, size) float in [0, 1]: short side to `size`, centre crop."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float() / 255.0
    h, w = x.shape[2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - size) // 2, (nw - size) // 2
    return x[:, :, top:top + size, left:left + size].clamp(0, 1)


def even_indices(length: int, count: int) -> np.ndarray:
    return np.round(np.linspace(0, length - 1, count)).astype(np.int64)


class FeatureNet:
    """Base: batching and device handling. Subclasses set label/description and implement _frames/_clips."""

    label = "?"
    description = "?"

    def __init__(self, device: torch.device, batch: int):
        self.device, self.batch = device, batch

    @torch.no_grad()
    def frame_features(self, frames: np.ndarray) -> np.ndarray:
        return self._batched(self._frames, frames)

    @torch.no_grad()
    def clip_features(self, clips: np.ndarray) -> np.ndarray:
        return self._batched(self._clips, clips)

    def _batched(self, fn, items: np.ndarray) -> np.ndarray:
        out = [fn(items[i:i + self.batch]).double().cpu().numpy() for i in range(0, len(items), self.batch)]
        return np.concatenate(out) if out else np.zeros((0, 0))


class VideoMAEFeatures(FeatureNet):
    def __init__(self, model: VideoMAE, label: str, description: str, device: torch.device, batch: int):
        super().__init__(device, batch)
        self.model = model.to(device).eval()
        self.cfg: ModelConfig = model.cfg
        self.label, self.description = label, description
        self._mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1, 1)
        self._ids = torch.arange(self.cfg.num_tokens, device=device)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:   # (B, 3, T, S, S) in [0, 1]
        x = (x - self._mean) / self._std
        tokens = self.model.forward_encoder(x, self._ids.expand(x.shape[0], -1))
        return tokens.mean(dim=1)

    def _frames(self, frames: np.ndarray) -> torch.Tensor:
        x = resize_crop(frames, self.cfg.img_size, self.device)
        return self._encode(x.unsqueeze(2).expand(-1, -1, self.cfg.num_frames, -1, -1))

    def _clips(self, clips: np.ndarray) -> torch.Tensor:
        b, t = clips.shape[:2]
        clips = clips[:, even_indices(t, self.cfg.num_frames)]
        x = resize_crop(clips.reshape(-1, *clips.shape[2:]), self.cfg.img_size, self.device)
        return self._encode(x.view(b, self.cfg.num_frames, 3, *x.shape[2:]).transpose(1, 2))


def load_checkpoint_model(path: str) -> tuple[VideoMAE, str]:
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT_FILE)
    if not os.path.isfile(path):
        raise AnalysisError(f"--features checkpoint:{path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)   # a checkpoint is data, never code
        model = VideoMAE(ModelConfig(**state["model_config"]))
        model.load_state_dict(state["model"])
    except Exception as e:
        raise AnalysisError(f"--features checkpoint:{path}: not a synthvid-train checkpoint "
                            f"({type(e).__name__}: {str(e)[:160]})") from None
    return model, path


def random_model(value: str, num_frames: int, seed: int) -> tuple[VideoMAE, str]:
    preset, _, size = value.partition(":")
    try:
        cfg = model_config(preset, img_size=int(size) if size else None, num_frames=num_frames)
        torch_seed = int(substream(seed, 0, "analysis-random-features").integers(2 ** 31))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed)
            model = VideoMAE(cfg)
    except ValueError as e:
        raise AnalysisError(f"--features random:{value}: {e}") from None
    return model, f"seed {torch_seed}"


def build_net(spec: FeatureSpec, device: torch.device, batch: int, num_frames: int, seed: int) -> FeatureNet:
    if spec.kind == "checkpoint":
        model, path = load_checkpoint_model(spec.value)
        c, sha = model.cfg, _sha(path)
        label = f"videomae:{os.path.basename(path)}@{sha}"
        desc = (f"VideoMAE checkpoint {path} (sha256 {sha}; {c.embed_dim}-d, depth {c.depth}, "
                f"{c.img_size} px, {c.num_frames} frames), mean-pooled encoder tokens")
        return VideoMAEFeatures(model, label, desc, device, batch)
    if spec.kind == "random":
        model, how = random_model(spec.value, num_frames, seed)
        c = model.cfg
        label = f"videomae-random:{spec.value}"
        desc = (f"VideoMAE {spec.value.split(':')[0]} with random weights ({how}; {c.embed_dim}-d, "
                f"{c.img_size} px, {c.num_frames} frames), mean-pooled encoder tokens: NOT a trained network")
        return VideoMAEFeatures(model, label, desc, device, batch)
    from .standard_nets import I3DFeatures, InceptionFeatures

    cls = InceptionFeatures if spec.kind == "inception" else I3DFeatures
    return cls(spec.value, _sha(spec.value) if os.path.isfile(spec.value) else "", device, batch)
