"""Labelled shard sets: ingested UCF101 / HMDB51 splits and their UCF101-P corruptions, read through
synthvid.manifests.

What a labelled set is (the ingest's contract, shared with `synthvid-factory ingest` and `corrupt`):
- sample manifest: `label_index` (int, the class's position in the card's `classes`) and `label` (its name);
- card: `classes` (names in label order), `split` {dataset: ucf101|hmdb51, split: N, part: train|test}, and on
  a UCF101-P set `corruption` {name, severity, seed, stride, short_side, crops};
- the frames member is the card's `payload.member` (else each row's first member), opened by its extension
  through manifests.payload (`payload_for_extension` / `open_payload`, bounded by `Limits.for_row(row)`).

Real datasets are stored class by class, so a training epoch needs a full shuffle, not the shard-order
shuffle that suits i.i.d. synthetic videos: `LabelledSource` reads each video alone, by the byte range the
manifest gives (`payload_offset`, `payload_bytes`), and checks its sha256 against `payload_sha256` before
decoding it, so a range read trusts nothing the full tar read would have checked. The shard's size is
checked against the shard manifest first (and its sha256 with --verify-shards), as for any shard source.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from synthvid.manifests.payload import Limits, PayloadError, open_payload, payload_for_extension
from synthvid.manifests.storage import StorageError

from .. import draws
from ..data import DataError, ErrorPolicy, ShardSource, Stats
from ..data.shard_reader import ShardProblem, ShardRef

PARTS = ("train", "test")


@dataclass(frozen=True)
class Split:
    dataset: str | None         # "ucf101" | "hmdb51" (None: not recorded)
    split: int | None
    part: str | None            # "train" | "test"


@dataclass(frozen=True)
class Corruption:
    """A UCF101-P set's card entry: its videos hold the frames of the test read (every `stride`-th frame,
    short side `short_side`), corrupted; with `crops` 3 each video holds its 3 test crops one after another
    in time (crop-major), each short_side x short_side."""
    name: str
    severity: int
    seed: int
    stride: int
    short_side: int
    crops: int


@dataclass(frozen=True)
class Row:
    """What reading and labelling one video needs from its manifest row."""
    key: str
    shard: str
    label: int
    ext: str
    offset: int
    size: int
    sha256: str
    limits: Limits


def _card_classes(card: dict, url: str) -> tuple[str, ...]:
    classes = card.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) and c for c in classes):
        raise DataError(f"{url}: not a labelled set: its card has no `classes` list (a synthetic variant? real "
                        "videos come in through `synthvid-factory ingest`)")
    if len(set(classes)) != len(classes):
        raise DataError(f"{url}: its card lists a class twice")
    return tuple(classes)


def _card_split(card: dict) -> Split:
    s = card.get("split") if isinstance(card.get("split"), dict) else {}
    part = s.get("part")
    return Split(s.get("dataset"), s.get("split"), part if part in PARTS else None)


def _card_corruption(card: dict, url: str) -> Corruption | None:
    c = card.get("corruption")
    if c is None:
        return None
    try:
        out = Corruption(str(c["name"]), int(c["severity"]), int(c["seed"]), int(c["stride"]),
                         int(c["short_side"]), int(c["crops"]))
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{url}: card `corruption` entry is incomplete ({type(e).__name__}: {e}); it needs name, "
                        "severity, seed, stride, short_side and crops") from None
    if out.crops not in (1, 3) or out.stride < 1 or out.short_side < 1:
        raise DataError(f"{url}: card `corruption` has crops {out.crops}, stride {out.stride}, short side "
                        f"{out.short_side}; crops is 1 or 3, the others positive")
    return out


def _payload_ext(card: dict, members: list[str], url: str) -> str:
    """The frames member's extension, checked against the payload kinds this reader knows."""
    described = card.get("payload") if isinstance(card.get("payload"), dict) else {}
    ext = described.get("member") or (members[0].split(".", 1)[1] if members and "." in members[0] else "")
    try:
        return payload_for_extension(ext).extension
    except PayloadError as e:
        raise DataError(f"{url}: {e}") from None


