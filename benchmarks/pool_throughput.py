"""Items per second per core of each pool generator (factory/pools), single-threaded.

    python benchmarks/pool_throughput.py [--size 256] [--items 3] [--repeat 3] [--kinds textures,stylegan,...] [--json]

Kinds: textures (stat-spectrum_color_wmm), stylegan (oriented), stylegan-highfreq, stylegan-clip (frames of a
latent-walk clip), natural (decode + resize of the bundled scikit-image photographs). Each item is generated
in this one process with torch / BLAS limited to one thread, after one warm-up item (imports, caches), so
the figure is per core; each kind is timed `--repeat` times and the fastest run counts (min-of-N: the
machine may be shared). Also prints the core-hours a paper-size pool (300k items; clips: 9,537 x 150
frames) would need at that rate. The StyleGAN kinds are also timed with the direct modulated convolution
(`factory/pools/stylegan_direct.py`, the computation of generator version 1) and the speed-up printed
(`--no-direct` skips it). `--device cuda` runs the StyleGAN kinds on a GPU (items/s per GPU).
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
STYLEGAN_KINDS = ("stylegan", "stylegan-highfreq", "stylegan-clip")


def _time(fn, n: int, repeat: int) -> float:
    """Seconds per call: the fastest of `repeat` runs of n calls, after one warm-up call."""
    fn(0)                                   # warm-up: imports, network / pyramid caches
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for i in range(1, n + 1):
            fn(i)
        best = min(best, (time.perf_counter() - t) / n)
    return best


def _direct_image(seed: int, index: int, size: int, prior: str):
    from synthvid.factory.pools import stylegan as sg
    from synthvid.factory.pools.stylegan_direct import direct_synthesis

    draws = sg.sample_draws(seed, index, size, prior)
    raw = direct_synthesis(draws, sg.network(seed, index // sg.NETWORK_GROUP, size), size, draws.z[None], "float32")
    return sg._colourise(raw[0], draws.colour_mean, draws.colour_std, axes=(-2, -1))


def _direct_clip(seed: int, index: int, frames: int, size: int):
    from synthvid.factory.pools import stylegan as sg
    from synthvid.factory.pools.stylegan_direct import direct_synthesis

    draws = sg.sample_draws(seed, index, size, "oriented")
    zs = sg.latent_walk(seed, index, frames, draws.z)
    raw = direct_synthesis(draws, sg.network(seed, index // sg.NETWORK_GROUP, size), size, zs, "float32")
    return sg._colourise(raw, draws.colour_mean, draws.colour_std, axes=(0, -2, -1))


def _generators(a) -> dict:
    """kind -> (seconds per item function of the current generator, of the direct form or None)."""
    from synthvid.factory.pools import natural, stylegan, textures

    size, n, r, f = a.size, a.items, a.repeat, a.clip_frames
    clips = max(1, n // 2)
    src = None

    def natural_item(i):
        nonlocal src
        src = src or natural.NaturalImageSource.from_spec(None, 0, None, validate="none")
        return src.load(i % len(src.items), size)

    return {
        "textures": (lambda: _time(lambda i: textures.make_texture(1, i, size), n, r), None),
        "stylegan": (lambda: _time(lambda i: stylegan.make_stylegan_image(1, i, size, device=a.device), n, r),
                     lambda: _time(lambda i: _direct_image(1, i, size, "oriented"), n, r)),
        "stylegan-highfreq": (
            lambda: _time(lambda i: stylegan.make_stylegan_image(1, i, size, prior="high-freq", device=a.device), n, r),
            lambda: _time(lambda i: _direct_image(1, i, size, "high-freq"), n, r)),
        "stylegan-clip": (lambda: _time(lambda i: stylegan.make_stylegan_clip(1, i, f, size, device=a.device),
                                        clips, r) / f,
                          lambda: _time(lambda i: _direct_clip(1, i, f, size), clips, r) / f),
        "natural": (lambda: _time(natural_item, max(n, 10), r), None),
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--items", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per kind; the fastest counts (default 3)")
    ap.add_argument("--kinds", default="textures,stylegan,stylegan-highfreq,stylegan-clip,natural")
    ap.add_argument("--clip-frames", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-direct", action="store_true", help="do not time the direct StyleGAN form")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)

    generators, out = _generators(a), {}
    for kind in [k for k in a.kinds.split(",") if k]:
        if kind not in generators:
            raise SystemExit(f"unknown kind {kind!r}; choose from {', '.join(generators)}")
        current, direct = generators[kind]
        s = current()
        out[kind] = {"items_per_s_per_core": round(1.0 / s, 4), "s_per_item": round(s, 4),
                     "paper_pool_core_hours": round(PAPER_ITEMS[kind] * s / 3600, 1)}
        if direct is not None and not a.no_direct and a.device == "cpu":
            d = direct()
            out[kind].update(direct_s_per_item=round(d, 4), speedup=round(d / s, 1))
        if not a.json:
            unit = "frames" if kind == "stylegan-clip" else "items"
            extra = (f"; direct form {out[kind]['direct_s_per_item']:.3f} s, speed-up {out[kind]['speedup']}x"
                     if "speedup" in out[kind] else "")
            print(f"{kind:18s} {1 / s:8.3f} {unit}/s/core  ({s:.3f} s each; paper-size pool "
                  f"{out[kind]['paper_pool_core_hours']} core-h{extra})")
    result = {"size": a.size, "device": a.device, "repeat": a.repeat, "pool_items_per_s_per_core": out}
    if a.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
