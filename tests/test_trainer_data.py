"""The streaming data path: partitioning, determinism, resume position, mixtures, procedural equality,
temporal sampling, crops and bad input. All on tiny builds from the real factory."""

from __future__ import annotations

import collections
import os
import shutil
import warnings

import numpy as np
import pytest
import torch

from synthvid.trainer import data as D
from tests.test_trainer_fixtures import TINY, build

pytestmark = pytest.mark.usefixtures("one_thread")
SPEC = D.ClipSpec(num_frames=16, sampling_rate=1, input_size=64)


def _stream(urls, plan, seed=0, rank=0, weights=None, **kw):
    sources = [D.open_source(u, D.SourceOptions(procedural_params=TINY, **kw)) for u in ([urls] if isinstance(urls, str) else urls)]
    return D.ClipStream(sources, weights, plan, SPEC, seed=seed, rank=rank)


def _epoch(ds, workers):
    return {m: b for w in range(max(1, workers)) for b in ds.iter_worker(w) for m in [b["micro"]]}


def test_ranks_and_workers_disjoint_equal_counts():
    url = build(videos=30, per_shard=3)                      # 10 shards for 2 ranks x 2 workers
    plan = D.Plan(epoch_size=30, global_batch=4, world=2, accum=1, workers=2)
    seen, counts = [], []
    for rank in range(2):
        batches = _epoch(_stream(url, plan, rank=rank), 2)
        counts.append(len(batches))
        assert sorted(batches) == list(range(plan.micro_batches))
        seen += [i for b in batches.values() for i in b["index"].tolist()]
    assert counts == [7, 7]                                  # 30 // 4 = 7 steps, remainder dropped
    assert len(seen) == 28 and len(set(seen)) == 28          # disjoint across ranks and workers


def test_few_shards_warns_and_still_partitions():
    url = build(videos=24, per_shard=12)                     # 2 shards for 4 slots
    plan = D.Plan(epoch_size=24, global_batch=4, world=2, accum=1, workers=2)
    with pytest.warns(UserWarning, match="2 shard"):         # streaming whole shards: shared shards cost I/O
        _stream(url, plan, rank=0, read_mode="stream")
    seen = []
    for rank in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seen += [i for b in _epoch(_stream(url, plan, rank=rank), 2).values() for i in b["index"].tolist()]
    assert len(seen) == len(set(seen)) == 24


def test_order_identical_across_runs_and_epochs_differ():
    url = build()
    plan = D.Plan(epoch_size=24, global_batch=4, world=1, accum=1, workers=2)
    a, b = _epoch(_stream(url, plan, seed=7), 2), _epoch(_stream(url, plan, seed=7), 2)
    for m in a:
        assert torch.equal(a[m]["index"], b[m]["index"]) and torch.equal(a[m]["frames"], b[m]["frames"])
        assert torch.equal(a[m]["box"], b[m]["box"])
    ds = _stream(url, plan, seed=7)
    ds.set_position(1)
    c = _epoch(ds, 2)
    assert any(not torch.equal(a[m]["index"], c[m]["index"]) for m in a)


def test_resume_position_through_dataloader_with_reordering():
    url = build()
    plan = D.Plan(epoch_size=24, global_batch=2, world=1, accum=1, workers=2)
    ds = _stream(url, plan, seed=1)
    full = [b["index"].tolist() for b in D.ordered(iter(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)))]
    assert len(full) == 12
    ds.set_position(0, start_micro=5)                          # odd: the first batch comes from worker 1
    rest = list(D.ordered(iter(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)), 5))
    assert [b["micro"] for b in rest] == list(range(5, 12))
    assert [b["index"].tolist() for b in rest] == full[5:]


def test_mixture_weights_honoured():
    a, b = build(seed=3), build(seed=4, videos=12, per_shard=4)
    plan = D.Plan(epoch_size=800, global_batch=8, world=1, accum=1, workers=1)
    ds = _stream([a, b], plan, weights=[0.75, 0.25])
    picks = np.concatenate([bt["source"].numpy() for bt in ds.iter_worker(0)])
    n = len(picks)
    frac = (picks == 0).mean()
    assert abs(frac - 0.75) < 4 * np.sqrt(0.75 * 0.25 / n), frac   # within 4 sigma of binomial noise
    # A source smaller than its share is cycled with a new order each pass, never stalling the epoch.
    assert n == 800


