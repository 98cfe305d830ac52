"""Reading a published variant: its card, shards and samples, from a local path or any fsspec URL.
Refuses an incomplete variant.

    ds = open_dataset("s3://bucket/synthvid/v1/accelerating-shapes")
    for sample in ds.iter_samples():      # {"__key__": "00000000", "__url__": ..., "svj": b..., "json": b...}
        ...
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from . import layout
from .schema import parquet_bytes_to_table, upgrade_samples
from .storage import INCOMPLETE, dataset_state, join, safe_url, url_to_fs


class IncompleteDatasetError(RuntimeError):
    """The variant has no card (build unfinished or failed) or its manifests are missing."""


# A card or manifest is read whole into memory: one past these sizes is refused, not read (a paper-size
# pool's sample manifest of 300k rows is ~30 MB).
MAX_CARD_BYTES = 16 << 20
MAX_MANIFEST_BYTES = 1 << 30


@dataclass(frozen=True)
class ShardRecord:
    name: str
    url: str
    count: int
    bytes: int
    sha256: str


class PublishedDataset:
    """One variant at `url` (a local folder or any fsspec URL)."""

    def __init__(self, url: str, storage_options: dict | None = None):
        self.url = str(url).rstrip("/")
        self.storage_options = dict(storage_options or {})
        self.fs, self.path = url_to_fs(self.url, self.storage_options)
        self.file_sha256: dict[str, str] = {}   # of the card and manifests as read (verify compares them)
        try:
            self.card = json.loads(self._read_whole(layout.CARD, MAX_CARD_BYTES))
        except FileNotFoundError:
            if dataset_state(self.fs, self.path) == INCOMPLETE:
                raise IncompleteDatasetError(
                    f"{safe_url(self.url)}: no {layout.CARD}, so the build did not finish; run the same "
                    "`synthvid-factory build` again to resume it") from None
            raise IncompleteDatasetError(f"{safe_url(self.url)}: no such dataset (no {layout.CARD}, shards or "
                                         "commit markers at that location)") from None
        except ValueError as e:
            raise IncompleteDatasetError(f"{safe_url(self.url)}: {layout.CARD} is not valid JSON ({e})") from None
        self.schema_version = self.card.get("schema_version") if isinstance(self.card, dict) else None
        if self.schema_version not in layout.READABLE_SCHEMA_VERSIONS:
            raise IncompleteDatasetError(
                f"{safe_url(self.url)}: schema version {self.schema_version}, this reader knows "
                f"{', '.join(map(str, layout.READABLE_SCHEMA_VERSIONS))}; upgrade synthvid or rebuild the dataset")
        try:
            self.samples: pa.Table = upgrade_samples(parquet_bytes_to_table(
                self._read_whole(layout.SAMPLES_MANIFEST)), self.schema_version)
            shards = parquet_bytes_to_table(self._read_whole(layout.SHARDS_MANIFEST)).to_pylist()
        except FileNotFoundError as e:
            raise IncompleteDatasetError(f"{safe_url(self.url)}: manifest missing ({e}); rebuild or "
                                         "re-publish") from None
        check_names(shards, self.samples, safe_url(self.url))
        self.shards = [ShardRecord(r["name"], join(self.url, r["name"]), r["count"], r["bytes"], r["sha256"])
                       for r in shards]

    def _read_whole(self, name: str, limit: int = MAX_MANIFEST_BYTES) -> bytes:
        """A small file of the dataset, refused unread when it is larger than `limit`."""
        path = join(self.path, name)
        size = self.fs.size(path)
        if size is None or size > limit:
            raise IncompleteDatasetError(f"{safe_url(self.url)}: {name} is larger than {limit:,} bytes; not a "
                                         "synthvid dataset (or a hostile one): refusing to read it")
        data = self.fs.cat_file(path)
        self.file_sha256[name] = hashlib.sha256(data).hexdigest()
        return data

    @property
    def variant(self) -> str:
        return self.card["variant"]

    @property
    def num_samples(self) -> int:
        return self.samples.num_rows

    def payload_kinds(self) -> list[str]:
        """The payload kinds (member extensions) its samples hold, sorted."""
        return sorted(set(self.samples.column("payload_kind").to_pylist()))

    def shard_urls(self) -> list[str]:
        return [s.url for s in self.shards]

    def open_shard(self, shard: ShardRecord):
        """A binary file object for one shard (local or remote)."""
        return self.fs.open(join(self.path, shard.name), "rb")

    def iter_samples(self, shards: list[ShardRecord] | None = None) -> Iterator[dict]:
        """The raw members of every sample, shard by shard in manifest order: {"__key__", "__url__",
        extension: bytes}. Opens shards through this dataset's filesystem, so it works for every URL
        `open_dataset` accepts. The members stay bytes: decode them explicitly (`FramesPayload`,
        `json.loads`, `numpy.load(..., allow_pickle=False)`)."""
        for shard in self.shards if shards is None else shards:
            with self.open_shard(shard) as f:
                yield from tar_samples(f, safe_url(shard.url))


def open_dataset(url: str, storage_options: dict | None = None) -> PublishedDataset:
    return PublishedDataset(url, storage_options)


def check_names(shard_rows: list[dict], samples: pa.Table, where: str) -> None:
    """Every shard and member name the manifests give is a plain file name of the dataset, and every sample
    lives in a listed shard: a manifest naming `../elsewhere.tar` or `/etc/passwd` is refused before any
    reader, verifier or publisher opens anything by it (layout.UnsafeNameError)."""
    names = set()
    for row in shard_rows:
        names.add(layout.check_shard_name(row.get("name"), f"{where}: {layout.SHARDS_MANIFEST}"))
    if samples.num_rows == 0:
        return
    for column in ("shard", "members", "key"):
        values = samples.column(column)
        if column == "members":
            values = pc.list_flatten(values)
        ok = pc.fill_null(pc.match_substring_regex(values, f"^(?:{layout.NAME_PATTERN})$"), False)
        if not pc.all(ok).as_py():
            bad = values.filter(pc.invert(ok))[0].as_py()
            raise layout.UnsafeNameError(f"{where}: {layout.SAMPLES_MANIFEST} column {column!r} holds {bad!r}, "
                                         "not a plain file name of this dataset; the dataset is corrupt or "
                                         "hostile: do not use it")
    unknown = set(pc.unique(samples.column("shard")).to_pylist()) - names
    if unknown:
        raise IncompleteDatasetError(f"{where}: {layout.SAMPLES_MANIFEST} places samples in shards its "
                                     f"{layout.SHARDS_MANIFEST} does not list ({sorted(unknown)[:3]})")


def tar_samples(fileobj, url: str = "") -> Iterator[dict]:
    """Samples of an uncompressed tar stream, as webdataset groups them: consecutive members sharing a key
    (the member name up to the first dot of its base name) form one sample, keyed by the rest of the
    name (its extension)."""
    sample: dict | None = None
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            folder, _, base = member.name.rpartition("/")
            stem, _, ext = base.partition(".")
            key = f"{folder}/{stem}" if folder else stem
            if sample is not None and sample["__key__"] != key:
                yield sample
                sample = None
            if sample is None:
                sample = {"__key__": key, "__url__": url}
            sample[ext] = tar.extractfile(member).read()
    if sample is not None:
        yield sample
