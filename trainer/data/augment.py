"""Device side of the data path: crop + resize + normalise, on the GPU when there is one (the loader only
moves uint8 clips and crop boxes)."""

from __future__ import annotations

import torch

from ..model import IMAGENET_MEAN, IMAGENET_STD


def augment(frames: torch.Tensor, box: torch.Tensor, size: int, uint8_resize: bool | None = None) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) + boxes -> float (B, 3, T, size, size), ImageNet-normalised, on frames' device.

    Each clip's box is cut out and resized bilinearly with antialiasing, which matches VideoMAE's PIL
    bilinear resize to within one grey level. On the CPU this runs on uint8 (PyTorch's vectorised uint8
    kernel, ~10x faster than float); on a GPU in float, rounded to uint8 levels like the CPU path.
    `uint8_resize` forces one path (tests run the GPU's float path on the CPU)."""
    b, t = frames.shape[:2]
    cpu = frames.device.type == "cpu" if uint8_resize is None else uint8_resize
    out = torch.empty((b, t, 3, size, size), dtype=torch.uint8 if cpu else torch.float32, device=frames.device)
    # Clips with the same crop size are resized together: a handful of (h, w) pairs per batch, so a few
    # large kernels instead of one small one per clip.
    groups: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for i, (y0, x0, ch, cw) in enumerate(box.tolist()):
        groups.setdefault((ch, cw), []).append((i, y0, x0))
    for (ch, cw), members in groups.items():
        crops = torch.stack([frames[i, :, y0:y0 + ch, x0:x0 + cw] for i, y0, x0 in members])   # (n, T, h, w, 3)
        crops = crops.flatten(0, 1).permute(0, 3, 1, 2)                                         # (n*T, 3, h, w)
        crops = crops.contiguous(memory_format=torch.channels_last) if cpu else crops.float()
        if (ch, cw) != (size, size):
            crops = torch.nn.functional.interpolate(crops, size=(size, size), mode="bilinear", align_corners=False,
                                                    antialias=True)
        if not cpu:
            crops = crops.round_().clamp_(0, 255)
        idx = torch.tensor([m[0] for m in members], device=frames.device)
        out.index_copy_(0, idx, crops.reshape(len(members), t, 3, size, size))
    x = out.float() if cpu else out
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1) * 255
    std = x.new_tensor(IMAGENET_STD).view(1, 1, 3, 1, 1) * 255
    return x.sub_(mean).div_(std).permute(0, 2, 1, 3, 4)


def unnormalize(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) normalised -> [0, 1]."""
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    return (x * std + mean).clamp(0, 1)
