"""Reading a published variant: its card, shards and samples, from a local path or any fsspec URL.
Refuses an incomplete variant.

    ds = open_dataset("s3://bucket/synthvid/v1/accelerating-shapes")
    for sample in ds.iter_samples():      # {"__key__": "00000000", "__url__": ..., "svj": b..., "json": b...}
        ...
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa

from . import layout
from .schema import parquet_bytes_to_table, upgrade_samples
from .storage import INCOMPLETE, dataset_state, join, safe_url, url_to_fs


class IncompleteDatasetError(RuntimeError):
    """The variant has no card (build unfinished or failed) or its manifests are missing."""


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
        try:
            self.card = json.loads(self.fs.cat_file(join(self.path, layout.CARD)))
        except FileNotFoundError:
            if dataset_state(self.fs, self.path) == INCOMPLETE:
                raise IncompleteDatasetError(
                    f"{self.url}: no {layout.CARD}, so the build did not finish; run the same "
                    "`synthvid-factory build` again to resume it") from None
            raise IncompleteDatasetError(f"{self.url}: no such dataset (no {layout.CARD}, shards or commit "
                                         "markers at that location)") from None
        self.schema_version = self.card.get("schema_version")
        if self.schema_version not in layout.READABLE_SCHEMA_VERSIONS:
            raise IncompleteDatasetError(
                f"{self.url}: schema version {self.schema_version}, this reader knows "
                f"{', '.join(map(str, layout.READABLE_SCHEMA_VERSIONS))}; upgrade synthvid or rebuild the dataset")
        try:
            self.samples: pa.Table = upgrade_samples(parquet_bytes_to_table(
                self.fs.cat_file(join(self.path, layout.SAMPLES_MANIFEST))), self.schema_version)
            shards = parquet_bytes_to_table(self.fs.cat_file(join(self.path, layout.SHARDS_MANIFEST))).to_pylist()
        except FileNotFoundError as e:
            raise IncompleteDatasetError(f"{self.url}: manifest missing ({e}); rebuild or re-publish") from None
        self.shards = [ShardRecord(r["name"], join(self.url, r["name"]), r["count"], r["bytes"], r["sha256"])
                       for r in shards]

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
