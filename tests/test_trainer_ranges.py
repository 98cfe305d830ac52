"""Clip-level reads: a clip read by byte range equals the clip read from the whole video (both payload
kinds, local and from the S3 server), repeated sampling, JPEG frames handed over and decoded on the device,
the bad-payload errors and the schema-1 datasets, on tiny builds from the real factory."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pyarrow as pa
import pytest
import torch

from synthvid.manifests import layout
from synthvid.manifests.payload import psnr
from synthvid.manifests.schema import SAMPLE_SCHEMA, parquet_bytes_to_table, rows_to_parquet_bytes
from synthvid.trainer import data as D
from synthvid.trainer.data.ranges import RangeReader, Request
from tests.test_trainer_fixtures import TINY, build

pytestmark = pytest.mark.usefixtures("one_thread")
SPEC = D.ClipSpec(num_frames=16, sampling_rate=1, input_size=64)
PLAN = D.Plan(epoch_size=24, global_batch=4, world=1, accum=1, workers=2)
PAYLOADS = {"svf": ("svf",), "svj": ("svj", 95)}


def _stream(url, plan=PLAN, clip_options=None, seed=0, spec=SPEC, **options):
    source = D.open_source(url, D.SourceOptions(procedural_params=TINY, **options))
    return D.ClipStream([source], None, plan, spec, seed=seed, rank=0, options=clip_options)


def _epoch(ds, workers=PLAN.workers) -> dict:
    return {b["micro"]: b for w in range(workers) for b in ds.iter_worker(w)}


def _same_batches(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and len(a) == PLAN.micro_batches
    for m in a:
        for key in ("frames", "box", "index", "source", "stats"):
            assert torch.equal(a[m][key], b[m][key]), (m, key)


@pytest.mark.parametrize("payload", ["svf", "svj"])
def test_range_reads_give_the_clips_of_whole_videos_with_fewer_bytes(payload):
    """The paper's clip (16 frames at stride 4) of 64-80-frame videos: the same batches either way, and by
    byte range about a quarter of each video (one phase of its blocks) plus its head."""
    url = build(videos=24, per_shard=6, payload=PAYLOADS[payload], frames_min=64, frames_max=80)
    spec = D.ClipSpec(num_frames=16, sampling_rate=4, input_size=64)
    whole = _epoch(_stream(url, read_mode="stream", spec=spec))
    ranged = _epoch(_stream(url, read_mode="range", spec=spec))
    _same_batches(whole, ranged)
    read = lambda batches: np.median(np.concatenate([b["bytes"].numpy() for b in batches.values()]))  # noqa: E731
    sizes = open_dataset_sizes(url)
    assert read(whole) == pytest.approx(np.median(sizes), rel=0.5)           # a whole payload per clip
    assert read(ranged) < 0.5 * read(whole)                                  # the head and one phase's blocks


def open_dataset_sizes(url) -> list[int]:
    from synthvid.manifests.reader import open_dataset

    return open_dataset(url).samples.column("payload_bytes").to_pylist()


def test_range_reads_from_object_storage_equal_local_reads(s3_server):
    from synthvid.factory.pipeline.publish import publish

    url = build(videos=24, per_shard=6, payload=PAYLOADS["svj"])
    remote = publish(url, s3_server.unique_url("ranges"), storage_options=s3_server.storage_options(),
                     progress=False)["variants"][os.path.basename(url)]["url"]
    local = _epoch(_stream(url, read_mode="stream"))
    options = s3_server.storage_options()
    s3 = _stream(remote, read_mode="range", storage_options=options)
    assert s3.sources[0].read_mode == "range" and s3.sources[0].read_ahead == 16
    _same_batches(local, _epoch(s3))
    _same_batches(local, _epoch(_stream(remote, read_mode="stream", storage_options=options)))
    # the reader itself: concurrent ranges of one shard, and a range past the end is an error, not short bytes
    shard = s3.sources[0].shards[0]
    reader = RangeReader(remote, options)
    head, tail = reader.read([Request(shard.name, 0, 512), Request(shard.name, shard.bytes - 100, shard.bytes)])
    with open(os.path.join(url, shard.name), "rb") as f:
        data = f.read()
    assert head == data[:512] and tail == data[-100:]
    [past] = reader.read([Request(shard.name, shard.bytes - 10, shard.bytes + 10)])
    assert isinstance(past, Exception)


def test_only_whole_shard_reads_warn_about_workers_sharing_a_shard():
    """4 shards for 6 ranks x workers: streaming whole shards reads some twice (a warning); range reads fetch
    only each sample's own bytes, so sharing a shard costs nothing and says nothing."""
    import warnings

    url, plan = build(), D.Plan(epoch_size=24, global_batch=6, world=1, accum=1, workers=6)
    with pytest.warns(UserWarning, match="4 shard.s. for 6 ranks x workers"):
        _stream(url, plan, read_mode="stream")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _stream(url, plan, read_mode="range")


