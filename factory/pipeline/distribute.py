"""Where shard tasks run: in this process or on a Ray cluster, behind one interface.

    with open_distributor(options) as distributor:
        for task, outcome in distributor.run(tasks):   # outcome: the shard's marker, or the exception
            ...

`InlineDistributor` runs tasks one after the other and lets an exception end the build at once (the
real traceback is what tests, benchmarks and previews want). `RayDistributor` runs one Ray task per
shard (Ray retries a task whose worker died or that hit a transient fault `max_retries` times), keeps at
most `workers` in flight when asked, ships each dataset's `ShardJob` to the object store once, and
reports a task that still fails as its outcome.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from typing import Iterator, Protocol

from synthvid.manifests.storage import TRANSIENT_ERRORS

from .jobs import BuildError, ShardJob, build_shard
from .options import BuildOptions


@dataclass(frozen=True)
class ShardTask:
    job: ShardJob
    index: int


class Distributor(Protocol):
    gpus: float        # GPUs the workers can use (StyleGAN pools render on them when "auto")

    def run(self, tasks: list[ShardTask]) -> Iterator[tuple[ShardTask, dict | BaseException]]: ...


class InlineDistributor:
    gpus = 0.0

    def run(self, tasks: list[ShardTask]) -> Iterator[tuple[ShardTask, dict | BaseException]]:
        for task in tasks:
            yield task, build_shard(task.job, task.index)


class RayDistributor:
    def __init__(self, ray, workers: int | None, max_retries: int):
        self.ray, self.workers = ray, workers
        # Ray retries a task whose worker died, and one that raised a transient fault; a full disk, a bad
        # pool item or a software mismatch fails at once (a retry would only fail the same way).
        remote = ray.remote(num_cpus=1, max_retries=max_retries,
                            retry_exceptions=list(TRANSIENT_ERRORS))(build_shard)
        self._tasks = {False: remote, True: remote.options(num_gpus=1)}   # StyleGAN pools on GPU clusters

    @property
    def gpus(self) -> float:
        return float(self.ray.cluster_resources().get("GPU", 0))

    def run(self, tasks: list[ShardTask]) -> Iterator[tuple[ShardTask, dict | BaseException]]:
        # --workers caps the shards in flight, also on a shared cluster; otherwise Ray schedules all of
        # them over the cluster's CPUs.
        limit = self.workers or len(tasks)
        queue, waiting, of_ref, job_refs = list(tasks), [], {}, {}
        while queue or waiting:
            while queue and len(waiting) < limit:
                task = queue.pop(0)
                if id(task.job) not in job_refs:   # one copy of a job in the object store, not one per task
                    job_refs[id(task.job)] = self.ray.put(task.job)
                ref = self._tasks[bool(task.job.source.num_gpus)].remote(job_refs[id(task.job)], task.index)
                of_ref[ref] = task
                waiting.append(ref)
            ready, waiting = self.ray.wait(waiting, num_returns=1)
            try:
                outcome = self.ray.get(ready[0])
            except self.ray.exceptions.RayTaskError as e:   # the pipeline reports it per shard
                outcome = e.cause or e
            except self.ray.exceptions.RayError as e:       # a worker died, an object got lost
                outcome = e
            yield of_ref.pop(ready[0]), outcome


@contextlib.contextmanager
def open_distributor(options: BuildOptions):
    """The distributor `options` ask for; a Ray runtime started here is shut down on exit."""
    if options.inline:
        yield InlineDistributor()
        return
    with _local_ray_auth(options.ray_address):
        ray, started = _init_ray(options.workers, options.ray_address)
        try:
            yield RayDistributor(ray, options.workers, options.max_retries)
        finally:
            if started:
                ray.shutdown()


@contextlib.contextmanager
def _local_ray_auth(ray_address: str | None):
    """A Ray runtime this build starts listens on the machine's network (GCS and raylet bind every
    interface, whatever the node address): it runs with token authentication, which Ray (2.52+) turns on
    for a runtime `ray.init` starts unless RAY_AUTH_MODE says otherwise, and with a random token of its
    own, held only in this process's environment (which its raylet and workers inherit), never written to
    ~/.ray. RAY_AUTH_MODE or a token the user set is left alone, and so is a cluster the build joins."""
    import ray

    own = {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"}
    if ray.is_initialized() or ray_address or os.environ.get("RAY_ADDRESS") or own & set(os.environ):
        yield
        return
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    try:
        yield
    finally:
        for name in own:
            os.environ.pop(name, None)


def _init_ray(workers: int | None, ray_address: str | None):
    try:
        import ray
    except ImportError:
        raise BuildError("Ray is not installed: pip install 'synthvid[factory]'") from None
    if ray.is_initialized():
        return ray, False
    address = ray_address or os.environ.get("RAY_ADDRESS")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    else:
        ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    return ray, True
