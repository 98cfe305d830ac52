"""`build --dry-run`: estimate bytes and CPU-hours of a build, pools included, from a small sample rendered
here: a few videos of each variant (with small cached pools, and the payload the build would use, `auto`
resolved exactly as `build` resolves it) and a few items of each pool it would build.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from dataclasses import dataclass

from synthvid.manifests import layout

from ..generate.recipe import Recipe
from ..pipeline.payloads import PayloadRequest, resolve_payload
from ..pipeline.shard import write_shard

CLIP_SAMPLE_FRAMES = 4        # a clip pool's cost is measured on clips this long, then scaled per frame


def _sample_shard(source, seed: int, count: int) -> tuple[float, float]:
    """(CPU-s, bytes) per sample of `source`'s first `count` samples written into a scratch shard."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.process_time()
        shard, _ = write_shard(source, seed, 0, count, count, os.path.join(tmp, "sample.tar"))
        cpu = time.process_time() - t0
    return cpu / count, shard["bytes"] / count


@dataclass(frozen=True)
class EstimateOptions:
    videos: int
    seed: int = 0
    per_shard: int = 64
    sample: int = 3                       # videos rendered per variant
    payload: PayloadRequest = PayloadRequest()


def estimate(recipe: Recipe, options: EstimateOptions) -> dict:
    """Render `sample` videos (the first ones of the build) into a scratch shard and extrapolate. The
    payload choice (`auto`) is not counted in the CPU time: it is paid once per variant, not per video."""
    sample = max(1, min(options.sample, options.videos))
    spec, _ = resolve_payload(recipe, options.seed, options.payload)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sample.tar")
        t0 = time.process_time()
        shard, rows = write_shard(recipe, options.seed, 0, sample, sample, path, spec)
        cpu = time.process_time() - t0
    per_video_bytes = shard["bytes"] / sample
    per_video_cpu = cpu / sample
    psnr = [r["psnr_db"] for r in rows if r["psnr_db"] is not None]
    shards = layout.num_shards(options.videos, options.per_shard)
    return {"variant": recipe.name, "videos": options.videos, "shards": shards,
            "sampled_videos": sample, "payload": _short(spec), "psnr_db_min": min(psnr) if psnr else None,
            "bytes_per_video": per_video_bytes, "cpu_s_per_video": per_video_cpu,
            "total_bytes": per_video_bytes * options.videos, "cpu_hours": per_video_cpu * options.videos / 3600}


def _short(spec) -> str:
    return spec.kind if spec.payload_kind.lossless else f"{spec.kind} q{spec.quality}"


def estimate_pool(pool, sample: int = 2) -> dict:
    """CPU-s and bytes per item of a pool to build, measured on `sample` items after a warm-up item (caches,
    imports); clips on CLIP_SAMPLE_FRAMES-frame clips, scaled to the pool's clip length."""
    scale = 1.0
    if pool.kind == "stylegan-clips" and pool.clip_frames > CLIP_SAMPLE_FRAMES:
        scale = pool.clip_frames / CLIP_SAMPLE_FRAMES
        pool = dataclasses.replace(pool, clip_frames=CLIP_SAMPLE_FRAMES)
    if pool.kind == "images":         # the plan counted the images without probing: measure readable ones
        from ..pools.natural import NaturalImageError, NaturalImageSource

        try:
            src = NaturalImageSource.from_spec(pool.source.root, pool.seed, min(6, pool.items))
        except NaturalImageError:        # fewer readable than that: a small source, probe it all
            src = NaturalImageSource.from_spec(pool.source.root, pool.seed, None)
        measured = dataclasses.replace(pool, source=src, items=len(src.items))
        sample = len(src.items)
    else:
        sample = max(1, min(sample, pool.items - 1))
        measured = pool
    measured.render_item(0)
    cpu, size = _sample_shard(measured, pool.seed, sample)
    cpu, size = cpu * scale, size * scale
    return {"pool": pool.name, "items": pool.items, "cpu_s_per_item": cpu, "bytes_per_item": size,
            "total_bytes": size * pool.items, "cpu_hours": cpu * pool.items / 3600}


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"


def print_estimates(recipes: list, options: EstimateOptions, plan=None) -> None:
    """The `build --dry-run` table: per variant, its payload, videos and the pools it reads (`plan`, a
    factory.pools.attach.PoolPlan: sizes, sources and why); pools are built once, so the total counts each once."""
    pools = {p.name: p for p in (plan.to_build if plan else [])}
    pool_costs: dict = {}
    total_bytes = total_cpu = 0.0
    print(f"{'variant':<36} {'videos':>7} {'shards':>6} {'payload':>8} {'PSNR dB':>7} {'bytes/video':>12} "
          f"{'CPU-s/video':>12} {'total':>10} {'CPU-hours':>10}")
    for r in recipes:
        e = estimate(r, options)
        total_bytes += e["total_bytes"]
        total_cpu += e["cpu_hours"]
        quality = "-" if e["psnr_db_min"] is None else f"{e['psnr_db_min']:.1f}"
        print(f"{r.name:<36} {e['videos']:>7} {e['shards']:>6} {e['payload']:>8} {quality:>7} "
              f"{format_bytes(e['bytes_per_video']):>12} {e['cpu_s_per_video']:>12.3f} "
              f"{format_bytes(e['total_bytes']):>10} {e['cpu_hours']:>10.2f}")
        for use in (plan.uses.get(r.name, []) if plan else []):
            if use.url is not None:
                print(f"    pool {use.source}: {use.items:,} items of the given pool {use.url} (built: no cost)")
                continue
            first = use.build not in pool_costs
            if first:
                pool_costs[use.build] = estimate_pool(pools[use.build])
            c = pool_costs[use.build]
            print(f"    pool {use.source}: {use.items:,} items ({use.why}) from {_source(pools[use.build])}; "
                  f"{c['cpu_s_per_item']:.3f} CPU-s and {format_bytes(c['bytes_per_item'])} per item: "
                  f"{c['cpu_hours']:.2f} CPU-hours, {format_bytes(c['total_bytes'])}"
                  + ("" if first else " (shared: counted once)"))
    pool_cpu = sum(c["cpu_hours"] for c in pool_costs.values())
    pool_bytes = sum(c["total_bytes"] for c in pool_costs.values())
    if pool_costs:
        print(f"{'pools (' + str(len(pool_costs)) + ', each counted once)':<36} {'':>7} {'':>6} {'':>8} {'':>7} "
              f"{'':>12} {'':>12} {format_bytes(pool_bytes):>10} {pool_cpu:>10.2f}")
    print(f"{'total':<36} {'':>7} {'':>6} {'':>8} {'':>7} {'':>12} {'':>12} "
          f"{format_bytes(total_bytes + pool_bytes):>10} {total_cpu + pool_cpu:>10.2f}")
    print(f"(estimated from {options.sample} rendered video(s) per variant, with small cached pools, and a few "
          "items of each pool, on this machine, one core; PSNR: the worst sampled video against its lossless "
          "render; nothing written)")


def _source(pool) -> str:
    if pool.kind == "images":
        return pool.source.root if pool.source.kind != "skimage" else "the bundled scikit-image demo photographs"
    extra = f", {pool.clip_frames}-frame clips" if pool.kind == "stylegan-clips" else ""
    return f"generated ({pool.kind}, {pool.item_px} px{extra}, on {pool.device})"