def test_jpeg_clip_within_the_stated_psnr_of_the_rendered_frames():
    """A clip of the svj set, decoded through the trainer, against the same clip rendered on the fly."""
    from synthvid.manifests.reader import open_dataset
    from synthvid.manifests.seeds import epoch_seed

    seed, epoch = 5, 1
    url = build(videos=12, per_shard=4, seed=epoch_seed(seed, epoch), payload=PAYLOADS["svj"])
    stated = {r["index"]: r["psnr_db"] for r in open_dataset(url).samples.to_pylist()}
    plan = D.Plan(epoch_size=12, global_batch=4, world=1, accum=1, workers=1)
    clips = {}
    for name, src in (("shard", url), ("procedural", "procedural:accelerating-shapes")):
        ds = _stream(src, plan, seed=seed, epoch_size=12)
        ds.set_position(epoch)
        for b in ds.iter_worker(0):
            for i, idx in enumerate(b["index"].tolist()):
                clips.setdefault(idx, {})[name] = (b["frames"][i].numpy(), b["box"][i])
    assert len(clips) == 12
    for idx, c in clips.items():
        assert torch.equal(c["shard"][1], c["procedural"][1])               # same window and crop
        assert psnr(c["shard"][0], c["procedural"][0]) >= stated[idx] - 1.5, idx   # 16 of 20-30 frames


def test_clips_per_video_share_one_read_and_resume_mid_video():
    url = build(videos=24, per_shard=6, payload=PAYLOADS["svj"])
    plan = D.Plan(epoch_size=24, global_batch=4, world=1, accum=1, workers=1)
    one = _epoch(_stream(url, plan), 1)
    two = _epoch(_stream(url, plan, D.ClipOptions(clips_per_video=2)), 1)
    idx = torch.cat([two[m]["index"] for m in sorted(two)]).tolist()
    assert len(idx) == 24 and idx[0::2] == idx[1::2] and len(set(idx)) == 12   # pairs of one video
    boxes = torch.cat([two[m]["box"] for m in sorted(two)])
    frames = torch.cat([two[m]["frames"] for m in sorted(two)])
    single = {int(i): f for b in one.values() for i, f in zip(b["index"], b["frames"])}
    assert len(single) == 24
    assert all(torch.equal(frames[k], single[idx[k]]) for k in range(0, 24, 2))   # repeat 0: the one-clip draw
    assert any(not torch.equal(frames[k], frames[k + 1]) or not torch.equal(boxes[k], boxes[k + 1])
               for k in range(0, 24, 2))                                  # repeat 1 draws its own clip
    per_clip_one = torch.cat([b["bytes"] for b in one.values()]).double().mean()
    per_clip_two = torch.cat([b["bytes"] for b in two.values()]).double().mean()
    assert per_clip_two < 0.75 * per_clip_one                             # one read serves two clips
    ds = _stream(url, plan, D.ClipOptions(clips_per_video=2))
    ds.set_position(0, start_micro=3)                                     # 12 clips done: 6 videos
    rest = {b["micro"]: b for b in ds.iter_worker(0)}
    assert sorted(rest) == list(range(3, 6))
    for m in rest:
        assert torch.equal(rest[m]["frames"], two[m]["frames"]) and torch.equal(rest[m]["index"], two[m]["index"])


