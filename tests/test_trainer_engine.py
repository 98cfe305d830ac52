"""End-to-end training on tiny builds: resume equality, outputs, CLI errors, held-out loss, procedural
source, loopback S3, and two-process DDP on CPU (gloo)."""

from __future__ import annotations

import json
import os
import socket

import pytest
import torch

from synthvid.trainer import cli
from synthvid.trainer.engine import TrainError, train
from tests.test_trainer_fixtures import LEARN, build, tiny_config


def test_resume_continues_exactly(tmp_path):
    url = build()                                                # 24 videos -> 6 steps of 4 per epoch
    full = train(tiny_config(tmp_path / "full", url, workers=2, max_steps=9))
    first = train(tiny_config(tmp_path / "cut", url, workers=2, max_steps=4, save_every=1))
    assert (first["epoch"], first["micro"]) == (0, 4)
    rest = train(tiny_config(tmp_path / "cut", url, workers=2, max_steps=9, resume=str(tmp_path / "cut")))
    assert first["losses"] + rest["losses"] == pytest.approx(full["losses"], rel=1e-5, abs=1e-6)
    assert first["indices"] + rest["indices"] == full["indices"]
    for a, b in zip(full["model"].state_dict().values(), rest["model"].state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)


def test_outputs_and_cli(tmp_path, capsys):
    url = build()
    out = tmp_path / "run"
    rc = cli.main(["pretrain", "--data", url, "--model", "vit_tiny_test", "--img-size", "64", "--sampling-rate", "1",
                   "--batch-size", "4", "--epochs", "1", "--workers", "1", "--out", str(out), "--recon-every", "2",
                   "--threads", "1", "--no-progress", "--precision", "bf16"])   # bf16 autocast, on the CPU
    assert rc == 0, capsys.readouterr().err
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["steps_per_epoch"] == 6 and cfg["lr"] == pytest.approx(3e-4 * 4 / 256) and cfg["precision"] == "bf16"
    lines = (out / "log.csv").read_text().splitlines()
    assert lines[0].startswith("step,epoch,loss,lr,clips_per_s,data_wait_share") and len(lines) == 7
    assert sorted(os.listdir(out / "recon")) == [f"step-{s:07d}.png" for s in (2, 4, 6)]
    state = torch.load(out / "checkpoint-last.pt", weights_only=True)
    assert state["data"]["epoch"] == 1 and state["data"]["micro"] == 0 and state["data"]["step"] == 6
    # Refuses to overwrite a run without --resume; the message says what to do.
    rc = cli.main(["pretrain", "--data", url, "--model", "vit_tiny_test", "--img-size", "64", "--batch-size", "4", "--out", str(out)])
    assert rc == 2 and "--resume" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--device", "cuda"], "no CUDA GPU"),
    (["--weights", "0.5,0.5"], "--weights"),
    (["--batch-size", "1000"], "no full global batch"),
    (["--batch-size", "6", "--accum-steps", "4"], "not a multiple"),
])
def test_bad_input_one_line_errors(tmp_path, capsys, extra, message):
    if "cuda" in extra and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    url = build()
    rc = cli.main(["pretrain", "--data", url, "--model", "vit_tiny_test", "--img-size", "64", "--sampling-rate", "1",
                   "--batch-size", "4", "--epochs", "1", "--workers", "0", "--out", str(tmp_path / "r"), *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and len(err.splitlines()) == 1, err


def test_incompatible_checkpoint(tmp_path):
    url = build()
    train(tiny_config(tmp_path / "a", url, max_steps=1))
    with pytest.raises(TrainError, match="incompatible checkpoint: img_size 64 .checkpoint. vs 32"):
        train(tiny_config(tmp_path / "b", url, img_size=32, max_steps=2, resume=str(tmp_path / "a")))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainError, match="not a readable checkpoint"):
        train(tiny_config(tmp_path / "c", url, max_steps=1, resume=str(tmp_path / "junk.pt")))


def test_procedural_source_trains(tmp_path):
    s = train(tiny_config(tmp_path / "p", "procedural:accelerating-shapes", epoch_size=8, max_steps=3))
    assert s["step"] == 3 and all(l == l for l in s["losses"])
    assert all(i < 8 for step in s["indices"] for _, i in step)


@pytest.fixture(scope="module")
def heldout_run(tmp_path_factory):
    """1,200 steps (~35 s) of vit_tiny_learn on a 1,024-video static-circles build at 32 px (LEARN: patch 8,
    4 frames, tube mask 0.5, batch 16); held-out clips from another build (other seed), scored before and after
    with the same masks and crops, next to the patch-mean baseline. Measured: 0.769 -> 0.418 against a
    baseline of 0.489 (0.86x); seeds 1 and 2 of the same run end at 0.92x. The 48-step vit_tiny_test run on
    accelerating-shapes that this replaces ended at 1.00x: one 32-wide decoder block needs far more steps."""
    from synthvid.trainer.data import ClipSpec
    from synthvid.trainer.engine import build as build_model
    from synthvid.trainer.engine import HeldOut, heldout_loss

    train_url = build("static-circles", videos=1024, seed=3, per_shard=128, **LEARN)
    heldout = build("static-circles", videos=32, seed=99, per_shard=8, **LEARN)
    # 64 steps an epoch; epochs = 19 puts the end of the cosine (1,216 steps) just past max_steps.
    cfg = tiny_config(tmp_path_factory.mktemp("h"), train_url, model="vit_tiny_learn", img_size=32, patch_size=8,
                      num_frames=4, mask_ratio=0.5, batch_size=16, epochs=19, max_steps=1200, base_lr=0.048,
                      warmup_epochs=0.2)
    torch.manual_seed(cfg.seed)
    _, untrained = build_model(cfg)
    spec = ClipSpec(cfg.num_frames, cfg.sampling_rate, cfg.img_size)
    clips = HeldOut(heldout, spec, cfg.mask_ratio, clips=32)
    before = heldout_loss(untrained, clips, "cpu")
    s = train(cfg)
    after = heldout_loss(s["model"], clips, "cpu")
    return before, after


def test_heldout_loss_learns(heldout_run):
    before, after = heldout_run
    assert after["loss"] < before["loss"] - 0.02, (before, after)            # the loop trains
    assert after["loss"] < 1.01 * after["baseline"], (before, after)        # and reaches the patch-mean level


def test_heldout_loss_clearly_below_patch_mean_baseline(heldout_run):
    """Issue criterion: clearly below predicting each patch's mean (target 0). Flat patches are 0 for both, so
    the margin comes from the masked edge patches: the model must place the arc from its visible neighbours.
    0.95 leaves room for the seed spread measured (0.86x-0.92x); a model that only learns 0 sits at 1.00x."""
    before, after = heldout_run
    assert after["baseline"] > 0.3, after                                   # enough non-flat masked patches
    assert after["loss"] < 0.95 * after["baseline"], (before, after)


def test_s3_shards_train_like_local(tmp_path, request):
    server = request.getfixturevalue("s3_server")
    url = build()
    remote = server.unique_url("trainer") + "/" + os.path.basename(url)
    fs = server.fs()
    for name in sorted(os.listdir(url)):
        if os.path.isfile(os.path.join(url, name)) and name != "card.json":
            fs.put_file(os.path.join(url, name), remote + "/" + name)
    fs.put_file(os.path.join(url, "card.json"), remote + "/card.json")   # card last, as a publish does
    local = train(tiny_config(tmp_path / "l", url, max_steps=3, workers=1))
    s3 = train(tiny_config(tmp_path / "s", remote, max_steps=3, workers=1, storage_options=server.storage_options()))
    assert s3["indices"] == local["indices"]
    assert s3["losses"] == pytest.approx(local["losses"], rel=1e-6)
    cfg = json.loads((tmp_path / "s" / "config.json").read_text())
    assert server.secret_key not in json.dumps(cfg)                      # credentials never written


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, cfg_kwargs, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    import torch.distributed as dist

    from tests.test_trainer_fixtures import tiny_config as tc

    s = train(tc(**cfg_kwargs))
    torch.save({"indices": s["indices"], "losses": s["losses"], "step": s["step"],
                "weights": {k: v.clone() for k, v in s["model"].state_dict().items()}}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_ddp_two_processes_gloo(tmp_path):
    import torch.multiprocessing as mp

    url = build(videos=30, per_shard=3)
    kwargs = dict(out=str(tmp_path / "ddp"), data=url, batch_size=4, workers=1, max_steps=3)
    mp.spawn(_ddp_worker, args=(2, _free_port(), kwargs, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["step"] == r1["step"] == 3 and len(r0["indices"]) == len(r1["indices"]) == 3
    seen0 = {i for b in r0["indices"] for i in b}
    seen1 = {i for b in r1["indices"] for i in b}
    assert len(seen0) == len(seen1) == 6 and not seen0 & seen1          # 2 per rank per step, disjoint
    assert r0["losses"] == r1["losses"]                                 # the logged loss is the all-reduced mean
    for k in r0["weights"]:
        assert torch.equal(r0["weights"][k], r1["weights"][k]), k       # identical weights after the steps


def test_compile_and_accumulation_on_cpu(tmp_path):
    """torch.compile of the training step with gradient accumulation: same losses as eager within float
    tolerance, with no graph break or recompilation (static shapes from the index-gather masking). The
    aot_eager backend traces the same graph as inductor without its C++ codegen (minutes on this CPU);
    inductor itself runs in benchmarks/train_throughput.py --compile."""
    from torch._dynamo.utils import counters

    backend = "aot_eager"

    url = build()
    eager = train(tiny_config(tmp_path / "e", url, max_steps=3, accum_steps=2))
    torch._dynamo.reset()
    counters.clear()
    comp = train(tiny_config(tmp_path / "c", url, max_steps=3, accum_steps=2, compile=True, compile_backend=backend))
    assert comp["losses"] == pytest.approx(eager["losses"], rel=1e-4, abs=1e-5)
    assert not counters["graph_break"], dict(counters["graph_break"])
    assert counters["stats"]["unique_graphs"] == 1, dict(counters["stats"])


def test_corrupt_shard_through_loader_workers(tmp_path, capsys):
    """A truncated shard read inside a DataLoader worker: one line naming the shard; with --skip-bad-shards
    the run finishes with the same number of steps and reports what it skipped."""
    import shutil

    url = tmp_path / "v"
    shutil.copytree(build(videos=12, per_shard=3), url)
    victim = sorted(p for p in os.listdir(url) if p.endswith(".tar"))[2]
    with open(url / victim, "r+b") as f:
        f.truncate(os.path.getsize(url / victim) // 3)
    args = ["pretrain", "--data", str(url), "--model", "vit_tiny_test", "--img-size", "64", "--sampling-rate", "1",
            "--batch-size", "4", "--epochs", "1", "--workers", "1", "--threads", "1", "--no-progress"]
    assert cli.main(args + ["--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and victim in err and "--skip-bad-shards" in err, err
    assert cli.main(args + ["--out", str(tmp_path / "b"), "--skip-bad-shards"]) == 0
    out = capsys.readouterr().out
    assert "3 steps" in out and "skipped shards 1" in out, out
