"""Checkpoints: what a run saves, how it is written and read back, and when a saved run may continue.

Determinism is by construction rather than by saved RNG state (draws.py), so a checkpoint only needs the
weights, the optimiser, the schedule, the scaler and the data position for a resumed run to continue exactly
where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field

import torch

from synthvid.manifests.storage import open_atomic

from .config import TrainError

log = logging.getLogger("synthvid.trainer")

CHECKPOINT = "checkpoint-last.pt"
CHECKPOINT_FORMAT = 1
PLAN_KEYS = ("global_batch", "epoch_size", "accum")   # change what a data position means


@dataclass
class Position:
    """Where the run stands: the epoch, the next micro-batch of that epoch, and optimiser steps done."""
    epoch: int = 0
    micro: int = 0
    step: int = 0


@dataclass
class TrainState:
    """Everything a checkpoint holds, as live objects."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: object                  # optim.WarmupCosine
    scaler: object | None             # torch.amp.GradScaler with fp16, else None
    plan: object                      # data.Plan
    position: Position = field(default_factory=Position)
    resolved: dict = field(default_factory=dict)   # the run's resolved configuration (config.json)
    extra: dict = field(default_factory=dict)      # what a run keeps besides (fine-tuning: the best validation)

    def to_dict(self, with_optimizer: bool = True) -> dict:
        """Everything to resume from; without the optimizer only what testing or exporting the weights
        needs (a fine-tuning run's best.pt)."""
        p = self.position
        out = {"format": CHECKPOINT_FORMAT, "model": _unwrap(self.model).state_dict(),
               "data": {"epoch": p.epoch, "micro": p.micro, "step": p.step, "plan": dataclasses.asdict(self.plan)},
               "model_config": _unwrap(self.model).cfg.to_dict(),
               "config": json.loads(json.dumps(self.resolved, default=str)), "extra": dict(self.extra)}
        if with_optimizer:
            out.update(optimizer=self.optimizer.state_dict(), schedule=self.schedule.state_dict(),
                       scaler=self.scaler.state_dict() if self.scaler else {})
        return out

    def restore(self, saved: dict) -> None:
        _unwrap(self.model).load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.schedule.load_state_dict(saved["schedule"])
        if self.scaler is not None and saved.get("scaler"):
            self.scaler.load_state_dict(saved["scaler"])
        d = saved["data"]
        self.position = Position(d["epoch"], d["micro"], d["step"])
        self.extra = dict(saved.get("extra", {}))


def _unwrap(model):
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def save(path: str, state: TrainState, with_optimizer: bool = True) -> None:
    """Whole or not at all: a crash mid-save leaves the previous checkpoint intact, and the rename is
    fsync'd so it survives a power cut."""
    with open_atomic(path) as f:
        torch.save(state.to_dict(with_optimizer), f)


def load(path: str) -> dict:
    """A saved checkpoint (a file, or a run folder holding one) as a dict; a TrainError says what is wrong."""
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT)
    if not os.path.exists(path):
        raise TrainError(f"--resume {path}: no checkpoint there")
    try:
        # weights_only: a checkpoint is data, never code.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise TrainError(f"--resume {path}: not a readable checkpoint ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or "model" not in state:
        fmt = state.get("format") if isinstance(state, dict) else "?"
        raise TrainError(f"--resume {path}: not a synthvid-train checkpoint (format {fmt})")
    if "optimizer" not in state:
        raise TrainError(f"--resume {path}: holds weights only (a best.pt); resume from the run's {CHECKPOINT}")
    return state


def check_compatible(saved: dict, model_cfg: dict, plan, path: str) -> None:
    """Refuse a checkpoint whose model or data plan differs (naming each key); warn when only the number of
    ranks or workers changed, which keeps the batch count but changes the sample order."""
    diff = {k: (saved["model_config"].get(k), v) for k, v in model_cfg.items() if saved["model_config"].get(k) != v}
    saved_plan = saved["data"]["plan"]
    diff.update({k: (saved_plan[k], getattr(plan, k)) for k in PLAN_KEYS if saved_plan[k] != getattr(plan, k)})
    if diff:
        shown = ", ".join(f"{k} {a} (checkpoint) vs {b}" for k, (a, b) in diff.items())
        raise TrainError(f"--resume {path}: incompatible checkpoint: {shown}")
    if (saved_plan["world"], saved_plan["workers"]) != (plan.world, plan.workers):
        log.warning("resuming with %d ranks x %d workers where the checkpoint had %d x %d: the rest of this epoch "
                    "reads the same number of batches but a different sample order", plan.world, plan.workers,
                    saved_plan["world"], saved_plan["workers"])


def check_same_run(saved: dict, cfg, path: str) -> None:
    """Refuse to resume when the configuration differs from the saved run's in a key that changes the run
    (config.RESUME_MAY_CHANGE lists the others), naming each key; --resume-anyway turns it into a warning."""
    diff = cfg.changes_from(saved.get("config", {}).get("config", {}))
    if not diff:
        return
    shown = ", ".join(f"{k} {a} (checkpoint) vs {b}" for k, (a, b) in sorted(diff.items()))
    if not cfg.resume_anyway:
        raise TrainError(f"--resume {path}: the configuration differs from the checkpoint's: {shown}; run with the "
                         "checkpoint's values, or pass --resume-anyway to continue with the new ones")
    log.warning("--resume-anyway: continuing %s with changed settings: %s", path, shown)