def test_encoded_handover_decodes_on_the_device_to_the_same_frames():
    url = build(videos=24, per_shard=6, payload=PAYLOADS["svj"])
    plain = _epoch(_stream(url))
    handed = _epoch(_stream(url, clip_options=D.ClipOptions(handover=True)))
    for m, b in handed.items():
        assert "frames" not in b and len(b["encoded"]) == 4 and all(len(f) == 16 for f in b["encoded"])
        assert all(f[:2] == b"\xff\xd8" for clip in b["encoded"] for f in clip)      # JPEG files
        assert torch.equal(D.device_frames(b, "cpu"), plain[m]["frames"])
        assert torch.equal(b["box"], plain[m]["box"])
    flat = build(videos=24, per_shard=6, payload=PAYLOADS["svf"])            # svf is never handed over
    assert all("encoded" not in b for b in _epoch(_stream(flat, clip_options=D.ClipOptions(handover=True))).values())


def _zero_frame_blocks(url: str, kind: str) -> str:
    """The shard holding sample 00000000 rewritten with that payload's frame blocks zeroed (same sizes)."""
    from synthvid.manifests.payload import open_payload

    rows = {r["key"]: r for r in parquet_bytes_to_table(open(os.path.join(url, layout.SAMPLES_MANIFEST),
                                                                  "rb").read()).to_pylist()}
    row = rows["00000000"]
    path = os.path.join(url, row["shard"])
    data = bytearray(open(path, "rb").read())
    head = open_payload(kind, bytes(data[row["payload_offset"]:row["payload_offset"] + row["payload_bytes"]])).head
    start = row["payload_offset"] + head.size
    data[start:row["payload_offset"] + row["payload_bytes"]] = bytes(row["payload_bytes"] - head.size)
    open(path, "wb").write(bytes(data))
    return row["shard"]


@pytest.mark.parametrize("read_mode", ["range", "stream"])
def test_corrupt_jpeg_payload_names_shard_and_sample_or_is_skipped(tmp_path, read_mode):
    url = str(tmp_path / "v")
    shutil.copytree(build(videos=12, per_shard=4, payload=PAYLOADS["svj"]), url)
    shard = _zero_frame_blocks(url, "svj")
    plan = D.Plan(epoch_size=12, global_batch=4, world=1, accum=1, workers=1)
    with pytest.raises(D.DataError, match=rf"{shard}: sample 00000000: frame \d+: .*--skip-bad-shards"):
        list(_stream(url, plan, read_mode=read_mode).iter_worker(0))
    batches = list(_stream(url, plan, read_mode=read_mode, skip_bad_shards=True).iter_worker(0))
    assert len(batches) == 3 and int(sum(b["stats"] for b in batches)[1]) == 1     # one sample, counted
    assert 0 not in torch.cat([b["index"] for b in batches]).tolist()


def _rewrite_samples(url: str, change, schema=SAMPLE_SCHEMA) -> None:
    path = os.path.join(url, layout.SAMPLES_MANIFEST)
    table = change(parquet_bytes_to_table(open(path, "rb").read()))
    open(path, "wb").write(rows_to_parquet_bytes(table.to_pylist(), schema, "key") if schema is not None
                           else _plain_parquet(table))


def _plain_parquet(table: pa.Table) -> bytes:
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_unknown_payload_kind_fails_fast_even_when_skipping(tmp_path):
    url = str(tmp_path / "v")
    shutil.copytree(build(videos=12, per_shard=4), url)
    _rewrite_samples(url, lambda t: t.set_column(t.schema.get_field_index("payload_kind"), "payload_kind",
                                                  pa.array(["svx"] * t.num_rows)))
    for options in ({}, {"skip_bad_shards": True}):
        with pytest.raises(D.DataError, match="unknown payload kind 'svx'.*a newer synthvid"):
            D.open_source(url, D.SourceOptions(**options))


