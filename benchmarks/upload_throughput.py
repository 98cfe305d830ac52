"""Upload throughput to a loopback S3-compatible server (SeaweedFS `weed mini`) against a local-disk build.

    python benchmarks/upload_throughput.py                       # defaults: small, a few seconds per phase
    python benchmarks/upload_throughput.py --videos 64 --size 256 --frames 100-200 --json

Phases (one process, no Ray, so the figures are the storage path and not scheduling):
  local-build    build the variant into a local folder (render + encode + tar + fsync/rename commit)
  s3-build       the same build with --out s3://... (render + encode + tar + upload + read-back verify + marker)
  raw-put        the local build's files uploaded with a plain s3fs put_file (no verification)
  publish        `publish` of the local build (sha256 of local files, upload, read-back verify, card last)
  publish-again  `publish` once more: everything already there, size+sha256 checked, nothing uploaded
MB/s counts dataset bytes (1 MB = 1e6 bytes) over wall time. With --json the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def _tree_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder) for f in files)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", default="moving-shapes")
    ap.add_argument("--videos", type=int, default=32)
    ap.add_argument("--per-shard", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", default="60-80")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=4, help="parallel uploads of publish")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from synthvid.factory.pipeline.build import BuildOptions, build_variants
    from synthvid.factory.generate.params import parse_frames
    from synthvid.factory.pipeline.publish import publish
    from synthvid.factory.generate.recipe import from_variant
    from tests.fixtures_s3 import S3Server

    overrides = {"size": args.size, **parse_frames(args.frames)}
    recipe = from_variant(args.variant, overrides)
    work = tempfile.mkdtemp(prefix="synthvid-upload-bench-")
    results: dict[str, dict] = {}
    try:
        with S3Server.start_new() as server:
            options = server.storage_options()
            # warm up: client sessions and connections are created once, outside every timed phase
            from synthvid.manifests.storage import check_writable
            check_writable(server.url("warm-up"), options)
            fs = server.fs()
            fs.ls(server.bucket)

            def run(name, fn, nbytes=None):
                t0, c0 = time.perf_counter(), time.process_time()
                out = fn()
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                size = nbytes() if callable(nbytes) else nbytes
                results[name] = {"seconds": round(wall, 3), "cpu_seconds": round(cpu, 3), "bytes": size,
                                 "mb_per_s": round(size / 1e6 / wall, 2) if size and wall > 0 else None}
                return out

            local = os.path.join(work, "local")
            run("local-build", lambda: build_variants([recipe], BuildOptions(local, videos=args.videos, seed=args.seed,
                                                      per_shard=args.per_shard, inline=True, progress=False)),
                lambda: _tree_bytes(os.path.join(local, args.variant)))
            dataset_bytes = results["local-build"]["bytes"]

            s3_url = server.url("bench-build")
            run("s3-build", lambda: build_variants([recipe], BuildOptions(s3_url, videos=args.videos, seed=args.seed,
                                                   per_shard=args.per_shard, inline=True, progress=False,
                                                   storage_options=options)),
                lambda: sum(v for k, v in server.list_keys("bench-build/").items() if not k.endswith(".lock")))

            src = os.path.join(local, args.variant)
            files = [os.path.join(d, f) for d, _, fl in os.walk(src) for f in fl]

            def raw_put():
                for path in files:
                    fs.put_file(path, f"{server.bucket}/bench-raw/{os.path.relpath(path, src)}")
            run("raw-put", raw_put, dataset_bytes)

            pub_url = server.url("bench-publish")
            summary = run("publish", lambda: publish(local, pub_url, storage_options=options, progress=False,
                                                     threads=args.threads), dataset_bytes)
            again = run("publish-again", lambda: publish(local, pub_url, storage_options=options, progress=False,
                                                         threads=args.threads), dataset_bytes)
            assert summary["uploaded"] == summary["files"] and again["uploaded"] == 0
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{args.variant}: {args.videos} videos, {args.size}px, frames {args.frames}, {args.per_shard} per shard; "
          f"{dataset_bytes / 1e6:.1f} MB of dataset files")
    print(f"{'phase':<15} {'seconds':>8} {'CPU-s':>8} {'MB':>8} {'MB/s':>8}")
    for name, r in results.items():
        print(f"{name:<15} {r['seconds']:>8.2f} {r['cpu_seconds']:>8.2f} {(r['bytes'] or 0) / 1e6:>8.1f} "
              f"{(r['mb_per_s'] or 0):>8.1f}")
    ratio = results["s3-build"]["seconds"] / results["local-build"]["seconds"]
    print(f"s3 build takes {ratio:.2f}x the local build's wall time")
    if args.json:
        print(json.dumps({"variant": args.variant, "videos": args.videos, "size": args.size, "frames": args.frames,
                          "dataset_bytes": dataset_bytes, "phases": results,
                          "s3_build_vs_local_build_time": round(ratio, 3)}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
