"""Build variants: one Ray task per shard, commit markers, manifests and card last.

    build_variants([from_variant("accelerating-shapes")], out="./out", videos=9537, seed=0, workers=2)

Resumable: a shard whose marker matches this build's fingerprint and whose stored bytes match the marker
is kept untouched; everything else is (re)built. The card is written last, so a variant without a card is
incomplete, whatever else is there.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field

import synthvid
from synthvid.manifests import layout
from synthvid.manifests.schema import SAMPLE_SCHEMA, SHARD_SCHEMA, rows_to_parquet_bytes
from synthvid.manifests.storage import BuildLock, Store, check_writable, committed_marker, is_local, join

from ..generate.recipe import Recipe
from .shard import write_shard
from .versions import code_version, software_versions

DEFAULT_VIDEOS_PER_SHARD = 64   # 9,537 videos -> 150 shards: enough for 16 GPUs x 8 loader workers


class BuildError(RuntimeError):
    pass


def _dumps(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, indent=1, separators=(",", ": ")).encode() + b"\n"


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs for one variant; shipped to Ray tasks as-is."""
    recipe: Recipe
    seed: int
    videos: int
    per_shard: int
    url: str                      # the variant folder
    storage_options: dict = field(default_factory=dict)

    @property
    def num_shards(self) -> int:
        return layout.num_shards(self.videos, self.per_shard)

    def config(self) -> dict:
        """What decides the bytes: recorded in the card, hashed into the fingerprint."""
        return {"recipe": self.recipe.to_dict(), "seed": self.seed, "videos": self.videos,
                "videos_per_shard": self.per_shard, "synthvid_version": synthvid.__version__,
                "software": software_versions(), "schema_version": layout.SCHEMA_VERSION}

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.config(), sort_keys=True).encode()).hexdigest()


def build_shard(job: ShardJob, shard_index: int, fingerprint: str, expected_software: dict) -> dict:
    """Render, write and commit one shard; returns its marker. Runs inside a Ray task (or inline)."""
    if software_versions() != expected_software:
        mine, theirs = software_versions(), expected_software
        diff = ", ".join(f"{k} {mine.get(k)} here vs {theirs.get(k)} on the driver"
                         for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k))
        raise BuildError(f"worker {socket.gethostname()} has different software ({diff}); byte-identical "
                         "shards need identical versions on every node: use one image for the cluster")
    out = Store(job.url, job.storage_options)
    name = layout.shard_name(job.recipe.name, shard_index)
    tmp = out.temp_path(name)
    try:
        shard_row, rows = write_shard(job.recipe, job.seed, shard_index, job.videos, job.per_shard, tmp)
        out.commit_file(tmp, name, shard_row["bytes"], shard_row["sha256"])
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    marker = {"fingerprint": fingerprint, "shard": shard_row, "samples": rows}
    out.put_bytes(layout.marker_name(name), _dumps(marker))
    return marker


def finalize(out: Store, job: ShardJob, markers: list[dict], fingerprint: str) -> dict:
    """Merge the markers into the manifests, then write the card: the last file of a complete variant."""
    samples = [row for m in markers for row in m["samples"]]
    shards = [m["shard"] for m in markers]
    samples_pq = rows_to_parquet_bytes(samples, SAMPLE_SCHEMA, "key")
    shards_pq = rows_to_parquet_bytes(shards, SHARD_SCHEMA, "name")
    out.put_bytes(layout.SAMPLES_MANIFEST, samples_pq)
    out.put_bytes(layout.SHARDS_MANIFEST, shards_pq)
    card = {
        "schema_version": layout.SCHEMA_VERSION,
        "variant": job.recipe.name,
        "description": job.recipe.description,
        "paper_ucf101_ft": job.recipe.paper_ucf101_ft,
        **job.config(),
        # provenance: the exact commit that wrote this card. The resume identity (fingerprint) holds the
        # release version instead, so a rebuilt checkout can finish a build without --overwrite.
        "code_version": code_version(),
        "fingerprint": fingerprint,
        "payload": {"member": layout.FRAMES_EXT, "format": "svf1", "codec": "zstd", "lossless": True},
        "sample_members": [layout.FRAMES_EXT, layout.META_EXT, layout.LATENTS_EXT],
        "totals": {"videos": len(samples), "shards": len(shards), "frames": sum(r["frames"] for r in samples),
                   "bytes": sum(s["bytes"] for s in shards)},
        "manifests": {layout.SAMPLES_MANIFEST: hashlib.sha256(samples_pq).hexdigest(),
                      layout.SHARDS_MANIFEST: hashlib.sha256(shards_pq).hexdigest()},
        **(job.recipe.card_extra() if hasattr(job.recipe, "card_extra") else {}),
    }
    out.put_bytes(layout.CARD, _dumps(card))
    return card


@dataclass
class VariantResult:
    name: str
    url: str
    shards_built: int = 0
    shards_kept: int = 0
    failed: list = field(default_factory=list)
    card: dict | None = None
    seconds: float = 0.0


