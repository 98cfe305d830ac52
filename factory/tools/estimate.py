"""`build --dry-run`: estimate bytes and CPU-hours of a build from a small sample rendered here, with the
payload the build would use (`auto` resolved exactly as `build` resolves it)."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass

from synthvid.manifests import layout

from ..generate.recipe import Recipe
from ..pipeline.payloads import PayloadRequest, resolve_payload
from ..pipeline.shard import write_shard


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


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"


def print_estimates(recipes: list, options: EstimateOptions) -> None:
    """The `build --dry-run` table: per variant and in total, payload, bytes and CPU-hours."""
    total_bytes = total_cpu = 0.0
    print(f"{'variant':<30} {'videos':>7} {'shards':>6} {'payload':>8} {'PSNR dB':>7} {'bytes/video':>12} "
          f"{'CPU-s/video':>12} {'total':>10} {'CPU-hours':>10}")
    for r in recipes:
        e = estimate(r, options)
        total_bytes += e["total_bytes"]
        total_cpu += e["cpu_hours"]
        quality = "-" if e["psnr_db_min"] is None else f"{e['psnr_db_min']:.1f}"
        print(f"{r.name:<30} {e['videos']:>7} {e['shards']:>6} {e['payload']:>8} {quality:>7} "
              f"{format_bytes(e['bytes_per_video']):>12} {e['cpu_s_per_video']:>12.3f} "
              f"{format_bytes(e['total_bytes']):>10} {e['cpu_hours']:>10.2f}")
    print(f"{'total':<30} {'':>7} {'':>6} {'':>8} {'':>7} {'':>12} {'':>12} {format_bytes(total_bytes):>10} "
          f"{total_cpu:>10.2f}")
    print(f"(estimated from {options.sample} rendered video(s) per variant on this machine; PSNR: the worst "
          "sampled video against its lossless render; nothing written)")
