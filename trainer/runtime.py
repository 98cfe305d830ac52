"""Where a run executes: the device, the process group (torchrun sets RANK / WORLD_SIZE), the precision, the
CPU threads and the process-wide seeds."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from .config import TrainError


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
    """(precision, context factory): bf16 on a GPU and fp32 on a CPU unless asked otherwise."""
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return precision, contextlib.nullcontext
    if precision == "fp16" and device.type != "cuda":
        raise TrainError("--precision fp16 needs a GPU; use bf16 or fp32 on the CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return precision, lambda: torch.autocast(device.type, dtype=dtype)


def start(device_name: str, seed: int, threads: int | None) -> tuple[torch.device, Dist]:
    """Pick the device, join the process group, set threads and seeds. The seeds only cover weight
    initialisation; every data and mask draw has its own named stream (draws.py)."""
    device = resolve_device(device_name)
    ctx = setup_distributed(device)
    if device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed + ctx.rank)
    np.random.seed((seed + ctx.rank) % 2**32)
    return device, ctx


def all_reduce_mean(value: torch.Tensor, ctx: Dist) -> torch.Tensor:
    if ctx.world > 1:
        dist.all_reduce(value)
        value /= ctx.world
    return value


def barrier(ctx: Dist) -> None:
    if ctx.world > 1:
        dist.barrier()
