"""What a resumed build keeps, and what `verify` catches: the commit markers' fingerprint and the stored
bytes decide whether a shard is kept; `verify` checks every sample's payload on its own, not only the
shard's hash. (Each test here was written against a deliberate bug that the suite did not catch.)"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile

import pyarrow.parquet as pq
import pytest

from synthvid.factory.cli import main as cli_main
from synthvid.factory.generate.recipe import from_variant
from synthvid.factory.pipeline.build import BuildOptions, build_variants
from synthvid.manifests import layout
from synthvid.manifests.hashing import file_digest
from synthvid.manifests.verify import verify_dataset

from . import hostile
from .helpers import TINY, tree_digest

VARIANT = "moving-circles"
VIDEOS, PER_SHARD = 4, 1


def _build(out, seed: int):
    [res] = build_variants([from_variant(VARIANT, TINY)],
                           BuildOptions(str(out), videos=VIDEOS, seed=seed, per_shard=PER_SHARD, inline=True,
                                        progress=False))
    return res


@pytest.fixture(scope="module")
def seed2_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("seed2")
    _build(out, seed=2)
    return out


@pytest.fixture(scope="module")
def seed2_reference(seed2_build):
    return tree_digest(str(seed2_build))


def test_markers_of_another_build_are_not_kept(tmp_path, seed2_reference):
    """Build seed 1, lose `_commit/build.json`, build seed 2: every seed-1 shard is rebuilt (its marker holds
    another fingerprint), and the result is the seed-2 build, manifest and card agreeing."""
    _build(tmp_path, seed=1)
    vdir = tmp_path / VARIANT
    os.remove(vdir / layout.COMMIT_DIR / "build.json")
    os.remove(vdir / layout.CARD)                  # an interrupted build: markers and shards, no card
    res = _build(tmp_path, seed=2)
    assert (res.shards_kept, res.shards_built) == (0, VIDEOS // PER_SHARD)
    samples = pq.read_table(vdir / layout.SAMPLES_MANIFEST).column("seed").to_pylist()
    assert samples == [2] * VIDEOS and res.card["seed"] == 2
    assert tree_digest(str(tmp_path)) == seed2_reference
    assert not (vdir / ".tmp").exists()            # the build's temp folder goes once empty


def test_resume_rebuilds_local_shards_whose_bytes_changed(tmp_path, seed2_reference):
    """A marker names stored bytes: a shard with one flipped byte (same size) or cut short is rebuilt, the
    others are kept untouched (same inode times), and the build ends identical to a clean one."""
    _build(tmp_path, seed=2)
    vdir = tmp_path / VARIANT
    os.remove(vdir / layout.CARD)
    flipped, cut, kept = (vdir / layout.shard_name(VARIANT, i) for i in (1, 2, 3))
    with open(flipped, "r+b") as f:
        f.seek(700)
        b = f.read(1)
        f.seek(700)
        f.write(bytes([b[0] ^ 0xFF]))
    os.truncate(cut, os.path.getsize(cut) - 512)
    stamp = os.stat(kept).st_mtime_ns
    res = _build(tmp_path, seed=2)
    assert (res.shards_kept, res.shards_built) == (2, 2)
    assert os.stat(kept).st_mtime_ns == stamp
    assert tree_digest(str(tmp_path)) == seed2_reference


@pytest.fixture
def dataset_copy(tmp_path, seed2_build):
    """A private copy of the seed-2 build, to damage."""
    shutil.copytree(seed2_build / VARIANT, tmp_path / "src" / VARIANT)
    return tmp_path / "src" / VARIANT


def _restate(vdir, samples: list | None = None, shards: list | None = None) -> None:
    """Rewrite a manifest and the sha256 the card records for it, as a consistent (if stale) dataset has."""
    old_samples, old_shards = hostile.rows(str(vdir))
    hostile.restate(str(vdir), old_samples if samples is None else samples, old_shards if shards is None else shards)


def _rewrite_shard_manifest(vdir, shard_name: str) -> None:
    """Make the shard manifest agree with the shard as it is now: only per-sample checks can see the edit."""
    table = pq.read_table(vdir / layout.SHARDS_MANIFEST)
    rows = table.to_pylist()
    for row in rows:
        if row["name"] == shard_name:
            row["bytes"], row["sha256"] = file_digest(str(vdir / shard_name))
    _restate(vdir, shards=rows)


def test_verify_counts_what_it_checked_and_names_one_problem_per_damaged_payload(dataset_copy):
    """A clean dataset: every shard, sample and byte counted. One flipped payload byte (the shard row left
    as it was): one problem, the sample's, not a second one for the shard's hash."""
    vdir = dataset_copy
    report = verify_dataset(str(vdir))
    sizes = [os.path.getsize(_shard_path(vdir, i)) for i in range(VIDEOS // PER_SHARD)]
    assert (report.ok, report.shards, report.samples, report.bytes) == (True, len(sizes), VIDEOS, sum(sizes))
    shard = layout.shard_name(VARIANT, 2)
    with open(vdir / shard, "r+b") as f:
        f.seek(512 + 300)
        b = f.read(1)
        f.seek(512 + 300)
        f.write(bytes([b[0] ^ 0x01]))
    assert verify_dataset(str(vdir)).problems == [(shard, f"sample {layout.sample_key(2)}: payload sha256 mismatch")]


def test_verify_checks_each_sample_payload(dataset_copy):
    """A payload edited inside a shard whose shard row was re-hashed to match: only the per-sample payload
    sha256 catches it, and the problem names the shard and the sample."""
    vdir = dataset_copy
    assert verify_dataset(str(vdir)).ok
    shard = layout.shard_name(VARIANT, 1)
    with open(vdir / shard, "r+b") as f:
        f.seek(512 + 300)                          # inside the first member's data (the payload)
        b = f.read(1)
        f.seek(512 + 300)
        f.write(bytes([b[0] ^ 0x01]))
    _rewrite_shard_manifest(vdir, shard)
    report = verify_dataset(str(vdir))
    assert report.problems == [(shard, f"sample {layout.sample_key(1)}: payload sha256 mismatch")]


def test_verify_names_a_shard_whose_hash_alone_differs(dataset_copy):
    """The shard manifest's sha256 is checked too (payloads intact, a stale shard row)."""
    vdir = dataset_copy
    rows = pq.read_table(vdir / layout.SHARDS_MANIFEST).to_pylist()
    rows[2]["sha256"] = "0" * 64
    _restate(vdir, shards=rows)
    assert verify_dataset(str(vdir)).problems == [(rows[2]["name"], "sha256 mismatch")]


