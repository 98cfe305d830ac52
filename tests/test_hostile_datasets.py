"""A published dataset is untrusted: crafted bombs and malformed payloads read through the trainer's shard
reader and the factory's pool reader fail with one line naming the shard and sample, inside a memory
limit, and `--skip-bad-shards` skips every one of them; hostile shard and member names are refused before
anything is opened by them; `verify` checks the manifests against the hashes the card records."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from synthvid.factory.cli import main as factory_main
from synthvid.manifests import layout
from synthvid.manifests.payload import PayloadSpec, encode_frames
from synthvid.manifests.verify import verify_dataset
from tests.hostile import replace_payload, restate, rows
from tests.test_payload_hostile import H64, _v2, hostile_payloads
from tests.test_trainer_fixtures import build

VICTIM = "00000002"       # the sample a forger replaces (in shard 1 of a 2-per-shard build)


def _cases() -> dict[str, tuple[bytes, dict | None]]:
    """name -> (payload bytes, what the forged manifest row says of its shape; None: what the payload says)."""
    cases = {name: (data, None) for name, (ext, data) in hostile_payloads().items() if ext == "svf"}
    # Valid as a payload, but far bigger than the manifest row (64x64) says: 16 frames of 4096x2048 would
    # allocate 400 MB before the first block fails; only the manifest's shape refuses it in time.
    cases["header larger than its manifest row"] = (_v2(dict(H64, height=2048, width=4096), [b"x"] * 16),
                                                    {"frames": 16, "height": 64, "width": 64})
    # A member far larger than any payload of the row's shape: refused before it is read into memory.
    good = encode_frames(np.zeros((20, 64, 64, 3), np.uint8), fps=25, spec=PayloadSpec("svf"))
    cases["member larger than its shape allows"] = (good + bytes(8 << 20), {"frames": 20, "height": 64, "width": 64})
    return cases


def _forge(base: str, dst, data: bytes, row_shape: dict | None, key: str = VICTIM) -> tuple[str, str]:
    shutil.copytree(base, dst)
    shard = replace_payload(str(dst), key, data, row_shape)
    return str(dst), shard


_TRAINER = r"""
import json, os, resource, sys
import torch
from synthvid.trainer import data as D

torch.set_num_threads(1)
job = json.load(open(sys.argv[1]))
SPEC = D.ClipSpec(num_frames=16, sampling_rate=1, input_size=64)

def epoch(url, n, skip):
    plan = D.Plan(epoch_size=n, global_batch=2, world=1, accum=1, workers=1)
    src = D.open_source(url, D.SourceOptions(skip_bad_shards=skip))
    return list(D.ClipStream([src], None, plan, SPEC, seed=0, rank=0).iter_worker(0))

epoch(job["good"], 6, False)              # every code path warm before the limit: what is measured is the data
with open("/proc/self/statm") as f:
    vm = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
resource.setrlimit(resource.RLIMIT_AS, (vm + (384 << 20), resource.RLIM_INFINITY))
for name, url in job["cases"]:
    try:
        epoch(url, 6, False)
        print(json.dumps([name, "READ"]))
    except D.DataError as e:
        print(json.dumps([name, str(e)]))
