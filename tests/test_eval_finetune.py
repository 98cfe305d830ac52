"""`synthvid-train finetune` / `probe` end to end on labelled shard sets of natural clips (tests/labelled.py):
a 3-class task learned well above chance through finetune -> test; the probe trains only its head; the
optimiser is what the flags say; checkpoints load strictly from either layout; resume continues exactly;
two gloo ranks end with the same weights."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from synthvid.trainer.cli import main
from synthvid.trainer.eval.cmd_finetune import add_parser, config_from_args
from synthvid.trainer.eval.finetune import finetune, prepare_finetune
from synthvid.trainer.model import model_config
from tests.helpers import free_port, gloo_rank
from tests.labelled import natural_sets, write_labelled
from tests.test_eval_export import trained_like

# Tiny geometry for every run here: vit_tiny_test at 32 px, 4 frames at stride 2, one thread, no workers.
TINY = ["--img-size", "32", "--num-frames", "4", "--sampling-rate", "2", "--workers", "0", "--threads", "1",
        "--no-progress"]


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    return natural_sets(str(tmp_path_factory.mktemp("labelled")))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A synthvid pretraining checkpoint of vit_tiny_test at 32 px x 4 frames, with non-zero q/v biases."""
    cfg = model_config("vit_tiny_test", img_size=32, num_frames=4)
    model = trained_like(cfg)
    path = str(tmp_path_factory.mktemp("pre") / "checkpoint-last.pt")
    torch.save({"format": 1, "model": model.state_dict(), "model_config": cfg.to_dict()}, path)
    return path, model


def _args(command: str, *argv: str):
    import argparse

    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers(dest="command"))
    return p.parse_args([command, *argv])


def test_finetune_then_test_learns_a_tiny_task(sets, tmp_path, one_thread, capsys):
    """From scratch with the UCF101 recipe at tiny size (lr 1e-3 as the recipe's 1e-3 per 256 at batch 256):
    150 steps, then the 5 x 3 view test of best.pt on the held-out svj set is well above chance (1/3)."""
    out, report = str(tmp_path / "run"), str(tmp_path / "report")
    rc = main(["finetune", "--checkpoint", "none", "--model", "vit_tiny_test", "--data", sets["train"], "--val",
               sets["test"], "--out", out, "--batch-size", "6", "--base-lr", str(1e-3 * 256 / 6), "--epochs", "30",
               "--warmup-epochs", "3", "--val-every", "10", *TINY])
    assert rc == 0, capsys.readouterr().err
    cfg = json.loads(open(os.path.join(out, "config.json")).read())
    assert cfg["steps_per_epoch"] == 5 and cfg["total_steps"] == 150 and cfg["clips_per_step"] == 12
    assert cfg["optimizer"]["type"] == "AdamW" and cfg["optimizer"]["betas"] == [0.9, 0.95]
    assert cfg["config"]["recipe"]["layer_decay"] == 0.7 and cfg["weights"]["checkpoint"] is None
    log = open(os.path.join(out, "log.csv")).read().splitlines()
    assert len([r for r in log[1:] if r.split(",")[7]]) == 3                        # validations at 10, 20, 30
    rc = main(["test", "--checkpoint", os.path.join(out, "best.pt"), "--data", sets["test"], "--out", report,
               "--workers", "0", "--threads", "1"])
    assert rc == 0, capsys.readouterr().err
    rows = open(os.path.join(report, "results.csv")).read().splitlines()
    header, row = rows[0].split(","), dict(zip(rows[0].split(","), rows[1].split(",")))
    assert "top1" in header and row["views_per_video"] == "15" and row["videos"] == "12"
    assert float(row["top1"]) >= 0.66, open(os.path.join(report, "summary.md")).read()
    per_class = open(os.path.join(report, "per_class.csv")).read().splitlines()
    assert len(per_class) == 1 + 3 and {line.split(",")[4] for line in per_class[1:]} == set(sets["classes"])


