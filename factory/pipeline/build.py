"""Build datasets (variants and the pools they read) in three stages: plan -> run -> finalise.

    build_variants([from_variant("accelerating-shapes")], BuildOptions("./out", videos=9537, workers=2))

plan (`plan.planned`): lock each dataset, handle --overwrite, keep every shard whose marker carries this
build's fingerprint and whose stored bytes match it. run: the shards still missing go to a distributor
(`distribute`: in this process, or one Ray task per shard). finalise (`finalise.finalise`): manifests,
then the card, written last, so a dataset without a card is incomplete whatever else is there.

Pools are datasets of their own, built by the same stages first (under `<out>/_pools/`, unless
`BuildOptions.pool_urls` names built ones); then each variant reads them by byte range.
"""

from __future__ import annotations

import dataclasses
import sys
import time

from synthvid.manifests.storage import check_writable, is_local, join

from ..pools.attach import PoolOptions, attach_pools, plan_pools
from ..pools.recipe import ITEMS_PER_SHARD
from .distribute import Distributor, ShardTask, open_distributor
from .finalise import finalise
from .jobs import BuildError, DatasetJob, ShardJob
from .options import DEVICES, BuildOptions, BuildResult
from .payloads import POOL_CHOICE, resolve_payload
from .plan import DatasetPlan, planned

POOLS_FOLDER = "_pools"


def build_variants(recipes: list, options: BuildOptions) -> list[BuildResult]:
    """Build each recipe into `<out>/<recipe.name>/`, after the pools the recipes read. Raises BuildError
    naming every shard that kept failing."""
    if options.videos < 1:
        raise BuildError("--videos must be at least 1")
    if options.per_shard < 1:
        raise BuildError("--videos-per-shard must be at least 1")
    _check_output(options)
    with open_distributor(options) as distributor:
        if any(r.params.pools_needed() for r in recipes):
            plan = plan_pools(recipes, PoolOptions(options.videos, options.images, dict(options.pool_urls),
                                                   pool_device(options.device, distributor.gpus),
                                                   options.storage_options))
            if plan.demo_warning():
                print(plan.demo_warning(), file=sys.stderr)
            root = join(options.out, POOLS_FOLDER)
            pool_jobs = [DatasetJob(p, p.seed, p.items, ITEMS_PER_SHARD, join(root, p.name), payload_choice=POOL_CHOICE)
                         for p in plan.to_build]
            if pool_jobs:   # pools are shared by every variant that reads them: --overwrite never deletes one
                build_datasets(pool_jobs, dataclasses.replace(options, overwrite=False), distributor, "pool item")
            recipes = attach_pools(plan, root)
        return build_datasets([variant_job(r, options) for r in recipes], options, distributor)


def variant_job(recipe, options: BuildOptions) -> DatasetJob:
    """The dataset job of one variant, its payload resolved (`auto`: measured on its first videos)."""
    spec, choice = resolve_payload(recipe, options.seed, options.payload)
    return DatasetJob(recipe, options.seed, options.videos, options.per_shard, join(options.out, recipe.name),
                      spec, choice)


def build_pools(pool_recipes: list, options: BuildOptions, folders: list[str] | None = None) -> list[BuildResult]:
    """Build pools (PoolRecipes) as datasets of their own into `<out>/<folder>` (default folder: the pool's
    name), 64 items per shard, each with its own item count and seed. StyleGAN kinds render on
    `options.device` ("auto": cuda on a Ray cluster with GPUs)."""
    _check_output(options)
    with open_distributor(options) as distributor:
        device = pool_device(options.device, distributor.gpus)
        pool_recipes = [dataclasses.replace(r, device=device) if r.kind.startswith("stylegan") else r
                        for r in pool_recipes]
        folders = folders or [r.name for r in pool_recipes]
        jobs = [DatasetJob(r, r.seed, r.items, ITEMS_PER_SHARD, join(options.out, folder), payload_choice=POOL_CHOICE)
                for r, folder in zip(pool_recipes, folders)]
        return build_datasets(jobs, options, distributor, "pool item")


def build_jobs(jobs: list[DatasetJob], options: BuildOptions) -> list[BuildResult]:
    """Datasets of ready-made jobs (ingest, corrupt): the output checked, then plan -> run -> finalise."""
    _check_output(options)
    with open_distributor(options) as distributor:
        return build_datasets(jobs, options, distributor)


def pool_device(device: str, gpus: float) -> str:
    """Where StyleGAN pool items render: "cuda" when asked, or when "auto" and the workers have GPUs."""
    if device not in DEVICES:
        raise BuildError(f"device must be auto, cpu or cuda, got {device!r}")
    if device != "auto":
        return device
    return "cuda" if gpus > 0 else "cpu"


def build_datasets(jobs: list[DatasetJob], options: BuildOptions, distributor: Distributor,
                   unit: str = "video") -> list[BuildResult]:
    """plan -> run -> finalise for `jobs`; every dataset with a failed shard, or with skipped items that
    `options.allow_skipped` does not allow, is named in one BuildError (the others are finalised)."""
    started = time.time()
    with planned(jobs, options) as plans:
        run(plans, options, distributor, unit)
        refused = [] if options.allow_skipped else [(p.job.name, s, item) for p in plans for s, item in p.skipped()]
        for plan in plans:
            if not plan.result.failed and not any(name == plan.job.name for name, _, _ in refused):
                plan.lock.ensure_held()      # a lease lost to another build: its card is not ours to write
                finalise(plan, started, options.workers)
    failed = [(p.job.name, shard, why) for p in plans for shard, why in p.result.failed]
    if failed:
        lines = "\n".join(f"  {name}/{shard}: {why}" for name, shard, why in failed)
        raise BuildError(f"{len(failed)} shard(s) failed:\n{lines}\n"
                         "Fix the cause and run the same command again: committed shards are kept.")
    if refused:
        lines = "\n".join(f"  {name}/{item['key']}: {item['reason']}" for name, _, item in refused)
        raise BuildError(f"{len(refused)} item(s) could not be read:\n{lines}\nRepair them and run the same command "
                         "again (only their shards are rebuilt), or allow leaving them out (ingest: "
                         "--skip-unreadable), named and counted in the card.")
    return [p.result for p in plans]


def run(plans: list[DatasetPlan], options: BuildOptions, distributor: Distributor, unit: str = "video") -> None:
    """Stage 2: build every pending shard through the distributor; record markers and failures."""
    tasks, plan_of = [], {}
    for plan in plans:
        job = ShardJob.of(plan.job, plan.fingerprint, options.storage_options)
        plan_of[id(job)] = plan
        tasks += [ShardTask(job, index) for index in plan.pending()]
    total = sum(p.job.count for p in plans)
    kept = sum(m["shard"]["count"] for p in plans for m in p.markers.values())
    bar = _progress(total, kept, len(tasks), options.progress, unit)
    try:
        for task, outcome in distributor.run(tasks):
            plan = plan_of[id(task.job)]
            if isinstance(outcome, BaseException):
                why = f"{type(outcome).__name__}: {outcome}".splitlines()[0]
                plan.result.failed.append((plan.job.shard_name(task.index), why))
                continue
            plan.markers[task.index] = outcome
            plan.result.shards_built += 1
            bar.update(outcome["shard"]["count"])
    finally:
        bar.close()


def _check_output(options: BuildOptions) -> None:
    if not is_local(options.out):
        check_writable(options.out, options.storage_options)   # a wrong endpoint or key fails before Ray starts


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total: int, initial: int, shards: int, enabled: bool, unit: str):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, unit=unit, desc=f"building {shards} shard(s)",
                file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
