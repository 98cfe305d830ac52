"""Loader throughput: clips per second per CPU core, from local shards and from the procedural source.

    python benchmarks/loader_throughput.py                      # builds a small 256 px variant in a temp dir
    python benchmarks/loader_throughput.py --data ./out/accelerating-shapes --seconds 20 --json

One process, one thread (= one core), the trainer's own worker code (`ClipStream.iter_worker`): read the
shard, decode the 16 sampled frames, draw the crop, collate a uint8 micro-batch. Two figures per source:
  decode   -> uint8 clips + crop boxes, what a loader worker hands over when augmentation runs on the GPU
  ready    -> plus crop + resize to 224 + float + ImageNet normalisation on this CPU core (the CPU-only path)
`clips_per_s_per_core` in the JSON line is the `ready` figure (issue target: >= 75); `decode_per_s_per_core`
is the figure that matters when a GPU does the augmentation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import torch


def build_variant(root: str, variant: str, videos: int, size: int, frames: str) -> str:
    from synthvid.factory.pipeline.build import BuildOptions, build_variants
    from synthvid.factory.generate.params import parse_frames
    from synthvid.factory.generate.recipe import from_variant

    overrides = {"size": size, **parse_frames(frames)}
    build_variants([from_variant(variant, overrides)],
                   BuildOptions(out=root, videos=videos, seed=0, per_shard=8, inline=True, progress=False))
    return os.path.join(root, variant)


def measure(source, spec, batch: int, seconds: float, input_size: int) -> dict:
    from synthvid.trainer.data import ClipStream, Plan, augment

    plan = Plan(epoch_size=batch * 10_000, global_batch=batch, world=1, accum=1, workers=1)
    it = ClipStream([source], None, plan, spec, seed=0, rank=0).iter_worker(0)
    b = next(it)                                               # open files, warm caches and kernels
    augment(b["frames"], b["box"], input_size)
    out = {}
    for mode in ("decode", "ready"):
        # Per core = clips per CPU-second of this single-threaded process: honest on a shared machine, where
        # wall time also counts other processes' turns. Wall-clock figures are reported next to it.
        n, w0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - w0 < seconds:
            b = next(it)
            if mode == "ready":
                x = augment(b["frames"], b["box"], input_size)
                assert x.shape[-1] == input_size
            n += b["frames"].shape[0]
        out[mode] = n / (time.process_time() - c0)
        out[mode + "_wall"] = n / (time.perf_counter() - w0)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="a built variant (default: build one in a temp dir)")
    p.add_argument("--variant", default="accelerating-shapes")
    p.add_argument("--videos", type=int, default=16)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--frames", default="100-200")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seconds", type=float, default=8.0, help="per source and mode")
    p.add_argument("--no-procedural", action="store_true")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    from synthvid.manifests.reader import open_dataset
    from synthvid.trainer.data import ClipSpec, SourceOptions, open_source

    spec = ClipSpec(num_frames=16, sampling_rate=4, input_size=args.input_size)
    tmp = None
    url = args.data
    if url is None:
        tmp = tempfile.mkdtemp(prefix="loader-bench-")
        t0 = time.perf_counter()
        url = build_variant(tmp, args.variant, args.videos, args.size, args.frames)
        print(f"built {args.videos} videos of {args.variant} at {args.size} px in {time.perf_counter() - t0:.1f} s: {url}",
              file=sys.stderr)
    card = open_dataset(url).card
    fmt = card.get("payload", {}).get("member", "svf")   # the factory writes one format today: svf (zstd frames)
    results, decode = {}, {}
    r = measure(open_source(url), spec, args.batch, args.seconds, args.input_size)
    results[fmt], decode[fmt] = r["ready"], r["decode"]
    print(f"{fmt:<12} decode {r['decode']:8.1f} clips/s/core   ready (224 float on CPU) {r['ready']:8.1f} clips/s/core"
          f"   (wall: {r['decode_wall']:.1f} / {r['ready_wall']:.1f})")
    if not args.no_procedural:
        params = card.get("recipe", {}).get("params", {})
        keep = {k: params[k] for k in ("size", "frames_min", "frames_max") if k in params}
        src = open_source(f"procedural:{args.variant}", SourceOptions(epoch_size=100_000, procedural_params=keep))
        r = measure(src, spec, args.batch, args.seconds, args.input_size)
        results["procedural"], decode["procedural"] = r["ready"], r["decode"]
        print(f"{'procedural':<12} render {r['decode']:8.1f} clips/s/core   ready (224 float on CPU) {r['ready']:8.1f} clips/s/core"
              f"   (wall: {r['decode_wall']:.1f} / {r['ready_wall']:.1f})")
    if tmp is not None:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps({"clips_per_s_per_core": {k: round(v, 2) for k, v in results.items()},
                          "decode_per_s_per_core": {k: round(v, 2) for k, v in decode.items()},
                          "frame_size": args.size, "input_size": args.input_size, "batch": args.batch,
                          "torch_threads": 1, "data": url}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
