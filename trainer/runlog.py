"""What a run writes for people beside its checkpoints: config.json, log.csv, the progress bar and the
reconstruction pictures. Only rank 0 writes; other ranks get a reporter that does nothing."""

from __future__ import annotations

import csv
import json
import os
import time

from synthvid.manifests.storage import open_atomic

CONFIG = "config.json"
LOG = "log.csv"


def write_config(out: str, resolved: dict) -> None:
    with open_atomic(os.path.join(out, CONFIG), "w") as f:
        json.dump(resolved, f, indent=1, sort_keys=True, default=str)


STEP_FIELDS = ("step", "epoch", "loss", "lr", "clips_per_s", "data_wait_share", "step_time_s")
PRETRAIN_EVAL_FIELDS = ("eval_loss", "eval_baseline")


class CsvLog:
    """One row per logged step or evaluation; `eval_fields` name the evaluation columns after the step ones."""

    def __init__(self, path: str, append: bool, eval_fields: tuple = PRETRAIN_EVAL_FIELDS):
        new = not (append and os.path.exists(path))
        self.f = open(path, "w" if new else "a", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=[*STEP_FIELDS, *eval_fields, "time"])
        if new:
            self.w.writeheader()

    def write(self, **row) -> None:
        row["time"] = f"{time.time():.3f}"
        self.w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        self.f.flush()

    def close(self) -> None:
        self.f.close()


class Reporter:
    """Rank 0's per-step and per-epoch output."""

    def __init__(self, out: str, *, append: bool, progress: bool, total: int, initial: int, cadence: dict,
                 eval_fields: tuple = PRETRAIN_EVAL_FIELDS):
        self.out = out
        self.log = CsvLog(os.path.join(out, LOG), append=append, eval_fields=eval_fields)
        self.log_every = cadence.get("log_every", 1)
        self.recon_every = cadence.get("recon_every", 0)
        self.bar = None
        if progress:
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)

    def step(self, step: int, epoch: int, result, clips_per_s: float, mcfg) -> None:
        wait_share = result.wait / result.seconds
        if step % self.log_every == 0:
            self.log.write(step=step, epoch=epoch, loss=result.loss, lr=result.lr, clips_per_s=clips_per_s,
                           data_wait_share=wait_share, step_time_s=result.seconds)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{result.loss:.4f}", lr=f"{result.lr:.2e}", clips_s=f"{clips_per_s:.1f}",
                                 wait=f"{wait_share:.0%}")
        if self.recon_every and step % self.recon_every == 0:
            from .recon import save_reconstruction

            x, pred, ids_mask = result.last
            save_reconstruction(os.path.join(self.out, "recon", f"step-{step:07d}.png"), x[:1].float(),
                                pred[:1].detach().float(), ids_mask[:1], mcfg)

    def evaluation(self, step: int, epoch: int, **values) -> None:
        """A row of evaluation columns (this reporter's eval_fields)."""
        self.log.write(step=step, epoch=epoch, **values)

    def close(self) -> None:
        self.log.close()
        if self.bar is not None:
            self.bar.close()


class Silent:
    """The reporter of ranks other than 0."""

    def step(self, *args) -> None:
        pass

    def evaluation(self, *args, **values) -> None:
        pass

    def close(self) -> None:
        pass
