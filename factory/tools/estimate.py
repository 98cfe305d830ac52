"""`build --dry-run`: estimate bytes and CPU-hours of a build from a small sample rendered here."""

from __future__ import annotations

import os
import tempfile
import time

from synthvid.manifests import layout

from ..generate.recipe import Recipe
from ..pipeline.shard import write_shard


def estimate(recipe: Recipe, videos: int, seed: int, per_shard: int, sample: int = 3) -> dict:
    """Render `sample` videos (the first ones of the build) into a scratch shard and extrapolate."""
    sample = max(1, min(sample, videos))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sample.tar")
        t0 = time.process_time()
        shard, rows = write_shard(recipe, seed, 0, sample, sample, path)
        cpu = time.process_time() - t0
    per_video_bytes = shard["bytes"] / sample
    per_video_cpu = cpu / sample
    return {"variant": recipe.name, "videos": videos, "shards": layout.num_shards(videos, per_shard),
            "sampled_videos": sample, "bytes_per_video": per_video_bytes, "cpu_s_per_video": per_video_cpu,
            "total_bytes": per_video_bytes * videos, "cpu_hours": per_video_cpu * videos / 3600}


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"


def print_estimates(recipes: list, videos: int, seed: int, per_shard: int, sample: int) -> None:
    """The `build --dry-run` table: per variant and in total, bytes and CPU-hours."""
    total_bytes = total_cpu = 0.0
    print(f"{'variant':<30} {'videos':>7} {'shards':>6} {'bytes/video':>12} {'CPU-s/video':>12} "
          f"{'total':>10} {'CPU-hours':>10}")
    for r in recipes:
        e = estimate(r, videos, seed, per_shard, sample=sample)
        total_bytes += e["total_bytes"]
        total_cpu += e["cpu_hours"]
        print(f"{r.name:<30} {e['videos']:>7} {e['shards']:>6} {format_bytes(e['bytes_per_video']):>12} "
              f"{e['cpu_s_per_video']:>12.3f} {format_bytes(e['total_bytes']):>10} {e['cpu_hours']:>10.2f}")
    print(f"{'total':<30} {'':>7} {'':>6} {'':>12} {'':>12} {format_bytes(total_bytes):>10} {total_cpu:>10.2f}")
    print(f"(estimated from {sample} rendered video(s) per variant on this machine; nothing written)")