def prepare(job: ShardJob, overwrite: bool) -> tuple[Store, str]:
    """Check the output, handle --overwrite and a different earlier build; returns (out, fingerprint)."""
    out = Store(job.url, job.storage_options)
    out.makedirs(layout.COMMIT_DIR)
    fingerprint = job.fingerprint()
    build_file = f"{layout.COMMIT_DIR}/build.json"
    if overwrite:
        for entry in out.listdir():
            if entry != layout.LOCK:
                out.remove(entry, recursive=True)
        out.makedirs(layout.COMMIT_DIR)
    elif out.exists(build_file):
        previous = json.loads(out.read_bytes(build_file))
        if previous.get("fingerprint") != fingerprint:
            changed = sorted(k for k in set(previous.get("config", {})) | set(job.config())
                             if previous.get("config", {}).get(k) != job.config().get(k))
            raise BuildError(
                f"{job.url} holds a different build of {job.recipe.name} (differs in: {', '.join(changed)}); "
                "pass --overwrite to replace it, or choose another --out")
    out.put_bytes(build_file, _dumps({"fingerprint": fingerprint, "config": job.config()}))
    return out, fingerprint


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


def build_variants(recipes: list, out: str, videos: int, seed: int = 0,
                   per_shard: int = DEFAULT_VIDEOS_PER_SHARD, workers: int | None = None,
                   ray_address: str | None = None, overwrite: bool = False, progress: bool = True,
                   storage_options: dict | None = None, inline: bool = False,
                   max_retries: int = 2, images: str | None = None, pool_urls: dict | None = None,
                   device: str = "auto") -> list[VariantResult]:
    """Build each recipe into `<out>/<recipe.name>/`, first building the pools the recipes read (under
    `<out>/_pools/`, unless `pool_urls` names built ones). `inline=True` renders in this process without
    Ray (benchmarks, dry runs). `device` of StyleGAN pool items: "auto" is "cuda" when the Ray cluster has
    GPUs, else "cpu". Raises BuildError naming every shard that kept failing."""
    if videos < 1:
        raise BuildError("--videos must be at least 1")
    if per_shard < 1:
        raise BuildError("--videos-per-shard must be at least 1")
    if not is_local(out):
        check_writable(out, storage_options)   # a wrong endpoint or key fails before Ray starts
    ray, started_ray = (None, False) if inline else _init_ray(workers, ray_address)
    try:
        if any(getattr(r, "params", None) is not None and r.params.pools_needed() for r in recipes):
            from ..pools.artifact import ITEMS_PER_SHARD, ensure_pools

            def build_pools(pool_recipes, root):
                _build(pool_recipes, root, 0, 0, ITEMS_PER_SHARD, workers, ray, overwrite=False, progress=progress,
                       storage_options=storage_options, max_retries=max_retries, what="pool item")

            recipes = ensure_pools(recipes, out, videos, images, dict(pool_urls or {}), build_pools, storage_options,
                                   device=pool_device(ray, device))
        return _build(recipes, out, videos, seed, per_shard, workers, ray, overwrite, progress, storage_options,
                      max_retries)
    finally:
        if started_ray:
            ray.shutdown()


def pool_device(ray, device: str = "auto") -> str:
    """Where StyleGAN pool items render: "cuda" when asked, or when "auto" and the Ray cluster has GPUs."""
    if device not in ("auto", "cpu", "cuda"):
        raise BuildError(f"device must be auto, cpu or cuda, got {device!r}")
    if device != "auto":
        return device
    if ray is None:
        return "cpu"
    return "cuda" if ray.cluster_resources().get("GPU", 0) > 0 else "cpu"


def build_pools(pool_recipes: list, out: str, folders: list[str] | None = None, workers: int | None = None,
                ray_address: str | None = None, overwrite: bool = False, progress: bool = True,
                storage_options: dict | None = None, inline: bool = False, max_retries: int = 2,
                device: str = "auto") -> list[VariantResult]:
    """Build pools (PoolRecipes) as datasets of their own into `<out>/<folder>` (default folder: the pool's
    name), 64 items per shard. StyleGAN kinds take `device` ("auto": cuda on a cluster with GPUs)."""
    import dataclasses

    from ..pools.artifact import ITEMS_PER_SHARD

    if not is_local(out):
        check_writable(out, storage_options)   # a wrong endpoint or key fails before Ray starts
    ray, started_ray = (None, False) if inline else _init_ray(workers, ray_address)
    try:
        dev = pool_device(ray, device)
        pool_recipes = [dataclasses.replace(r, device=dev) if r.kind.startswith("stylegan") else r
                        for r in pool_recipes]
        urls = [join(out, f) for f in folders] if folders else None
        return _build(pool_recipes, out, 0, 0, ITEMS_PER_SHARD, workers, ray, overwrite, progress, storage_options,
                      max_retries, what="pool item", urls=urls)
    finally:
        if started_ray:
            ray.shutdown()


