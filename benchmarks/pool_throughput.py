"""Items per second per core of each pool generator (factory/pools), single-threaded.

    python benchmarks/pool_throughput.py [--size 256] [--items 3] [--kinds textures,stylegan,...] [--json]

Kinds: textures (stat-spectrum_color_wmm), stylegan (oriented), stylegan-highfreq, stylegan-clip (frames of a
latent-walk clip), natural (decode + resize of the bundled scikit-image photographs). Each item is generated
in this one process with torch / BLAS limited to one thread, after one warm-up item (imports, caches), so
the figure is per core. Also prints the core-hours a paper-size pool (300k items; clips: 9,537 x 150 frames)
would need at that rate. `--device cuda` runs the StyleGAN kinds on a GPU (items/s per GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import time

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

PAPER_ITEMS = {"textures": 300_000, "stylegan": 300_000, "stylegan-highfreq": 300_000,
               "stylegan-clip": 9_537 * 150, "natural": 300_000}


def _time(fn, n: int) -> float:
    fn(0)                                   # warm-up: imports, network / pyramid caches
    t = time.perf_counter()
    for i in range(1, n + 1):
        fn(i)
    return (time.perf_counter() - t) / n


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--items", type=int, default=3)
    ap.add_argument("--kinds", default="textures,stylegan,stylegan-highfreq,stylegan-clip,natural")
    ap.add_argument("--clip-frames", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)

    from synthvid.factory.pools import natural, stylegan, textures

    size, out = a.size, {}
    kinds = [k for k in a.kinds.split(",") if k]
    for kind in kinds:
        if kind == "textures":
            s = _time(lambda i: textures.make_texture(1, i, size), a.items)
        elif kind == "stylegan":
            s = _time(lambda i: stylegan.make_stylegan_image(1, i, size, device=a.device), a.items)
        elif kind == "stylegan-highfreq":
            s = _time(lambda i: stylegan.make_stylegan_image(1, i, size, prior="high-freq", device=a.device), a.items)
        elif kind == "stylegan-clip":
            s = _time(lambda i: stylegan.make_stylegan_clip(1, i, a.clip_frames, size, device=a.device),
                      max(1, a.items // 2)) / a.clip_frames
        elif kind == "natural":
            src = natural.NaturalImageSource.from_spec(None, 0, None, validate="none")
            s = _time(lambda i: src.load(i % len(src.items), size), max(a.items, 10))
        else:
            raise SystemExit(f"unknown kind {kind!r}")
        rate = 1.0 / s
        out[kind] = {"items_per_s_per_core": round(rate, 4), "s_per_item": round(s, 4),
                     "paper_pool_core_hours": round(PAPER_ITEMS[kind] * s / 3600, 1)}
        if not a.json:
            unit = "frames" if kind == "stylegan-clip" else "items"
            print(f"{kind:18s} {rate:8.3f} {unit}/s/core  ({s:.3f} s each; paper-size pool "
                  f"{out[kind]['paper_pool_core_hours']} core-h)")
    result = {"size": size, "device": a.device, "pool_items_per_s_per_core": out}
    if a.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
