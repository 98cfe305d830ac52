"""`synthvid-factory ingest` on tiny UCF101 / HMDB51 layouts (tests/videodata.py): labelled shard sets on a
real Ray runtime, byte-identical across worker counts and after a kill, on the loopback S3 server, read back
by synthvid, webdataset, Hugging Face `datasets` and tarfile."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile

import pytest

from synthvid.factory.cli import main as cli_main
from synthvid.factory.pipeline.options import BuildOptions
from synthvid.manifests.hashing import FramesHasher
from synthvid.factory.realvideo.decode import decode_video
from synthvid.factory.realvideo.ingest import IngestRequest, ingest
from synthvid.manifests import layout
from synthvid.manifests.payload import Limits, open_payload
from synthvid.manifests.reader import IncompleteDatasetError, open_dataset
from synthvid.manifests.storage import url_to_fs
from synthvid.manifests.verify import verify_dataset
from tests.helpers import ray_tasks_running, tree_digest, wait_for
from tests.videodata import HMDB_CLASSES, UCF_CLASSES, TinySpec, make_hmdb51, make_ucf101

pytestmark = pytest.mark.usefixtures("ray_runtime")
PARTS = ("train", "test")


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("layouts"))
    return make_ucf101(base), make_hmdb51(base)


@pytest.fixture(scope="module")
def reference(layouts, tmp_path_factory):
    """Split 1 of the tiny UCF101, 4 videos per shard, one worker."""
    ucf = layouts[0]
    out = str(tmp_path_factory.mktemp("ucf-ref"))
    ingest(IngestRequest("ucf101", ucf.root, ucf.lists, 1), BuildOptions(out, per_shard=4, workers=1, progress=False))
    return out


def _argv(data, out: str, *extra: str, dataset: str = "ucf101") -> list[str]:
    return ["ingest", dataset, data.root, "--splits", data.lists, "--out", out, "--videos-per-shard", "4",
            "--workers", "2", "--no-progress", *extra]


def test_labelled_sets_hold_the_source_bytes_labels_and_decoded_frame_counts(layouts, reference):
    ucf = layouts[0]
    for part in PARTS:
        ds = open_dataset(os.path.join(reference, f"ucf101-s1-{part}"))
        card = ds.card
        assert card["classes"] == list(UCF_CLASSES)
        assert card["split"] == {"dataset": "ucf101", "split": 1, "part": part}
        assert card["payload"]["kind"] == "avi" and card["sample_members"] == ["avi", "json"]
        assert card["source_videos"]["listed"] == len(ucf.split1[part]) and "skipped" not in card
        rows = ds.samples.to_pylist()
        assert [r["source"] for r in rows] == ucf.split1[part]
        assert [r["key"] for r in rows] == [layout.sample_key(i) for i in range(len(rows))]
        for row, sample in zip(rows, ds.iter_samples()):
            path = os.path.join(ucf.root, row["source"])
            assert sample["avi"] == open(path, "rb").read()                 # the source file, unchanged
            assert row["label"] == row["source"].split("/")[0] == UCF_CLASSES[row["label_index"]]
            assert json.loads(sample["json"])["label_index"] == row["label_index"]
            reference_frames = decode_video(path).frames
            assert row["frames"] == len(reference_frames) == 24 and (row["height"], row["width"]) == (60, 80)
            hasher = FramesHasher()
            for frame in reference_frames:
                hasher.add(frame)
            assert row["frames_hash"] == hasher.hexdigest()
            video = open_payload("avi", sample["avi"], Limits.for_row(row))
            assert video.num_frames == 24 and (video.frames([23, 0]) == reference_frames[[23, 0]]).all()
        assert verify_dataset(ds.url).ok


def test_one_and_two_workers_write_identical_bytes(layouts, reference, tmp_path):
    assert cli_main(_argv(layouts[0], str(tmp_path))) == 0
    assert tree_digest(str(tmp_path)) == tree_digest(reference)


def test_hmdb51_sorted_labels_and_unused_videos_in_the_card(layouts, tmp_path, capsys):
    hmdb = layouts[1]
    assert cli_main(_argv(hmdb, str(tmp_path), dataset="hmdb51")) == 0
    out, err = capsys.readouterr()
    for part, count in (("train", 9), ("test", 6)):
        ds = open_dataset(str(tmp_path / f"hmdb51-s1-{part}"))
        assert ds.card["classes"] == sorted(HMDB_CLASSES)
        assert ds.card["split"] == {"dataset": "hmdb51", "split": 1, "part": part}
        assert [r["source"] for r in ds.samples.to_pylist()] == hmdb.split1[part] and ds.num_samples == count
        unused = ds.card["source_videos"]["unused"]
        assert unused["count"] == 3 and all(p.endswith("_2.avi") for p in unused["paths"])
        assert f"hmdb51-s1-{part}: {count} videos in" in out
        assert f"hmdb51-s1-{part}: 3 unused video(s) of the split, not ingested" in err


def test_unreadable_videos_fail_by_default_then_are_named_skips_then_get_back_in_when_repaired(layouts, reference,
                                                                                              tmp_path, capsys):
    ucf = layouts[0]
    root = str(tmp_path / "UCF-101")
    shutil.copytree(ucf.root, root)
    bad = ucf.split1["test"][1]
    original = open(os.path.join(root, bad), "rb").read()
    open(os.path.join(root, bad), "wb").write(original[:len(original) // 3])      # a truncated download
    data = type(ucf)(root, ucf.lists, ucf.classes, ucf.split1)
    out = str(tmp_path / "out")

    assert cli_main(_argv(data, out)) == 2
    err = capsys.readouterr().err
    assert re.search(rf"1 item\(s\) could not be read:\n  ucf101-s1-test/00000001: {re.escape(bad)}: \w", err), err
    assert "--skip-unreadable" in err
    assert open_dataset(os.path.join(out, "ucf101-s1-train")).num_samples == 12        # the other part finished
    with pytest.raises(IncompleteDatasetError):
        open_dataset(os.path.join(out, "ucf101-s1-test"))

    assert cli_main(_argv(data, out, "--skip-unreadable")) == 0
    err = capsys.readouterr().err
    assert f"ucf101-s1-test: unreadable, left out: {bad}: " in err
    ds = open_dataset(os.path.join(out, "ucf101-s1-test"))
    assert ds.num_samples == 5 and bad not in [r["source"] for r in ds.samples.to_pylist()]
    skipped = ds.card["skipped"]
    assert skipped["count"] == 1 and skipped["items"][0]["key"] == "00000001"
    assert skipped["items"][0]["reason"].startswith(f"{bad}: ")

    open(os.path.join(root, bad), "wb").write(original)                  # repaired: its shard is read again
    assert cli_main(_argv(data, out)) == 0
    assert tree_digest(out) == tree_digest(reference)


def _break_list(lists: str) -> None:
    path = os.path.join(lists, "trainlist01.txt")
    lines = open(path, newline="").read().split("\r\n")
    open(path, "w", newline="").write("\r\n".join(lines[:2] + [lines[2].split()[0]] + lines[3:]))


def _unknown_class(lists: str) -> None:
    with open(os.path.join(lists, "testlist01.txt"), "a", newline="") as f:
        f.write("Juggling/v_Juggling_g01_c01.avi\r\n")


def _empty_class(root: str) -> None:
    for name in os.listdir(os.path.join(root, "PanPhoto")):
        os.remove(os.path.join(root, "PanPhoto", name))


@pytest.mark.parametrize("breakage, message", [
    (lambda root, lists: _break_list(lists), r"trainlist01\.txt:3: expected '<class>/<video>\.avi <label>'"),
    (lambda root, lists: _unknown_class(lists), r"testlist01\.txt:7: class 'Juggling' is not in classInd\.txt"),
    (lambda root, lists: _empty_class(root), r"UCF-101/PanPhoto: class folder holds no \.avi video"),
])
def test_broken_layouts_are_one_clear_line_naming_file_and_line(layouts, tmp_path, capsys, breakage, message):
    ucf = layouts[0]
    root, lists = str(tmp_path / "UCF-101"), str(tmp_path / "lists")
    shutil.copytree(ucf.root, root)
    shutil.copytree(ucf.lists, lists)
    breakage(root, lists)
    data = type(ucf)(root, lists, ucf.classes, ucf.split1)
    assert cli_main(_argv(data, str(tmp_path / "out"))) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("synthvid-factory: error: ") and len(err.splitlines()) == 1, err
    assert re.search(message, err), err
    assert not os.path.exists(tmp_path / "out")                 # nothing written before the lists parse


def _markers(out: str) -> int:
    found = 0
    for part in PARTS:
        folder = os.path.join(out, f"ucf101-s1-{part}", layout.COMMIT_DIR)
        names = os.listdir(folder) if os.path.isdir(folder) else []
        found += sum(bool(re.fullmatch(r".+-\d{6}\.json", n)) for n in names)
    return found


def test_killed_ingest_resumes_to_the_same_bytes(tmp_path, ray_runtime):
    data = make_ucf101(str(tmp_path / "src"), TinySpec(videos_per_class=10, test_per_class=3))
    killed, clean = str(tmp_path / "killed"), str(tmp_path / "clean")
    argv = ["ingest", "ucf101", data.root, "--splits", data.lists, "--videos-per-shard", "1", "--no-progress"]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.Popen([sys.executable, "-m", "synthvid.factory.cli", *argv, "--out", killed, "--workers", "1",
                             "--ray-address", ray_runtime.address_info["gcs_address"]], env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def some_committed():
        assert proc.poll() is None, "the ingest finished before it could be killed: " + proc.stderr.read().decode()
        return 1 <= _markers(killed) < 30

    try:
        wait_for(some_committed, 180, "a committed shard of the ingest", every=0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)         # its own process group, by its handle
        proc.wait()
    # Ray ends a dead driver's tasks lazily: wait until no worker of this runtime still runs a shard task
    wait_for(lambda: ray_tasks_running(ray_runtime, "build_shard") == 0, 120, "the killed ingest's Ray tasks to end")
    assert _markers(killed) < 30 and not all(os.path.exists(os.path.join(killed, f"ucf101-s1-{p}", layout.CARD))
                                             for p in PARTS)
    assert cli_main([*argv, "--out", killed, "--workers", "2"]) == 0
    assert cli_main([*argv, "--out", clean, "--workers", "1"]) == 0
    assert tree_digest(killed) == tree_digest(clean)


def test_source_and_output_on_object_storage(layouts, reference, s3_server, s3_url, tmp_path):
    """Source folders and output on the S3 server; the credentials reach the workers as storage options."""
    options = s3_server.storage_options()
    flags = [x for k, v in (("key", options["key"]), ("secret", options["secret"]),
                            ("endpoint_url", options["endpoint_url"]),
                            ("client_kwargs.region_name", options["client_kwargs"]["region_name"]))
             for x in ("--storage-option", f"{k}={v}")]
    fs, base = url_to_fs(s3_url, options)
    fs.put(os.path.dirname(layouts[0].root) + "/", base + "/src", recursive=True)
    src, out = f"{s3_url}/src", f"{s3_url}/out"
    assert cli_main(["ingest", "ucf101", f"{src}/UCF-101", "--splits", f"{src}/ucfTrainTestlist", "--out", out,
                     "--videos-per-shard", "4", "--workers", "2", "--no-progress", *flags]) == 0
    for part in PARTS:
        name = f"ucf101-s1-{part}"
        assert verify_dataset(f"{out}/{name}", options).ok
        fs.get(f"{base}/out/{name}/", str(tmp_path / name) + "/", recursive=True)
        # location-free: the same bytes as the local ingest of the same files
        assert tree_digest(str(tmp_path / name)) == tree_digest(os.path.join(reference, name))


def test_webdataset_hf_datasets_and_tarfile_read_an_ingested_set(reference):
    import webdataset as wds
    from datasets import Video, load_dataset

    ds = open_dataset(os.path.join(reference, "ucf101-s1-test"))
    rows = {r["key"]: r for r in ds.samples.to_pylist()}
    shards = [s.url for s in ds.shards]

    seen = 0
    for sample in wds.WebDataset(shards, shardshuffle=False, empty_check=False):
        row = rows[sample["__key__"]]
        assert hashlib.sha256(sample["avi"]).hexdigest() == row["payload_sha256"]
        assert json.loads(sample["json"])["label"] == row["label"]
        seen += 1
    assert seen == len(rows)

    hf = load_dataset("webdataset", data_files={"test": shards}, split="test").cast_column("avi", Video(decode=False))
    assert len(hf) == len(rows)
    for item in hf:
        row = rows[item["__key__"]]
        assert hashlib.sha256(item["avi"]["bytes"]).hexdigest() == row["payload_sha256"]
        assert (item["json"]["label"], item["json"]["label_index"]) == (row["label"], row["label_index"])
        assert open_payload("avi", item["avi"]["bytes"], Limits.for_row(row)).frames([0]).shape == (1, 60, 80, 3)

    with tarfile.open(shards[0]) as tar:
        names = tar.getnames()
    assert names == [m for r in rows.values() if r["shard"] == ds.shards[0].name for m in r["members"]]


def test_a_worker_whose_decoder_differs_from_the_drivers_refuses_to_write(layouts):
    import dataclasses

    from synthvid.factory.pipeline.jobs import BuildError
    from synthvid.factory.realvideo.ingest import video_sets

    ucf = layouts[0]
    train = video_sets(IngestRequest("ucf101", ucf.root, ucf.lists, 1))[0]
    payload, info = train.render_sample(0, 0)
    assert payload.kind == "avi" and info.label == UCF_CLASSES[info.label_index]
    driver = dataclasses.replace(train, decoder={**train.decoder, "libavcodec": "0.0.0"})
    with pytest.raises(BuildError, match=r"libavcodec \S+ here vs 0\.0\.0 on the driver"):
        driver.render_sample(0, 0)
