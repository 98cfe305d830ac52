"""Setting a run up: device and process group, sources and the epoch plan, model / optimiser / schedule,
resume, the resolved configuration written next to the outputs, and the step runner."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

import numpy as np
import torch

from . import checkpoint, paper, runlog, runtime
from .config import RESUME_AUTO, TrainConfig, TrainError
from .data import ClipOptions, ClipSpec, ClipStream, DataError, Plan, SourceOptions, default_epoch_size, open_source
from .model import VideoMAE, model_config
from .optim import WarmupCosine, make_optimizer
from .step import Stepper


class RunFiles:
    """Where a run (pretraining's Run, fine-tuning's FinetuneRun) keeps its checkpoint: cfg.out."""

    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.cfg.out, checkpoint.CHECKPOINT)


@dataclass
class Run(RunFiles):
    cfg: TrainConfig
    dist: runtime.Dist
    device: torch.device
    autocast: object
    sources: list
    plan: Plan
    spec: ClipSpec
    dataset: ClipStream
    state: checkpoint.TrainState
    stepper: Stepper
    resumed: bool

    @property
    def clips_per_step(self) -> int:
        return self.cfg.batch_size


def build(cfg: TrainConfig):
    """(ModelConfig, VideoMAE) of a config."""
    mcfg = model_config(cfg.model, img_size=cfg.img_size, num_frames=cfg.num_frames, patch_size=cfg.patch_size,
                        tubelet=cfg.tubelet)
    return mcfg, VideoMAE(mcfg)


def open_data(cfg: TrainConfig, ctx: runtime.Dist) -> tuple[list, Plan, ClipSpec, ClipStream]:
    cfg.check()
    options = SourceOptions(epoch_size=cfg.epoch_size, storage_options=cfg.storage_options,
                            skip_bad_shards=cfg.skip_bad_shards, verify_shards=cfg.verify_shards,
                            procedural_params=cfg.procedural_params, procedural_pools=cfg.procedural_pools,
                            read_mode=cfg.read_mode)
    try:
        sources = [open_source(d, options) for d in cfg.data]
        plan = Plan(epoch_size=cfg.epoch_size or default_epoch_size(sources), global_batch=cfg.batch_size,
                    world=ctx.world, accum=cfg.accum_steps, workers=cfg.workers)
        plan.check()
        spec = ClipSpec(num_frames=cfg.num_frames, sampling_rate=cfg.sampling_rate, input_size=cfg.img_size)
        clips = ClipOptions(cfg.clips_per_video, handover=cfg.decode_device == "cuda")
        dataset = ClipStream(sources, cfg.weights, plan, spec, seed=cfg.data_seed_or_seed, rank=ctx.rank,
                             options=clips)
    except (DataError, ValueError) as e:
        raise TrainError(str(e)) from None
    return sources, plan, spec, dataset


def training_state(cfg: TrainConfig, plan: Plan, device: torch.device, precision: str) -> checkpoint.TrainState:
    """A fresh model (weights from torch's seed), AdamW, the warmup + cosine schedule (lr scaled by the
    global batch / 256) and, for fp16, a grad scaler."""
    _, model = build(cfg)
    model.grad_checkpointing = cfg.grad_checkpointing
    model.to(device)
    scale = cfg.batch_size / 256
    lr, min_lr = cfg.base_lr * scale, cfg.min_lr * scale
    optimizer = make_optimizer(model, lr, cfg.weight_decay, tuple(cfg.betas), fused=device.type == "cuda")
    schedule = WarmupCosine(optimizer, lr, min_lr, round(cfg.warmup_epochs * plan.steps), plan.steps * cfg.epochs)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    return checkpoint.TrainState(model, optimizer, schedule, scaler, plan)


def resume_path(cfg: TrainConfig) -> str | None:
    """The checkpoint --resume names. `auto` resumes from --out when it holds a checkpoint and starts fresh
    otherwise: what a launcher that restarts failed workers (torchrun --max-restarts) needs."""
    if cfg.resume == RESUME_AUTO:
        return cfg.out if os.path.exists(os.path.join(cfg.out, checkpoint.CHECKPOINT)) else None
    return cfg.resume


def resume(cfg: TrainConfig, state: checkpoint.TrainState) -> bool:
    """Load the checkpoint named by --resume into `state`; refuse to overwrite a run without it."""
    path = resume_path(cfg)
    if not path:
        if cfg.resume != RESUME_AUTO and os.path.exists(os.path.join(cfg.out, checkpoint.CHECKPOINT)):
            raise TrainError(f"{cfg.out} already holds a checkpoint; pass --resume {cfg.out} (or --resume auto) "
                             "to continue it or choose a new --out")
        return False
    saved = checkpoint.load(path)
    checkpoint.check_compatible(saved, state.model.cfg.to_dict(), state.plan, path)
    checkpoint.check_same_run(saved, cfg, path)
    state.restore(saved)
    return True


def wrap(model: torch.nn.Module, cfg: TrainConfig, ctx: runtime.Dist, device: torch.device):
    """(module that runs forward, DDP wrapper or None)."""
    forward = ddp = None
    if ctx.world > 1:
        forward = ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=False)
    if cfg.compile:
        # Compile outside DDP, so DDP's optimiser-aware graph splitting sees the bucket boundaries. The
        # model gathers fixed-size index tensors (no boolean masks), so shapes are static and it compiles once.
        return torch.compile(forward or model, backend=cfg.compile_backend), ddp
    return forward or model, ddp


def resolved_config(cfg: TrainConfig, run_facts: dict, state: checkpoint.TrainState, sources: list) -> dict:
    plan, schedule = state.plan, state.schedule
    return {"config": cfg.to_dict(), "model_config": state.model.cfg.to_dict(),
            "micro_batch_per_rank": plan.micro, "steps_per_epoch": plan.steps, "epoch_size": plan.epoch_size,
            "total_steps": schedule.total, "lr": schedule.lr, "min_lr": schedule.min_lr,
            "data_seed": cfg.data_seed_or_seed, **run_facts,
            "sources": [{"data": s.name, "samples": s.num_samples} for s in sources],
            "paper": [line for line in map(paper.describe, sources) if line],
            "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}}


def prepare(cfg: TrainConfig) -> Run:
    device, ctx = runtime.start(cfg.device, cfg.seed, cfg.threads)
    precision, autocast = runtime.autocast_for(device, cfg.precision)
    sources, plan, spec, dataset = open_data(cfg, ctx)
    state = training_state(cfg, plan, device, precision)
    os.makedirs(cfg.out, exist_ok=True)
    resumed = resume(cfg, state)
    forward, ddp = wrap(state.model, cfg, ctx, device)
    facts = {"world_size": ctx.world, "precision": precision, "device": str(device)}
    state.resolved = resolved_config(cfg, facts, state, sources)
    if ctx.main:
        runlog.write_config(cfg.out, state.resolved)
        for line in state.resolved["paper"]:
            print(f"synthvid-train: {line}", flush=True)
    stepper = Stepper(forward, state.optimizer, state.schedule, state.model.cfg, cfg.mask_ratio, cfg.seed, dist=ctx,
                      ddp=ddp, scaler=state.scaler, autocast=autocast, device=device, accum=plan.accum,
                      record_indices=cfg.record_indices)
    return Run(cfg, ctx, device, autocast, sources, plan, spec, dataset, state, stepper, resumed)
