"""`synthvid-train test`: the multi-view score of each video is the mean softmax of its views (computed here
independently from the building blocks); UCF101-P sets made with the factory's own corruptions give a
robustness table, Fig 3 as a PNG and the mean relative robustness of two checkpoints side by side."""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from synthvid.manifests.reader import open_dataset
from synthvid.trainer.cli import main
from synthvid.trainer.data import Stats
from synthvid.trainer.eval.augment import normalize
from synthvid.trainer.eval.classifier import HeadConfig, VideoClassifier
from synthvid.trainer.eval.clips import ViewPlan, full_read_indices, multi_views
from synthvid.trainer.eval.labelled import LabelledSource
from synthvid.trainer.eval.scoring import ReadPlan, score
from synthvid.trainer.model import model_config
from synthvid.trainer.runtime import Dist
from tests.labelled import natural_sets

RATE = 2


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    return natural_sets(str(tmp_path_factory.mktemp("labelled")), train_per_class=1, test_per_class=3)


def classifier(seed: int, classes) -> VideoClassifier:
    """A tiny classifier with a head large enough that its views disagree."""
    torch.manual_seed(seed)
    model = VideoClassifier(model_config("vit_tiny_test", img_size=32, num_frames=4),
                            HeadConfig(len(classes), init_scale=50.0))
    return model.eval()


def save_finetuned(path: str, model: VideoClassifier, classes) -> str:
    """As finetune writes best.pt: weights, model config, and the run's classes and recipe."""
    torch.save({"format": 1, "model": model.state_dict(), "model_config": model.cfg.to_dict(),
                "config": {"classes": list(classes), "config": {"recipe": {"sampling_rate": RATE}}}}, path)
    return path


def test_multi_view_score_is_the_mean_softmax_of_each_videos_views(sets, one_thread):
    model = classifier(0, sets["classes"])
    source = LabelledSource(sets["test"])
    plan = ViewPlan(4, RATE, 5, 3, 32)
    got = score(model, source, ReadPlan(plan), Dist())
    assert list(got.videos) == source.indices and got.views_per_video == 15
    spread = []
    for row, (index, payload, _) in zip(got.probs, source.read([source.ref(i) for i in source.indices], Stats())):
        frames = payload.frames(full_read_indices(payload.num_frames, 4, RATE))
        views = multi_views(normalize(torch.from_numpy(frames).permute(0, 3, 1, 2)), plan)
        with torch.no_grad():
            probs = torch.softmax(model(views), dim=-1).numpy()
        spread.append(probs.std(axis=0).max())
        np.testing.assert_allclose(row, probs.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert max(spread) > 0.01            # the views disagree, so averaging them matters
    assert np.array_equal(got.labels, source.labels())


def corrupted_set(out: str, test_set: str, name: str, severity: int) -> str:
    """A UCF101-P set made by the factory's own `corrupt` pipeline from the clean test set (every RATE-th
    frame, short side 32), so the test reads exactly the layout the factory publishes."""
    from synthvid.factory.pipeline.options import BuildOptions
    from synthvid.factory.realvideo.ucf101p import CorruptRequest, corrupt_test_set

    request = CorruptRequest(corruptions=name, severities=str(severity), stride=RATE, short_side=32)
    corrupt_test_set(test_set, request, BuildOptions(out, per_shard=4, inline=True, progress=False))
    return os.path.join(out, f"{name}-s{severity}")


def _rows(path: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(open(path).read())))