def test_schema_1_dataset_still_trains(tmp_path):
    """A version-1 dataset (svf payloads, no payload_kind or psnr_db columns, `.latents.npy`) reads as before."""
    url = str(tmp_path / "v1")
    src = build(videos=12, per_shard=4)
    shutil.copytree(src, url)
    _rewrite_samples(url, lambda t: t.drop_columns(["payload_kind", "psnr_db"]), schema=None)
    card = json.loads(open(os.path.join(url, layout.CARD)).read())
    card["schema_version"] = 1
    open(os.path.join(url, layout.CARD), "w").write(json.dumps(card))
    plan = D.Plan(epoch_size=12, global_batch=4, world=1, accum=1, workers=1)
    old = list(_stream(url, plan).iter_worker(0))
    new = list(_stream(src, plan).iter_worker(0))
    assert len(old) == 3 and all(torch.equal(a["frames"], b["frames"]) for a, b in zip(old, new))
    card["schema_version"] = 3
    open(os.path.join(url, layout.CARD), "w").write(json.dumps(card))
    with pytest.raises(D.DataError, match="schema version 3, this reader knows 1, 2"):
        D.open_source(url)


def test_training_with_repeated_sampling_resumes_exactly_and_read_mode_may_change(tmp_path):
    """An svj set, 2 clips per video, cut after 3 steps (mid-video: batch 4 = 2 videos) and resumed with the
    other read mode and handover decoding: the same losses as one uninterrupted run."""
    from synthvid.trainer.engine import TrainError, train
    from tests.test_trainer_fixtures import tiny_config

    url = build(videos=24, per_shard=6, payload=PAYLOADS["svj"])
    opts = dict(clips_per_video=2, workers=2)
    full = train(tiny_config(tmp_path / "full", url, max_steps=7, **opts))
    first = train(tiny_config(tmp_path / "cut", url, max_steps=3, save_every=1, **opts))
    rest = train(tiny_config(tmp_path / "cut", url, max_steps=7, resume=str(tmp_path / "cut"), read_mode="stream",
                             decode_device="cpu", **opts))
    assert first["losses"] + rest["losses"] == pytest.approx(full["losses"], rel=1e-5, abs=1e-6)
    assert first["indices"] + rest["indices"] == full["indices"]
    assert all(a[0] == a[1] for step in full["indices"] for a in zip(step[0::2], step[1::2]))   # video pairs
    with pytest.raises(TrainError, match=r"clips_per_video 2 \(checkpoint\) vs 1"):
        train(tiny_config(tmp_path / "cut", url, max_steps=8, resume=str(tmp_path / "cut"), workers=2))
    with pytest.raises(TrainError, match="--decode-device cuda needs a CUDA --device"):
        train(tiny_config(tmp_path / "gpu", url, max_steps=1, device="cpu", decode_device="cuda"))


@pytest.mark.parametrize("read_mode, message", [
    ("range", r"its frame index reaches byte \d+ of a \d+-byte payload"),
    ("stream", r"its .svj member is \d+ bytes where the manifest says \d+"),
])
def test_payload_truncated_by_its_manifest_is_named(tmp_path, read_mode, message):
    """The manifest says the payload is 1,000 bytes shorter than its frame index needs: one line naming the
    shard and the sample (the payload ends before its blocks do), or skipped and counted."""
    url = str(tmp_path / "v")
    shutil.copytree(build(videos=12, per_shard=4, payload=PAYLOADS["svj"]), url)
    short = pa.array([b - 1000 if k == "00000005" else b for k, b in zip(*_columns(url, "key", "payload_bytes"))],
                     pa.int64())
    _rewrite_samples(url, lambda t: t.set_column(t.schema.get_field_index("payload_bytes"), "payload_bytes", short))
    shard = dict(zip(*_columns(url, "key", "shard")))["00000005"]
    plan = D.Plan(epoch_size=12, global_batch=4, world=1, accum=1, workers=1)
    with pytest.raises(D.DataError, match=rf"{shard}: sample 00000005: {message}.*--skip-bad-shards"):
        list(_stream(url, plan, read_mode=read_mode).iter_worker(0))
    batches = list(_stream(url, plan, read_mode=read_mode, skip_bad_shards=True).iter_worker(0))
    assert int(sum(b["stats"] for b in batches)[1]) == 1 and len(batches) == 3


def _columns(url: str, *names: str) -> list[list]:
    table = parquet_bytes_to_table(open(os.path.join(url, layout.SAMPLES_MANIFEST), "rb").read())
    return [table.column(n).to_pylist() for n in names]
