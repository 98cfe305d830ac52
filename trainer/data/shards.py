"""A published variant as a training source: its manifest turned into an endless stream of sample refs, and
those refs read back in one of two ways:

- `range` (default): each video's payload by byte range where the manifest says it lies, and of it only
  the head and the blocks its clips need (range_read). Bytes read per clip: ~16 frames, not the video.
- `stream`: whole shards front to back through the shard reader's stages (shard_reader), every payload
  read whole. Sequential I/O for stores that punish small reads.

Both yield the same (index, payload, pass) items in the same order, so clips, the epoch plan and resumes
do not depend on the mode; see ARCHITECTURE.md for the measurements behind the default.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from synthvid.manifests.payload import Limits, PayloadError, UnknownPayloadKind, open_payload, payload_for_extension
from synthvid.manifests.reader import PublishedDataset, ShardRecord, open_dataset
from synthvid.manifests.storage import StorageError, Store, is_local, join, safe_url, url_to_fs

from .. import draws
from .errors import DataError, ErrorPolicy, Stats
from .range_read import Located, ReadProblem, open_payloads
from .ranges import RangeReader
from .shard_reader import ShardProblem, ShardRef, decode, group_visits, in_ref_order, plain_tar, read_visits, \
    select_members

READ_MODES = ("range", "stream")
READ_AHEAD = {True: 4, False: 16}   # videos opened at once by range reads: local, object storage


class Row(NamedTuple):
    """What the reader needs of one sample-manifest row (a tuple: a million of them stay small)."""
    index: int
    kind: str
    offset: int | None
    size: int | None
    frames: int
    height: int
    width: int

    @property
    def limits(self) -> Limits:
        return Limits.for_row(self._asdict())


class ShardSource:
    """One published variant read through the manifests API. Before a shard is first read in a process its
    size is checked against the manifest, and with `verify_shards` its sha256 as well."""

    finite = True

    def __init__(self, url: str, storage_options: dict | None = None, skip_bad_shards: bool = False,
                 verify_shards: bool = False, read_mode: str = "range"):
        try:
            self.ds: PublishedDataset = open_dataset(url, storage_options)
        except Exception as e:   # IncompleteDatasetError, missing bucket, bad URL
            msg = str(e)
            raise DataError(msg if str(url).rstrip("/") in msg else f"--data {url}: {msg}") from None
        self.url = url
        self.name = safe_url(url)     # what messages and config.json show
        self.skip_bad_shards = skip_bad_shards
        self.verify_shards = verify_shards
        self._store_pid = self._fs_pid = self._reader_pid = None
        self._checked: dict[str, str | None] = {}   # shard name -> problem (None: fine), per process
        self.shards = [s for s in self.ds.shards if s.count > 0]
        self.rows = self._rows_by_shard()
        self.num_samples = sum(len(v) for v in self.rows.values())
        if self.num_samples == 0:
            raise DataError(f"--data {url}: the variant has no samples")
        self.height = int(self.ds.samples.column("height")[0].as_py())
        self.width = int(self.ds.samples.column("width")[0].as_py())
        self.read_mode = self._mode(read_mode)
        self.read_ahead = READ_AHEAD[is_local(self.ds.url)] if self.read_mode == "range" else 1

    def _rows_by_shard(self) -> dict[str, dict[str, Row]]:
        """shard name -> {key: Row}, keys in key order, which is tar order. An unknown payload kind fails
        here, before any training: skipping would silently drop a whole dataset."""
        cols = ["key", "shard", "index", "payload_kind", "payload_offset", "payload_bytes", "frames", "height",
                "width"]
        c = self.ds.samples.select(cols).to_pydict()
        by_shard: dict[str, dict] = {s.name: {} for s in self.shards}
        for i in sorted(range(len(c["key"])), key=lambda i: c["key"][i]):
            if c["shard"][i] in by_shard:
                by_shard[c["shard"][i]][c["key"][i]] = Row(*(c[k][i] for k in cols[2:]))
        for kind in self.ds.payload_kinds():
            try:
                payload_for_extension(kind)
            except UnknownPayloadKind as e:
                raise DataError(f"--data {self.url}: {e}") from None
        return by_shard

    @property
    def reads_whole_shards(self) -> bool:
        """Whether a worker reads every byte of the shards it visits (ClipStream warns when workers share)."""
        return self.read_mode == "stream"

    def _mode(self, read_mode: str) -> str:
        if read_mode not in READ_MODES:
            raise DataError(f"--read-mode {read_mode!r}: choose one of {', '.join(READ_MODES)}")
        if read_mode == "range" and any(r.offset is None or r.size is None
                                        for rows in self.rows.values() for r in rows.values()):
            return "stream"       # a manifest without offsets (written by hand or by an old tool)
        return read_mode

    def refs(self, seed: int, epoch: int, start: int, count: int) -> list[ShardRef]:
        """Positions [start, start+count) of this epoch's endless stream: pass p is every sample, shards in
        an order shuffled by (seed, epoch, p), samples of a shard in key order."""
        out: list[ShardRef] = []
        n = self.num_samples
        pos = start
        while pos < start + count:
            pass_, offset = divmod(pos, n)
            order = draws.shard_order(seed, epoch, pass_).permutation(len(self.shards))
            flat = [ShardRef(self.shards[o], key, row.index, pass_) for o in order
                    for key, row in self.rows[self.shards[o].name].items()]
            take = min(n - offset, start + count - pos)
            out += flat[offset:offset + take]
            pos += take
        return out

    def read(self, refs: list[ShardRef], stats: Stats, seed: int = 0, epoch: int = 0):
        """(index, payload, pass) for each readable ref, in order (seed and epoch do not matter here)."""
        policy = ErrorPolicy(self.skip_bad_shards, stats)
        if self.read_mode == "range":
            yield from self._read_ranges(refs, policy)
            return
        fetched = read_visits(group_visits(refs), self._wanted_members, policy)
        yield from decode(in_ref_order(refs, fetched), policy, self._open_whole)

    # -- stream mode -------------------------------------------------------------------------------------
    def _wanted_members(self, shard: ShardRecord, keys: set[str]):
        self._check(shard)
        rows = self.rows[shard.name]
        sizes = {key: rows[key].size for key in keys}
        with self._open(shard) as f:
            yield from select_members(plain_tar(f), sizes, {key: rows[key].kind for key in keys},
                                      lambda key: rows[key].limits)

    def _open_whole(self, ref: ShardRef, data: bytes):
        row = self.rows[ref.shard.name][ref.key]
        return open_payload(row.kind, data, row.limits)

    # -- range mode --------------------------------------------------------------------------------------
    def _read_ranges(self, refs: list[ShardRef], policy: ErrorPolicy):
        for at in range(0, len(refs), self.read_ahead):
            window = [ref for ref in refs[at:at + self.read_ahead] if self._usable(ref, policy)]
            items = [(self._located(ref), f"{ref.shard.url}: sample {ref.key}") for ref in window]
            for ref, opened in zip(window, open_payloads(self._reader(), items)):
                if isinstance(opened, ReadProblem):
                    self._bad_shard(ref.shard, str(opened), policy)
                elif isinstance(opened, Exception):
                    policy.bad_sample(f"{ref.shard.url}: sample {ref.key}", opened)
                else:
                    yield ref.index, opened, ref.pass_

    def _usable(self, ref: ShardRef, policy: ErrorPolicy) -> bool:
        """Whether ref's sample can be read: False for a sample its manifest row makes unreadable, or in a
        shard found bad now (reported once) or before (its samples count as skipped)."""
        if policy.failed_before(ref.shard):
            policy.missing_sample()
            return False
        row = self.rows[ref.shard.name][ref.key]
        try:
            self._check(ref.shard)
        except ShardProblem as e:
            self._bad_shard(ref.shard, str(e), policy)
            return False
        where = f"{ref.shard.url}: sample {ref.key}"
        if row.size < 1:          # sample problems: the shard's other samples may be fine
            policy.bad_sample(where, f"the manifest gives its payload {row.size} bytes")
            return False
        try:                      # refused as streaming refuses it, although a range read would not read it all
            row.limits.check_member_size(row.size)
        except PayloadError as e:
            policy.bad_sample(where, e)
            return False
        if row.offset < 0 or row.offset + row.size > ref.shard.bytes:
            self._bad_shard(ref.shard, f"is {ref.shard.bytes} bytes, too short for sample {ref.key} at bytes "
                            f"{row.offset}-{row.offset + row.size} (the two manifests disagree)", policy)
            return False
        return True

    @staticmethod
    def _bad_shard(shard: ShardRecord, what: str, policy: ErrorPolicy) -> None:
        """Report a shard once; this and its other samples count as skipped (as in stream mode)."""
        policy.shard_failed(shard, what)
        policy.missing_sample()

    def _located(self, ref: ShardRef) -> Located:
        row = self.rows[ref.shard.name][ref.key]
        return Located(ref.shard.name, row.offset, row.size, row.kind, row.limits)

    def _reader(self) -> RangeReader:
        if self._reader_pid != os.getpid():     # per process: descriptors and clients do not survive fork
            self._reader_obj = RangeReader(self.ds.url, self.ds.storage_options)
            self._reader_pid = os.getpid()
        return self._reader_obj

    # -- shard checks and files --------------------------------------------------------------------------
    def _check(self, shard: ShardRecord) -> None:
        """Size (always) and sha256 (with verify_shards) against the manifest, once per shard and process."""
        if shard.name not in self._checked:
            self._checked[shard.name] = self._problem(shard)
        if self._checked[shard.name]:
            raise ShardProblem(self._checked[shard.name])

    def _problem(self, shard: ShardRecord) -> str | None:
        store = self._store()
        try:
            size = store.size(shard.name)
            if size != shard.bytes:
                return f"is {size} bytes where its manifest says {shard.bytes} (truncated or replaced)"
            if self.verify_shards and (digest := store.sha256(shard.name)) != shard.sha256:
                return f"has sha256 {digest[:16]}... where its manifest says {shard.sha256[:16]}... (--verify-shards)"
        except (StorageError, OSError) as e:
            return f"cannot be read ({type(e).__name__}: {e})"
        return None

    def _store(self) -> Store:
        """Size and hash checks go through the storage layer's retrying Store."""
        if self._store_pid != os.getpid():
            self._store_obj = Store(self.ds.url, self.ds.storage_options)
            self._store_pid = os.getpid()
        return self._store_obj

    def _open(self, shard: ShardRecord):
        # A filesystem object per process: s3fs and friends are not fork-safe, and DataLoader workers fork
        # after the manifests were read in the parent. Shards are read front to back, so read ahead.
        if self._fs_pid != os.getpid():
            self._fs, self._root = url_to_fs(self.ds.url, self.ds.storage_options)
            self._fs_pid = os.getpid()
        opts = {} if is_local(self.ds.url) else {"block_size": 8 << 20, "cache_type": "readahead"}
        return self._fs.open(join(self._root, shard.name), "rb", **opts)
