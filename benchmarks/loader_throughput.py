"""Loader throughput: clips per second per CPU core and bytes read per clip, per payload and read mode.

    python benchmarks/loader_throughput.py                         # builds a flat (svf) and a textured (svj) set
    python benchmarks/loader_throughput.py --s3 --json             # also from a loopback S3 server
    python benchmarks/loader_throughput.py --data ./out/accelerating-textures --seconds 20
    python benchmarks/loader_throughput.py --decode-device cuda    # GPU decode, when a GPU is present

One process, one thread (= one core), the trainer's own worker code (`ClipStream.iter_worker`): read the
bytes, decode the 16 sampled frames, draw the crop, collate a uint8 micro-batch. Per set and read mode:
  decode    -> uint8 clips + crop boxes: what a loader worker hands over when augmentation runs on the GPU
  ready     -> plus crop + resize to 224 + float + ImageNet normalisation on this CPU core (the CPU-only path)
  bytes     -> median bytes read from storage per clip (`range`: the payload's head and the clip's frame
               blocks; `stream`: the whole payload)
Targets (issue 10): svf flat >= 75 ready clips/s/core, svj >= 50 decoded clips/s/core, <= 2 MB per clip.
With --decode-device cuda the workers hand JPEG files over (no CPU decode) and the GPU decodes whole
batches (nvJPEG): it prints the worker's clips/s/core and the GPU's decoded clips/s separately, the two
halves of the path to 1,000 clips/s per GPU. Per-core figures are clips per CPU-second of this process
(honest on a shared machine); wall-clock figures are printed next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]     # factory_throughput's pool helpers; tests.fixtures_s3

SETS = {"flat": "accelerating-shapes", "textured": "accelerating-textures"}


def build_sets(root: str, names: list[str], args) -> dict[str, str]:
    """{set: folder} of the variants built with `auto` payloads (pools built first, not timed)."""
    from factory_throughput import with_pools

    from synthvid.factory.generate.params import parse_frames
    from synthvid.factory.generate.recipe import from_variant
    from synthvid.factory.pipeline.build import BuildOptions, build_variants

    over = {"size": args.size, **parse_frames(args.frames)}
    recipes = [from_variant(SETS[n], {**over, "pool_size": 12} if n == "textured" else over) for n in names]
    recipes = with_pools(recipes, args.videos, os.path.join(root, "_pools"))
    build_variants(recipes, BuildOptions(root, videos=args.videos, seed=0, per_shard=8, inline=True, progress=False))
    return {n: os.path.join(root, SETS[n]) for n in names}


def measure(source, spec, args, handover: bool = False) -> dict:
    """decode and ready clips/s/core (and wall), median bytes per clip, for one source."""
    from synthvid.trainer.data import ClipOptions, ClipStream, Plan, augment

    plan = Plan(epoch_size=args.batch * 100_000, global_batch=args.batch, world=1, accum=1, workers=1)
    it = ClipStream([source], None, plan, spec, seed=0, rank=0, options=ClipOptions(handover=handover)).iter_worker(0)
    b = next(it)                                               # open files, warm caches and kernels
    out, sizes, batches = {}, [], []
    for mode in ("decode",) if handover else ("decode", "ready"):
        n, w0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - w0 < args.seconds:
            b = next(it)
            if mode == "ready":
                x = augment(b["frames"], b["box"], args.input_size)
                assert x.shape[-1] == args.input_size
            elif handover and len(batches) < 32:
                batches.append(b)
            sizes += b["bytes"].tolist()
            n += len(b["index"])
        out[mode] = n / (time.process_time() - c0)
        out[mode + "_wall"] = n / (time.perf_counter() - w0)
    out["bytes_per_clip"] = float(np.median(sizes))
    out["batches"] = batches
    return out


def gpu_decode_rate(batches: list[dict], input_size: int) -> dict:
    """Decoded (and augmented) clips/s of the GPU on handed-over batches, synchronised."""
    from synthvid.trainer.data import augment, device_frames

    dev = torch.device("cuda")
    device_frames(batches[0], dev)                             # nvJPEG handles, kernels
    torch.cuda.synchronize()
    out = {}
    for name, fn in (("decode", lambda b: device_frames(b, dev)),
                     ("ready", lambda b: augment(device_frames(b, dev), b["box"], input_size))):
        n, t0 = 0, time.perf_counter()
        for _ in range(3):
            for b in batches:
                fn(b)
                n += len(b["index"])
        torch.cuda.synchronize()
        out[name] = n / (time.perf_counter() - t0)
    return out


def run_set(name: str, url: str, storage_options: dict | None, args, results: dict) -> None:
    from synthvid.trainer.data import ClipSpec, SourceOptions, open_source

    spec = ClipSpec(num_frames=16, sampling_rate=4, input_size=args.input_size)
    where = "s3" if storage_options else "local"
    for mode in args.read_modes:
        src = open_source(url, SourceOptions(storage_options=storage_options, read_mode=mode))
        kind = src.ds.payload_kinds()[0]
        r = measure(src, spec, args)
        key = f"{name}/{kind}/{where}/{mode}"
        results[key] = {k: round(v, 2) for k, v in r.items() if k != "batches"}
        print(f"{key:<28} decode {r['decode']:7.1f}  ready {r['ready']:7.1f} clips/s/core   (wall {r['decode_wall']:6.1f}"
              f" / {r['ready_wall']:6.1f})   {r['bytes_per_clip'] / 1e3:8.1f} KB/clip", flush=True)
        if kind == "svj":       # the worker without its JPEG decode: what handing frames to a GPU leaves
            h = measure(src, spec, args, handover=True)
            results[key]["handover_worker"] = round(h["decode"], 2)
            line = f"{'':<28} handover (no CPU decode) {h['decode']:7.1f} clips/s/core"
            if args.decode_device == "cuda" and torch.cuda.is_available():
                g = gpu_decode_rate(h["batches"], args.input_size)
                results[key]["gpu_decode"], results[key]["gpu_ready"] = round(g["decode"], 1), round(g["ready"], 1)
                line += f"; GPU decode {g['decode']:8.1f} clips/s, decode+augment {g['ready']:8.1f} clips/s"
            elif args.decode_device == "cuda":
                line += "; no CUDA device: GPU decode skipped"
            print(line)
        results[key]["limits"] = limits(results[key])
        print(f"{'':<28} limited by: {results[key]['limits']}", flush=True)


def limits(r: dict) -> str:
    """What a worker's CPU time per clip goes to, from the figures measured (1 / rate = seconds per clip)."""
    decode, ready = 1 / r["decode"], 1 / r["ready"]
    text = f"augment on the CPU {100 * (ready - decode) / ready:.0f} % of a ready clip"
    if "handover_worker" in r:
        text += f"; JPEG decode {100 * (decode - 1 / r['handover_worker']) / decode:.0f} % of a decoded clip"
    return text


