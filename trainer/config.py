"""What a pretraining run is asked to do (`TrainConfig`), and the user-facing error of a bad request."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass


RESUME_AUTO = "auto"   # --resume auto: continue the run in --out if it holds a checkpoint, else start it


# What a resumed run may change, in one place: where and how fast it runs (workers, threads, device, compile,
# gradient checkpointing, precision: the usual way out of a NaN), how it reaches and vets the data (storage
# options, bad-shard policy, read mode, where JPEG frames are decoded), how often it reports or saves, what it watches (held-out data), when it stops
# (max_steps) and where it writes. Any other difference (epochs, learning rates, warmup, mask ratio, seeds,
# data, weights, model, batch...) changes the run, so --resume refuses it, naming the keys, unless
# --resume-anyway.
RESUME_MAY_CHANGE = frozenset({
    "workers", "threads", "device", "compile", "compile_backend", "grad_checkpointing", "precision",
    "read_mode", "decode_device",
    "storage_options", "skip_bad_shards", "verify_shards", "progress", "log_every", "save_every", "recon_every",
    "eval_data", "eval_clips", "max_steps", "out", "resume", "resume_anyway", "record_indices"})


# The recipe's global batch: 192 as the authors' scripts (6 per GPU x 32 GPUs), halved for ViT-L as the paper
# says of its ViT-L runs (spec/paper.md C.1: "same, batch size halved").
RECIPE_BATCH = 192
RECIPE_BATCH_BY_MODEL = {"vit_large": 96}


def recipe_batch(model: str) -> int:
    return RECIPE_BATCH_BY_MODEL.get(model, RECIPE_BATCH)


class TrainError(RuntimeError):
    """A user-facing problem with the run's inputs; the CLI prints it as one line."""


class ResumableConfig:
    """What every run configuration (pretraining, fine-tuning) offers its checkpoints: a dict for
    config.json with credentials masked, and the differences from a saved run that a resume must refuse
    (every key but those in `may_change`)."""

    may_change: frozenset = RESUME_MAY_CHANGE

    def changes_from(self, saved: dict) -> dict:
        """{key: (saved value, this value)} for the keys of a saved `to_dict()` that a resume may not change.
        A key the saved run did not have yet (an option added since) counts as its default."""
        mine = json.loads(json.dumps(self.to_dict(), default=str))
        defaults = json.loads(json.dumps({f.name: f.default for f in dataclasses.fields(self)
                                          if f.default is not dataclasses.MISSING}, default=str))
        was = {k: saved.get(k, defaults.get(k)) for k in mine}
        return {k: (was[k], v) for k, v in mine.items() if k not in self.may_change and was[k] != v}

    def to_dict(self) -> dict:
        """What config.json and checkpoints record: never a credential (storage option values, or the user
        info and query of any URL; see manifests.storage.redaction)."""
        from synthvid.manifests.storage import safe_url

        def clean(value):
            if isinstance(value, str):
                return safe_url(value)
            if isinstance(value, (list, tuple)):
                return [clean(v) for v in value]
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            return value

        d = dataclasses.asdict(self)
        if d.get("storage_options"):
            d["storage_options"] = {k: "***" for k in d["storage_options"]}
        return {k: clean(v) for k, v in d.items()}


@dataclass
class TrainConfig(ResumableConfig):
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
    epoch_size: int | None = None        # samples per epoch; default data.default_epoch_size
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
    resume: str | None = None            # a run folder, a checkpoint file, or RESUME_AUTO
    resume_anyway: bool = False          # resume although the configuration differs from the checkpoint's
    skip_bad_shards: bool = False
    verify_shards: bool = False          # sha256 of every shard before it is first read (sizes always)
    read_mode: str = "range"             # shard sets: "range" (only the bytes a clip needs) or "stream"
    clips_per_video: int = 1             # repeated sampling: clips drawn from one read of a video
    decode_device: str = "cpu"           # "cuda": JPEG payloads are decoded on the GPU (nvJPEG)
    storage_options: dict | None = None
    procedural_params: dict | None = None   # factory parameters for procedural:<variant> (e.g. size)
    procedural_pools: dict | None = None    # {kind: URL} of built pools for procedural:<variant>
    eval_data: str | None = None
    eval_clips: int = 0
    progress: bool | None = None         # None: when stderr is a terminal
    record_indices: bool = False         # keep every (source, index) seen in the summary (tests)
    threads: int | None = None

    @property
    def data_seed_or_seed(self) -> int:
        return self.seed if self.data_seed is None else self.data_seed

    def check(self) -> None:
        if not self.data:
            raise TrainError("no --data given")
        for name in ("seed", "data_seed"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise TrainError(f"--{name.replace('_', '-')} {value}: seeds are non-negative integers")
        if self.clips_per_video < 1:
            raise TrainError(f"--clips-per-video {self.clips_per_video}: at least 1")
        if self.decode_device == "cuda" and not str(self.device).startswith(("cuda", "auto")):
            raise TrainError(f"--decode-device cuda needs a CUDA --device (got {self.device})")