def test_ucf101p_table_and_plot_for_two_checkpoints(sets, tmp_path, one_thread, capsys):
    folder = tmp_path / "ucf101-p"
    gaussian = corrupted_set(str(folder), sets["test"], "gaussian", 3)     # spatial: 3 crops side by side
    reverse = corrupted_set(str(folder), sets["test"], "reverse", 1)       # temporal: whole frames
    assert open_dataset(gaussian).card["corruption"]["crops"] == 3
    assert open_dataset(reverse).card["corruption"]["crops"] == 1
    a = save_finetuned(str(tmp_path / "a.pt"), classifier(1, sets["classes"]), sets["classes"])
    b = save_finetuned(str(tmp_path / "b.pt"), classifier(2, sets["classes"]), sets["classes"])
    report = tmp_path / "report"
    rc = main(["test", "--checkpoint", a, b, "--names", "A", "B", "--data", sets["test"], str(folder),
               "--out", str(report), "--workers", "0", "--threads", "1"])
    assert rc == 0, capsys.readouterr().err
    results = _rows(report / "results.csv")
    assert [(r["checkpoint"], r["corruption"]) for r in results] == [
        ("A", ""), ("A", "gaussian"), ("A", "reverse"), ("B", ""), ("B", "gaussian"), ("B", "reverse")]
    assert all(r["views_per_video"] == "15" and r["videos"] == "9" for r in results)
    assert [r["sampling_rate"] for r in results[:3]] == [str(RATE), "1", "1"]   # stored at the stride
    robust = _rows(report / "robustness.csv")
    assert len(robust) == 4
    for r in robust:
        clean = next(float(x["top1"]) for x in results if x["checkpoint"] == r["checkpoint"] and not x["corruption"])
        top1 = next(float(x["top1"]) for x in results if (x["checkpoint"], x["corruption"]) == (r["checkpoint"],
                                                                                             r["corruption"]))
        assert clean > 0 and float(r["clean_top1"]) == pytest.approx(clean) and float(r["top1"]) == pytest.approx(top1)
        assert float(r["relative_robustness"]) == pytest.approx(1 - (clean - top1) / clean, rel=1e-5)
    png = Image.open(report / "robustness.png")
    assert png.size[0] > 300 and png.size[1] > 200 and np.asarray(png.convert("L")).std() > 5
    summary = open(report / "summary.md").read()
    assert "mean rel. robustness" in summary and "| A |" in summary and "| B |" in summary and "gauss" in summary
    assert "data:image/png;base64," in open(report / "summary.html").read()


def test_wrong_checkpoints_are_one_line(sets, tmp_path, capsys):
    other = save_finetuned(str(tmp_path / "other.pt"), classifier(0, ("x", "y", "z")), ("x", "y", "z"))
    pre = tmp_path / "pre.pt"
    torch.save({"format": 1, "model": {k: v for k, v in classifier(0, sets["classes"]).state_dict().items()
                                       if k.startswith(("patch_embed.", "blocks."))},
                "model_config": model_config("vit_tiny_test", img_size=32, num_frames=4).to_dict()}, pre)
    for ck, expected in ((other, "differ from"), (str(pre), "pretraining checkpoint has no classifier")):
        rc = main(["test", "--checkpoint", ck, "--data", sets["test"], "--out", str(tmp_path / "r"), "--workers", "0"])
        err = capsys.readouterr().err
        assert rc == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert not os.path.exists(tmp_path / "r" / "results.csv")


def test_a_damaged_video_is_named_or_skipped(sets, tmp_path, capsys):
    """One payload byte flipped (the shard keeps its size): through a loader worker the test stops with one
    line naming the shard and sample; with --skip-bad-shards it scores the rest and counts the one."""
    import shutil

    from synthvid.manifests.reader import open_dataset

    data = str(tmp_path / "damaged")
    shutil.copytree(sets["test"], data)
    row = open_dataset(data).samples.to_pylist()[4]
    with open(os.path.join(data, row["shard"]), "r+b") as f:
        f.seek(row["payload_offset"] + row["payload_bytes"] // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    ck = save_finetuned(str(tmp_path / "a.pt"), classifier(1, sets["classes"]), sets["classes"])
    argv = ["test", "--checkpoint", ck, "--data", data, "--workers", "1", "--threads", "1"]
    rc = main([*argv, "--out", str(tmp_path / "r1")])
    err = capsys.readouterr().err
    assert rc == 2 and f"sample {row['key']}" in err and "sha256" in err and len(err.strip().splitlines()) == 1, err
    assert main([*argv, "--out", str(tmp_path / "r2"), "--skip-bad-shards"]) == 0
    result = _rows(tmp_path / "r2" / "results.csv")[0]
    assert result["videos"] == "8" and result["skipped_videos"] == "1"

