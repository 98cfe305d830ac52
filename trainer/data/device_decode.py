"""The frames of a micro-batch on the training device: clips the loader workers decoded are moved there;
clips they handed over encoded (`--decode-device cuda`: JPEG payloads) are decoded there, all frames of the
batch in one batched call of `torchvision.io.decode_jpeg` (nvJPEG on a GPU). On the CPU the same call runs
libjpeg-turbo, which decodes our baseline 4:4:4 files bit-identically to the workers' simplejpeg: that is
how the tests run this path without a GPU.

torchvision marks its image codecs deprecated since 0.29 in favour of TorchCodec; the pinned torchvision
(0.29.1) still has the batched CUDA decoder and TorchCodec is not a dependency, so this module calls
torchvision and silences only that warning.
"""

from __future__ import annotations

import warnings

import torch

DECODE_DEVICES = ("cpu", "cuda")


def device_frames(batch: dict, device: torch.device | str) -> torch.Tensor:
    """(B, T, H, W, 3) uint8 on `device` for a batch made by `clip_batch` (padded like collate_frames)."""
    if not batch.get("encoded"):
        return batch["frames"].to(device, non_blocking=True)
    shapes = batch["shape"]
    b, t = len(shapes), int(shapes[0, 0])
    h, w = int(shapes[:, 1].max()), int(shapes[:, 2].max())
    frames = batch.get("frames")
    if frames is not None:
        out = frames.to(device, non_blocking=True)
    else:
        out = torch.zeros((b, t, h, w, 3), dtype=torch.uint8, device=device)
    encoded = batch["encoded"]
    which = [i for i, files in enumerate(encoded) if files is not None]
    images = decode_jpegs([f for i in which for f in encoded[i]], device)
    for k, i in enumerate(which):
        _, ch, cw = (int(v) for v in shapes[i])
        out[i, :, :ch, :cw] = torch.stack(images[k * t:(k + 1) * t]).permute(0, 2, 3, 1)
    return out


def decode_jpegs(files: list[bytes], device: torch.device | str) -> list[torch.Tensor]:
    """(3, H, W) uint8 RGB tensors on `device`, one batched decode."""
    from torchvision.io import ImageReadMode, decode_jpeg

    data = [torch.frombuffer(bytearray(f), dtype=torch.uint8) for f in files]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="torchvision")
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