def test_procedural_clip_equals_shard_clip():
    from synthvid.manifests.seeds import epoch_seed

    seed, epoch = 5, 2
    url = build(videos=12, per_shard=4, seed=epoch_seed(seed, epoch))
    plan = D.Plan(epoch_size=12, global_batch=4, world=1, accum=1, workers=1)
    clips = collections.defaultdict(dict)
    for name, src in (("shard", url), ("procedural", "procedural:accelerating-shapes")):
        ds = _stream(src, plan, seed=seed, epoch_size=12)
        ds.set_position(epoch)
        for b in ds.iter_worker(0):
            for i, idx in enumerate(b["index"].tolist()):
                clips[idx][name] = (b["frames"][i], b["box"][i])
    assert len(clips) == 12
    for idx, c in clips.items():
        assert torch.equal(c["shard"][0], c["procedural"][0]), idx     # bit-exact: the payload is lossless
        assert torch.equal(c["shard"][1], c["procedural"][1])


def test_temporal_sampling_window_and_short_videos():
    spec = D.ClipSpec(num_frames=16, sampling_rate=4, input_size=64)
    starts = set()
    for k in range(200):
        idx, short = D.temporal_indices(150, spec, np.random.default_rng(k))
        assert not short and np.all(np.diff(idx) == 4) and 0 <= idx[0] <= 150 - 64 and idx[-1] < 150
        starts.add(int(idx[0]))
    assert min(starts) == 0 and max(starts) >= 80                 # uniform over [0, n - 64]
    idx, short = D.temporal_indices(25, spec, np.random.default_rng(0))
    assert short and idx[0] == 0 and idx[-1] == 24 and list(idx[:7]) == [0, 4, 8, 12, 16, 20, 24]


def test_short_clips_counted():
    url = build()
    plan = D.Plan(epoch_size=24, global_batch=4, world=1, accum=1, workers=1)
    ds = D.ClipStream([D.open_source(url)], None, plan, D.ClipSpec(16, 4, 64), seed=0, rank=0)
    assert sum(int(b["stats"][0]) for b in ds.iter_worker(0)) == 24     # 20-30 frames < a 61-frame window


def test_multiscale_box_matches_videomae():
    spec = D.ClipSpec(input_size=224)
    boxes = {D.multiscale_box(256, 340, spec, np.random.default_rng(k)) for k in range(3000)}
    sides = {b[2] for b in boxes} | {b[3] for b in boxes}
    assert sides == {256, 224, 192, 168}                          # 256 x (1, .875, .75, .66)
    assert all(0 <= y and 0 <= x and y + h <= 256 and x + w <= 340 for y, x, h, w in boxes)
    steps = [256, 224, 192, 168]
    assert all(abs(steps.index(h) - steps.index(w)) <= 1 for _, _, h, w in boxes)          # max_distort 1
    near = {D.multiscale_box(226, 226, spec, np.random.default_rng(k))[2] for k in range(300)}
    assert 224 in near and 226 not in near                        # within 3 px of the input size: snapped
    offsets = {(y, x) for y, x, h, w in boxes if (h, w) == (192, 192)}
    assert len(offsets) == 13


def test_augment_matches_pil_bilinear():
    from PIL import Image

    frames = torch.randint(0, 256, (1, 2, 256, 300, 3), dtype=torch.uint8)
    y0, x0, h, w = 16, 40, 192, 224
    x = D.augment(frames, torch.tensor([[y0, x0, h, w]]), 112)
    got = (D.unnormalize(x)[0, :, 1] * 255).round().permute(1, 2, 0).numpy()
    ref = np.asarray(Image.fromarray(frames[0, 1, y0:y0 + h, x0:x0 + w].numpy()).resize((112, 112), Image.BILINEAR))
    assert np.abs(got - ref).max() <= 1


def test_augment_float_path_matches_uint8_path():
    """The GPU path (float resize, rounded) run on the CPU agrees with the CPU's uint8 path."""
    frames = torch.randint(0, 256, (4, 3, 128, 150, 3), dtype=torch.uint8)
    box = torch.tensor([[0, 0, 128, 128], [8, 10, 96, 112], [20, 4, 84, 96], [8, 10, 96, 112]])
    a = D.augment(frames, box, 112, uint8_resize=True)
    b = D.augment(frames, box, 112, uint8_resize=False)
    from synthvid.trainer.model import IMAGENET_STD

    levels = ((a - b) * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1) * 255).abs()
    assert levels.max() <= 1.01


