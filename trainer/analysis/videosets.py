"""Video sets the analysis reads: published shard sets (local or any fsspec URL) and in-memory sets.

Both offer `entries()` (index, frame count, size of every video, from the manifest alone) and
`read(indices)`, which yields `Video`s whose `.frames` decodes any frame on demand. Shards are untrusted:
only a sample's payload (any kind: `.svf`, `.svj`) and `.json` members are read, as raw bytes (never
webdataset's decoders), each bounded by what the manifest row allows and by hard ceilings, and a payload
that disagrees with its manifest row is refused with one line naming shard and sample. This small reader
stands in for the trainer's unified clip reader until that exists.
"""

from __future__ import annotations

import json
import tarfile
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from synthvid.manifests import layout
from synthvid.manifests.payload import Limits, PayloadError, open_payload, payload_extensions, payload_member
from synthvid.manifests.reader import open_dataset
from synthvid.manifests.storage import is_local, join, safe_url

from .errors import AnalysisError

MAX_SIDE = 4096                 # a decoded 16-frame sample stays under ~800 MB
MAX_PAYLOAD_BYTES = 2 << 30
MAX_JSON_BYTES = 1 << 20
_WANTED = (*payload_extensions(), layout.META_EXT)   # the payload: any kind this reader knows


@dataclass(frozen=True)
class VideoEntry:
    index: int
    frames: int
    height: int
    width: int


@dataclass
class Video:
    index: int
    frames: object          # .num_frames and .frames(indices) -> (n, H, W, 3) uint8, like FramesPayload
    meta: dict | None       # the sample's JSON member (seed, fps, latents summary), when it has one


class ArrayFrames:
    """A decoded video held in memory, with FramesPayload's `.num_frames` / `.frames(indices)`."""

    def __init__(self, frames: np.ndarray):
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3 or len(frames) == 0:
            raise ValueError(f"frames must be uint8 (T, H, W, 3) with T >= 1, got {frames.dtype} {frames.shape}")
        self._frames = frames
        self.num_frames = len(frames)

    def frames(self, indices) -> np.ndarray:
        return self._frames[np.asarray(indices, np.int64)]


class MemoryVideoSet:
    """Videos already in memory (the built-in reference)."""

    def __init__(self, name: str, videos: list[np.ndarray], description: str = ""):
        self.name, self.url, self.description = name, None, description
        self._videos = [ArrayFrames(v) for v in videos]

    def entries(self) -> list[VideoEntry]:
        return [VideoEntry(i, v.num_frames, *v.frames([0]).shape[1:3]) for i, v in enumerate(self._videos)]

    def read(self, indices) -> Iterator[Video]:
        for i in indices:
            yield Video(int(i), self._videos[int(i)], None)


class ShardVideoSet:
    """A published variant, read through synthvid.manifests."""

    def __init__(self, url: str, storage_options: dict | None = None):
        try:
            self.ds = open_dataset(url, storage_options)
        except Exception as e:   # IncompleteDatasetError, StorageError, a missing bucket, a bad URL
            msg = str(e)
            raise AnalysisError(msg if safe_url(str(url)) in msg else f"{safe_url(str(url))}: {msg}") from None
        self.url = safe_url(self.ds.url)
        self.name = str(self.ds.card.get("variant") or self.url.rstrip("/").rsplit("/", 1)[-1])
        self.description = f"shard set {self.url} ({self.ds.num_samples} videos)"
        cols = self.ds.samples.select(["key", "shard", "index", "frames", "height", "width"]).to_pydict()
        self._rows = {int(i): (k, s, VideoEntry(int(i), int(f), int(h), int(w)))
                      for k, s, i, f, h, w in zip(*cols.values())}
        self._shard_urls = {s.name: s.url for s in self.ds.shards}
        for _, shard, e in self._rows.values():
            if shard not in self._shard_urls:
                raise AnalysisError(f"{self.url}: sample {e.index} names shard {shard}, which the shard manifest lacks")
            if not (0 < e.height <= MAX_SIDE and 0 < e.width <= MAX_SIDE and e.frames > 0):
                raise AnalysisError(f"{self._shard_urls[shard]}: sample {e.index}: manifest says "
                                    f"{e.frames} frames of {e.width}x{e.height}, outside the analysis' limits")

    def entries(self) -> list[VideoEntry]:
        return [e for _, _, e in self._rows.values()]

    def read(self, indices) -> Iterator[Video]:
        """The wanted videos shard by shard (manifest order), each shard read once front to back."""
        by_shard: dict[str, dict[str, VideoEntry]] = defaultdict(dict)
        for i in indices:
            key, shard, entry = self._rows[int(i)]
            by_shard[shard][key] = entry
        for shard in sorted(by_shard):
            wanted = by_shard[shard]
            where = self._shard_urls[shard]
            with self._open(shard) as f:
                for key, members in read_members(f, wanted, where):
                    yield _video(members, wanted[key], f"{where}: sample {key}")

    def _open(self, shard: str):
        opts = {} if is_local(self.ds.url) else {"block_size": 8 << 20, "cache_type": "readahead"}
        try:
            return self.ds.fs.open(join(self.ds.path, shard), "rb", **opts)
        except (OSError, ValueError) as e:
            raise AnalysisError(f"{self._shard_urls[shard]}: cannot open ({type(e).__name__}: {e})") from None


