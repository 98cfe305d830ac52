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


def test_resume_refuses_a_changed_run_naming_the_keys(tmp_path):
    url = build()
    out = tmp_path / "r"
    train(tiny_config(out, url, max_steps=2))
    changed = dict(epochs=3, base_lr=0.01, warmup_epochs=1, mask_ratio=0.5, seed=1, weights=[1.0])
    with pytest.raises(TrainError) as e:
        train(tiny_config(out, url, max_steps=3, resume=str(out), **changed))
    text = str(e.value)
    for key in changed:
        assert f"{key} " in text, (key, text)
    assert "epochs 2 (checkpoint) vs 3" in text and "--resume-anyway" in text and len(text.splitlines()) == 1
    other = build(seed=4)
    with pytest.raises(TrainError, match=r"data \[.*\] \(checkpoint\) vs \["):
        train(tiny_config(out, other, max_steps=3, resume=str(out)))
    s = train(tiny_config(out, url, max_steps=3, resume=str(out), resume_anyway=True, **changed))
    assert s["step"] == 3 and s["config"]["config"]["epochs"] == 3


def test_resume_allows_runtime_settings_to_change(tmp_path):
    from synthvid.trainer.config import RESUME_MAY_CHANGE

    assert {"workers", "progress", "log_every", "save_every", "max_steps", "threads", "device"} <= RESUME_MAY_CHANGE
    url = build()
    out = tmp_path / "r"
    train(tiny_config(out, url, max_steps=2, workers=0))
    s = train(tiny_config(out, url, max_steps=4, resume=str(out), workers=1, log_every=2, save_every=1,
                          recon_every=2, eval_data=url, eval_clips=4, device="cpu"))
    assert s["step"] == 4