def test_probe_trains_only_the_head(sets, pretrained, tmp_path, one_thread):
    """The paper's probe: the encoder's weights are exactly the checkpoint's afterwards, it runs in eval mode
    (drop path 0.2 of the recipe inactive: two training-mode forwards agree), only BatchNorm's running
    statistics and the Linear move, AdamW at 1e-2 x batch/256 with no weight decay."""
    path, pre = pretrained
    cfg = config_from_args(_args("probe", "--checkpoint", path, "--data", sets["train"], "--out", str(tmp_path / "lp"),
                                 "--batch-size", "6", "--epochs", "1", "--seed", "3", *TINY))
    assert cfg.recipe.drop_path == 0.2 and not cfg.recipe.mixup.enabled and cfg.recipe.weight_decay == 0
    run = prepare_finetune(cfg)
    model = run.state.model
    head_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("head.")}
    groups = run.state.optimizer.param_groups
    assert sum(len(g["params"]) for g in groups) == 2 and all(g["weight_decay"] == 0 for g in groups)
    assert run.state.schedule.lr == pytest.approx(1e-2 * 6 / 256)
    summary = finetune(cfg)
    model = summary["model"]
    model.train()
    assert not any(m.training for m in model.blocks.modules()) and model.head[0].training
    x = torch.randn(2, 3, 4, 32, 32)
    assert torch.equal(model.forward_features(x), model.forward_features(x))   # no drop path in train()
    for key, value in pre.state_dict().items():
        if key.startswith(("patch_embed.", "blocks.")):
            assert torch.equal(model.state_dict()[key], value), key
    after = model.state_dict()
    assert not torch.equal(after["head.0.running_mean"], head_before["head.0.running_mean"])
    assert not torch.equal(after["head.1.weight"], head_before["head.1.weight"])
    assert torch.equal(after["fc_norm.weight"], torch.ones_like(after["fc_norm.weight"]))   # frozen at 1/0


def test_optimiser_is_what_the_flags_say(sets, pretrained, tmp_path):
    """Betas, weight decay, layer decay and lr come from the flags; the schedule keeps each group's lr_scale
    (layer decay survives every step); config.json records the optimiser as built."""
    path, _ = pretrained
    cfg = config_from_args(_args("finetune", "--checkpoint", path, "--data", sets["train"], "--out",
                                 str(tmp_path / "ft"), "--batch-size", "6", "--epochs", "2", "--betas", "0.8,0.99",
                                 "--weight-decay", "0.1", "--layer-decay", "0.5", "--base-lr", "0.256", *TINY))
    run = prepare_finetune(cfg)
    opt, schedule = run.state.optimizer, run.state.schedule
    assert all(g["betas"] == (0.8, 0.99) for g in opt.param_groups)
    assert {g["weight_decay"] for g in opt.param_groups} == {0.0, 0.1}
    depth = len(run.state.model.blocks)
    for _ in range(3):
        lr = schedule.apply()
        schedule.step()
        for g in opt.param_groups:
            assert g["lr"] == pytest.approx(lr * 0.5 ** (depth + 1 - g["layer_id"]))
    assert schedule.lr == pytest.approx(0.256 * 6 / 256)
    written = json.loads(open(tmp_path / "ft" / "config.json").read())["optimizer"]
    assert written["betas"] == [0.8, 0.99] and min(g["lr_scale"] for g in written["groups"]) == 0.5 ** (depth + 1)


def test_checkpoints_load_strictly_from_either_layout(sets, pretrained, tmp_path, capsys):
    """A synthvid checkpoint and its official-layout export give the classifier the same encoder (q and v
    biases included); a checkpoint missing a block is refused in one line naming the keys."""
    from synthvid.trainer.eval.checkpoints import read_weights
    from synthvid.trainer.eval.export import export

    path, pre = pretrained
    official = str(tmp_path / "official.pth")
    export(read_weights(path), "videomae", official)
    models = []
    for i, ck in enumerate((path, official)):
        cfg = config_from_args(_args("finetune", "--checkpoint", ck, "--data", sets["train"], "--out",
                                     str(tmp_path / f"ft{i}"), "--batch-size", "6", *TINY))
        models.append(prepare_finetune(cfg).state.model.state_dict())
    for key, value in pre.state_dict().items():
        if key.startswith(("patch_embed.", "blocks.")):
            assert torch.equal(models[0][key], value) and torch.equal(models[1][key], value), key
    broken = {k: v for k, v in pre.state_dict().items() if not k.startswith("blocks.1.")}
    torch.save({"format": 1, "model": broken, "model_config": pre.cfg.to_dict()}, tmp_path / "broken.pt")
    rc = main(["finetune", "--checkpoint", str(tmp_path / "broken.pt"), "--data", sets["train"], "--out",
               str(tmp_path / "b"), "--batch-size", "6", *TINY])
    err = capsys.readouterr().err
    assert rc == 2 and "missing blocks.1." in err and len(err.strip().splitlines()) == 1


