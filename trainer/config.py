"""What a pretraining run is asked to do (`TrainConfig`), and the user-facing error of a bad request."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


RESUME_AUTO = "auto"   # --resume auto: continue the run in --out if it holds a checkpoint, else start it


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
    resume: str | None = None            # a run folder, a checkpoint file, or RESUME_AUTO
    skip_bad_shards: bool = False
    storage_options: dict | None = None
    procedural_params: dict | None = None   # factory parameters for procedural:<variant> (e.g. size)
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

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d.get("storage_options"):
            d["storage_options"] = {k: "***" for k in d["storage_options"]}   # never write credentials
        return d