def test_augment_identity_crop_is_exact_and_normalised():
    frames = torch.randint(0, 256, (2, 4, 8, 8, 3), dtype=torch.uint8)
    x = D.augment(frames, torch.tensor([[0, 0, 8, 8]] * 2), 8)
    back = (D.unnormalize(x) * 255).round().byte().permute(0, 2, 3, 4, 1)
    assert torch.equal(back, frames)
    half = D.augment(frames, torch.tensor([[0, 0, 4, 4]] * 2), 8)   # a 4x4 crop upsampled 2x
    assert half.shape == (2, 3, 4, 8, 8)
    assert torch.allclose(D.unnormalize(half)[..., 0, 0], frames[:, :, 0, 0].permute(0, 2, 1).float() / 255, atol=1e-5)


def _copy(url, tmp_path):
    dst = tmp_path / os.path.basename(url)
    shutil.copytree(url, dst)
    return str(dst)


def test_corrupt_shard_named_or_skipped(tmp_path):
    url = _copy(build(videos=12, per_shard=3), tmp_path)
    victim = sorted(p for p in os.listdir(url) if p.endswith(".tar"))[1]
    path = os.path.join(url, victim)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    plan = D.Plan(epoch_size=12, global_batch=4, world=1, accum=1, workers=1)
    with pytest.raises(D.DataError, match=f"{victim}.*--skip-bad-shards"):
        list(_stream(url, plan).iter_worker(0))
    batches = list(_stream(url, plan, skip_bad_shards=True).iter_worker(0))
    assert len(batches) == 3                                       # the same batch count, refilled by a new pass
    stats = sum(b["stats"] for b in batches)
    assert stats[2] >= 1 and stats[1] >= 1


def test_corrupt_payload_named(tmp_path):
    import io
    import tarfile

    url = _copy(build(videos=4, per_shard=4), tmp_path)
    tar = os.path.join(url, sorted(p for p in os.listdir(url) if p.endswith(".tar"))[0])
    members = []
    with tarfile.open(tar) as t:
        for m in t.getmembers():
            members.append((m, t.extractfile(m).read()))
    with tarfile.open(tar, "w", format=tarfile.GNU_FORMAT) as t:
        for m, data in members:
            if m.name.endswith(".svf"):
                data = data[:64] + bytes(len(data) - 64)             # header kept, frame blocks zeroed
            t.addfile(m, io.BytesIO(data))
    plan = D.Plan(epoch_size=4, global_batch=4, world=1, accum=1, workers=1)
    with pytest.raises(D.DataError, match=r"\.tar: sample 0000000\d.*--skip-bad-shards"):
        list(_stream(url, plan).iter_worker(0))


def test_no_samples_and_missing_dataset(tmp_path):
    from synthvid.manifests import layout
    from synthvid.manifests.schema import SAMPLE_SCHEMA, SHARD_SCHEMA, rows_to_parquet_bytes

    empty = tmp_path / "empty"
    shutil.copytree(build(), empty)
    (empty / layout.SAMPLES_MANIFEST).write_bytes(rows_to_parquet_bytes([], SAMPLE_SCHEMA, "key"))
    (empty / layout.SHARDS_MANIFEST).write_bytes(rows_to_parquet_bytes([], SHARD_SCHEMA, "name"))
    with pytest.raises(D.DataError, match="no samples"):
        D.open_source(str(empty))
    with pytest.raises(D.DataError, match="no such dataset"):
        D.open_source(str(tmp_path / "nothing"))
    with pytest.raises(D.DataError, match="procedural:no-such-variant"):
        D.open_source("procedural:no-such-variant")


def test_default_epoch_is_the_paper_size_for_mixtures(tmp_path):
    """A mixture keeps the authors' epoch (9,537, the UCF101 size) instead of the sum of its sets: two
    9,537-video sets would otherwise give 2 x 49 steps per epoch at batch 192 and double the warmup."""
    from synthvid.trainer.prepare import open_data
    from synthvid.trainer.runtime import Dist
    from tests.test_trainer_fixtures import tiny_config

    a, b = build(seed=3), build(seed=4, videos=12, per_shard=4)
    assert D.default_epoch_size([D.open_source(a)]) == 24                       # one set: its size
    assert D.default_epoch_size([D.open_source(a), D.open_source(b)]) == D.PAPER_EPOCH == 9537
    proc = D.open_source("procedural:accelerating-shapes", D.SourceOptions(procedural_params=TINY))
    assert D.default_epoch_size([proc]) == D.default_epoch_size([proc, D.open_source(a)]) == 9537
    _, plan, _, _ = open_data(tiny_config(tmp_path, [a, b], batch_size=192, workers=0), Dist())
    assert (plan.epoch_size, plan.steps) == (9537, 49)
    _, plan, _, _ = open_data(tiny_config(tmp_path, [a, b], epoch_size=36, batch_size=4, workers=0), Dist())
    assert plan.epoch_size == 36                                                # --epoch-size wins