batches = epoch(job["all"], job["all_samples"], True)
print(json.dumps(["skip", len(batches), int(sum(b["stats"] for b in batches)[1])]))
"""


def test_hostile_payloads_through_the_trainer_fail_one_line_each_inside_a_memory_limit(tmp_path):
    base = build(videos=6, per_shard=2)
    cases = _cases()
    job = {"good": base, "cases": []}
    shards = {}
    for i, (name, (data, shape)) in enumerate(cases.items()):
        url, shards[name] = _forge(base, tmp_path / f"case{i}", data, shape)
        job["cases"].append((name, url))
    # every case in one dataset, one per shard, next to 4 good samples: an epoch with --skip-bad-shards
    everything = build(videos=len(cases) + 4, per_shard=1)
    allurl = str(tmp_path / "all")
    shutil.copytree(everything, allurl)
    for i, (data, shape) in enumerate(cases.values()):
        replace_payload(allurl, layout.sample_key(i), data, shape)
    job.update(all=allurl, all_samples=len(cases) + 4)
    (tmp_path / "job.json").write_text(json.dumps(job))

    r = subprocess.run([sys.executable, "-c", _TRAINER, str(tmp_path / "job.json")], capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [name for name, *_ in lines[:-1]] == list(cases)
    for (name, message), (_, url) in zip(lines[:-1], job["cases"]):
        assert message.startswith(f"{url}/{shards[name]}: sample {VICTIM}: "), (name, message)
        assert message.endswith("pass --skip-bad-shards to skip it") and "\n" not in message, (name, message)
    by_name = dict(lines[:-1])
    assert "payload declares height=2048, the manifest says 64" in by_name["header larger than its manifest row"]
    assert "more than what 20 frames of 64x64 may take" in by_name["member larger than its shape allows"]
    assert "block declares 536870912 bytes" in by_name["v2 zstd bomb (64x64 header, 512 MiB frame)"]
    _, batches, skipped = lines[-1]
    assert batches == (len(cases) + 4) // 2 and skipped >= len(cases)


_POOL = r"""
import json, os, resource, sys
from synthvid.factory.pools.reader import PoolReader
from synthvid.manifests.payload import PayloadError

job = json.load(open(sys.argv[1]))
PoolReader(job["good"]).frame(1)
with open("/proc/self/statm") as f:
    vm = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
resource.setrlimit(resource.RLIMIT_AS, (vm + (384 << 20), resource.RLIM_INFINITY))
for name, url in job["cases"]:
    try:
        PoolReader(url).frame(1, 5)
        print(json.dumps([name, "READ"]))
    except PayloadError as e:
        print(json.dumps([name, str(e)]))
