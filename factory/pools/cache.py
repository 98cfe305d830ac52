"""Small pools built once into a cache folder and reused: previews, `build --dry-run` samples and procedural
sources (`procedural:<variant>` in the trainer). A pool is a pure function of its recipe, so a cached pool
is the same bytes on every machine and run; one whose card is there is used as it is, one another process
is building is waited for (ranks of one job share the cache), one left by another code or library version
(another fingerprint) is rebuilt.

    recipes = attach_cached(recipes, cache, PoolOptions(videos=1, fixed_items=8))
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

from synthvid.manifests import layout
from synthvid.manifests.storage import COMPLETE, StorageError, dataset_state, join, url_to_fs

from .attach import PoolOptions, attach_pools, plan_pools

WAIT_FOR_OTHER_BUILDER_S = 3600.0      # a pool another process builds into the same cache


def default_pools_cache() -> str:
    """`$SYNTHVID_POOLS_CACHE`, else `$XDG_CACHE_HOME/synthvid/pools`, else `~/.cache/synthvid/pools`."""
    if os.environ.get("SYNTHVID_POOLS_CACHE"):
        return os.environ["SYNTHVID_POOLS_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "synthvid", "pools")


def attach_cached(recipes: list, cache: str | None, options: PoolOptions, progress: bool = False,
                  on_build=None) -> list:
    """The recipes with their pools attached: given ones (`options.given`), the rest from `cache`, built
    there first when missing (in this process). `on_build(pool_recipes, cache)` is called before a build."""
    cache = cache or default_pools_cache()
    if not any(r.params.pools_needed() for r in recipes):
        return list(recipes)
    if "://" not in cache:
        os.makedirs(cache, exist_ok=True)
    plan = plan_pools(recipes, options)
    fs, root = url_to_fs(cache, options.storage_options)
    missing = [p for p in plan.to_build if not _current(fs, join(root, p.name), p, cache)]
    if missing:
        if on_build is not None:
            on_build(missing, cache)
        _build(missing, cache, options, progress, (fs, root))
    return attach_pools(plan, cache)


def _current(fs, path: str, pool, cache: str) -> bool:
    """A complete pool built by this code from this recipe (its card's fingerprint is this build's)."""
    from ..pipeline.jobs import DatasetJob
    from .recipe import ITEMS_PER_SHARD

    if dataset_state(fs, path) != COMPLETE:
        return False
    card = json.loads(fs.cat_file(join(path, layout.CARD)))
    job = DatasetJob(pool, pool.seed, pool.items, ITEMS_PER_SHARD, join(cache, pool.name))
    return card.get("fingerprint") == job.fingerprint()


def _build(pools: list, cache: str, options: PoolOptions, progress: bool, where) -> None:
    from ..pipeline.build import BuildError, BuildOptions, build_pools

    build = BuildOptions(cache, inline=True, progress=progress, device="cpu", storage_options=options.storage_options)
    try:
        build_pools(pools, build)
    except BuildError:                      # a cache entry from another code version: rebuild it
        build_pools(pools, dataclasses.replace(build, overwrite=True))
    except StorageError as e:
        fs, root = where
        if not any(fs.exists(join(root, p.name, layout.LOCK)) for p in pools):   # not another builder's lock
            raise
        _wait_until_complete(pools, where, e)


def _wait_until_complete(pools: list, where, cause: Exception) -> None:
    fs, root = where
    deadline = time.monotonic() + WAIT_FOR_OTHER_BUILDER_S
    while any(dataset_state(fs, join(root, p.name)) != COMPLETE for p in pools):
        if time.monotonic() > deadline:
            raise cause
        time.sleep(1.0)
        fs.invalidate_cache()
