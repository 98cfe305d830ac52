"""Reading a published variant: its card, shards and samples. Refuses an incomplete variant."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

from . import layout
from .schema import parquet_bytes_to_table
from .storage import INCOMPLETE, dataset_state, join, url_to_fs


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
        if self.card.get("schema_version") != layout.SCHEMA_VERSION:
            raise IncompleteDatasetError(
                f"{self.url}: schema version {self.card.get('schema_version')}, this reader knows "
                f"{layout.SCHEMA_VERSION}; upgrade synthvid or rebuild the dataset")
        try:
            self.samples: pa.Table = parquet_bytes_to_table(self.fs.cat_file(join(self.path, layout.SAMPLES_MANIFEST)))
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

    def shard_urls(self) -> list[str]:
        return [s.url for s in self.shards]

    def open_shard(self, shard: ShardRecord):
        """A binary file object for one shard (local or remote)."""
        return self.fs.open(join(self.path, shard.name), "rb")


def open_dataset(url: str, storage_options: dict | None = None) -> PublishedDataset:
    return PublishedDataset(url, storage_options)