def publish_to_s3(urls: dict, server) -> dict:
    from synthvid.factory.pipeline.publish import publish

    dst = server.unique_url("loader-bench")
    out = {}
    for name, url in urls.items():
        summary = publish(url, dst, storage_options=server.storage_options(), progress=False)
        out[name] = summary["variants"][os.path.basename(url)]["url"]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", action="append", default=None, help="built variant(s) (default: build flat + textured)")
    p.add_argument("--sets", default="flat,textured", help="which sets to build: flat, textured")
    p.add_argument("--videos", type=int, default=16)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--frames", default="100-200")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seconds", type=float, default=8.0, help="per set, read mode and figure")
    p.add_argument("--read-mode", dest="read_modes", action="append", choices=["range", "stream"], default=None,
                   help="repeatable (default: both)")
    p.add_argument("--s3", action="store_true", help="also read the sets from a loopback SeaweedFS S3 server")
    p.add_argument("--decode-device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = p.parse_args(argv)
    args.read_modes = args.read_modes or ["range", "stream"]
    torch.set_num_threads(1)
    tmp = None
    if args.data:
        urls = {os.path.basename(u.rstrip("/")): u for u in args.data}
    else:
        tmp = tempfile.mkdtemp(prefix="loader-bench-")
        t0 = time.perf_counter()
        urls = build_sets(tmp, args.sets.split(","), args)
        print(f"built {', '.join(urls)} ({args.videos} videos at {args.size} px) in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
    results: dict = {}
    try:
        for name, url in urls.items():
            run_set(name, url, None, args, results)
        if args.s3:
            from tests.fixtures_s3 import S3Server

            with S3Server.start_new() as server:
                for name, url in publish_to_s3(urls, server).items():
                    run_set(name, url, server.storage_options(), args, results)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps({"results": results, "frame_size": args.size, "input_size": args.input_size,
                          "batch": args.batch, "torch_threads": 1,
                          "bytes_per_clip": {k: v["bytes_per_clip"] for k, v in results.items()},
                          "clips_per_s_per_core": {k: v["ready"] for k, v in results.items()},
                          "decode_per_s_per_core": {k: v["decode"] for k, v in results.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