def test_resume_continues_exactly(sets, tmp_path, one_thread):
    """Stopped mid-epoch (step 7 of 5-step epochs) and resumed with --resume auto: the same losses and the
    same final weights as one uninterrupted run (augmentation, mixup and drop path are keyed draws)."""
    def cfg(out, **kw):
        argv = ["--checkpoint", "none", "--model", "vit_tiny_test", "--data", sets["train"], "--out", out,
                "--batch-size", "6", "--epochs", "2", "--resume", "auto", *TINY]
        c = config_from_args(_args("finetune", *argv))
        c.max_steps = kw.get("max_steps")
        return c

    whole = finetune(cfg(str(tmp_path / "whole")))
    first = finetune(cfg(str(tmp_path / "parts"), max_steps=7))
    rest = finetune(cfg(str(tmp_path / "parts")))
    assert first["step"] == 7 and rest["step"] == whole["step"] == 10
    assert first["losses"] + rest["losses"] == pytest.approx(whole["losses"], rel=1e-6)
    a, b = whole["model"].state_dict(), rest["model"].state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_augmenting_on_the_device_matches_the_loader_worker(sets, tmp_path, one_thread):
    """--augment-on device (a GPU's default) gets the decoded uint8 windows and augments them in the step with
    the same keyed draws as a loader worker does (here a real forked DataLoader worker): same losses, same
    weights on the CPU."""
    runs = {}
    for where, workers in (("worker", "1"), ("device", "0")):
        argv = ["--checkpoint", "none", "--model", "vit_tiny_test", "--data", sets["train"], "--out",
                str(tmp_path / where), "--batch-size", "6", "--max-steps", "3", "--augment-on", where,
                *TINY, "--workers", workers]
        runs[where] = finetune(config_from_args(_args("finetune", *argv)))
    assert runs["worker"]["losses"] == runs["device"]["losses"]
    a, b = runs["worker"]["model"].state_dict(), runs["device"]["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_labelled_set_problems_are_one_line(sets, tmp_path, capsys):
    """A payload kind this reader does not know (as an `avi` member is before that kind exists), a set
    without labels, and a validation set with other classes: one line each, exit 2."""
    frames = np.zeros((4, 16, 16, 3), np.uint8)
    odd = write_labelled(str(tmp_path / "odd"), [(frames, 0)], ("a",), member_ext="mkv9")
    for data, expected in ((odd, "unknown payload kind 'mkv9'"), (sets["test"] + "-missing", "no such dataset")):
        rc = main(["finetune", "--checkpoint", "none", "--data", data, "--out", str(tmp_path / "x"), *TINY])
        err = capsys.readouterr().err
        assert rc == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    other = write_labelled(str(tmp_path / "other"), [(frames, 0), (frames, 1)], ("x", "y"))
    rc = main(["finetune", "--checkpoint", "none", "--data", sets["train"], "--val", other, "--out",
               str(tmp_path / "y"), *TINY])
    assert rc == 2 and "classes differ" in capsys.readouterr().err


def _probe_rank(rank, port, argv, out):
    import torch.distributed as dist

    gloo_rank(rank, 2, port)
    cfg = config_from_args(_args("probe", *argv))
    cfg.record_indices = True
    s = finetune(cfg)
    torch.save({"indices": s["indices"], "losses": s["losses"], "best": s["best"],
                "weights": {k: v.clone() for k, v in s["model"].named_parameters()}}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_ddp_two_processes_gloo(sets, pretrained, tmp_path):
    """Two ranks on CPU (gloo): disjoint videos in every step, the same all-reduced loss, identical weights
    afterwards, and the same validation on both ranks (each scored half the videos, results gathered)."""
    import torch.multiprocessing as mp

    argv = ["--checkpoint", pretrained[0], "--data", sets["train"], "--val", sets["test"], "--out",
            str(tmp_path / "ddp"), "--batch-size", "6", "--epochs", "1", *TINY]
    mp.spawn(_probe_rank, args=(free_port(), argv, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert len(r0["indices"]) == len(r1["indices"]) == 5
    for b0, b1 in zip(r0["indices"], r1["indices"]):
        assert len(b0) == len(b1) == 3 and not {i for _, i in b0} & {i for _, i in b1}
    assert r0["losses"] == r1["losses"] and r0["best"] == r1["best"] and r0["best"]["epoch"] == 1
    for k in r0["weights"]:
        assert torch.equal(r0["weights"][k], r1["weights"][k]), k
