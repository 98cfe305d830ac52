"""The pretraining loop: one function, `train(cfg)`, run once per rank (torchrun sets RANK/WORLD_SIZE).

Determinism is by construction rather than by saved RNG state: the data order is a function of
(seed, epoch, rank, worker), each clip's window and crop of its own key, and each micro-batch's tube mask of
(seed, rank, micro-step). A checkpoint therefore only needs the weights, the optimiser, the schedule and the
data position (epoch, micro-batch) for a resumed run to continue exactly where it stopped.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from . import masking
from .data import ClipSpec, ClipStream, DataError, Plan, augment, default_epoch_size, open_source, ordered
from .model import VideoMAE, masked_mse, model_config
from .optim import WarmupCosine, make_optimizer

log = logging.getLogger("synthvid.trainer")

CHECKPOINT = "checkpoint-last.pt"
CONFIG = "config.json"
LOG = "log.csv"
CHECKPOINT_FORMAT = 1


class TrainError(RuntimeError):
    """A user-facing problem with the run's inputs; the CLI prints it as one line."""


@dataclass
class TrainConfig:
    data: list[str]
    out: str
    weights: list[float] | None = None
    model: str = "vit_base"
    img_size: int = 224
    num_frames: int = 16
    sampling_rate: int = 4
    patch_size: int = 16
    tubelet: int = 2
    mask_ratio: float = 0.75
    epochs: int = 3200
    epoch_size: int | None = None        # samples per epoch; default: the sources' size (9537 procedural)
    batch_size: int = 192                # global, over all ranks and accumulation steps
    accum_steps: int = 1
    base_lr: float = 3e-4                # x global batch / 256
    min_lr: float = 1e-5                 # x global batch / 256
    warmup_epochs: float = 40
    weight_decay: float = 0.05
    betas: tuple = (0.9, 0.95)
    seed: int = 0
    data_seed: int | None = None         # procedural sources: epoch e renders with epoch_seed(data_seed, e)
    workers: int = 4                     # DataLoader workers per rank
    device: str = "auto"
    precision: str = "auto"              # auto: bf16 on GPU, fp32 on CPU
    compile: bool = False
    compile_backend: str = "inductor"
    grad_checkpointing: bool = False
    save_every: int = 0                  # steps; 0 = at epoch ends only
    recon_every: int = 0                 # steps; 0 = never
    log_every: int = 1
    max_steps: int | None = None         # stop after this many optimiser steps in total (smoke runs, tests)
    resume: str | None = None
    skip_bad_shards: bool = False
    storage_options: dict | None = None
    procedural_overrides: dict | None = None   # factory parameters for procedural:<variant> (e.g. size)
    eval_data: str | None = None
    eval_clips: int = 0
    progress: bool | None = None         # None: when stderr is a terminal
    record_indices: bool = False         # keep every (source, index) seen in the summary (tests)
    threads: int | None = None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d.get("storage_options"):
            d["storage_options"] = {k: "***" for k in d["storage_options"]}   # never write credentials
        return d


# ----------------------------------------------------------------------------------------------------------
# Distributed setup and devices.

@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: torch.device) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Dist(rank, world, local)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainError(f"--device {name}: no CUDA GPU is visible (torch.cuda.is_available() is False); "
                         "use --device cpu or run on a GPU machine")
    return torch.device(name)


def autocast_for(device: torch.device, precision: str):
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return precision, contextlib.nullcontext
    if precision == "fp16" and device.type != "cuda":
        raise TrainError("--precision fp16 needs a GPU; use bf16 or fp32 on the CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return precision, lambda: torch.autocast(device.type, dtype=dtype)


# ----------------------------------------------------------------------------------------------------------
# Checkpoints.

def save_checkpoint(path: str, state: dict) -> None:
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)   # a crash mid-save leaves the previous checkpoint intact


def load_checkpoint(path: str) -> dict:
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
        raise TrainError(f"--resume {path}: not a synthvid-train checkpoint (format {state.get('format') if isinstance(state, dict) else '?'})")
    return state


def check_compatible(state: dict, model_cfg: dict, plan: Plan, path: str) -> None:
    diff = {k: (state["model_config"].get(k), v) for k, v in model_cfg.items() if state["model_config"].get(k) != v}
    if diff:
        shown = ", ".join(f"{k} {a} (checkpoint) vs {b}" for k, (a, b) in diff.items())
        raise TrainError(f"--resume {path}: incompatible checkpoint: {shown}")
    saved = state["data"]["plan"]
    for k in ("global_batch", "epoch_size", "accum"):
        if saved[k] != getattr(plan, k):
            raise TrainError(f"--resume {path}: incompatible checkpoint: {k} {saved[k]} (checkpoint) vs {getattr(plan, k)}")
    if (saved["world"], saved["workers"]) != (plan.world, plan.workers):
        log.warning("resuming with %d ranks x %d workers where the checkpoint had %d x %d: the rest of this epoch "
                    "reads the same number of batches but a different sample order", plan.world, plan.workers,
                    saved["world"], saved["workers"])


