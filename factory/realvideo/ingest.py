"""`synthvid-factory ingest`: one official split of UCF101 or HMDB51 as two labelled shard sets,
`<out>/<dataset>-s<split>-train` and `<out>/<dataset>-s<split>-test`, built by the same pipeline as a
synthetic variant (plan -> run -> finalise: Ray-parallel, deterministic, resumable, any fsspec URL).

Each sample is one source video: `<key>.avi` (the file's bytes unchanged, the `avi` payload kind) and
`<key>.json`; key `%08d` is the video's position in its part's list sorted by path. The manifest row has
the class name (`label`), its index in the card's `classes` (`label_index`), the video's path under the
dataset folder (`source`), and `frames` = the frames PyAV decodes from it, counted here by decoding every
frame once; `frames_hash` is the xxh3-128 of those decoded RGB frames (factory.pipeline.sample.FramesHasher).

A video that does not decode within the avi kind's limits is skipped (`SkipSample`) with its path and the
reason: the shard leaves it out, the card's `skipped` entry lists it. Unless the build allows skips
(`--skip-unreadable`), the ingest then fails naming every such video, and the next run re-reads only the
shards that held one. A source file that cannot be read at all (storage) fails its shard instead.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from synthvid.manifests.payload import PayloadError, avi
from synthvid.manifests.storage import Store, join

from ..pipeline.build import build_jobs
from ..pipeline.jobs import BuildError, DatasetJob, check_same_versions
from ..pipeline.options import BuildOptions, BuildResult
from synthvid.manifests.hashing import FramesHasher

from ..pipeline.sample import EncodedPayload, SampleInfo, SkipSample
from .splits import TEST, TRAIN, SplitOptions, SplitTable, parse_splits

TITLES = {"ucf101": "UCF101", "hmdb51": "HMDB51"}
MAX_SOURCE_BYTES = 1 << 31      # one source video is read into memory (UCF101's files average ~0.5 MB)


def set_name(dataset: str, split: int, part: str) -> str:
    """The folder of one part: `ucf101-s1-train`, `hmdb51-s2-test`."""
    return f"{dataset}-s{split}-{part}"


@dataclass(frozen=True)
class VideoSet:
    """One part (train or test) of a split as a ShardSource (factory.pipeline.jobs)."""
    dataset: str
    split: int
    part: str
    root: str                                    # the dataset folder; not part of the bytes (location-free)
    classes: tuple[str, ...]
    entries: tuple[tuple[str, int], ...]         # (path under root, label index), sorted by path
    excluded: dict = field(default_factory=dict)  # split-wide: "unused" / "unlisted" / "missing" -> paths
    storage_options: dict = field(default_factory=dict, repr=False, compare=False)
    decoder: dict = field(default_factory=avi.decoder_versions)   # the driver's: decides frames and frames_hash

    @property
    def name(self) -> str:
        return set_name(self.dataset, self.split, self.part)

    @property
    def description(self) -> str:
        return (f"{TITLES[self.dataset]} split {self.split}, {self.part} set: {len(self.entries)} labelled videos "
                "kept as their source AVI files")

    @property
    def num_gpus(self) -> float:
        return 0.0

    def entries_sha256(self) -> str:
        lines = "".join(f"{path}\t{label}\n" for path, label in self.entries)
        return hashlib.sha256(lines.encode()).hexdigest()

    def to_dict(self) -> dict:
        return {"kind": "labelled-videos", "dataset": self.dataset, "split": self.split, "part": self.part,
                "classes": list(self.classes), "entries_sha256": self.entries_sha256(), "decoder": self.decoder}

    def card_extra(self) -> dict:
        return {"classes": list(self.classes),
                "split": {"dataset": self.dataset, "split": self.split, "part": self.part},
                "source_videos": {"listed": len(self.entries),
                                  **{why: {"count": len(paths), "paths": list(paths)}
                                     for why, paths in self.excluded.items()}},
                "payload": avi.describe(), "sample_members": [avi.EXTENSION, "json"]}

    def render_sample(self, seed: int, index: int) -> tuple[EncodedPayload, SampleInfo]:
        check_same_versions(self.decoder, avi.decoder_versions())
        path, label = self.entries[index]
        data = _read_source(Store(self.root, self.storage_options), path)
        try:
            video = avi.AviPayload(data)
            hasher = FramesHasher()
            for frame in video.iter_frames():
                hasher.add(frame)
        except PayloadError as e:
            raise SkipSample(f"{path}: {e}") from None
        meta = {"dataset": self.dataset, "split": self.split, "part": self.part, "path": path,
                "label": self.classes[label], "label_index": label, "frames": hasher.count, "fps": video.fps,
                "height": video.height, "width": video.width}
        payload = EncodedPayload(avi.EXTENSION, data, hasher.count, video.height, video.width, hasher.hexdigest())
        return payload, SampleInfo(index=index, seed=seed, fps=video.fps, meta=meta, source=path,
                                   label=self.classes[label], label_index=label)



def _read_source(store: Store, path: str) -> bytes:
    size = store.size(path)
    if size > MAX_SOURCE_BYTES:
        raise SkipSample(f"{path}: {size} bytes, over the limit of {MAX_SOURCE_BYTES} for one video")
    return store.read_bytes(path)


@dataclass(frozen=True)
class IngestRequest:
    """What to ingest: a dataset layout, its folders (paths or fsspec URLs) and the split."""
    dataset: str                 # "ucf101" | "hmdb51"
    root: str                    # class folders of videos
    lists: str                   # ucfTrainTestlist/ or testTrainMulti_7030_splits/
    split: int = 1
    skip_missing: bool = False   # listed videos absent from the folder: named, counted skips instead of an error


def video_sets(request: IngestRequest, storage_options: dict | None = None) -> list[VideoSet]:
    """The train and test parts of the request's split, parsed from its lists."""
    options = SplitOptions(split=request.split, on_missing="skip" if request.skip_missing else "error",
                           storage_options=dict(storage_options or {}))
    # Workers may start elsewhere: local folders are made absolute here.
    root, lists = (os.path.abspath(p) if "://" not in p else p for p in (request.root, request.lists))
    table = parse_splits(request.dataset, root, lists, options)
    return [_part(table, root, part, options.storage_options) for part in (TRAIN, TEST)]


def _part(table: SplitTable, root: str, part: str, storage_options: dict) -> VideoSet:
    entries = tuple((e.path, e.label) for e in table.of(part))
    if not entries:
        raise BuildError(f"{table.dataset} split {table.split} lists no {part} videos")
    excluded = {"unused": table.unused, "unlisted": table.unlisted, "missing": table.missing}
    return VideoSet(table.dataset, table.split, part, root, table.classes, entries, excluded, storage_options)


def ingest(request: IngestRequest, options: BuildOptions) -> list[BuildResult]:
    """Build both parts into `<options.out>/<dataset>-s<split>-{train,test}`; BuildError names every
    unreadable video unless `options.allow_skipped`."""
    if options.per_shard < 1:
        raise BuildError("--videos-per-shard must be at least 1")
    sets = video_sets(request, options.storage_options)
    return build_jobs([DatasetJob(s, 0, len(s.entries), options.per_shard, join(options.out, s.name)) for s in sets],
                      options)