def _rows(source: ShardSource, classes: tuple[str, ...], url: str) -> dict[int, Row]:
    table = source.ds.samples
    if "label_index" not in table.column_names:
        raise DataError(f"{url}: not a labelled set: its sample manifest has no label_index column")
    cols = table.select(["key", "shard", "index", "members", "frames", "height", "width", "payload_offset",
                         "payload_bytes", "payload_sha256", "label", "label_index"]).to_pylist()
    out = {}
    for r in cols:
        li, name = r["label_index"], r["label"]
        if li is None or not 0 <= int(li) < len(classes):
            raise DataError(f"{url}: sample {r['key']} has label_index {li}, outside the card's {len(classes)} classes")
        if name is not None and name != classes[int(li)]:
            raise DataError(f"{url}: sample {r['key']} is labelled {name!r} but its label_index {li} is "
                            f"{classes[int(li)]!r} in the card")
        if r["payload_offset"] is None or r["payload_bytes"] is None:
            raise DataError(f"{url}: sample {r['key']} has no payload byte range in the manifest")
        limits = Limits.for_row(r)
        try:                            # the bound every reader applies to a member of this row's shape
            if int(r["payload_bytes"]) == 0:
                raise PayloadError("the manifest gives it an empty payload")
            limits.check_member_size(int(r["payload_bytes"]))
        except PayloadError as e:
            raise DataError(f"{url}: sample {r['key']}: {e}") from None
        out[int(r["index"])] = Row(r["key"], r["shard"], int(li), _payload_ext(source.ds.card, r["members"], url),
                                   int(r["payload_offset"]), int(r["payload_bytes"]), r["payload_sha256"], limits)
    return out


class LabelledSource(ShardSource):
    """A labelled shard set as a source of the trainer's ClipStream, and of the test's reads."""

    reads_whole_shards = False

    def __init__(self, url: str, storage_options: dict | None = None, skip_bad_shards: bool = False,
                 verify_shards: bool = False):
        super().__init__(url, storage_options, skip_bad_shards, verify_shards)
        card = self.ds.card
        self.classes = _card_classes(card, url)
        self.split = _card_split(card)
        self.corruption = _card_corruption(card, url)
        self.videos = _rows(self, self.classes, url)
        self.indices = sorted(self.videos)
        self._shard_by_name = {s.name: s for s in self.shards}
        missing = sorted({r.shard for r in self.videos.values()} - set(self._shard_by_name))
        if missing:
            raise DataError(f"{url}: samples name shard(s) {missing[:3]} that the shard manifest lacks or lists empty")

    def label_of(self, index: int) -> int:
        return self.videos[index].label

    def labels(self) -> np.ndarray:
        return np.array([self.videos[i].label for i in self.indices], dtype=np.int64)

    def ref(self, index: int, pass_: int = 0) -> ShardRef:
        row = self.videos[index]
        return ShardRef(self._shard_by_name[row.shard], row.key, index, pass_)

    def refs(self, seed: int, epoch: int, start: int, count: int) -> list[ShardRef]:
        """Positions [start, start+count) of this epoch's endless stream: pass p is every video once, in an
        order shuffled by (seed, epoch, p)."""
        n = len(self.indices)
        out: list[ShardRef] = []
        for pass_ in range(start // n, (start + count - 1) // n + 1):
            order = draws.sample_order(seed, epoch, pass_).permutation(n)
            lo, hi = max(start - pass_ * n, 0), min(start + count - pass_ * n, n)
            out += [self.ref(self.indices[o], pass_) for o in order[lo:hi]]
        return out

    def read(self, refs: list[ShardRef], stats: Stats, seed: int = 0, epoch: int = 0):
        """(index, payload, pass) for each readable ref, in order; each video read alone by byte range."""
        policy = ErrorPolicy(self.skip_bad_shards, stats)
        for ref in refs:
            where = f"{ref.shard.url}: sample {ref.key}"
            if policy.failed_before(ref.shard):
                policy.missing_sample()
                continue
            try:
                self._check(ref.shard)
            except ShardProblem as e:
                policy.shard_failed(ref.shard, str(e))
                continue
            try:
                payload = self._payload(self.videos[ref.index])
            except PayloadError as e:
                policy.bad_sample(where, e)
                continue
            except (StorageError, OSError) as e:     # retries spent: the shard is unreachable for now
                policy.shard_failed(ref.shard, f"cannot be read ({type(e).__name__}: {e})")
                continue
            payload.where = where
            yield ref.index, payload, ref.pass_

    def _payload(self, row: Row):
        store = self._store()
        data = store.call("read", row.shard, store.fs.cat_file, store.path(row.shard), start=row.offset,
                          end=row.offset + row.size)
        if len(data) != row.size:
            raise PayloadError(f"read {len(data)} bytes where the manifest says {row.size} (shard truncated?)")
        if hashlib.sha256(data).hexdigest() != row.sha256:
            raise PayloadError("its payload's sha256 differs from the manifest's payload_sha256")
        return open_payload(row.ext, data, row.limits)
