"""`synthvid-factory corrupt`: UCF101-P shard sets from a tiny ingested test set. What is stored is what the
test protocol corrupts (frames at the test stride, short side 224; spatial corruptions per test crop), as the
card's `corruption` entry says; deterministic per seed, across worker counts and after a resume."""

from __future__ import annotations

import os

import numpy as np
import pytest

from synthvid.factory.cli import main as cli_main
from synthvid.factory.pipeline.options import BuildOptions
from synthvid.factory.realvideo.corruptions import CORRUPTIONS, corrupt
from synthvid.factory.realvideo.decode import decode_video
from synthvid.factory.realvideo.frames import long_side_crops, resize_short_side
from synthvid.factory.realvideo.ingest import IngestRequest, ingest
from synthvid.factory.realvideo.ucf101p import CorruptRequest, corrupt_test_set
from synthvid.manifests import layout
from synthvid.manifests.payload import Limits, open_payload
from synthvid.manifests.reader import open_dataset
from tests.helpers import tree_digest
from tests.videodata import TinySpec, make_ucf101

pytestmark = pytest.mark.usefixtures("ray_runtime")
SEVERITY = 1
STRIDE = 4
T = 12              # frames per stored video: 48 source frames at the test stride


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """An ingest root: 3 test videos of 48 frames (12 at the test stride), 80x60."""
    base = tmp_path_factory.mktemp("ucf101p")
    data = make_ucf101(str(base / "src"), TinySpec(videos_per_class=2, test_per_class=1, frames=48))
    out = str(base / "ingested")
    ingest(IngestRequest("ucf101", data.root, data.lists, 1), BuildOptions(out, per_shard=2, inline=True,
                                                                           progress=False))
    return data, out


@pytest.fixture(scope="module")
def corrupted(ingested, tmp_path_factory):
    """Every corruption at severity 1, lossless, two Ray workers, through the CLI from the ingest root."""
    out = str(tmp_path_factory.mktemp("p"))
    assert cli_main(["corrupt", ingested[1], "--severity", str(SEVERITY), "--out", out, "--videos-per-shard", "2",
                     "--payload", "svf", "--workers", "2", "--no-progress"]) == 0
    return out


def _clean(data, row) -> np.ndarray:
    """The test protocol's frames of a clean video, from the source file: every 4th frame, short side 224."""
    return resize_short_side(decode_video(os.path.join(data.root, row["source"]), stride=STRIDE).frames, 224)


def _source_order(stored: np.ndarray, clean: np.ndarray) -> list[int]:
    return [next(i for i, c in enumerate(clean) if np.array_equal(f, c)) for f in stored]


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_each_set_stores_the_corruption_the_test_protocol_applies(ingested, corrupted, name):
    data, root = ingested
    clean_set = open_dataset(os.path.join(root, "ucf101-s1-test"))
    ds = open_dataset(os.path.join(corrupted, f"{name}-s{SEVERITY}"))
    temporal = CORRUPTIONS[name].temporal
    assert ds.card["corruption"] == {"name": name, "severity": SEVERITY, "seed": 0, "stride": STRIDE,
                                     "short_side": 224, "crops": 1 if temporal else 3}
    assert ds.card["classes"] == clean_set.card["classes"] and ds.card["split"] == clean_set.card["split"]
    assert ds.card["payload"]["kind"] == "svf" and ds.card["source"]["fingerprint"] == clean_set.card["fingerprint"]
    clean_rows = clean_set.samples.to_pylist()
    rows = ds.samples.to_pylist()
    same = ("key", "index", "label", "label_index", "source")
    assert [{k: r[k] for k in same} for r in rows] == [{k: r[k] for k in same} for r in clean_rows]
    for n, (row, sample) in enumerate(zip(rows, ds.iter_samples())):
        stored = open_payload("svf", sample["svf"], Limits.for_row(row)).frames()
        clean = _clean(data, row)
        assert clean.shape == (T, 224, 298, 3) and row["fps"] == 25.0 / STRIDE
        if temporal:
            _check_temporal(name, stored, clean, row["index"])
            continue
        assert stored.shape == (T, 224, 3 * 224, 3)
        for j, crop in enumerate(long_side_crops(clean, 224, 3)):
            got = stored[:, :, 224 * j:224 * (j + 1)]
            assert not np.array_equal(got, crop)                       # the pixels change ...
            if n == 0:     # ... as the corruption of that test crop, its own draw (recomputed for one video: zoom is slow)
                want = corrupt(np.ascontiguousarray(crop), name, SEVERITY, seed=0, index=row["index"], view=j)
                assert np.array_equal(got, want)


def _check_temporal(name: str, stored: np.ndarray, clean: np.ndarray, index: int) -> None:
    assert np.array_equal(stored, corrupt(clean, name, SEVERITY, seed=0, index=index))
    order = _source_order(stored, clean)                               # every stored frame is a clean frame
    if name == "reverse":
        assert order == list(range(0, T, 2))[::-1]                    # severity 1: stride 2, backwards
    elif name == "freeze":     # k = int(0.4 T) picks in order, each held to the next; padded with the last frame
        assert len(order) == T and order == sorted(order)
        assert len(set(order) - {T - 1}) <= int(0.4 * T) <= len(set(order)) < T
    else:                                                              # the jumbles: a permutation, not the identity
        assert sorted(order) == list(range(T)) and order != list(range(T))


