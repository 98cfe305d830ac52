"""Reconstruction picture: original, masked and reconstructed frames of one clip, one row each.

The prediction is of per-cube normalised pixels; to show it as an image each cube is de-normalised with the
*true* cube mean and std (as the VideoMAE visualisation does). That leaks the patch colour, so a picture can
look right while the loss is poor (spec pitfall 1): read the loss, not the picture.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .data import unnormalize
from .model import ModelConfig, patchify, unpatchify


def reconstruction(x: torch.Tensor, pred: torch.Tensor, ids_mask: torch.Tensor, cfg: ModelConfig):
    """x (1, 3, T, H, W) normalised, pred (1, N_masked, D) -> three (T, H, W, 3) uint8 arrays."""
    v = patchify(unnormalize(x.float()), cfg.tubelet, cfg.patch_size)          # (1, N, t*p*p, 3)
    mean, std = v.mean(dim=-2, keepdim=True), v.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6
    p = pred.float().reshape(1, -1, v.shape[2], 3)
    idx = ids_mask[..., None, None].expand(-1, -1, v.shape[2], 3)
    recon = v.clone().scatter_(1, idx, p * torch.gather(std, 1, idx[:, :, :1]).expand_as(p)
                               + torch.gather(mean, 1, idx[:, :, :1]).expand_as(p))
    masked = v.clone().scatter_(1, idx, torch.full_like(p, 0.5))
    to_img = lambda t: (unpatchify(t.flatten(2), cfg)[0].clamp(0, 1).permute(1, 2, 3, 0) * 255).round().byte().cpu().numpy()
    return to_img(v), to_img(masked), to_img(recon)


def save_reconstruction(path: str, x, pred, ids_mask, cfg: ModelConfig, columns: int = 8) -> str:
    from PIL import Image

    rows = reconstruction(x, pred, ids_mask, cfg)
    t = rows[0].shape[0]
    pick = np.linspace(0, t - 1, min(columns, t)).round().astype(int)
    grid = np.concatenate([np.concatenate(list(r[pick]), axis=1) for r in rows], axis=0)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(grid).save(path)
    return path