def test_verify_deep_compares_frames_hash(dataset_copy):
    """`verify --deep` decodes each lossless payload and compares the frames' xxh3-128 with the manifest's
    frames_hash: a manifest whose frames_hash is stale is caught there, and only there."""
    vdir = dataset_copy
    assert verify_dataset(str(vdir), deep=True).ok
    rows = pq.read_table(vdir / layout.SAMPLES_MANIFEST).to_pylist()
    rows[3]["frames_hash"] = "xxh3_128:" + "0" * 32
    _restate(vdir, samples=rows)
    assert verify_dataset(str(vdir)).ok            # the payload's sha256 still matches
    report = verify_dataset(str(vdir), deep=True)
    assert report.problems == [(rows[3]["shard"], f"sample {rows[3]['key']}: frames_hash mismatch")]
    assert cli_main(["verify", str(vdir)]) == 0
    assert cli_main(["verify", "--deep", str(vdir)]) == 1


def test_shards_are_kept_across_a_copy(tmp_path, dataset_copy):
    """Markers hold no absolute paths: a half-built dataset moved elsewhere resumes there, keeping its shards."""
    moved = tmp_path / "moved"
    shutil.copytree(dataset_copy, moved / VARIANT)
    os.remove(moved / VARIANT / layout.CARD)
    res = _build(moved, seed=2)
    assert (res.shards_kept, res.shards_built) == (VIDEOS // PER_SHARD, 0)


def _shard_path(vdir, i: int):
    return vdir / layout.shard_name(VARIANT, i)


def test_verify_names_every_kind_of_damage_and_checks_every_shard(dataset_copy):
    """One problem per damaged shard, in shard order, each named; damage early on never stops the check of
    the shards after it."""
    vdir = dataset_copy
    size0 = os.path.getsize(_shard_path(vdir, 0))
    with open(_shard_path(vdir, 0), "r+b") as f:                         # not a tar at all, same size
        f.write(b"\xff" * size0)
    os.remove(_shard_path(vdir, 1))                                      # missing
    size2 = os.path.getsize(_shard_path(vdir, 2))
    with open(_shard_path(vdir, 2), "ab") as f:                          # longer than the manifest says
        f.write(b"\0" * 512)
    size3 = os.path.getsize(_shard_path(vdir, 3))
    os.truncate(_shard_path(vdir, 3), size3 - 1)                         # truncated
    report = verify_dataset(str(vdir))
    names = [layout.shard_name(VARIANT, i) for i in range(4)]
    assert len(report.problems) == 4 and report.problems[0][0] == names[0]
    assert report.problems[0][1].startswith("unreadable tar")
    assert report.problems[1:] == [
        (names[1], "missing"),
        (names[2], f"wrong size: {size2 + 512} bytes, manifest says {size2}"),
        (names[3], f"truncated: {size3 - 1} bytes, manifest says {size3}"),
    ]
    assert report.shards == 4 and not report.ok


def _retar(path, keep, extra: dict | None = None) -> None:
    """Rewrite a shard keeping the members `keep(name)` accepts (same member bytes and headers otherwise),
    then the `extra` members (name -> bytes)."""
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for m, data in members:
            if keep(m.name):
                tar.addfile(m, io.BytesIO(data))
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_verify_compares_samples_and_members_with_the_manifest(dataset_copy):
    vdir = dataset_copy
    key1, key2 = layout.sample_key(1), layout.sample_key(2)
    _retar(_shard_path(vdir, 1), lambda name: not name.startswith(key1))              # a whole sample gone
    _retar(_shard_path(vdir, 2), lambda name: name != f"{key2}.{layout.META_EXT}")    # one member gone
    stranger = layout.sample_key(10 ** 6)
    _retar(_shard_path(vdir, 3), lambda name: True, extra={f"{stranger}.{layout.META_EXT}": b"{}"})  # one more
    for i in (1, 2, 3):
        _rewrite_shard_manifest(vdir, layout.shard_name(VARIANT, i))
    report = verify_dataset(str(vdir))
    members = [f"{key2}.{layout.FRAMES_EXT}", f"{key2}.{layout.META_EXT}", f"{key2}.{layout.LATENTS_EXT}"]
    assert report.problems == [
        (layout.shard_name(VARIANT, 1), f"samples differ from manifest (missing ['{key1}'], extra [])"),
        (layout.shard_name(VARIANT, 2), f"sample {key2}: members {[members[0], members[2]]} != {members}"),
        (layout.shard_name(VARIANT, 3), f"samples differ from manifest (missing [], extra ['{stranger}'])"),
    ]
    assert report.samples == VIDEOS                  # one sample gone, one stranger


def test_verify_deep_names_a_payload_that_does_not_decode(dataset_copy):
    """A payload whose bytes match the manifest (both rewritten) but do not decode: --deep names it."""
    vdir = dataset_copy
    key = layout.sample_key(0)
    path = _shard_path(vdir, 0)
    with tarfile.open(path) as tar:
        m = tar.getmember(f"{key}.{layout.FRAMES_EXT}")
        offset = m.offset_data
        data = bytearray(tar.extractfile(m).read())
    data[-40] ^= 0xFF                                                   # inside the last frame's block
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(bytes(data))
    _rewrite_shard_manifest(vdir, layout.shard_name(VARIANT, 0))
    rows = pq.read_table(vdir / layout.SAMPLES_MANIFEST).to_pylist()
    rows[0]["payload_sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    _restate(vdir, samples=rows)
    assert verify_dataset(str(vdir)).ok
    [(shard, what)] = verify_dataset(str(vdir), deep=True).problems
    assert shard == layout.shard_name(VARIANT, 0) and what.startswith(f"sample {key}: payload does not decode (")


def test_dataset_states(tmp_path, dataset_copy):
    """Complete (a card), incomplete (shards or markers, no card: readers refuse it), absent (nothing of a
    build); a build root lists its datasets with their states, hidden folders and strays left out."""
    import fsspec

    from synthvid.manifests.reader import IncompleteDatasetError, open_dataset
    from synthvid.manifests.storage import ABSENT, COMPLETE, INCOMPLETE, dataset_state, datasets_under

    fs = fsspec.filesystem("file")
    root = dataset_copy.parent
    assert dataset_state(fs, str(dataset_copy)) == COMPLETE
    half = root / "half"
    shutil.copytree(dataset_copy / layout.COMMIT_DIR, half / layout.COMMIT_DIR)          # markers only
    only_shard = root / "only-shard"
    only_shard.mkdir()
    shutil.copy(_shard_path(dataset_copy, 0), only_shard)
    (root / "empty").mkdir()
    (root / ".tmp").mkdir()
    (root / "stray.txt").write_text("not a dataset")
    assert dataset_state(fs, str(half)) == dataset_state(fs, str(only_shard)) == INCOMPLETE
    assert dataset_state(fs, str(root / "empty")) == ABSENT
    assert dataset_state(fs, str(root / "stray.txt")) == ABSENT
    assert dataset_state(fs, str(root / "nowhere")) == ABSENT
    assert datasets_under(fs, str(root)) == {VARIANT: COMPLETE, "half": INCOMPLETE, "only-shard": INCOMPLETE}
    assert datasets_under(fs, str(root / "nowhere")) == {}
    with pytest.raises(IncompleteDatasetError, match="resume"):
        open_dataset(str(half))
    os.remove(dataset_copy / layout.CARD)
    with pytest.raises(IncompleteDatasetError):
        open_dataset(str(dataset_copy))


def test_cleanup_keeps_live_temp_files_and_removes_dead_ones(tmp_path):
    """What an interrupted commit leaves locally: temp files of dead processes go (and the temp folder once
    empty); a temp file of a live process (a build still writing) stays, with its folder."""
    import socket

    from synthvid.manifests.storage import Store

    store = Store(str(tmp_path / "v"))
    store.makedirs()
    live = store.temp_path("a.tar")                        # this process: alive
    dead = os.path.join(os.path.dirname(live), f"b.tar.{socket.gethostname()}.999999999.cafe0000")
    other_host = os.path.join(os.path.dirname(live), "c.tar.some-other-host.1.cafe0000")
    for p in (live, dead, other_host):
        with open(p, "wb") as f:
            f.write(b"partial")
    store.cleanup_temp()
    assert sorted(os.listdir(os.path.dirname(live))) == sorted(map(os.path.basename, (live, other_host)))
    os.remove(live)
    os.remove(other_host)
    store.cleanup_temp()
    assert not os.path.exists(os.path.dirname(live))


def test_upload_checks_against_the_digest_taken_while_writing(tmp_path):
    """commit_file / upload_verified compare the stored object with the size and sha256 the writer computed,
    not with the local file as it is now: a local file changed after it was hashed is an integrity error."""
    from synthvid.manifests.storage import StorageError, Store

    store = Store(str(tmp_path / "v"))
    store.makedirs()
    local = tmp_path / "x.tar"
    local.write_bytes(b"shard bytes")
    size, sha = file_digest(str(local))
    local.write_bytes(b"shard bytez")                       # changed after hashing: same size
    with pytest.raises(StorageError, match="does not match the uploaded file") as err:
        store.upload_verified(str(local), "x.tar", size=size, sha256=sha)
    assert err.value.kind == "integrity"
    assert store.upload_verified(str(local), "y.tar") == file_digest(str(local))   # no digest given: taken now
