"""The training loop: epochs of optimiser steps with logs, checkpoints and an evaluation at epoch ends, run
once per rank (torchrun sets RANK / WORLD_SIZE). `run_epochs` is the loop for any run that `prepare`-style
setup produced (pretraining here, fine-tuning and probing in eval/finetune.py); `train` is pretraining.

    run = prepare(cfg)                       prepare.py: device, DDP, sources, plan, model, resume, config.json
    for each epoch:
        for each step: run.stepper.step()    step.py: micro-batches, accumulation, no_sync, scaler
            log, picture, checkpoint         runlog.py, checkpoint.py
        after_epoch(run, report)             pretraining: held-out loss (evaluate.py)
        checkpoint
    final checkpoint
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import torch

from . import checkpoint, runtime
from .config import TrainConfig, TrainError
from .data import ordered
from .evaluate import HeldOut, heldout_loss
from .prepare import Run, build, prepare
from .runlog import PRETRAIN_EVAL_FIELDS, Reporter, Silent

__all__ = ["TrainConfig", "TrainError", "train", "build", "heldout_loss", "HeldOut", "run_epochs"]


@dataclass
class Summary:
    """What a run returns to tests and scripts: per-step figures and skip counters."""
    losses: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    indices: list = field(default_factory=list)
    clips_per_s: list = field(default_factory=list)
    data_wait: list = field(default_factory=list)
    counts: torch.Tensor = field(default_factory=lambda: torch.zeros(3, dtype=torch.long))

    def add(self, step: int, result, clips_per_s: float) -> None:
        self.losses.append(result.loss)
        self.steps.append(step)
        self.indices += result.indices
        self.clips_per_s.append(clips_per_s)
        self.data_wait.append(result.wait / result.seconds)
        self.counts += result.counts

    def as_dict(self, run) -> dict:
        short, samples, shards = self.counts.tolist()
        p = run.state.position
        return {"losses": self.losses, "steps": self.steps, "indices": self.indices, "clips_per_s": self.clips_per_s,
                "data_wait": self.data_wait, "short_clips": short, "skipped_samples": samples,
                "skipped_shards": shards, "step": p.step, "epoch": p.epoch, "micro": p.micro,
                "model": run.state.model, "plan": run.plan, "config": run.state.resolved}


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) pretraining; returns a summary (losses per step, counters) for tests and scripts."""
    run = prepare(cfg)
    return run_epochs(run, after_epoch=_heldout).as_dict(run)


def _heldout(run: Run, report) -> None:
    """Pretraining's epoch-end evaluation: masked loss on held-out clips next to the patch-mean baseline."""
    cfg = run.cfg
    if cfg.eval_data and cfg.eval_clips and run.dist.main:
        heldout = HeldOut(cfg.eval_data, run.spec, cfg.mask_ratio, cfg.eval_clips, storage_options=cfg.storage_options)
        ev = heldout_loss(run.state.model, heldout, run.device, run.autocast)
        report.evaluation(run.state.position.step, run.state.position.epoch, eval_loss=ev["loss"],
                          eval_baseline=ev["baseline"])


def run_epochs(run, after_epoch=None, eval_fields: tuple = PRETRAIN_EVAL_FIELDS) -> Summary:
    """Epochs until `run.cfg.epochs` (or --max-steps). After each full epoch `after_epoch(run, reporter)` runs
    on every rank, then rank 0 saves the checkpoint (so it holds what the evaluation recorded in
    run.state.extra), and once more at the end. `run` needs cfg, dist, device, plan, dataset, state,
    stepper, resumed, checkpoint_path and clips_per_step (prepare.Run has them); the final checkpoint is
    skipped when the last epoch's was just written."""
    cfg = run.cfg
    summary = Summary()
    report = _reporter(run, eval_fields)
    # Persistent workers: forking W workers per epoch costs seconds, and a UCF-sized epoch is ~50 steps.
    loader = torch.utils.data.DataLoader(
        run.dataset, batch_size=None, num_workers=cfg.workers, pin_memory=run.device.type == "cuda",
        prefetch_factor=4 if cfg.workers else None, persistent_workers=cfg.workers > 0)
    saved = False
    while run.state.position.epoch < cfg.epochs:
        saved = False
        if not train_epoch(run, loader, report, summary):
            break
        if after_epoch is not None:
            after_epoch(run, report)
        if run.dist.main:
            checkpoint.save(run.checkpoint_path, run.state)
        saved = True
    if run.dist.main and not saved:
        checkpoint.save(run.checkpoint_path, run.state)
    report.close()
    runtime.barrier(run.dist)
    return summary


def train_epoch(run, loader, report, summary: Summary) -> bool:
    """The rest of the current epoch, step by step; False when --max-steps stopped it early."""
    cfg, plan, pos = run.cfg, run.plan, run.state.position
    run.dataset.set_position(pos.epoch, pos.micro)
    batches = ordered(iter(loader), pos.micro)
    for s_in_epoch in range(pos.micro // plan.accum, plan.steps):
        if cfg.max_steps is not None and pos.step >= cfg.max_steps:
            return False
        result = run.stepper.step(batches, micro_offset=pos.epoch * plan.micro_batches)
        pos.step += 1
        pos.micro = (s_in_epoch + 1) * plan.accum
        if not math.isfinite(result.loss) and run.state.scaler is None:   # (fp16's scaler skips such steps)
            raise TrainError(f"loss is {result.loss} at step {pos.step}; lower --base-lr or use --precision fp32 "
                             f"(last checkpoint: {run.checkpoint_path})")
        clips_per_s = run.clips_per_step / result.seconds
        summary.add(pos.step, result, clips_per_s)
        report.step(pos.step, pos.epoch, result, clips_per_s, run.state.model.cfg)
        if s_in_epoch == plan.steps - 1:
            pos.epoch, pos.micro = pos.epoch + 1, 0      # the epoch-end checkpoint follows in run_epochs
        elif run.dist.main and cfg.save_every and pos.step % cfg.save_every == 0:
            checkpoint.save(run.checkpoint_path, run.state)
    return True


def _reporter(run, eval_fields: tuple):
    if not run.dist.main:
        return Silent()
    cfg = run.cfg
    progress = cfg.progress if cfg.progress is not None else sys.stderr.isatty()
    total = run.state.schedule.total
    return Reporter(cfg.out, append=run.resumed, progress=progress,
                    total=total if cfg.max_steps is None else min(total, cfg.max_steps),
                    initial=run.state.position.step, eval_fields=eval_fields,
                    cadence={"log_every": cfg.log_every, "recon_every": getattr(cfg, "recon_every", 0)})