"""


@pytest.fixture(scope="module")
def texture_pool(tmp_path_factory):
    from synthvid.factory.pipeline.build import BuildOptions, build_pools
    from synthvid.factory.pools.recipe import PoolRecipe

    out = tmp_path_factory.mktemp("pool")
    [result] = build_pools([PoolRecipe("textures", 4, 16, 0)], BuildOptions(str(out), inline=True, progress=False),
                           folders=["textures"])
    return result.url


def test_hostile_pool_items_fail_one_line_each_inside_a_memory_limit(tmp_path, texture_pool):
    key = layout.sample_key(1)
    job = {"good": texture_pool, "cases": []}
    shards = {}
    for i, (name, (data, shape)) in enumerate(_cases().items()):
        shape = shape and dict(shape, height=16, width=16, frames=1 if shape["frames"] == 20 else shape["frames"])
        url, shards[name] = _forge(texture_pool, tmp_path / f"case{i}", data, shape, key=key)
        job["cases"].append((name, url))
    (tmp_path / "job.json").write_text(json.dumps(job))
    r = subprocess.run([sys.executable, "-c", _POOL, str(tmp_path / "job.json")], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(lines) == len(job["cases"])
    for (name, message), (_, url) in zip(lines, job["cases"]):
        assert message.startswith(f"pool {url}: {shards[name]}: item {key}: "), (name, message)
        assert "\n" not in message
    assert "payload declares height=2048, the manifest says 16" in dict(lines)["header larger than its manifest row"]
    assert "more than what 1 frames of 16x16 may take" in dict(lines)["member larger than its shape allows"]


def test_a_build_reading_a_hostile_pool_names_the_pool_item(tmp_path, texture_pool, ray_runtime, capsys):
    """Through the CLI and Ray: the variant's shard fails with the pool's shard and item in its one line."""
    pool = str(tmp_path / "pool")
    shutil.copytree(texture_pool, pool)
    bomb = hostile_payloads()["v2 zstd bomb (64x64 header, 512 MiB frame)"][1]
    for i in range(4):
        replace_payload(pool, layout.sample_key(i), bomb)
    rc = factory_main(["build", "accelerating-textures", "--out", str(tmp_path / "out"), "--videos", "1",
                       "--size", "32", "--frames", "4", "--pool", f"textures={pool}", "--no-progress",
                       "--payload", "svf"])     # (auto would render videos in the driver first, failing there)
    err = capsys.readouterr().err
    assert rc == 2, err
    line = next(x for x in err.splitlines() if "accelerating-textures-000000.tar:" in x)
    named = rf"PayloadError: pool {re.escape(pool)}: textures-[\w-]+-000000\.tar: item 0000000\d: "
    assert re.search(named, line), line
    assert "block declares 536870912 bytes" in line


# ----------------------------------------------------------------------------------- names and hashes
HOSTILE_NAMES = ["../outside/stolen.tar", "{abs}", "sub/dir.tar", ".hidden.tar", "a\\b.tar"]


def _rename_shard(vdir: str, new: str) -> None:
    """Point the manifests' first shard at `new` (a forger's manifest; the card restated to match)."""
    samples, shards = rows(vdir)
    old = shards[0]["name"]
    shards[0]["name"] = new
    for r in samples:
        if r["shard"] == old:
            r["shard"] = new
    restate(vdir, samples, shards)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_shard_names_are_refused_by_every_reader(tmp_path, name, capsys):
    from synthvid.factory.pipeline.publish import PublishError, publish
    from synthvid.factory.pools.reader import PoolReader
    from synthvid.manifests.reader import open_dataset
    from synthvid.trainer import data as D

    vdir = tmp_path / "out" / "v"
    shutil.copytree(build(videos=4, per_shard=2), vdir)
    stolen = tmp_path / "outside" / "stolen.tar"
    stolen.parent.mkdir()
    shutil.copy(vdir / rows(str(vdir))[1][0]["name"], stolen)   # the real bytes: sizes and hashes all match
    name = name.replace("{abs}", str(stolen))
    _rename_shard(str(vdir), name)

    for read in (lambda: open_dataset(str(vdir)), lambda: PoolReader(str(vdir)), lambda: verify_dataset(str(vdir))):
        with pytest.raises(layout.UnsafeNameError, match="not a plain"):
            read()
    with pytest.raises(D.DataError, match="not a plain"):
        D.open_source(str(vdir))
    assert factory_main(["verify", str(vdir)]) == 2
    err = capsys.readouterr().err
    assert "not a plain" in err and "OK" not in err and len(err.strip().splitlines()) == 1
    with pytest.raises((PublishError, ValueError), match="not a plain"):
        publish(str(tmp_path / "out"), f"memory://{tmp_path.name}/pub", progress=False)


def test_hostile_member_names_are_refused(tmp_path):
    from synthvid.manifests.reader import open_dataset

    vdir = str(tmp_path / "v")
    shutil.copytree(build(videos=4, per_shard=2), vdir)
    samples, shards = rows(vdir)
    samples[0]["members"] = ["../../etc/passwd"] + list(samples[0]["members"][1:])
    restate(vdir, samples, shards)
    with pytest.raises(layout.UnsafeNameError, match="column 'members' holds '../../etc/passwd'"):
        open_dataset(vdir)


def test_verify_checks_the_manifest_hashes_the_card_records(tmp_path):
    vdir = str(tmp_path / "v")
    shutil.copytree(build(videos=4, per_shard=2), vdir)
    assert verify_dataset(vdir).ok
    samples, shards = rows(vdir)
    samples[0]["frames"] += 1                     # shards untouched: only the card's hash can tell
    from synthvid.manifests.schema import SAMPLE_SCHEMA, rows_to_parquet_bytes

    with open(os.path.join(vdir, layout.SAMPLES_MANIFEST), "wb") as f:
        f.write(rows_to_parquet_bytes(samples, SAMPLE_SCHEMA, "key"))
    report = verify_dataset(vdir)
    assert not report.ok
    assert [p[0] for p in report.problems] == [layout.SAMPLES_MANIFEST]
    assert "where the card records" in report.problems[0][1]
    with tarfile.open(os.path.join(vdir, shards[0]["name"])) as t:   # the shards themselves still verify
        assert t.getnames()


def test_an_oversized_card_or_manifest_is_refused_unread(tmp_path):
    from synthvid.manifests.reader import IncompleteDatasetError, open_dataset

    vdir = tmp_path / "v"
    shutil.copytree(build(videos=4, per_shard=2), vdir)
    with open(vdir / layout.CARD, "r+b") as f:
        f.truncate(17 << 20)                          # sparse: 17 MiB of card without writing them
    with pytest.raises(IncompleteDatasetError, match=r"card.json is larger than 16,777,216 bytes"):
        open_dataset(str(vdir))
