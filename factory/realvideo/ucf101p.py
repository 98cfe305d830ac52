"""`synthvid-factory corrupt`: UCF101-P (spec paper.md G) as shard sets, one per (corruption, severity),
`<out>/<corruption>-s<severity>` (e.g. `gaussian-s3`), made from an ingested test set by the same pipeline
as every other dataset (deterministic, resumable, Ray-parallel, any fsspec URL).

What is stored is what the reference's test loader corrupts, so a test reads it without redoing any of it:
every `stride`-th frame of the decoded video (UCF101 4, HMDB51 2: the fine-tuning sampling rates), its
short side resized to `short_side` (224; frames.resize_short_side), then
- temporal corruptions (freeze, box_jumble, jumble, reverse) on that whole video: stored as it is
  (`crops: 1`; the test takes its usual crops along the long side);
- spatial corruptions on each of the 3 test crops (224 x 224, evenly spaced along the long side), each crop
  its own draw (view j of the video's stream): stored side by side, crop j in columns [224 j, 224 (j + 1))
  of a 672 x 224 frame (`crops: 3`; the test takes these crops and no others).
The card's `corruption` entry says which: {"name", "severity", "seed", "stride", "short_side", "crops"}.
A sample keeps its clean sample's key, index, label and source path; its fps is the source's / stride.

Randomness: video i's draws come from manifests.seeds.substream(seed, i, "ucf101p/<name>/<severity>[/view<j>]")
(corruptions.corrupt), so every model is tested on the same corrupted set.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field

import numpy as np

from synthvid.manifests import layout
from synthvid.manifests.payload import DEFAULT_QUALITY, Limits, PayloadSpec, avi, open_payload
from synthvid.manifests.reader import IncompleteDatasetError, open_dataset
from synthvid.manifests.storage import COMPLETE, Store, datasets_under, join, url_to_fs

from ..pipeline.build import build_jobs
from ..pipeline.jobs import BuildError, DatasetJob, check_same_versions
from ..pipeline.options import BuildOptions, BuildResult
from ..pipeline.sample import EncodedPayload, SampleInfo, encode_payload
from .corruptions import CORRUPTIONS, corrupt, parse_selection
from .frames import long_side_crops, resize_short_side

STRIDES = {"ucf101": 4, "hmdb51": 2}    # test sampling rates (spec C.2)
SHORT_SIDE = 224
TEST_CROPS = 3
ROW_FIELDS = ("key", "index", "shard", "members", "payload_offset", "payload_bytes", "payload_sha256", "frames",
              "height", "width", "fps", "label", "label_index", "source")


@dataclass(frozen=True)
class SourceSet:
    """An ingested (labelled) set the corruptions read, by byte range."""
    url: str
    card: dict
    rows: tuple                         # manifest rows (ROW_FIELDS), in key order
    storage_options: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.card["variant"]

    def identity(self) -> dict:
        return {"name": self.name, "fingerprint": self.card["fingerprint"], "videos": len(self.rows)}

    def payload(self, row: dict) -> bytes:
        """The sample's payload member, checked against the manifest's sha256."""
        store = Store(self.url, self.storage_options)
        start = int(row["payload_offset"])
        data = store.call("read", row["shard"], store.fs.cat_file, store.path(row["shard"]), start=start,
                          end=start + int(row["payload_bytes"]))
        if hashlib.sha256(data).hexdigest() != row["payload_sha256"]:
            raise BuildError(f"{store.display(row['shard'])}: sample {row['key']}: payload sha256 differs from the "
                             "manifest (run `synthvid-factory verify` on the source set)")
        return data


def open_test_set(url: str, storage_options: dict | None = None) -> SourceSet:
    """The labelled set at `url`, or the one test set of an ingest folder holding several sets."""
    url = os.path.abspath(url) if "://" not in url else url      # workers may start elsewhere
    fs, path = url_to_fs(url, storage_options)
    if fs.exists(join(path, layout.CARD)):
        ds = open_dataset(url, storage_options)
    else:
        tests = {}
        for name, state in datasets_under(fs, path).items():
            part = _opened(join(url, name), storage_options) if state == COMPLETE else None
            if part is not None and part.card.get("split", {}).get("part") == "test":
                tests[join(url, name)] = part
        if len(tests) != 1:
            found = ", ".join(tests) or "none"
            raise BuildError(f"{url}: name one ingested test set (test sets found there: {found})")
        [(url, ds)] = tests.items()
    if "classes" not in ds.card or "split" not in ds.card:
        raise BuildError(f"{url}: not a labelled set (its card has no classes and split); make one with `ingest`")
    rows = tuple({k: r[k] for k in ROW_FIELDS} for r in ds.samples.to_pylist())
    return SourceSet(url, ds.card, rows, dict(storage_options or {}))


def _opened(url: str, storage_options: dict | None):
    try:
        return open_dataset(url, storage_options)
    except IncompleteDatasetError:
        return None


@dataclass(frozen=True)
class CorruptedSet:
    """One (corruption, severity) of a test set, as a ShardSource (factory.pipeline.jobs)."""
    source: SourceSet
    corruption: str
    severity: int
    seed: int
    stride: int
    short_side: int = SHORT_SIDE
    spec: PayloadSpec = PayloadSpec()
    libraries: dict = field(default_factory=lambda: corruption_libraries())   # the driver's: decide the bytes

    @property
    def name(self) -> str:
        return f"{self.corruption}-s{self.severity}"

    @property
    def crops(self) -> int:
        return 1 if CORRUPTIONS[self.corruption].temporal else TEST_CROPS

    @property
    def description(self) -> str:
        c = CORRUPTIONS[self.corruption]
        where = ("the whole video (take the test crops as usual)" if self.crops == 1 else
                 f"each of {TEST_CROPS} test crops, stored side by side along the width (crop j = columns "
                 f"[{self.short_side}j, {self.short_side}(j+1)))")
        return (f"UCF101-P {c.figure} severity {self.severity} of {self.source.name}: every {self.stride}th frame, "
                f"short side {self.short_side}, corrupted on {where}")

    @property
    def num_gpus(self) -> float:
        return 0.0

    def entry(self) -> dict:
        """The card's `corruption` entry, what a test reads to know how the frames were made."""
        return {"name": self.corruption, "severity": self.severity, "seed": self.seed, "stride": self.stride,
                "short_side": self.short_side, "crops": self.crops}

    def to_dict(self) -> dict:
        return {"kind": "ucf101p", "corruption": self.entry(), "source": self.source.identity(),
                "payload": self.spec.describe(), "libraries": self.libraries}

    def card_extra(self) -> dict:
        return {"classes": self.source.card["classes"], "split": self.source.card["split"],
                "corruption": self.entry(), "source": self.source.identity(), "payload": self.spec.describe(),
                "sample_members": [self.spec.extension, "json"]}

    def frames(self, row: dict, seed: int) -> np.ndarray:
        """The stored frames of one clean sample: strided, resized, corrupted."""
        ext = row["members"][0].rsplit(".", 1)[-1]
        video = open_payload(ext, self.source.payload(row), Limits.for_row(row))
        clip = resize_short_side(video.frames(range(0, video.num_frames, self.stride)), self.short_side)
        index = int(row["index"])
        if self.crops == 1:
            return corrupt(clip, self.corruption, self.severity, seed=seed, index=index)
        views = long_side_crops(clip, self.short_side, TEST_CROPS)
        return np.concatenate([corrupt(np.ascontiguousarray(v), self.corruption, self.severity, seed=seed,
                                       index=index, view=j) for j, v in enumerate(views)], axis=2)

    def render_sample(self, seed: int, index: int) -> tuple[EncodedPayload, SampleInfo]:
        check_same_versions(self.libraries, corruption_libraries())
        row = self.source.rows[index]
        fps = float(row["fps"]) / self.stride
        payload = encode_payload(self.frames(row, seed), fps, self.spec)
        meta = {"source_set": self.source.name, "source_key": row["key"], "path": row["source"],
                "label": row["label"], "label_index": row["label_index"], "corruption": self.entry(),
                "frames": payload.frames, "fps": fps, "height": payload.height, "width": payload.width}
        return payload, SampleInfo(index=int(row["index"]), seed=seed, fps=fps, meta=meta, source=row["source"],
                                   label=row["label"], label_index=row["label_index"])


