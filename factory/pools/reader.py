"""Reading built pools: items by byte range (`PoolReader`), two pools interleaved (`MixedPool`), the pool
views a variant renders from (`open_pools`), and what a pool's card says it holds."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from synthvid.manifests.payload import FramesPayload, Limits, PayloadError
from synthvid.manifests.reader import open_dataset
from synthvid.manifests.seeds import substream
from synthvid.manifests.storage import safe_url


class PoolMismatchError(ValueError):
    """A given pool (--pool KIND=URL) is not what the variant needs: wrong kind, size or item format."""


class PoolReader:
    """Random access to the items of a built pool, by byte range, with a small cache of payloads."""

    def __init__(self, url: str, storage_options: dict | None = None, limit: int | None = None,
                 cache_items: int = 256):
        self.ds = open_dataset(url, storage_options)
        self.url = self.ds.url
        rows = self.ds.samples.select(["index", "key", "shard", "payload_offset", "payload_bytes", "frames", "height",
                                       "width"]).to_pylist()
        self._where = {r["index"]: r for r in rows}
        self.items = len(self._where) if limit is None else int(limit)
        if self.items > len(self._where):
            raise PoolMismatchError(f"pool {self.url} holds {len(self._where)} items, {self.items} asked for "
                                    "(--pool-size); build a larger pool (build-pool --pool-size) or ask for fewer")
        self._cache: OrderedDict[int, FramesPayload] = OrderedDict()
        self._cache_items = cache_items

    @property
    def fingerprint(self) -> str:
        return self.ds.card["fingerprint"]

    def payload(self, i: int) -> FramesPayload:
        i = int(i)
        hit = self._cache.get(i)
        if hit is not None:
            self._cache.move_to_end(i)
            return hit
        row = self._where[i]
        limits = Limits.for_row(row)
        try:
            offset, size = int(row["payload_offset"]), int(row["payload_bytes"])
            limits.check_member_size(size)
            data = self.ds.fs.cat_file(f"{self.ds.path}/{row['shard']}", start=offset, end=offset + size)
            p = FramesPayload(data, limits)
        except (PayloadError, OSError, TypeError, ValueError) as e:   # TypeError: a null offset or size
            raise self._bad_item(row, e) from None
        self._cache[i] = p
        if len(self._cache) > self._cache_items:
            self._cache.popitem(last=False)
        return p

    def frame(self, i: int, t: int = 0) -> np.ndarray:
        p = self.payload(i)
        try:
            return p.frame(int(t) % p.num_frames)
        except PayloadError as e:
            raise self._bad_item(self._where[int(i)], e) from None

    def _bad_item(self, row: dict, e: Exception) -> PayloadError:
        """One line naming the pool, its shard and the item: a variant shard using it fails with this."""
        return PayloadError(f"pool {safe_url(self.url)}: {row['shard']}: item {row['key']}: {e}")

    def clip_length(self, i: int) -> int:
        return self.payload(i).num_frames


class MixedPool:
    """Half of the items from each of two pools (by count), interleaved by a seeded shuffle."""

    def __init__(self, name: str, a: PoolReader, b: PoolReader, items: int, seed: int):
        self.items = items
        self.parts = (a, b)
        self.half = items // 2
        self.perm = substream(seed, items, f"mixed-pool:{name}").permutation(items)

    def _locate(self, i: int):
        j = int(self.perm[int(i)])
        return (self.parts[0], j) if j < self.half else (self.parts[1], j - self.half)

    def frame(self, i: int, t: int = 0) -> np.ndarray:
        pool, j = self._locate(i)
        return pool.frame(j, t)

    def source_of(self, i: int) -> int:
        return 0 if int(self.perm[int(i)]) < self.half else 1

    def clip_length(self, i: int) -> int:
        pool, j = self._locate(i)
        return pool.clip_length(j)


@dataclass(frozen=True)
class PoolRef:
    """A built pool a variant reads: where it is and what it is (its fingerprint goes into the card)."""
    source: str           # a POOL_SOURCES entry
    url: str
    items: int            # items this variant uses (a prefix of the pool)
    fingerprint: str
    licence: str | None = None
    storage_options: dict = field(default_factory=dict)
    why: str = ""         # how its size was chosen (factory.pools.sizing); in the card, not the fingerprint
    demo: bool = False    # the bundled demo photographs, in a build above demo size

    def card(self) -> dict:
        d = {"source": self.source, "items_used": self.items, "fingerprint": self.fingerprint}
        if self.licence:
            d["licence"] = self.licence
        return d


def open_pools(refs: tuple, params) -> dict:
    """Pool views by name ("textures", "images+textures", ...) for every pool the parameters read."""
    readers = {r.source: PoolReader(r.url, r.storage_options, limit=r.items) for r in refs}
    views: dict = {}
    for name in params.pool_views():
        parts = name.split("+")
        if len(parts) == 1:
            views[name] = readers[name]
        else:
            a, b = readers[parts[0]], readers[parts[1]]
            views[name] = MixedPool(name, a, b, a.items + b.items, params.pool_seed)
    return views


def read_pool_card(url: str, storage_options: dict | None = None) -> dict:
    """The `pool` entry of a built pool's card; a clear error when `url` is no (complete) pool."""
    ds = open_dataset(url, storage_options)
    pool = ds.card.get("pool")
    if not isinstance(pool, dict) or "kind" not in pool:
        raise PoolMismatchError(f"{url} is a dataset but not a pool (its card has no 'pool' entry); build one "
                                "with `synthvid-factory build-pool KIND --out DIR`")
    if pool["kind"] == "images":   # cards record these only when not the defaults
        pool = {"resample": "bilinear", "fit": "squash", **pool}
    return {**pool, "items_built": ds.card["totals"]["videos"]}


def check_pool_kind(source: str, url: str, card: dict) -> None:
    if card["kind"] != source:
        raise PoolMismatchError(f"--pool {source}={url}: that pool holds {card['kind']!r} items, not {source!r} "
                                f"(pass it as --pool {card['kind']}=URL, or build a {source} pool)")
