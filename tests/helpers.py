"""Small helpers shared by the tests."""

from __future__ import annotations

import hashlib
import os
import socket

TINY = {"size": 64, "frames_min": 20, "frames_max": 30}
# Pool variants at tiny size: few, small pool items (StyleGAN costs seconds per 256 px image on a CPU).
TINY_POOLS = {**TINY, "item_px": 32, "pool_size": 6, "clip_frames": 30}


def tree_digest(root: str, skip=("build-log.jsonl",)) -> dict[str, str]:
    """sha256 of every file under root (relative path -> digest), minus logs that hold times and hosts."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".tmp"]
        for name in files:
            if name in skip or name.startswith(".build.lock"):
                continue
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def gloo_rank(rank: int, world: int, port: int) -> None:
    """The environment torchrun gives rank `rank` of a `world`-process job on this host (the trainer's
    runtime joins the gloo group from it on a CPU)."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def wait_for(condition, timeout: float = 120, what: str = "the condition", every: float = 0.05):
    """Poll `condition()` until it returns something true, and return that; fail naming `what` after a
    generous `timeout`. Tests wait on what they need, never for a fixed time."""
    import time

    import pytest

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def ray_tasks_running(ray_context, function: str) -> int:
    """How many workers of this test session's own Ray runtime are executing `function` now (a Ray worker's
    process title is `ray::<function>` while it runs a task, `ray::IDLE` between tasks)."""
    import psutil

    session = ray_context.address_info["session_dir"]
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "raylet" and any(session in arg for arg in proc.info["cmdline"] or []):
            try:
                return sum(child.name() == f"ray::{function}" for child in proc.children(recursive=True))
            except psutil.Error:
                return 0
    raise RuntimeError(f"no raylet of the Ray session {session}")