def _check_size(member, entry: VideoEntry, ext: str, where: str) -> None:
    """A member larger than its manifest row allows is refused unread (a payload: the bound every reader
    applies to a payload of that shape, manifests.payload.Limits.check_member_size)."""
    if ext == layout.META_EXT:
        if member.size > MAX_JSON_BYTES:
            raise AnalysisError(f"{where}: member {member.name} is {member.size:,} bytes, over {MAX_JSON_BYTES:,}")
        return
    limits = Limits(max_payload_bytes=MAX_PAYLOAD_BYTES).expecting(entry.frames, entry.height, entry.width)
    try:
        limits.check_member_size(member.size)
    except PayloadError as e:
        raise AnalysisError(f"{where}: member {member.name}: {e}") from None


def read_members(fileobj, wanted: dict[str, VideoEntry], where: str) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {ext: bytes}) for each wanted key, from a tar stream; stops once every wanted key was seen."""
    pending: dict[str, dict[str, bytes]] = {}
    done: set[str] = set()
    try:
        with tarfile.open(fileobj=fileobj, mode="r|") as tar:
            for member in tar:
                key, _, ext = member.name.partition(".")
                for k in [k for k in pending if k != key]:   # members of a sample are consecutive
                    done.add(k)
                    yield k, pending.pop(k)
                if len(done) == len(wanted):
                    return
                if key not in wanted or ext not in _WANTED:
                    continue
                if not member.isfile():
                    raise AnalysisError(f"{where}: sample {key}: member {member.name} is not a file")
                _check_size(member, wanted[key], ext, f"{where}: sample {key}")
                pending.setdefault(key, {})[ext] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise AnalysisError(f"{where} is truncated or corrupt ({type(e).__name__}: {e})") from None
    for k in list(pending):
        done.add(k)
        yield k, pending.pop(k)
    missing = sorted(set(wanted) - done)
    if missing:
        raise AnalysisError(f"{where} lacks sample(s) {', '.join(missing[:3])} listed in its manifest")


def _video(members: dict[str, bytes], entry: VideoEntry, where: str) -> Video:
    try:
        ext = payload_member(members)
        payload = open_payload(ext, members[ext], Limits().expecting(entry.frames, entry.height, entry.width))
    except (PayloadError, ValueError, KeyError) as e:
        raise AnalysisError(f"{where}: {e}") from None
    got = (payload.num_frames, payload.height, payload.width)
    if got != (entry.frames, entry.height, entry.width):
        raise AnalysisError(f"{where}: payload holds {got[0]} frames of {got[2]}x{got[1]}, the manifest says "
                            f"{entry.frames} of {entry.width}x{entry.height}")
    meta = None
    if layout.META_EXT in members:
        try:
            meta = json.loads(members[layout.META_EXT])
        except ValueError as e:
            raise AnalysisError(f"{where}: unreadable .{layout.META_EXT} member ({e})") from None
        meta = meta if isinstance(meta, dict) else None
    return Video(entry.index, _Checked(payload, where), meta)


class _Checked:
    """A payload whose decode errors name the shard and sample."""

    def __init__(self, payload, where: str):
        self._payload, self._where = payload, where
        self.num_frames = payload.num_frames

    def frames(self, indices) -> np.ndarray:
        try:
            return self._payload.frames(indices)
        except PayloadError as e:
            raise AnalysisError(f"{self._where}: {e}") from None
