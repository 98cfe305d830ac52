"""Payload formats for the training frames, measured on rendered 256x256 videos of a variant.

For each candidate: bytes per frame, encode ms/frame (the factory's cost), decode ms for the 16 frames of
one training clip (the loader's cost), and PSNR against the rendered frames (inf = lossless).

    python benchmarks/payload_formats.py [--variant accelerating-shapes] [--videos 2] [--json]
    python benchmarks/payload_formats.py --variant accelerating-textures     # pool variants too

Pool variants read small pools (--pool-size items at the default item_px 256) built first, outside any
timing, into the cache benchmarks/factory_throughput.py uses (--pools-dir).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time

import cv2
import numpy as np

cv2.setNumThreads(1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def clip_indices(n: int) -> list[int]:
    start = max(0, (n - 64) // 2)
    return [min(start + 4 * i, n - 1) for i in range(16)]


def per_frame_codec(encode, decode):
    def enc(frames):
        return [encode(f) for f in frames]

    def dec(blobs, idx):
        return np.stack([decode(blobs[i]) for i in idx])
    return enc, dec


def svf(level=None):
    from synthvid.manifests.payload import DEFAULT_LEVEL, FramesPayload, encode_frame_list

    level = DEFAULT_LEVEL if level is None else level
    return (lambda frames: encode_frame_list(list(frames), fps=25.0, level=level),
            lambda data, idx: FramesPayload(data).frames(idx))


def png(level):
    return per_frame_codec(lambda f: cv2.imencode(".png", f, [cv2.IMWRITE_PNG_COMPRESSION, level])[1].tobytes(),
                           lambda b: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_UNCHANGED))


def jpeg(quality):
    return per_frame_codec(lambda f: cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes(),
                           lambda b: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_UNCHANGED))


def zlib1():
    import zlib

    return per_frame_codec(lambda f: zlib.compress(f.tobytes(), 1),
                           lambda b: np.frombuffer(zlib.decompress(b), np.uint8).reshape(256, 256, 3))


def h264(crf, pix_fmt):
    import av

    def enc(frames):
        buf = io.BytesIO()
        with av.open(buf, "w", format="mp4") as c:
            s = c.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
            s.options = {"crf": str(crf), "threads": "1"}
            for f in frames:
                for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        return buf.getvalue()

    def dec(data, idx):
        want, out = set(idx), {}
        with av.open(io.BytesIO(data)) as c:
            for i, fr in enumerate(c.decode(video=0)):   # a clip needs decoding up to its last frame
                if i in want:
                    out[i] = fr.to_ndarray(format="rgb24")
                if i >= max(idx):
                    break
        return np.stack([out[i] for i in idx])
    return enc, dec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="accelerating-shapes")
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true", help="only the svf levels and PNG (skip zlib, JPEG, H.264)")
    ap.add_argument("--pool-size", type=int, default=12, help="pool variants: items per pool (default 12)")
    ap.add_argument("--pools-dir", default=None, help="pool variants: where the pools are kept")
    args = ap.parse_args()

    import os

    from synthvid.factory.generate.latents import sample_latents
    from synthvid.factory.generate.recipe import from_variant
    from synthvid.factory.generate.render import Renderer

    recipe = from_variant(args.variant)
    if recipe.params.pools_needed():
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from factory_throughput import default_pools_dir, with_pools

        recipe = with_pools([from_variant(args.variant, {"pool_size": args.pool_size})], 1,
                            args.pools_dir or default_pools_dir())[0]
    pools = recipe.open_pools()
    videos = [np.stack([f.copy() for f in Renderer(sample_latents(recipe.params, 0, i), recipe.params, pools).frames()])
              for i in range(args.videos)]
    candidates = {"svf (raw+zstd -1, ours)": svf(), "svf zstd 1": svf(1), "svf zstd -5 (fast)": svf(-5),
                  "svf zstd 3": svf(3), "raw+zlib-1": zlib1(), "png-1": png(1), "jpeg-95": jpeg(95),
                  "h264 crf18 yuv420p": h264(18, "yuv420p"), "h264 crf18 yuv444p": h264(18, "yuv444p")}
    if args.quick:
        candidates = {k: v for k, v in candidates.items() if k.startswith("svf") or k.startswith("png")}
    results = {}
    print(f"{args.variant}, {args.videos} video(s), {sum(len(v) for v in videos)} frames at 256x256")
    print(f"{'format':<24} {'KB/frame':>9} {'enc ms/frame':>12} {'clip dec ms':>11} {'PSNR dB':>8}")
    for name, (enc, dec) in candidates.items():
        nbytes = frames = 0
        t_enc = t_dec = 0.0
        worst = float("inf")
        for v in videos:
            t0 = time.process_time()
            data = enc(v)
            t_enc += time.process_time() - t0
            nbytes += len(data) if isinstance(data, bytes) else sum(len(b) for b in data)
            frames += len(v)
            idx = clip_indices(len(v))
            t0 = time.process_time()
            clip = dec(data, idx)
            t_dec += time.process_time() - t0
            worst = min(worst, psnr(clip, v[idx]))
        results[name] = {"kb_per_frame": nbytes / frames / 1000, "encode_ms_per_frame": 1000 * t_enc / frames,
                         "clip_decode_ms": 1000 * t_dec / len(videos), "psnr_db": worst}
        r = results[name]
        print(f"{name:<24} {r['kb_per_frame']:>9.1f} {r['encode_ms_per_frame']:>12.3f} {r['clip_decode_ms']:>11.2f} "
              f"{r['psnr_db']:>8.1f}")
        sys.stdout.flush()
    if args.json:
        print(json.dumps(results, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
