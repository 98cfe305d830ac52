"""Fine-tuning's and probing's step: the trainer's StepRunner with a classification objective.

Per micro-batch: the clips to the device (or the uint8 windows, augmented there), Mixup / CutMix over height
and width with label smoothing folded into soft targets (probing: smoothing only), forward under autocast,
soft-target cross-entropy in fp32.
Every draw is keyed by (seed, rank, micro-batch number): the mixup draw (draws.mixup), and torch's generator
is re-seeded before each forward (draws.dropout_seed) so drop path and head dropout repeat exactly after a
resume.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import draws
from ..step import StepRunner
from .mixup import MixupOptions, mix_batch, soft_target_cross_entropy
from .train_data import TrainClips, device_clips


@dataclass
class ClassifierStepper(StepRunner):
    num_classes: int
    mixup: MixupOptions
    seed: int
    clips: TrainClips | None = None     # how to augment a batch of uint8 windows (train_data.device_clips)

    def loss(self, batch: dict, micro_index: int):
        if "frames" in batch:
            x, labels = device_clips(batch, self.clips, self.seed, self.device)
        else:
            x = batch["clips"].to(self.device, non_blocking=True)
            labels = batch["label"].to(self.device, non_blocking=True)
        x, targets, _ = mix_batch(x, labels, self.num_classes, self.mixup,
                                  draws.mixup(self.seed, self.dist.rank, micro_index))
        torch.manual_seed(draws.dropout_seed(self.seed, self.dist.rank, micro_index))
        with self.autocast():
            logits = self.model(x)
        return soft_target_cross_entropy(logits, targets), None