# ----------------------------------------------------------------------------------------------------------
# Training.

def _unwrap(model):
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def build(cfg: TrainConfig):
    mcfg = model_config(cfg.model, img_size=cfg.img_size, num_frames=cfg.num_frames, patch_size=cfg.patch_size,
                        tubelet=cfg.tubelet)
    return mcfg, VideoMAE(mcfg)


def make_masks(mcfg, ratio: float, batch: int, seed: int, rank: int, micro_step: int, device):
    t, h, w = mcfg.grid
    gen = masking.step_generator(seed, rank, micro_step, device="cpu")
    ids_keep, ids_mask = masking.tube_mask(batch, t, h * w, ratio, generator=gen)
    return ids_keep.to(device, non_blocking=True), ids_mask.to(device, non_blocking=True)


def open_sources(cfg: TrainConfig):
    if not cfg.data:
        raise TrainError("no --data given")
    return [open_source(d, epoch_size=cfg.epoch_size, storage_options=cfg.storage_options,
                        skip_bad_shards=cfg.skip_bad_shards, overrides=cfg.procedural_overrides) for d in cfg.data]


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) pretraining; returns a summary (losses per step, counters) for tests and scripts."""
    device = resolve_device(cfg.device)
    dctx = setup_distributed(device)
    if device.type == "cuda":
        device = torch.device("cuda", dctx.local_rank)
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    precision, autocast = autocast_for(device, cfg.precision)
    torch.manual_seed(cfg.seed + dctx.rank)
    np.random.seed((cfg.seed + dctx.rank) % 2**32)

    try:
        sources = open_sources(cfg)
    except (DataError, ValueError) as e:
        raise TrainError(str(e)) from None
    epoch_size = cfg.epoch_size or default_epoch_size(sources)
    plan = Plan(epoch_size=epoch_size, global_batch=cfg.batch_size, world=dctx.world, accum=cfg.accum_steps,
                workers=cfg.workers)
    try:
        plan.check()
    except ValueError as e:
        raise TrainError(str(e)) from None
    spec = ClipSpec(num_frames=cfg.num_frames, sampling_rate=cfg.sampling_rate, input_size=cfg.img_size)
    data_seed = cfg.seed if cfg.data_seed is None else cfg.data_seed
    dataset = ClipStream(sources, cfg.weights, plan, spec, seed=data_seed, rank=dctx.rank)

    mcfg, model = build(cfg)
    model.grad_checkpointing = cfg.grad_checkpointing
    model.to(device)
    scale = cfg.batch_size / 256
    lr, min_lr = cfg.base_lr * scale, cfg.min_lr * scale
    total_steps = plan.steps * cfg.epochs
    optimizer = make_optimizer(model, lr, cfg.weight_decay, tuple(cfg.betas), fused=device.type == "cuda")
    schedule = WarmupCosine(optimizer, lr, min_lr, round(cfg.warmup_epochs * plan.steps), total_steps)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

    os.makedirs(cfg.out, exist_ok=True)
    ckpt_path = os.path.join(cfg.out, CHECKPOINT)
    epoch, micro0, step = 0, 0, 0
    if cfg.resume:
        state = load_checkpoint(cfg.resume)
        check_compatible(state, mcfg.to_dict(), plan, cfg.resume)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        epoch, micro0, step = state["data"]["epoch"], state["data"]["micro"], state["data"]["step"]
    elif os.path.exists(ckpt_path):
        raise TrainError(f"{cfg.out} already holds a checkpoint; pass --resume {cfg.out} to continue it or choose a new --out")

    train_model = ddp = model
    if dctx.world > 1:
        train_model = ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=False)
    if cfg.compile:
        # Compile outside DDP, so DDP's optimiser-aware graph splitting sees the bucket boundaries. The
        # model gathers fixed-size index tensors (no boolean masks), so shapes are static and it compiles once.
        train_model = torch.compile(train_model, backend=cfg.compile_backend)

    resolved = {"config": cfg.to_dict(), "model_config": mcfg.to_dict(), "world_size": dctx.world,
                "micro_batch_per_rank": plan.micro, "steps_per_epoch": plan.steps, "epoch_size": epoch_size,
                "total_steps": total_steps, "lr": lr, "min_lr": min_lr, "precision": precision,
                "device": str(device), "data_seed": data_seed,
                "sources": [{"data": s.name, "samples": s.num_samples} for s in sources],
                "versions": {"python": platform.python_version(), "torch": torch.__version__,
                             "numpy": np.__version__}}
    if dctx.main:
        with open(os.path.join(cfg.out, CONFIG), "w") as f:
            json.dump(resolved, f, indent=1, sort_keys=True, default=str)

    progress = cfg.progress if cfg.progress is not None else sys.stderr.isatty()
    logger = _CsvLog(os.path.join(cfg.out, LOG), append=bool(cfg.resume)) if dctx.main else None
    bar = None
    if dctx.main and progress:
        from tqdm import tqdm
        bar = tqdm(total=total_steps if cfg.max_steps is None else min(total_steps, cfg.max_steps), initial=step,
                   unit="step", dynamic_ncols=True)

    summary = {"losses": [], "steps": [], "indices": [], "short_clips": 0, "skipped_samples": 0, "skipped_shards": 0,
               "clips_per_s": [], "data_wait": []}
    stop = False
    # Persistent workers: forking W workers per epoch costs seconds, and a UCF-sized epoch is ~50 steps.
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, num_workers=cfg.workers, pin_memory=device.type == "cuda",
        prefetch_factor=4 if cfg.workers else None, persistent_workers=cfg.workers > 0)
    while epoch < cfg.epochs and not stop:
        dataset.set_position(epoch, micro0)
        batches = ordered(iter(loader), micro0)
        for s_in_epoch in range(micro0 // plan.accum, plan.steps):
            if cfg.max_steps is not None and step >= cfg.max_steps:
                stop = True
                break
            t0 = time.perf_counter()
            wait = 0.0
            cur_lr = schedule.apply()
            optimizer.zero_grad(set_to_none=True)
            loss_sum = torch.zeros((), device=device)
            for a in range(plan.accum):
                tw = time.perf_counter()
                batch = _next(batches)
                wait += time.perf_counter() - tw
                micro_index = epoch * plan.micro_batches + batch["micro"]
                x = augment(batch["frames"].to(device, non_blocking=True), batch["box"], cfg.img_size)
                ids_keep, ids_mask = make_masks(mcfg, cfg.mask_ratio, x.shape[0], cfg.seed, dctx.rank, micro_index, device)
                sync = contextlib.nullcontext() if (dctx.world == 1 or a == plan.accum - 1) else ddp.no_sync()
                with sync:
                    with autocast():
                        pred = train_model(x, ids_keep, ids_mask)
                    loss = masked_mse(pred, x, ids_mask, mcfg)   # fp32 target and MSE, outside autocast
                    (scaler.scale(loss / plan.accum) if scaler else loss / plan.accum).backward()
                loss_sum += loss.detach()
                if cfg.record_indices:
                    summary["indices"].append(list(zip(batch["source"].tolist(), batch["index"].tolist())))
                st = batch["stats"].tolist()
                summary["short_clips"] += st[0]
                summary["skipped_samples"] += st[1]
                summary["skipped_shards"] += st[2]
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            schedule.step()
            step += 1
            micro0 = (s_in_epoch + 1) * plan.accum
            loss_val = loss_sum / plan.accum
            if dctx.world > 1:
                dist.all_reduce(loss_val)
                loss_val /= dctx.world
            loss_f = loss_val.item()   # also the step's sync point, so the timing below is honest
            if not np.isfinite(loss_f) and scaler is None:   # (fp16's scaler skips such steps by itself)
                raise TrainError(f"loss is {loss_f} at step {step}; lower --base-lr or use --precision fp32 "
                                 f"(last checkpoint: {ckpt_path})")
            dt = time.perf_counter() - t0
            clips_s, wait_share = cfg.batch_size / dt, wait / dt
            summary["losses"].append(loss_f)
            summary["steps"].append(step)
            summary["clips_per_s"].append(clips_s)
            summary["data_wait"].append(wait_share)
            if dctx.main:
                if step % cfg.log_every == 0:
                    logger.write(step=step, epoch=epoch, loss=loss_f, lr=cur_lr, clips_per_s=clips_s,
                                 data_wait_share=wait_share, step_time_s=dt)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_f:.4f}", lr=f"{cur_lr:.2e}", clips_s=f"{clips_s:.1f}",
                                    wait=f"{wait_share:.0%}")
                if cfg.recon_every and step % cfg.recon_every == 0:
                    from .recon import save_reconstruction
                    save_reconstruction(os.path.join(cfg.out, "recon", f"step-{step:07d}.png"), x[:1].float(),
                                        pred[:1].detach().float(), ids_mask[:1], mcfg)
            end_of_epoch = s_in_epoch == plan.steps - 1
            if end_of_epoch:
                epoch, micro0 = epoch + 1, 0
            if dctx.main and ((cfg.save_every and step % cfg.save_every == 0) or end_of_epoch):
                save_checkpoint(ckpt_path, _state(model, optimizer, schedule, scaler, epoch, micro0, step, plan,
                                                  mcfg, resolved))
        del batches
        if not stop and cfg.eval_data and cfg.eval_clips and dctx.main:
            ev = heldout_loss(model, cfg.eval_data, mcfg, spec, cfg.mask_ratio, cfg.eval_clips, device, autocast)
            logger.write(step=step, epoch=epoch, eval_loss=ev["loss"], eval_baseline=ev["baseline"])
    if dctx.main:
        save_checkpoint(ckpt_path, _state(model, optimizer, schedule, scaler, epoch, micro0, step, plan, mcfg, resolved))
        logger.close()
        if bar is not None:
            bar.close()
    if dctx.world > 1:
        dist.barrier()
    summary.update(step=step, epoch=epoch, micro=micro0, model=model, plan=plan, config=resolved)
    return summary


def _next(batches):
    """next() that turns a DataError raised in a loader worker back into its one-line message (PyTorch
    re-raises it with the worker's whole traceback folded into the text)."""
    try:
        return next(batches)
    except DataError as e:
        text = str(e)
        if "Original Traceback" in text:
            text = text.strip().splitlines()[-1].split("DataError: ", 1)[-1]
        raise DataError(text) from None


def _state(model, optimizer, schedule, scaler, epoch, micro, step, plan, mcfg, resolved) -> dict:
    return {"format": CHECKPOINT_FORMAT, "model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(), "scaler": scaler.state_dict() if scaler else {},
            "data": {"epoch": epoch, "micro": micro, "step": step, "plan": dataclasses.asdict(plan)},
            "model_config": mcfg.to_dict(), "config": json.loads(json.dumps(resolved, default=str))}


class _CsvLog:
    FIELDS = ["step", "epoch", "loss", "lr", "clips_per_s", "data_wait_share", "step_time_s", "eval_loss",
              "eval_baseline", "time"]

    def __init__(self, path: str, append: bool):
        new = not (append and os.path.exists(path))
        self.f = open(path, "w" if new else "a", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=self.FIELDS)
        if new:
            self.w.writeheader()

    def write(self, **row) -> None:
        row["time"] = f"{time.time():.3f}"
        self.w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        self.f.flush()

    def close(self) -> None:
        self.f.close()


# ----------------------------------------------------------------------------------------------------------
# Held-out loss, and its baseline.

@torch.no_grad()
def heldout_loss(model, data: str, mcfg, spec: ClipSpec, mask_ratio: float, clips: int, device,
                 autocast=contextlib.nullcontext, seed: int = 12345) -> dict:
    """Masked-patch MSE on `clips` clips of another variant build, with fixed masks and crops, next to the
    baseline of predicting each patch's mean (target 0): the mean squared normalised target, ~1.0 for
    textured patches and 0 for flat ones."""
    src = open_source(data, epoch_size=None, storage_options=None, skip_bad_shards=False)
    batch = min(clips, 8)
    plan = Plan(epoch_size=(clips // batch) * batch, global_batch=batch, world=1, accum=1, workers=0)
    ds = ClipStream([src], None, plan, spec, seed=seed, rank=0)
    was_training = model.training
    model.eval()
    tot = base = n = 0.0
    for i, b in enumerate(ds.iter_worker(0)):
        x = augment(b["frames"].to(device), b["box"], mcfg.img_size)
        ids_keep, ids_mask = make_masks(mcfg, mask_ratio, x.shape[0], seed, 0, i, device)
        with autocast():
            pred = model(x, ids_keep, ids_mask)
        tot += masked_mse(pred, x, ids_mask, mcfg).item() * x.shape[0]
        base += masked_mse(torch.zeros_like(pred, dtype=torch.float32), x, ids_mask, mcfg).item() * x.shape[0]
        n += x.shape[0]
    model.train(was_training)
    return {"loss": tot / n, "baseline": base / n, "clips": int(n)}
