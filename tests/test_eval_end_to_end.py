"""Issue 13 end to end, through the commands a user runs: tiny datasets in the exact UCF101 and HMDB51 layouts
(real XviD .avi files of natural footage) -> `synthvid-factory ingest` -> `synthvid-train finetune` ->
`synthvid-train test`, and the ingested test set -> `synthvid-factory corrupt` -> `synthvid-train test`."""

from __future__ import annotations

import csv
import json
import os

import pytest

from synthvid.factory.cli import main as factory
from synthvid.manifests.reader import open_dataset
from synthvid.trainer.cli import main as train
from tests.videodata import TinySpec, make_hmdb51, make_ucf101

TINY = ["--model", "vit_tiny_test", "--img-size", "32", "--num-frames", "4", "--workers", "0", "--threads", "1",
        "--no-progress"]


def _rows(path: str) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def ucf101(tmp_path_factory):
    """A 3-class UCF101 layout with 12 videos a class (split 1 tests 3 of them), ingested by the CLI."""
    base = str(tmp_path_factory.mktemp("ucf"))
    data = make_ucf101(base, TinySpec(videos_per_class=12, test_per_class=3))
    out = os.path.join(base, "ingested")
    assert factory(["ingest", "ucf101", data.root, "--splits", data.lists, "--split", "1", "--out", out,
                    "--videos-per-shard", "8", "--workers", "1", "--no-progress"]) == 0
    return out


def test_ucf101_ingest_finetune_test_learns_above_chance(ucf101, tmp_path, one_thread, capsys):
    train_set, test_set = os.path.join(ucf101, "ucf101-s1-train"), os.path.join(ucf101, "ucf101-s1-test")
    card = open_dataset(test_set).card
    assert card["split"] == {"dataset": "ucf101", "split": 1, "part": "test"} and len(card["classes"]) == 3
    run = str(tmp_path / "run")
    assert train(["finetune", "--checkpoint", "none", "--data", train_set, "--val", test_set, "--out", run,
                  "--batch-size", "6", "--base-lr", str(1e-3 * 256 / 6), "--epochs", "30", "--warmup-epochs", "3",
                  "--val-every", "10", "--sampling-rate", "2", *TINY]) == 0, capsys.readouterr().err
    report = str(tmp_path / "report")
    assert train(["test", "--checkpoint", os.path.join(run, "best.pt"), "--data", test_set, "--out", report,
                  "--workers", "0", "--threads", "1"]) == 0, capsys.readouterr().err
    row = _rows(os.path.join(report, "results.csv"))[0]
    assert row["videos"] == "9" and row["views_per_video"] == "15"          # UCF101: 5 clips x 3 crops
    assert float(row["top1"]) >= 0.66, open(os.path.join(report, "summary.md")).read()   # chance is 1/3


def test_corrupted_ucf101_is_tested_with_the_stored_layout(ucf101, tmp_path, one_thread, capsys):
    test_set = os.path.join(ucf101, "ucf101-s1-test")
    out = str(tmp_path / "ucf101-p")
    assert factory(["corrupt", test_set, "--out", out, "--corruption", "rotate,jumble", "--severity", "2",
                    "--short-side", "32", "--workers", "1", "--no-progress"]) == 0
    crops = {name: open_dataset(os.path.join(out, f"{name}-s2")).card["corruption"]["crops"]
             for name in ("rotate", "jumble")}
    assert crops == {"rotate": 3, "jumble": 1}
    # an untrained classifier is enough to prove the layout is read: every video is scored, 15 views each
    run = str(tmp_path / "scratch")
    assert train(["finetune", "--checkpoint", "none", "--data", os.path.join(ucf101, "ucf101-s1-train"),
                  "--out", run, "--batch-size", "6", "--epochs", "1", "--max-steps", "1", *TINY]) == 0
    report = str(tmp_path / "report")
    assert train(["test", "--checkpoint", os.path.join(run, "checkpoint-last.pt"), "--data", test_set, out,
                  "--out", report, "--workers", "0", "--threads", "1"]) == 0, capsys.readouterr().err
    results = {r["corruption"]: r for r in _rows(os.path.join(report, "results.csv"))}
    assert set(results) == {"", "rotate", "jumble"}
    assert all(r["videos"] == "9" and r["views_per_video"] == "15" for r in results.values())
    assert len(_rows(os.path.join(report, "robustness.csv"))) == 2


def test_hmdb51_ingest_finetune_test_uses_its_recipe(tmp_path, one_thread, capsys):
    base = str(tmp_path)
    data = make_hmdb51(base, TinySpec(videos_per_class=6, test_per_class=2))
    out = os.path.join(base, "ingested")
    assert factory(["ingest", "hmdb51", data.root, "--splits", data.lists, "--split", "1", "--out", out,
                    "--workers", "1", "--no-progress"]) == 0
    run = str(tmp_path / "run")
    assert train(["finetune", "--recipe", "finetune-hmdb51", "--checkpoint", "none",
                  "--data", os.path.join(out, "hmdb51-s1-train"), "--out", run, "--batch-size", "4",
                  "--epochs", "1", "--max-steps", "2", *TINY]) == 0, capsys.readouterr().err
    cfg = json.loads(open(os.path.join(run, "config.json")).read())
    assert cfg["config"]["recipe"]["sampling_rate"] == 2       # the HMDB51 script's rate
    report = str(tmp_path / "report")
    assert train(["test", "--checkpoint", os.path.join(run, "checkpoint-last.pt"), "--data",
                  os.path.join(out, "hmdb51-s1-test"), "--out", report, "--workers", "0", "--threads", "1"]) == 0
    row = _rows(os.path.join(report, "results.csv"))[0]
    assert row["views_per_video"] == "30"                       # HMDB51: 10 clips x 3 crops
