"""Factory throughput: CPU-s per finished video, end to end into committed shards, per variant; and the
speed-up of 2 Ray workers over 1 against what two plain CPU-bound processes get on the same machine.

    python benchmarks/factory_throughput.py                 # all buildable variants, 256 px, 8 videos each
    python benchmarks/factory_throughput.py --json          # last line: one JSON object
    python benchmarks/factory_throughput.py --profile accelerating-shapes

The reference is the authors' generator measured on this machine kind (it renders 200 frames and keeps
100-199): CPU-s per finished 256x256 video. Slow variants are compared with their base.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

AUTHORS_CPU_S = {"static-circles": 2.2, "moving-circles": 2.1, "moving-shapes": 3.2, "transforming-shapes": 4.7,
                 "accelerating-shapes": 4.5}


def reference_for(variant) -> float | None:
    name = variant.name
    while name is not None:
        if name in AUTHORS_CPU_S:
            return AUTHORS_CPU_S[name]
        from synthvid.factory.variants import get_variant
        name = get_variant(name).base
    return None


def cpu_per_video(recipe, videos: int, seed: int = 0) -> tuple[float, int]:
    """CPU seconds per video of rendering, encoding, writing and committing one shard in this process."""
    from synthvid.factory.build import ShardJob, build_shard
    from synthvid.factory.versions import software_versions

    with tempfile.TemporaryDirectory() as out:
        job = ShardJob(recipe, seed, videos, videos, os.path.join(out, recipe.name))
        os.makedirs(os.path.join(job.url, "_commit"))
        t0 = time.process_time()
        marker = build_shard(job, 0, "bench", software_versions())
        cpu = time.process_time() - t0
    frames = sum(r["frames"] for r in marker["samples"])
    return cpu / videos, frames


def _burn(seconds: float) -> int:
    end, n = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        n += sum(i * i for i in range(1000))
    return n


def _burn_work(iterations: int) -> None:
    for _ in range(iterations):
        sum(i * i for i in range(1000))


def plain_process_speedup(iterations: int = 6000) -> float:
    """Fixed CPU-bound work: 2 processes doing 2 units vs 1 process doing 1 unit, wall-clock ratio x2."""
    t0 = time.perf_counter()
    p = mp.Process(target=_burn_work, args=(iterations,))
    p.start(); p.join()
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    ps = [mp.Process(target=_burn_work, args=(iterations,)) for _ in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    two = time.perf_counter() - t0
    return 2 * one / two


def ray_worker_speedup(recipe, videos: int, per_shard: int) -> float:
    """Wall time of the same build with 1 and 2 workers, Ray already started (start-up excluded)."""
    import ray

    from synthvid.factory.build import build_variants

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        with tempfile.TemporaryDirectory() as warm:   # warm the worker processes and imports
            build_variants([recipe], warm, videos=4, per_shard=1, workers=2, progress=False)
        times = {}
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as out:
                t0 = time.perf_counter()
                build_variants([recipe], out, videos=videos, per_shard=per_shard, workers=workers, progress=False)
                times[workers] = time.perf_counter() - t0
    finally:
        ray.shutdown()
    return times[1] / times[2]


def profile(recipe, videos: int) -> None:
    import cProfile
    import pstats

    pr = cProfile.Profile()
    pr.enable()
    cpu_per_video(recipe, videos)
    pr.disable()
    pstats.Stats(pr).sort_stats("tottime").print_stats(15)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variants", nargs="*", help="default: every buildable variant")
    ap.add_argument("--videos", type=int, default=8, help="videos per variant for CPU-s/video")
    ap.add_argument("--scaling-videos", type=int, default=24, help="videos in the 1-vs-2-worker build")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--profile", action="store_true", help="cProfile the first variant instead")
    args = ap.parse_args()

    from synthvid.factory.recipe import from_variant
    from synthvid.factory.variants import get_variant, list_variants

    names = args.variants or [v.name for v in list_variants(buildable=True)]
    recipes = [from_variant(n, {"size": args.size}) for n in names]
    if args.profile:
        profile(recipes[0], args.videos)
        return 0

    result = {"cpu_s_per_video": {}, "ratio_to_authors": {}, "videos_per_s_per_core": {}}
    print(f"{'variant':<36} {'CPU-s/video':>11} {'videos/s/core':>13} {'ms/frame':>9} {'authors':>8} {'ratio':>7}")
    for recipe in recipes:
        cpu, frames = cpu_per_video(recipe, args.videos)
        ref = reference_for(get_variant(recipe.name))
        ratio = ref / cpu if ref else None
        result["cpu_s_per_video"][recipe.name] = round(cpu, 5)
        result["videos_per_s_per_core"][recipe.name] = round(1 / cpu, 3)
        result["ratio_to_authors"][recipe.name] = round(ratio, 2) if ratio else None
        print(f"{recipe.name:<36} {cpu:>11.4f} {1 / cpu:>13.2f} {1000 * cpu * args.videos / frames:>9.3f} "
              f"{ref if ref else '-':>8} {f'{ratio:.1f}x' if ratio else '-':>7}")
        sys.stdout.flush()

    scale_recipe = from_variant("accelerating-shapes", {"size": args.size})
    result["speedup_2_workers"] = round(ray_worker_speedup(scale_recipe, args.scaling_videos, 2), 3)
    result["speedup_2_plain_processes"] = round(plain_process_speedup(), 3)
    share = result["speedup_2_workers"] / result["speedup_2_plain_processes"]
    result["worker_scaling_vs_plain"] = round(share, 3)
    print(f"\n2 Ray workers vs 1: {result['speedup_2_workers']:.2f}x; two plain processes vs one: "
          f"{result['speedup_2_plain_processes']:.2f}x; Ray gets {100 * share:.0f} % of the plain scaling")
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
