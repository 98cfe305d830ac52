"""One optimiser step: `accum` micro-batches through the model (gradients synchronised by DDP on the last
one only), the scaled or plain optimiser step, the schedule, and the loss averaged over ranks.

`StepRunner` is that mechanism for any objective; a subclass says what one micro-batch's loss is:
`Stepper` the masked reconstruction of pretraining, eval.objective.ClassifierStepper fine-tuning's
mixed-label cross-entropy.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import KW_ONLY, dataclass, field

import torch

from . import draws, masking
from .data import DataError, augment, device_frames
from .model import ModelConfig, masked_mse
from .runtime import Dist, all_reduce_mean


@dataclass
class StepResult:
    loss: float                  # mean over micro-batches and ranks
    lr: float
    seconds: float               # wall time of the step, up to the loss's device sync
    wait: float                  # of which waiting for the loader
    counts: torch.Tensor         # (short clips, skipped samples, skipped shards) met in this step
    indices: list = field(default_factory=list)   # [(source, index)] per micro-batch, when recorded
    last: tuple | None = None    # (x, pred, ids_mask) of the last micro-batch, for pictures


@dataclass
class StepRunner:
    model: torch.nn.Module          # what runs forward: the model, possibly DDP-wrapped and compiled
    optimizer: torch.optim.Optimizer
    schedule: object                # optim.WarmupCosine
    _: KW_ONLY
    dist: Dist = field(default_factory=Dist)
    ddp: torch.nn.Module | None = None   # the DDP wrapper (for no_sync) when there is one
    scaler: object | None = None
    autocast: object = contextlib.nullcontext
    device: torch.device = torch.device("cpu")
    accum: int = 1
    record_indices: bool = False

    def step(self, batches, micro_offset: int) -> StepResult:
        """Run one optimiser step on the next `accum` micro-batches of `batches`. `micro_offset` (epoch x
        micro-batches per epoch) makes each micro-batch's draws (masks, mixup) unique over the run."""
        t0 = time.perf_counter()
        wait = 0.0
        lr = self.schedule.apply()
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=self.device)
        counts = torch.zeros(3, dtype=torch.long)
        indices, last = [], None
        for a in range(self.accum):
            tw = time.perf_counter()
            batch = next_batch(batches)
            wait += time.perf_counter() - tw
            loss, last = self._micro_batch(batch, micro_offset + batch["micro"], a == self.accum - 1)
            loss_sum += loss
            counts += batch["stats"]
            if self.record_indices:
                indices.append(list(zip(batch["source"].tolist(), batch["index"].tolist())))
        self._optimizer_step()
        loss_value = all_reduce_mean(loss_sum / self.accum, self.dist).item()   # also the step's sync point
        return StepResult(loss_value, lr, time.perf_counter() - t0, wait, counts, indices, last)

    def loss(self, batch: dict, micro_index: int) -> tuple[torch.Tensor, tuple | None]:
        """(loss of one micro-batch, what a picture of it needs or None). The objective of a subclass."""
        raise NotImplementedError

    def _micro_batch(self, batch: dict, micro_index: int, sync: bool):
        """Forward and backward of one micro-batch; DDP all-reduces gradients only when `sync`."""
        no_sync = self.ddp.no_sync() if (self.ddp is not None and not sync) else contextlib.nullcontext()
        with no_sync:
            loss, last = self.loss(batch, micro_index)
            scaled = loss / self.accum
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
        return loss.detach(), last

    def _optimizer_step(self) -> None:
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.schedule.step()


@dataclass
class Stepper(StepRunner):
    """Pretraining: crop + resize + normalise on the device, tube masks, masked MSE on normalised patches."""
    mcfg: ModelConfig
    mask_ratio: float
    seed: int

    def loss(self, batch: dict, micro_index: int):
        x = augment(device_frames(batch, self.device), batch["box"], self.mcfg.img_size)
        gen = draws.mask_generator(self.seed, self.dist.rank, micro_index)
        ids_keep, ids_mask = masking.masks_for(self.mcfg, self.mask_ratio, x.shape[0], gen, self.device)
        with self.autocast():
            pred = self.model(x, ids_keep, ids_mask)
        loss = masked_mse(pred, x, ids_mask, self.mcfg)   # fp32 target and MSE, outside autocast
        return loss, (x, pred, ids_mask)


def next_batch(batches, *default):
    """next() (with an optional default at the end) that turns a DataError raised in a loader worker back
    into its one-line message (PyTorch re-raises it with the worker's whole traceback folded into the text)."""
    try:
        return next(batches, *default)
    except DataError as e:
        text = str(e)
        if "Original Traceback" in text:
            text = text.strip().splitlines()[-1].split("DataError: ", 1)[-1]
        raise DataError(text) from None
