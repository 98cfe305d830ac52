"""The shard reader's stages one by one, on tar files written here with tarfile, then composed."""

from __future__ import annotations

import io
import tarfile

import pytest

from synthvid.manifests.reader import ShardRecord
from synthvid.trainer.data import DataError, ErrorPolicy, Stats
from synthvid.trainer.data import shard_reader as R


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _shard(name: str) -> ShardRecord:
    return ShardRecord(name, f"mem://{name}", 3, 0, "")


A, B = _shard("a.tar"), _shard("b.tar")
TARS = {"a.tar": _tar({"k0.svf": b"a0", "k0.json": b"{}", "k1.svf": b"a1", "k2.svf": b"a2"}),
        "b.tar": _tar({"k3.svf": b"b3", "k4.svf": b"b4"})}


def _open_members(opened: list):
    def open_members(shard, keys):
        opened.append(shard.name)
        yield from R.select_members(R.plain_tar(io.BytesIO(TARS[shard.name])), {k: None for k in keys}, "svf")
    return open_members


def test_group_visits_in_order_of_first_need():
    refs = [R.ShardRef(B, "k3", 3, 0), R.ShardRef(A, "k0", 0, 0), R.ShardRef(B, "k4", 4, 0), R.ShardRef(A, "k1", 1, 1)]
    visits = R.group_visits(refs)
    assert [(v.shard.name, v.pass_, sorted(v.keys)) for v in visits] == \
        [("b.tar", 0, ["k3", "k4"]), ("a.tar", 0, ["k0"]), ("a.tar", 1, ["k1"])]


def test_select_members_reads_only_wanted_members_of_the_manifest_size():
    members = R.plain_tar(io.BytesIO(TARS["a.tar"]))
    got = list(R.select_members(members, {"k0": 2, "k2": 5}, "svf"))
    assert got[0] == ("k0", b"a0")
    assert got[1][0] == "k2" and isinstance(got[1][1], R.MemberProblem) and "2 bytes where the manifest says 5" in got[1][1].what
    assert len(got) == 2                                        # k1 and the .json member were not wanted


def test_stages_compose_in_ref_order_and_never_open_unneeded_shards():
    opened: list = []
    refs = [R.ShardRef(A, "k2", 2, 0), R.ShardRef(A, "k0", 0, 0)]          # out of tar order: held, then given
    stats = Stats()
    policy = ErrorPolicy(False, stats)
    pairs = R.in_ref_order(refs, R.read_visits(R.group_visits(refs), _open_members(opened), policy))
    out = [(ref.key, data) for ref, data in pairs]
    assert out == [("k2", b"a2"), ("k0", b"a0")] and opened == ["a.tar"]   # b.tar never opened


def test_missing_sample_names_the_shard_or_is_skipped_and_counted():
    refs = [R.ShardRef(B, "k3", 3, 0), R.ShardRef(B, "k9", 9, 0), R.ShardRef(A, "k0", 0, 0)]
    with pytest.raises(DataError, match=r"mem://b.tar ends before sample\(s\) \['k9'\].*--skip-bad-shards"):
        list(R.in_ref_order(refs, R.read_visits(R.group_visits(refs), _open_members([]), ErrorPolicy(False, Stats()))))
    stats = Stats()
    policy = ErrorPolicy(True, stats)
    pairs = list(R.in_ref_order(refs, R.read_visits(R.group_visits(refs), _open_members([]), policy)))
    assert [(r.key, d) for r, d in pairs] == [("k3", b"b3"), ("k9", None), ("k0", b"a0")]
    assert stats.skipped_shards == 1


def test_truncated_tar_is_one_error_naming_the_shard():
    cut = TARS["a.tar"][:700]                                  # inside k0's data block

    def open_members(shard, keys):
        yield from R.select_members(R.plain_tar(io.BytesIO(cut)), {k: None for k in keys}, "svf")
    refs = [R.ShardRef(A, "k0", 0, 0), R.ShardRef(A, "k1", 1, 0)]
    with pytest.raises(DataError, match=r"mem://a.tar is truncated or corrupt \(ReadError"):
        list(R.in_ref_order(refs, R.read_visits(R.group_visits(refs), open_members, ErrorPolicy(False, Stats()))))


def test_decode_names_the_sample_or_skips_it():
    pairs = [(R.ShardRef(A, "k0", 0, 0), R.MemberProblem("its .svf member is 9 bytes where the manifest says 2")),
             (R.ShardRef(A, "k1", 1, 0), b"not a payload"), (R.ShardRef(A, "k2", 2, 0), None)]
    with pytest.raises(DataError, match=r"mem://a.tar: sample k0: its .svf member is 9 bytes.*--skip-bad-shards"):
        list(R.decode(iter(pairs), ErrorPolicy(False, Stats())))
    with pytest.raises(DataError, match=r"mem://a.tar: sample k1: .*--skip-bad-shards"):
        list(R.decode(iter(pairs[1:]), ErrorPolicy(False, Stats())))
    stats = Stats()
    assert list(R.decode(iter(pairs), ErrorPolicy(True, stats))) == []
    assert stats.skipped_samples == 3 and stats.skipped_shards == 0