def test_same_bytes_with_one_worker_inline_and_after_a_resume(ingested, corrupted, tmp_path):
    names = ["gaussian", "box_jumble"]
    out = str(tmp_path / "again")
    results = corrupt_test_set(os.path.join(ingested[1], "ucf101-s1-test"),
                               CorruptRequest(",".join(names), str(SEVERITY), payload="svf"),
                               BuildOptions(out, per_shard=2, inline=True, progress=False))
    assert [r.name for r in results] == [f"{n}-s{SEVERITY}" for n in names]
    for n in names:
        assert tree_digest(os.path.join(out, f"{n}-s{SEVERITY}")) == tree_digest(os.path.join(corrupted, f"{n}-s{SEVERITY}"))
    # a crash that left one shard committed and nothing else: the rerun keeps it and ends identical
    folder = os.path.join(out, f"gaussian-s{SEVERITY}")
    for name in (layout.CARD, layout.SAMPLES_MANIFEST, layout.SHARDS_MANIFEST, "gaussian-s1-000001.tar",
                 layout.marker_name("gaussian-s1-000001.tar")):
        os.remove(os.path.join(folder, name))
    kept = os.stat(os.path.join(folder, "gaussian-s1-000000.tar")).st_mtime_ns
    assert cli_main(["corrupt", ingested[1], "--corruption", "gaussian", "--severity", "1", "--out", out,
                     "--payload", "svf", "--videos-per-shard", "2", "--workers", "1", "--no-progress"]) == 0
    assert os.stat(os.path.join(folder, "gaussian-s1-000000.tar")).st_mtime_ns == kept
    assert tree_digest(folder) == tree_digest(os.path.join(corrupted, f"gaussian-s{SEVERITY}"))


def test_another_seed_draws_other_corruptions(ingested, corrupted, tmp_path):
    [result] = corrupt_test_set(ingested[1], CorruptRequest("impulse", str(SEVERITY), seed=1),
                                BuildOptions(str(tmp_path), per_shard=2, inline=True, progress=False))
    assert result.card["corruption"]["seed"] == 1
    ours = open_dataset(result.url).samples.column("frames_hash").to_pylist()
    theirs = open_dataset(os.path.join(corrupted, f"impulse-s{SEVERITY}")).samples.column("frames_hash").to_pylist()
    assert all(a != b for a, b in zip(ours, theirs))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_payload_auto_keeps_noise_lossless_and_jpegs_the_rest(ingested, corrupted, tmp_path):
    names = "gaussian,rotate"
    assert cli_main(["corrupt", ingested[1], "--corruption", names, "--severity", "1", "--out", str(tmp_path / "auto"),
                     "--videos-per-shard", "2", "--workers", "1", "--no-progress"]) == 0
    assert cli_main(["corrupt", ingested[1], "--corruption", "gaussian", "--severity", "1", "--out",
                     str(tmp_path / "svj"), "--payload", "svj", "--workers", "1", "--no-progress"]) == 0
    lossless = {n: open_dataset(os.path.join(corrupted, f"{n}-s1")) for n in ("gaussian", "rotate")}
    assert tree_digest(str(tmp_path / "auto" / "gaussian-s1")) == tree_digest(lossless["gaussian"].url)
    for folder, name, floor in (("auto", "rotate", 40), ("svj", "gaussian", 30)):
        ds = open_dataset(str(tmp_path / folder / f"{name}-s1"))
        assert ds.card["payload"]["kind"] == "svj" and ds.card["sample_members"] == ["svj", "json"]
        # frames_hash is of the corrupted frames, whatever stores them
        assert ds.samples.column("frames_hash").to_pylist() == lossless[name].samples.column("frames_hash").to_pylist()
        for a, b in zip(ds.iter_samples(), lossless[name].iter_samples()):
            jpeg, exact = open_payload("svj", a["svj"]).frames(), open_payload("svf", b["svf"]).frames()
            assert _psnr(jpeg, exact) > floor and len(a["svj"]) < len(b["svf"])


@pytest.mark.parametrize("args, message", [
    (["--corruption", "fog"], "unknown corruption 'fog'"),
    (["--severity", "6"], "severity '6': levels are 1-5"),
    (["--stride", "0"], "--stride 0: keep every N-th frame, N >= 1"),
])
def test_bad_requests_are_one_clear_line(ingested, tmp_path, capsys, args, message):
    assert cli_main(["corrupt", ingested[1], "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_the_source_must_be_one_labelled_test_set(ingested, tmp_path, capsys):
    from synthvid.factory.generate.recipe import from_variant
    from synthvid.factory.pipeline.build import build_variants

    assert cli_main(["corrupt", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "name one ingested test set (test sets found there: none)" in capsys.readouterr().err
    build_variants([from_variant("moving-circles", {"size": 32, "frames_min": 4, "frames_max": 4})],
                   BuildOptions(str(tmp_path / "synthetic"), videos=1, inline=True, progress=False))
    assert cli_main(["corrupt", str(tmp_path / "synthetic" / "moving-circles"), "--out", str(tmp_path / "o")]) == 2
    assert "not a labelled set" in capsys.readouterr().err