def _build(recipes: list, out: str, videos: int, seed: int, per_shard: int, workers: int | None, ray,
           overwrite: bool, progress: bool, storage_options: dict | None, max_retries: int,
           what: str = "video", urls: list | None = None) -> list[VariantResult]:
    """Build recipes with Ray (`ray` given) or in this process (`ray` None). Pool recipes carry their own
    item count and seed (and ask Ray for a GPU when they render on one)."""
    urls = urls or [join(out, r.name) for r in recipes]
    jobs = [ShardJob(r, getattr(r, "seed", seed), getattr(r, "items", videos), per_shard, url,
                     dict(storage_options or {})) for r, url in zip(recipes, urls)]
    names = [j.recipe.name for j in jobs]
    if len(set(names)) != len(names):
        raise BuildError(f"the same variant is asked for twice: {sorted(n for n in names if names.count(n) > 1)}")

    locks, results, pending, done = [], {}, [], {}
    started = time.time()
    try:
        for job in jobs:
            out_dir = Store(job.url, job.storage_options)
            out_dir.makedirs(layout.COMMIT_DIR)
            lock = BuildLock(out_dir)
            lock.acquire()
            locks.append(lock)
            out_dir, fingerprint = prepare(job, overwrite)
            results[job.recipe.name] = VariantResult(job.recipe.name, job.url)
            done[job.recipe.name] = {}
            for s in range(job.num_shards):
                marker = committed_marker(out_dir, layout.shard_name(job.recipe.name, s), fingerprint)
                if marker is not None:
                    done[job.recipe.name][s] = marker
                    results[job.recipe.name].shards_kept += 1
                else:
                    pending.append((job, s, fingerprint))

        total_videos = sum(j.videos for j in jobs)
        kept_videos = sum(m["shard"]["count"] for d in done.values() for m in d.values())
        bar = _progress(total_videos, kept_videos, len(pending), progress, what)
        expected = software_versions()
        if pending and ray is None:
            for job, s, fp in pending:
                marker = build_shard(job, s, fp, expected)
                done[job.recipe.name][s] = marker
                results[job.recipe.name].shards_built += 1
                bar.update(marker["shard"]["count"])
        elif pending:
            task = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=True)(build_shard)
            gpu_task = task.options(num_gpus=1)   # StyleGAN pool items on a cluster with GPUs
            job_refs = {}
            # --workers caps the shards in flight, also on a shared cluster; otherwise Ray schedules
            # all of them over the cluster's CPUs.
            limit = workers or len(pending)
            queue, refs, waiting = list(pending), {}, []
            while queue or waiting:
                while queue and len(waiting) < limit:
                    job, s, fp = queue.pop(0)
                    if id(job) not in job_refs:   # one copy of a job in the object store, not one per task
                        job_refs[id(job)] = ray.put(job)
                    fn = gpu_task if getattr(job.recipe, "num_gpus", 0) else task
                    ref = fn.remote(job_refs[id(job)], s, fp, expected)
                    refs[ref] = (job, s)
                    waiting.append(ref)
                ready, waiting = ray.wait(waiting, num_returns=1)
                job, s = refs[ready[0]]
                try:
                    marker = ray.get(ready[0])
                except Exception as e:  # noqa: BLE001 - reported per shard below
                    cause = getattr(e, "cause", None) or e
                    results[job.recipe.name].failed.append(
                        (layout.shard_name(job.recipe.name, s), f"{type(cause).__name__}: {cause}".splitlines()[0]))
                    continue
                done[job.recipe.name][s] = marker
                results[job.recipe.name].shards_built += 1
                bar.update(marker["shard"]["count"])
        bar.close()

        for job in jobs:
            res = results[job.recipe.name]
            if res.failed:
                continue
            out_dir = Store(job.url, job.storage_options)
            markers = [done[job.recipe.name][s] for s in range(job.num_shards)]
            res.card = finalize(out_dir, job, markers, job.fingerprint())
            res.seconds = time.time() - started
            out_dir.cleanup_temp()
            out_dir.append_text(layout.BUILD_LOG, json.dumps({
                "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": socket.gethostname(),
                "seconds": round(res.seconds, 3), "shards_built": res.shards_built, "shards_kept": res.shards_kept,
                "workers": workers}) + "\n")
    finally:
        for lock in locks:
            lock.release()

    failed = [(r.name, shard, why) for r in results.values() for shard, why in r.failed]
    if failed:
        lines = "\n".join(f"  {name}/{shard}: {why}" for name, shard, why in failed)
        raise BuildError(f"{len(failed)} shard(s) failed after {max_retries} retries:\n{lines}\n"
                         "Fix the cause and run the same command again: committed shards are kept.")
    return [results[j.recipe.name] for j in jobs]


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total: int, initial: int, shards: int, enabled: bool, what: str = "video"):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, unit=what, desc=f"building {shards} shard(s)",
                file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
