"""Held-out masked loss, next to its baseline, on clips of another variant build."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from . import draws, masking
from .data import ClipSpec, ClipStream, Plan, SourceOptions, augment, open_source
from .model import masked_mse


@dataclass(frozen=True)
class HeldOut:
    """Which clips are scored and how: fixed masks and crops (from `seed`), so two models see the same."""
    data: str
    spec: ClipSpec
    mask_ratio: float = 0.75
    clips: int = 64
    seed: int = 12345
    storage_options: dict | None = None


@torch.no_grad()
def heldout_loss(model, heldout: HeldOut, device, autocast=contextlib.nullcontext) -> dict:
    """Masked-patch MSE on `heldout.clips` clips, next to the baseline of predicting each patch's mean
    (target 0): the mean squared normalised target, ~1.0 for textured patches and 0 for flat ones."""
    mcfg = model.cfg
    batch = min(heldout.clips, 8)
    plan = Plan(epoch_size=(heldout.clips // batch) * batch, global_batch=batch, world=1, accum=1, workers=0)
    source = open_source(heldout.data, SourceOptions(storage_options=heldout.storage_options))
    ds = ClipStream([source], None, plan, heldout.spec, seed=heldout.seed, rank=0)
    was_training = model.training
    model.eval()
    tot = base = n = 0.0
    for i, b in enumerate(ds.iter_worker(0)):
        x = augment(b["frames"].to(device), b["box"], mcfg.img_size)
        gen = draws.mask_generator(heldout.seed, 0, i)
        ids_keep, ids_mask = masking.masks_for(mcfg, heldout.mask_ratio, x.shape[0], gen, device)
        with autocast():
            pred = model(x, ids_keep, ids_mask)
        tot += masked_mse(pred, x, ids_mask, mcfg).item() * x.shape[0]
        base += masked_mse(torch.zeros_like(pred, dtype=torch.float32), x, ids_mask, mcfg).item() * x.shape[0]
        n += x.shape[0]
    model.train(was_training)
    return {"loss": tot / n, "baseline": base / n, "clips": int(n)}
