"""What the pipeline builds: datasets (`DatasetJob`: a variant or a pool, each with its own item count and
seed) of shards, written by tasks (`build_shard`) that need no more than a `ShardJob` and a shard index.

Variant recipes and pool recipes meet the one shard writer through `ShardSource`.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from typing import Iterable, Protocol, runtime_checkable

import numpy as np

import synthvid
from synthvid.manifests import layout
from synthvid.manifests.payload import PayloadSpec
from synthvid.manifests.storage import Store, space_checked

from .sample import SampleInfo
from .shard import write_shard
from .versions import software_versions


class BuildError(RuntimeError):
    """A build cannot start or did not finish; the message names what and how to go on."""


@runtime_checkable
class ShardSource(Protocol):
    """What the shard writer needs of a recipe (factory.generate.recipe.Recipe,
    factory.pools.recipe.PoolRecipe)."""

    @property
    def name(self) -> str: ...                      # the dataset's name (its folder, its shards' prefix)

    @property
    def description(self) -> str: ...

    @property
    def num_gpus(self) -> float: ...                # GPUs one shard task asks Ray for

    def to_dict(self) -> dict: ...                  # what decides the bytes: in the card and fingerprint

    def card_extra(self) -> dict: ...               # card entries of its own kind

    def render_sample(self, seed: int, index: int) -> tuple[Iterable[np.ndarray], SampleInfo]: ...


@dataclass(frozen=True)
class DatasetJob:
    """One dataset to build at `url`: `count` samples of `source` with `seed`, `per_shard` per shard, frames
    stored as `payload` (`payload_choice`: how it was chosen and the quality measured, for the card)."""
    source: ShardSource
    seed: int
    count: int
    per_shard: int
    url: str
    payload: PayloadSpec = PayloadSpec()
    payload_choice: dict | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def num_shards(self) -> int:
        return layout.num_shards(self.count, self.per_shard)

    def shard_name(self, index: int) -> str:
        return layout.shard_name(self.name, index)

    def config(self) -> dict:
        """What decides the bytes: recorded in the card, hashed into the fingerprint."""
        return {"recipe": self.source.to_dict(), "seed": self.seed, "videos": self.count,
                "videos_per_shard": self.per_shard, "payload": self.payload.describe(),
                "synthvid_version": synthvid.__version__, "software": software_versions(),
                "schema_version": layout.SCHEMA_VERSION}

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.config(), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ShardJob:
    """What a task needs to write and commit shards of one dataset; shipped to Ray once per dataset.

    Explicit storage options (`--storage-option`) travel here, so they reach every worker; they never
    show in a repr. Credentials from the standard chain (environment, profiles, roles) never travel."""
    source: ShardSource
    seed: int
    count: int
    per_shard: int
    url: str
    fingerprint: str
    software: dict                 # the driver's versions: a worker with others refuses to write
    payload: PayloadSpec = PayloadSpec()
    storage_options: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, job: DatasetJob, fingerprint: str, storage_options: dict | None = None) -> "ShardJob":
        return cls(job.source, job.seed, job.count, job.per_shard, job.url, fingerprint, software_versions(),
                   job.payload, dict(storage_options or {}))


def json_bytes(obj) -> bytes:
    """JSON as the factory writes it (markers, build.json, the card): sorted keys, one key per line."""
    return json.dumps(obj, sort_keys=True, indent=1, separators=(",", ": ")).encode() + b"\n"


def build_shard(job: ShardJob, index: int) -> dict:
    """Render, write and commit shard `index`, then its marker; returns the marker. Runs in a Ray task (or
    inline). The marker is written only after the shard is committed, so it always names stored bytes."""
    _check_software(job.software)
    store = Store(job.url, job.storage_options)
    name = layout.shard_name(job.source.name, index)
    tmp = store.temp_path(name)
    try:
        with space_checked(tmp):
            shard_row, rows = write_shard(job.source, job.seed, index, job.count, job.per_shard, tmp, job.payload)
        store.commit_file(tmp, name, shard_row["bytes"], shard_row["sha256"])
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    marker = {"fingerprint": job.fingerprint, "shard": shard_row, "samples": rows}
    store.put_bytes(layout.marker_name(name), json_bytes(marker))
    return marker


def _check_software(expected: dict) -> None:
    check_same_versions(expected, software_versions())


def check_same_versions(driver: dict, worker: dict) -> None:
    """A worker whose libraries differ from the driver's would write other bytes: refuse, naming each."""
    if driver == worker:
        return
    diff = ", ".join(f"{k} {worker.get(k)} here vs {driver.get(k)} on the driver"
                     for k in sorted(set(driver) | set(worker)) if driver.get(k) != worker.get(k))
    raise BuildError(f"worker {socket.gethostname()} has different software ({diff}); byte-identical "
                     "shards need identical versions on every node: use one image for the cluster")
