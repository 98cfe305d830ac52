"""The standard FID / FVD networks, from weights files the user supplies (nothing is downloaded)."""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch

from .errors import AnalysisError
from .features import FeatureNet, even_indices, resize_crop

INCEPTION_SIZE = 299
I3D_SIZE = 224
I3D_FRAMES = 16


class InceptionFeatures(FeatureNet):
    """torchvision's inception_v3 with the file's weights; fc replaced by identity: the 2048-d pool features.
    Inputs are scaled to [-1, 1] at 299x299, what the Google weights torchvision ships expect (its
    transform_input=True). pytorch-fid's FID weights load too (same parameter names and shapes), but
    torchvision's blocks pool slightly differently from TF-FID's, so numbers are close to, not equal to,
    TF-FID's."""

    def __init__(self, path: str, sha: str, device: torch.device, batch: int):
        super().__init__(device, batch)
        from torchvision.models import inception_v3

        if not os.path.isfile(path):
            raise AnalysisError(f"--features inception:{path}: no such file")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = state.get("state_dict", state) if isinstance(state, dict) else state
            classes = state["fc.weight"].shape[0]
            net = inception_v3(weights=None, aux_logits=any(k.startswith("AuxLogits.") for k in state),
                               num_classes=classes, init_weights=False, transform_input=False)
            net.load_state_dict(state)
        except Exception as e:
            raise AnalysisError(f"--features inception:{path}: not an Inception-v3 state dict for "
                                f"torchvision ({type(e).__name__}: {str(e)[:160]})") from None
        net.fc = torch.nn.Identity()
        self.net = net.to(device).eval()
        self.label = f"inception-v3:{os.path.basename(path)}@{sha}"
        self.description = (f"Inception-v3 (torchvision architecture) weights {path} (sha256 {sha}), "
                            f"2048-d pool features at {INCEPTION_SIZE} px")

    def _frames(self, frames: np.ndarray) -> torch.Tensor:
        return self.net(resize_crop(frames, INCEPTION_SIZE, self.device) * 2 - 1)

    def _clips(self, clips: np.ndarray) -> torch.Tensor:
        raise AnalysisError("Inception-v3 gives frame features only; use --features i3d:PATH or checkpoint:PATH for FVD")


class I3DFeatures(FeatureNet):
    """A TorchScript I3D with StyleGAN-V's FVD contract: 16 frames resized to 224x224 (short side and
    centre crop), values in [-1, 1], called with rescale=False, resize=False, return_features=True."""

    def __init__(self, path: str, sha: str, device: torch.device, batch: int):
        super().__init__(device, batch)
        if not os.path.isfile(path):
            raise AnalysisError(f"--features i3d:{path}: no such file")
        try:
            with warnings.catch_warnings():   # the FVD detector exists only as TorchScript
                warnings.filterwarnings("ignore", message=".*torch.jit.load.* is deprecated", category=FutureWarning)
                self.net = torch.jit.load(path, map_location=device).eval()
        except Exception as e:
            raise AnalysisError(f"--features i3d:{path}: not a TorchScript file ({type(e).__name__}: "
                                f"{str(e)[:160]})") from None
        self.label = f"i3d:{os.path.basename(path)}@{sha}"
        self.description = (f"I3D TorchScript {path} (sha256 {sha}), StyleGAN-V FVD contract, "
                            f"{I3D_FRAMES} frames at {I3D_SIZE} px")

    def _frames(self, frames: np.ndarray) -> torch.Tensor:
        raise AnalysisError("I3D gives clip features only; use --features inception:PATH or checkpoint:PATH for FID")

    def _clips(self, clips: np.ndarray) -> torch.Tensor:
        b, t = clips.shape[:2]
        clips = clips[:, even_indices(t, I3D_FRAMES)]
        x = resize_crop(clips.reshape(-1, *clips.shape[2:]), I3D_SIZE, self.device) * 2 - 1
        x = x.view(b, I3D_FRAMES, 3, I3D_SIZE, I3D_SIZE).transpose(1, 2).contiguous()
        try:
            out = self.net(x, rescale=False, resize=False, return_features=True)
        except Exception as e:
            raise AnalysisError(f"the I3D TorchScript file does not follow the FVD detector's call contract "
                                f"({type(e).__name__}: {str(e)[:160]})") from None
        return out.reshape(b, -1)
