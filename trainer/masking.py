"""Tube masking as fixed-size index tensors.

VideoMAE draws one spatial mask per clip and repeats it over the T' temporal slots ("tube"). The official
code hands the model a boolean mask and indexes `x[~mask]`, whose shape depends on the data; torch.compile
cannot keep that static. Every clip masks the same number of tokens, so the same information fits in two
integer tensors (`ids_keep`, `ids_mask`) used with `torch.gather`: shapes depend only on the config.
Masks are drawn on the training device per batch, so loader workers only move pixels.
"""

from __future__ import annotations

import torch



def num_masked_per_slot(spatial_tokens: int, ratio: float) -> int:
    # int(), not round(): VideoMAE's TubeMaskingGenerator truncates (0.9 * 196 = 176.4 -> 176).
    return int(ratio * spatial_tokens)


def tube_mask(batch: int, t_slots: int, spatial_tokens: int, ratio: float, *, generator: torch.Generator | None = None,
              device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(ids_keep, ids_mask): (B, T'*visible) and (B, T'*masked) token indices in raster (t, h, w) order,
    each sorted ascending so the encoder sees visible tokens in their natural order."""
    n_mask = num_masked_per_slot(spatial_tokens, ratio)
    if not 0 <= n_mask < spatial_tokens:
        raise ValueError(f"mask ratio {ratio} leaves no visible token of {spatial_tokens} per slot")
    gen_device = generator.device if generator is not None else device
    noise = torch.rand(batch, spatial_tokens, generator=generator, device=gen_device).to(device)
    order = noise.argsort(dim=1)
    spatial_mask = order[:, :n_mask].sort(dim=1).values       # (B, masked)
    spatial_keep = order[:, n_mask:].sort(dim=1).values       # (B, visible)
    offsets = (torch.arange(t_slots, device=device) * spatial_tokens).view(1, t_slots, 1)
    ids_mask = (spatial_mask.unsqueeze(1) + offsets).flatten(1)
    ids_keep = (spatial_keep.unsqueeze(1) + offsets).flatten(1)
    return ids_keep, ids_mask


def to_bool(ids_mask: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """Boolean mask (True = masked), the form Hugging Face's VideoMAE and the pictures use."""
    mask = torch.zeros(ids_mask.shape[0], num_tokens, dtype=torch.bool, device=ids_mask.device)
    return mask.scatter_(1, ids_mask, True)


def masks_for(cfg, ratio: float, batch: int, generator: torch.Generator, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids_keep, ids_mask) of one micro-batch for a ModelConfig's token grid, drawn on the CPU from
    `generator` (so the draw is the same on every device) and moved to `device`."""
    t, h, w = cfg.grid
    ids_keep, ids_mask = tube_mask(batch, t, h * w, ratio, generator=generator)
    return ids_keep.to(device, non_blocking=True), ids_mask.to(device, non_blocking=True)
