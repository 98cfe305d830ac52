"""A published variant as a training source: its manifest turned into an endless stream of sample refs, and
those refs read back through the shard reader's stages."""

from __future__ import annotations

import os

from synthvid.manifests import layout
from synthvid.manifests.payload import Limits
from synthvid.manifests.reader import PublishedDataset, ShardRecord, open_dataset
from synthvid.manifests.storage import StorageError, Store, is_local, join, safe_url, url_to_fs

from .. import draws
from .errors import DataError, ErrorPolicy, Stats
from .shard_reader import ShardProblem, ShardRef, decode, group_visits, in_ref_order, plain_tar, read_visits, \
    select_members


class ShardSource:
    """One published variant read through the manifests API. Before a shard is first read in a process its
    size is checked against the manifest, and with `verify_shards` its sha256 as well."""

    finite = True

    def __init__(self, url: str, storage_options: dict | None = None, skip_bad_shards: bool = False,
                 verify_shards: bool = False):
        try:
            self.ds: PublishedDataset = open_dataset(url, storage_options)
        except Exception as e:   # IncompleteDatasetError, missing bucket, bad URL
            msg = str(e)
            raise DataError(msg if str(url).rstrip("/") in msg else f"--data {url}: {msg}") from None
        self.url = url
        self.name = safe_url(url)     # what messages and config.json show
        self.skip_bad_shards = skip_bad_shards
        self.verify_shards = verify_shards
        self._store_pid = self._fs_pid = None
        self._checked: dict[str, str | None] = {}   # shard name -> problem (None: fine), per process
        self._shapes: dict | None = None             # key -> its manifest row's frames, height, width
        self.shards = [s for s in self.ds.shards if s.count > 0]
        self.members = self._members_by_shard()
        self.num_samples = sum(len(v) for v in self.members.values())
        if self.num_samples == 0:
            raise DataError(f"--data {url}: the variant has no samples")
        self.height = int(self.ds.samples.column("height")[0].as_py())
        self.width = int(self.ds.samples.column("width")[0].as_py())

    def _members_by_shard(self) -> dict[str, list[tuple[str, int, int | None]]]:
        """shard name -> [(key, index, payload bytes)] in key order, which is tar order."""
        cols = self.ds.samples.select(["key", "shard", "index", "payload_bytes"]).to_pydict()
        by_shard: dict[str, list] = {s.name: [] for s in self.shards}
        for key, shard, index, size in zip(cols["key"], cols["shard"], cols["index"], cols["payload_bytes"]):
            if shard in by_shard:
                by_shard[shard].append((key, int(index), None if size is None else int(size)))
        return {s: sorted(v) for s, v in by_shard.items()}

    def limits(self, key: str) -> Limits:
        """What sample `key`'s payload may hold: the hard ceilings and its manifest row's frames and size."""
        if self._shapes is None:
            cols = self.ds.samples.select(["key", "frames", "height", "width"]).to_pydict()
            self._shapes = {k: {"frames": f, "height": h, "width": w}
                            for k, f, h, w in zip(cols["key"], cols["frames"], cols["height"], cols["width"])}
        return Limits.for_row(self._shapes.get(key, {}))

    def refs(self, seed: int, epoch: int, start: int, count: int) -> list[ShardRef]:
        """Positions [start, start+count) of this epoch's endless stream: pass p is every sample, shards in
        an order shuffled by (seed, epoch, p), samples of a shard in key order."""
        out: list[ShardRef] = []
        n = self.num_samples
        pos = start
        while pos < start + count:
            pass_, offset = divmod(pos, n)
            order = draws.shard_order(seed, epoch, pass_).permutation(len(self.shards))
            flat = [ShardRef(self.shards[o], key, index, pass_) for o in order
                    for key, index, _ in self.members[self.shards[o].name]]
            take = min(n - offset, start + count - pos)
            out += flat[offset:offset + take]
            pos += take
        return out

    def read(self, refs: list[ShardRef], stats: Stats, seed: int = 0, epoch: int = 0):
        """(index, payload, pass) for each readable ref, in order (seed and epoch do not matter here)."""
        policy = ErrorPolicy(self.skip_bad_shards, stats)
        fetched = read_visits(group_visits(refs), self._wanted_members, policy)
        yield from decode(in_ref_order(refs, fetched), policy, self.limits)

    def _wanted_members(self, shard: ShardRecord, keys: set[str]):
        self._check(shard)
        sizes = {key: size for key, _, size in self.members[shard.name] if key in keys}
        with self._open(shard) as f:
            yield from select_members(plain_tar(f), sizes, layout.FRAMES_EXT, self.limits)

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
