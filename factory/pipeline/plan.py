"""Stage 1 of a build: for each dataset, take its lock, check what is in the way, and decide which shards
are already committed for this build (kept untouched) and which are to be built."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field

from synthvid.manifests import layout
from synthvid.manifests.storage import BuildLock, Store, committed_marker

from .jobs import BuildError, DatasetJob, json_bytes
from .options import BuildOptions, BuildResult

BUILD_FILE = f"{layout.COMMIT_DIR}/build.json"


@dataclass
class DatasetPlan:
    job: DatasetJob
    store: Store
    fingerprint: str
    result: BuildResult
    markers: dict = field(default_factory=dict)     # shard index -> marker (kept, then built)
    lock: BuildLock | None = None                    # held while the plan lives

    def pending(self) -> list[int]:
        return [i for i in range(self.job.num_shards) if i not in self.markers]

    def skipped(self) -> list[tuple[str, dict]]:
        """(shard name, {"key", "index", "reason"}) of every item a source skipped, in shard order."""
        return [(m["shard"]["name"], s) for _, m in sorted(self.markers.items()) for s in m["shard"].get("skipped", ())]


@contextlib.contextmanager
def planned(jobs: list[DatasetJob], options: BuildOptions):
    """Plans of `jobs`, each dataset's lock held until the block ends."""
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise BuildError(f"the same variant is asked for twice: {sorted(n for n in names if names.count(n) > 1)}")
    with contextlib.ExitStack() as locks:
        plans = []
        for job in jobs:
            store = Store(job.url, options.storage_options)
            store.makedirs(layout.COMMIT_DIR)
            lock = locks.enter_context(BuildLock(store))
            plans.append(_plan(job, store, options))
            plans[-1].lock = lock
        yield plans


def _plan(job: DatasetJob, store: Store, options: BuildOptions) -> DatasetPlan:
    fingerprint = job.fingerprint()
    _clear_the_way(job, store, fingerprint, options.overwrite)
    plan = DatasetPlan(job, store, fingerprint, BuildResult(job.name, job.url))
    for index in range(job.num_shards):
        marker = committed_marker(store, job.shard_name(index), fingerprint)
        # A shard that skipped items is built again unless skips are allowed, so a repaired source gets in.
        if marker is not None and (options.allow_skipped or not marker["shard"].get("skipped")):
            plan.markers[index] = marker
    plan.result.shards_kept = len(plan.markers)
    return plan


def _clear_the_way(job: DatasetJob, store: Store, fingerprint: str, overwrite: bool) -> None:
    """Handle --overwrite and a different earlier build, then record this build's identity."""
    if overwrite:
        for entry in store.listdir():
            if entry != layout.LOCK:
                store.remove(entry, recursive=True)
        store.makedirs(layout.COMMIT_DIR)
    elif store.exists(BUILD_FILE):
        previous = json.loads(store.read_bytes(BUILD_FILE))
        if previous.get("fingerprint") != fingerprint:
            before, now = previous.get("config", {}), job.config()
            changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
            raise BuildError(
                f"{job.url} holds a different build of {job.name} (differs in: {', '.join(changed)}); "
                "pass --overwrite to replace it, or choose another --out")
    store.put_bytes(BUILD_FILE, json_bytes({"fingerprint": fingerprint, "config": job.config()}))
