"""Resuming: `--resume auto` for launchers that restart workers, and the check that a resumed run is the run
that was saved."""

from __future__ import annotations

import os
import shlex
import subprocess

import pytest

from synthvid.trainer.engine import TrainError, train
from tests.test_trainer_fixtures import build, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_resume_auto_starts_fresh_then_continues(tmp_path):
    url = build()
    full = train(tiny_config(tmp_path / "full", url, max_steps=5))
    out = tmp_path / "auto"
    first = train(tiny_config(out, url, max_steps=2, resume="auto"))             # nothing there: a fresh start
    assert first["step"] == 2
    # a restarted worker runs the same command again: it continues instead of failing with "already holds"
    rest = train(tiny_config(out, url, max_steps=5, resume="auto"))
    assert first["losses"] + rest["losses"] == pytest.approx(full["losses"], rel=1e-5, abs=1e-6)
    assert (out / "log.csv").read_text().count("\n") == 1 + 5                  # appended, one header
    with pytest.raises(TrainError, match="already holds a checkpoint.*--resume auto"):
        train(tiny_config(out, url, max_steps=6))


def test_torchrun_script_resumes_on_every_start():
    script = os.path.join(ROOT, "docker", "torchrun_multinode.sh")
    env = {**os.environ, "DRY_RUN": "1", "NODE_RANK": "0", "NNODES": "2", "MASTER_ADDR": "10.0.0.1",
           "DATA": "s3://bucket/v1/accelerating-shapes", "OUT": "/nonexistent/run"}
    argv = shlex.split(subprocess.run([script], env=env, capture_output=True, text=True, timeout=30,
                                      check=True).stdout)
    assert "--max-restarts" in argv                                 # torchrun restarts workers with this argv
    trainer = argv[argv.index("pretrain"):]
    assert trainer[trainer.index("--resume") + 1] == "auto"         # even though OUT does not exist at launch