@functools.lru_cache(maxsize=1)
def corruption_libraries() -> dict:
    """What the corrupted frames depend on besides numpy and OpenCV (in the software versions): the decoder
    of the source videos, Pillow (rotations, JPEG), scikit-image (impulse noise)."""
    import PIL
    import skimage

    return {**avi.decoder_versions(), "pillow": PIL.__version__, "scikit-image": skimage.__version__}


@dataclass(frozen=True)
class CorruptRequest:
    corruptions: str = "all"          # all | name[,name...]
    severities: str = "1-5"           # 1-5 | 1,3
    seed: int = 0
    stride: int | None = None         # default: the source dataset's test sampling rate
    short_side: int = SHORT_SIDE
    payload: str = "auto"            # auto (payload_for), svf (lossless) or svj (JPEG 4:4:4 at `quality`)
    quality: int = DEFAULT_QUALITY


def corrupted_sets(source: SourceSet, request: CorruptRequest) -> list[CorruptedSet]:
    dataset = source.card["split"].get("dataset")
    stride = request.stride if request.stride is not None else STRIDES.get(dataset)
    if stride is None:
        raise BuildError(f"{source.url}: no default test stride for dataset {dataset!r}; give --stride N")
    if stride < 1:
        raise BuildError(f"--stride {stride}: keep every N-th frame, N >= 1")
    if request.short_side < 16:
        raise BuildError(f"--short-side {request.short_side}: too small for a test crop")
    return [CorruptedSet(source, name, severity, request.seed, stride, request.short_side,
                         payload_for(name, request.payload, request.quality))
            for name, severity in parse_selection(request.corruptions, request.severities)]


def payload_for(corruption: str, payload: str, quality: int) -> PayloadSpec:
    """`auto`: lossless svf for the noise corruptions, svj for the others. Measured on 320x240 video
    (benchmarks/realvideo_throughput.py, README): noise does not compress, so svj saves only ~2.4x there
    while its JPEG error (33 dB at quality 93) reshapes the noise being tested; on the other corruptions svj
    is 3-8x smaller at 42-51 dB."""
    if payload == "auto":
        payload = "svf" if CORRUPTIONS[corruption].category == "noise" else "svj"
    return PayloadSpec(payload, quality=quality)


def corrupt_test_set(url: str, request: CorruptRequest, options: BuildOptions) -> list[BuildResult]:
    """Every selected (corruption, severity) of the test set at `url` into `<options.out>/<name>-s<severity>`."""
    if options.per_shard < 1:
        raise BuildError("--videos-per-shard must be at least 1")
    source = open_test_set(url, options.storage_options)
    sets = corrupted_sets(source, request)
    jobs = [DatasetJob(s, request.seed, len(source.rows), options.per_shard, join(options.out, s.name)) for s in sets]
    return build_jobs(jobs, options)
