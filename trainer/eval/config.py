"""What a fine-tuning or linear-probing run is asked to do: `FinetuneConfig`, written to config.json and
compared on --resume (as TrainConfig is for pretraining)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import RESUME_MAY_CHANGE, ResumableConfig, TrainError
from .recipes import FINETUNE_UCF101, Recipe

NO_CHECKPOINT = "none"      # --checkpoint none: from scratch (the paper's "random init" row)
AUGMENT_ON = ("auto", "worker", "device")


@dataclass
class FinetuneConfig(ResumableConfig):
    checkpoint: str                     # a synthvid or official VideoMAE pretraining checkpoint, or "none"
    data: str                           # labelled training set (folder or fsspec URL)
    out: str
    recipe: Recipe = field(default=FINETUNE_UCF101)   # every hyper-parameter, after the command's overrides
    val: str | None = None              # labelled set scored at epoch ends (best.pt follows its top-1)
    model: str = "vit_base"             # the encoder of --checkpoint none
    accum_steps: int = 1
    val_every: int = 5                  # epochs; the last epoch is always validated
    val_clips: int = 1                  # views per video in validation (a cheap, deterministic estimate)
    val_crops: int = 1
    eval_batch: int = 16                # views per forward pass when scoring
    augment_on: str = "auto"            # "worker", "device", or auto: on the device when it is a GPU
    seed: int = 0
    workers: int = 4
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    compile_backend: str = "inductor"
    grad_checkpointing: bool = False
    save_every: int = 0
    log_every: int = 1
    max_steps: int | None = None
    resume: str | None = None
    resume_anyway: bool = False
    skip_bad_shards: bool = False
    verify_shards: bool = False
    storage_options: dict | None = None
    progress: bool | None = None
    threads: int | None = None
    record_indices: bool = False

    # What to score and how often, and where clips are augmented, may change on --resume, besides what
    # pretraining allows.
    may_change = RESUME_MAY_CHANGE | {"val", "val_every", "val_clips", "val_crops", "eval_batch", "augment_on"}

    @property
    def epochs(self) -> int:
        return self.recipe.epochs

    @property
    def batch_size(self) -> int:
        """Videos per optimiser step over all ranks (each gives recipe.num_sample clips)."""
        return self.recipe.batch_size

    def check(self) -> None:
        r = self.recipe
        if r.num_sample < 1 or r.epochs < 1 or r.batch_size < 1:
            raise TrainError(f"epochs {r.epochs}, batch size {r.batch_size} and repeated augmentation "
                             f"{r.num_sample} must be at least 1")
        if self.seed < 0:
            raise TrainError(f"--seed {self.seed}: seeds are non-negative integers")
        if r.mixup.enabled and r.batch_size * r.num_sample < 2:
            raise TrainError("mixup pairs clips within a micro-batch: use at least 2 clips per step")
        if self.val_every < 1 or self.val_clips < 1 or self.val_crops < 1:
            raise TrainError("--val-every and --val-views need positive numbers")
        if self.augment_on not in AUGMENT_ON:
            raise TrainError(f"--augment-on {self.augment_on}: choose from {', '.join(AUGMENT_ON)}")

    def augment_on_device(self, device) -> bool:
        return self.augment_on == "device" or (self.augment_on == "auto" and device.type == "cuda")
