"""AdamW parameter groups and the per-step learning-rate schedule of VideoMAE pretraining and fine-tuning."""

from __future__ import annotations

import math

import torch


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No decay on 1-D tensors (norms, biases) or the model's no_weight_decay() names (mask token; the
    position tables are buffers here, so they are not parameters at all), as in VideoMAE's optim_factory."""
    skip = set(getattr(model, "no_weight_decay", lambda: set())())
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") or name in skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model, lr: float, weight_decay: float, betas=(0.9, 0.95), fused: bool = False):
    kwargs = {"fused": True} if fused else {}
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas, eps=1e-8, **kwargs)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Give every parameter group `lr` times its `lr_scale` (1 when absent): layer-wise lr decay lives in
    the groups' scales, so a schedule never erases it."""
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)


class WarmupCosine:
    """Linear warmup from 0 over `warmup` steps, then half-cosine to `min_lr` at `total` steps. Per step
    (VideoMAE's cosine_scheduler builds the same curve as a per-iteration table)."""

    def __init__(self, optimizer, lr: float, min_lr: float, warmup: int, total: int):
        self.optimizer, self.lr, self.min_lr = optimizer, lr, min_lr
        self.warmup, self.total = int(warmup), max(1, int(total))
        self.step_count = 0

    def value(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * step / self.warmup
        t = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * t))

    def apply(self) -> float:
        """Set the lr of the step about to run (each group's share of it, see set_lr); returns the full lr."""
        lr = self.value(self.step_count)
        set_lr(self.optimizer, lr)
        return lr

    def step(self) -> None:
        self.step_count += 1

    def state_dict(self) -> dict:
        return {"step_count": self.step_count, "lr": self.lr, "min_lr": self.min_lr, "warmup": self.warmup,
                "total": self.total}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step_count"])
