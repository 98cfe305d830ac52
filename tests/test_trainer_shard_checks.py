"""Shard bytes are untrusted: sizes are checked against the manifest before a shard is read, sha256 with
--verify-shards, and a shard is only ever read as a plain tar (a compressed file is refused, not inflated)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile

import pyarrow.parquet as pq
import pytest

from synthvid.manifests import layout
from synthvid.manifests.schema import SHARD_SCHEMA, rows_to_parquet_bytes
from synthvid.trainer import cli
from synthvid.trainer import data as D
from synthvid.trainer.data import shard_reader
from tests.test_trainer_fixtures import build

PLAN = D.Plan(epoch_size=12, global_batch=4, world=1, accum=1, workers=1)
SPEC = D.ClipSpec(num_frames=16, sampling_rate=1, input_size=64)


def _copy(tmp_path, **kw):
    dst = tmp_path / "v"
    shutil.copytree(build(videos=12, per_shard=3, **kw), dst)
    return str(dst)


def _shards(url):
    return sorted(p for p in os.listdir(url) if p.endswith(".tar"))


def _epoch(url, **options):
    ds = D.ClipStream([D.open_source(url, D.SourceOptions(**options))], None, PLAN, SPEC, seed=0, rank=0)
    return list(ds.iter_worker(0))


def _restate_in_manifest(url, name):
    """Make the shard manifest describe the file as it now is (size and sha256): what a hostile publisher
    who controls the whole dataset would do."""
    path = os.path.join(url, layout.SHARDS_MANIFEST)
    rows = pq.read_table(path).to_pylist()
    data = open(os.path.join(url, name), "rb").read()
    for r in rows:
        if r["name"] == name:
            r["bytes"], r["sha256"] = len(data), hashlib.sha256(data).hexdigest()
    with open(path, "wb") as f:
        f.write(rows_to_parquet_bytes(rows, SHARD_SCHEMA, "name"))


def test_size_differing_from_manifest_is_named_before_reading(tmp_path):
    url = _copy(tmp_path)
    victim = _shards(url)[1]
    with open(os.path.join(url, victim), "ab") as f:
        f.write(bytes(1024))                                   # still a valid tar: only the size tells
    with pytest.raises(D.DataError, match=rf"{victim} is \d+ bytes where its manifest says \d+ .*--skip-bad-shards"):
        _epoch(url)
    batches = _epoch(url, skip_bad_shards=True)
    stats = sum(b["stats"] for b in batches)
    assert len(batches) == 3 and stats[2] >= 1 and stats[1] == 3   # its 3 samples skipped, made up elsewhere


def test_sha256_checked_with_verify_shards(tmp_path, capsys):
    url = _copy(tmp_path)
    victim = _shards(url)[2]
    path = os.path.join(url, victim)
    data = bytearray(open(path, "rb").read())
    with tarfile.open(path) as t:
        meta = next(m for m in t.getmembers() if m.name.endswith("." + layout.META_EXT))
    data[meta.offset_data] ^= 0xFF                             # same size, a member the trainer never reads
    open(path, "wb").write(bytes(data))
    assert len(_epoch(url)) == 3                               # sizes alone cannot see it
    with pytest.raises(D.DataError, match=rf"{victim} has sha256 .* where its manifest says .*--verify-shards"):
        _epoch(url, verify_shards=True)
    args = ["pretrain", "--data", url, "--model", "vit_tiny_test", "--img-size", "64", "--sampling-rate", "1",
            "--batch-size", "4", "--epochs", "1", "--workers", "1", "--threads", "1", "--no-progress"]
    assert cli.main(args + ["--out", str(tmp_path / "a"), "--verify-shards"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and victim in err and "sha256" in err, err
    assert cli.main(args + ["--out", str(tmp_path / "b"), "--verify-shards", "--skip-bad-shards"]) == 0
    assert "skipped shards 1" in capsys.readouterr().out


@pytest.mark.parametrize("read_mode, message", [
    ("stream", r"is truncated or corrupt \(ReadError: "),                 # the tar reader refuses it
    ("range", r"is \d+ bytes, too short for sample \d+ at bytes \d+-\d+"),  # the offsets name bytes it lacks
])
def test_compressed_shard_is_refused_not_inflated(tmp_path, read_mode, message):
    """A gzip of a valid shard, with the manifest restated to match it: a reader with transparent
    decompression trains on it; the trainer refuses it with one line naming the shard."""
    url = _copy(tmp_path)
    victim = _shards(url)[0]
    path = os.path.join(url, victim)
    open(path, "wb").write(gzip.compress(open(path, "rb").read()))
    _restate_in_manifest(url, victim)
    with pytest.raises(D.DataError, match=rf"{victim} {message}.*--skip-bad-shards"):
        _epoch(url, verify_shards=True, read_mode=read_mode)


def test_plain_tar_never_inflates_a_gzip_bomb():
    """65 KB of gzip that would inflate to a 64 MiB member: refused at its first header."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("00000000.svf")
        info.size = 64 << 20
        t.addfile(info, io.BytesIO(bytes(info.size)))
    bomb = gzip.compress(buf.getvalue(), 9)
    assert len(bomb) < 100_000
    members = shard_reader.plain_tar(io.BytesIO(bomb))
    with pytest.raises(tarfile.ReadError):
        next(members)
