"""Fine-tuning and linear probing, end to end: `finetune(cfg)`, run once per rank like pretraining.

    run = prepare_finetune(cfg)     device and DDP (runtime.py), the labelled sets, the classifier and its
                                    weights (checkpoints.py), AdamW with layer decay, warmup + cosine, resume
    engine.run_epochs(run, ...)     the pretraining loop itself: steps (objective.ClassifierStepper), log.csv,
                                    checkpoint-last.pt; after each epoch `_validate`
    _validate                       every --val-every epochs and at the last: multi-view top-1 / top-5 of
                                    --val on every rank (scoring.py), a log row, best.pt when top-1 improves

The pieces that pretraining has are pretraining's: runtime, checkpoint (atomic save, compatibility and
resume checks), runlog, the data plan and ClipStream, the step mechanics and the epoch loop.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

import numpy as np
import torch

from synthvid.manifests.storage import safe_url

from .. import checkpoint, runlog, runtime
from ..config import TrainError
from ..data import DataError, Plan
from ..engine import run_epochs
from ..model import model_config
from ..optim import WarmupCosine
from ..prepare import RunFiles, resume, wrap
from .checkpoints import CheckpointError, infer_model_config, load_pretrained, read_weights
from .clips import ViewPlan
from .config import NO_CHECKPOINT, FinetuneConfig
from .labelled import LabelledSource
from .objective import ClassifierStepper
from .optim import make_optimizer
from .scoring import ReadPlan, ScoreOptions, read_plan, score, sync_buffers
from .train_data import LabelledClips, TrainClips

BEST = "best.pt"
VAL_FIELDS = ("val_top1", "val_top5", "val_videos")

# Which of the paper's numbers a run reproduces (spec paper.md D, Tab 1 / Fig 2).
PAPER = {"finetune-ucf101": "Tab 1 / Fig 2, UCF101 FT column", "finetune-hmdb51": "Tab 1 / Fig 2, HMDB51 FT column",
         "probe": "Tab 1 / Fig 2, UCF101 LP column (the probe as the paper states it)",
         "probe-reference": "the UCF101 LP column as the authors' LP.sh actually ran it"}


@dataclass
class FinetuneRun(RunFiles):
    """What engine.run_epochs drives (as pretraining's Run), plus the sets."""
    cfg: FinetuneConfig
    dist: runtime.Dist
    device: torch.device
    autocast: object
    plan: Plan
    dataset: LabelledClips
    state: checkpoint.TrainState
    stepper: ClassifierStepper
    resumed: bool
    source: LabelledSource
    val: LabelledSource | None
    val_plan: ReadPlan | None

    @property
    def clips_per_step(self) -> int:
        return self.cfg.batch_size * self.cfg.recipe.num_sample


def open_sets(cfg: FinetuneConfig) -> tuple[LabelledSource, LabelledSource | None]:
    """The training set and the validation set (same classes, in the same order)."""
    kw = dict(skip_bad_shards=cfg.skip_bad_shards, verify_shards=cfg.verify_shards)
    try:
        train = LabelledSource(cfg.data, cfg.storage_options, **kw)
        val = LabelledSource(cfg.val, cfg.storage_options, **kw) if cfg.val else None
    except DataError as e:
        raise TrainError(str(e)) from None
    if val is not None and val.classes != train.classes:
        raise TrainError(f"--val {cfg.val}: its classes differ from --data's ({len(val.classes)} vs "
                         f"{len(train.classes)}, or another order); both must come from one ingest")
    return train, val


def build_classifier(cfg: FinetuneConfig, num_classes: int) -> tuple[torch.nn.Module, dict]:
    """The recipe's classifier with the encoder of --checkpoint (strictly: every encoder tensor, q and v
    biases included, or an error naming the keys), or fresh weights for `none`; and what was loaded."""
    r = cfg.recipe
    if cfg.checkpoint == NO_CHECKPOINT:
        model = r.build(model_config(cfg.model), num_classes)
        return model, {"checkpoint": None, "model": cfg.model}
    try:
        weights = read_weights(cfg.checkpoint)
        pretrained = infer_model_config(weights)
        model = r.build(pretrained, num_classes)
        loaded = load_pretrained(model, weights)
    except CheckpointError as e:
        raise TrainError(str(e)) from None
    # The sinusoid table follows the recipe's input; a checkpoint pretrained at another size is recorded.
    return model, {"checkpoint": cfg.checkpoint, "layout": loaded.layout, "tensors_loaded": len(loaded.loaded),
                   "dropped_by_design": sorted({k.split(".")[0] for k in loaded.dropped}),
                   "pretrained_input": {"num_frames": pretrained.num_frames, "img_size": pretrained.img_size}}


def training_state(cfg: FinetuneConfig, model, plan: Plan, device, precision: str) -> checkpoint.TrainState:
    """AdamW over layer-decay groups exactly as the recipe says, the warmup + cosine schedule (lr and min_lr
    x batch / 256, per step, each group's lr_scale applied), and for fp16 a grad scaler."""
    r = cfg.recipe
    model.grad_checkpointing = cfg.grad_checkpointing
    model.to(device)
    try:
        optimizer = make_optimizer(model, lr=r.lr(), weight_decay=r.weight_decay, layer_decay=r.layer_decay,
                                   betas=tuple(r.betas), fused=device.type == "cuda")
    except ValueError as e:
        raise TrainError(str(e)) from None
    scale = r.batch_size / 256
    schedule = WarmupCosine(optimizer, r.lr(), r.min_lr * scale, round(r.warmup_epochs * plan.steps),
                            plan.steps * r.epochs)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    return checkpoint.TrainState(model, optimizer, schedule, scaler, plan)


def optimizer_summary(state: checkpoint.TrainState) -> dict:
    """What the optimiser really is, for config.json: type, settings and every group's scale."""
    opt = state.optimizer
    d = opt.defaults
    return {"type": type(opt).__name__, "betas": list(d["betas"]), "eps": d["eps"],
            "lr": state.schedule.lr, "min_lr": state.schedule.min_lr, "warmup_steps": state.schedule.warmup,
            "groups": [{"layer_id": g.get("layer_id"), "lr_scale": g.get("lr_scale", 1.0),
                        "weight_decay": g["weight_decay"], "tensors": len(g["params"])} for g in opt.param_groups]}


def resolved_config(run: FinetuneRun, loaded: dict, facts: dict) -> dict:
    cfg, src, state = run.cfg, run.source, run.state
    sets = {"train": src, "val": run.val}
    return {"config": cfg.to_dict(), "model_config": state.model.cfg.to_dict(), "classes": list(src.classes),
            "head": state.model.head_cfg.kind, "encoder": state.model.head_cfg.encoder, "weights": loaded,
            "sets": {k: {"data": safe_url(s.name), "videos": s.num_samples, "split": vars(s.split)}
                     for k, s in sets.items() if s is not None},
            "optimizer": optimizer_summary(state), "steps_per_epoch": run.plan.steps,
            "total_steps": state.schedule.total, "micro_batch_per_rank": run.plan.micro,
            "clips_per_step": run.clips_per_step, "paper": PAPER.get(cfg.recipe.name), **facts,
            "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}}


def prepare_finetune(cfg: FinetuneConfig) -> FinetuneRun:
    cfg.check()
    device, ctx = runtime.start(cfg.device, cfg.seed, cfg.threads)
    precision, autocast = runtime.autocast_for(device, cfg.precision)
    train, val = open_sets(cfg)
    r = cfg.recipe
    plan = Plan(epoch_size=train.num_samples, global_batch=r.batch_size, world=ctx.world, accum=cfg.accum_steps,
                workers=cfg.workers)
    try:
        plan.check()
    except ValueError as e:
        raise TrainError(f"{e} (the training set has {train.num_samples} videos)") from None
    model, loaded = build_classifier(cfg, len(train.classes))
    state = training_state(cfg, model, plan, device, precision)
    os.makedirs(cfg.out, exist_ok=True)
    resumed = resume(cfg, state)
    forward, ddp = wrap(state.model, cfg, ctx, device)
    spec = TrainClips(r.num_frames, r.sampling_rate, r.num_sample, r.augment_options(), cfg.augment_on_device(device))
    dataset = LabelledClips(train, plan, spec, cfg.seed, ctx.rank)
    stepper = ClassifierStepper(forward, state.optimizer, state.schedule, len(train.classes), r.mixup, cfg.seed,
                                spec, dist=ctx, ddp=ddp, scaler=state.scaler, autocast=autocast, device=device,
                                accum=plan.accum, record_indices=cfg.record_indices)
    views = ViewPlan(r.num_frames, r.sampling_rate, cfg.val_clips, cfg.val_crops, r.img_size)
    run = FinetuneRun(cfg, ctx, device, autocast, plan, dataset, state, stepper, resumed, train, val,
                      read_plan(val, views) if val else None)
    state.resolved = resolved_config(run, loaded, {"world_size": ctx.world, "precision": precision,
                                                   "device": str(device), "augment_on_device": spec.on_device})
    if ctx.main:
        runlog.write_config(cfg.out, state.resolved)
    return run


def _validate(run: FinetuneRun, report) -> None:
    cfg, pos = run.cfg, run.state.position
    if run.val is None or (pos.epoch % cfg.val_every and pos.epoch != cfg.epochs):
        return
    sync_buffers(run.state.model, run.dist)
    options = ScoreOptions(cfg.eval_batch, cfg.workers, run.device, run.autocast)
    acc = score(run.state.model, run.val, run.val_plan, run.dist, options).accuracy(run.val.classes)
    report.evaluation(pos.step, pos.epoch, val_top1=acc.top1, val_top5=acc.top5, val_videos=acc.videos)
    best = run.state.extra.get("best")
    if best is None or acc.top1 > best["top1"]:
        best = run.state.extra["best"] = {"top1": acc.top1, "top5": acc.top5, "epoch": pos.epoch, "step": pos.step}
        if run.dist.main:
            checkpoint.save(os.path.join(cfg.out, BEST), run.state, with_optimizer=False)
    if run.dist.main:
        print(f"synthvid-train: epoch {pos.epoch}: val top-1 {acc.top1:.4f}, top-5 {acc.top5:.4f} on {acc.videos} "
              f"videos (best {best['top1']:.4f} at epoch {best['epoch']})", flush=True)


def finetune(cfg: FinetuneConfig) -> dict:
    """Run (or resume) fine-tuning or probing; returns the training summary plus the best validation."""
    run = prepare_finetune(cfg)
    summary = run_epochs(run, after_epoch=_validate, eval_fields=VAL_FIELDS).as_dict(run)
    summary["best"] = run.state.extra.get("best")
    return summary
