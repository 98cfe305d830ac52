"""One sample, encoded once for every kind of dataset: frames plus what the source says about them become
the sample's tar members and its manifest row.

    members, row = encode_sample(frames, SampleInfo(index=7, seed=0, fps=25.0, meta={...}), PayloadSpec("svj"))

Members, in write order: `<key>.<kind>` (the frames payload: `.svf` lossless, `.svj` JPEG, or what a
source encoded itself), `<key>.json` (`meta`, sorted keys, compact), then the source's extra members (a
variant's `<key>.latents.npz`). The row holds the payload's kind and sha256, an xxh3-128 of the raw frames as
rendered (`frames_hash`, whatever the payload), and for a lossy payload its PSNR against those frames
(`psnr_db`).

A source may hand over an `EncodedPayload` instead of frames: a real video's source bytes (ingest) or frames
it encoded with a payload spec of its own (corrupt). It then states the frame count, size and frames_hash
itself: for a source video, the hash of the frames its payload kind decodes (`FramesHasher`, the same hash).
A source that cannot produce an item for a reason in the data (an unreadable video) raises `SkipSample`:
the shard leaves it out and names it (factory.pipeline.shard).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np

from synthvid.manifests import layout
from synthvid.manifests.hashing import FramesHasher
from synthvid.manifests.payload import PayloadSpec, codecs

MAX_PSNR_DB = 99.0


class SkipSample(Exception):
    """An item its source cannot produce for a reason in the data (an unreadable source video); the message
    names the item and the reason. The shard leaves the item out and records it."""


@dataclass(frozen=True)
class SampleInfo:
    """What a source says about one sample besides its frames."""
    index: int
    seed: int
    fps: float
    meta: dict                     # the JSON member
    extra: tuple = ()              # (extension, bytes) members written after the payload and the JSON
    source: str | None = None      # the row's `source` column (where a natural item or a real video came from)
    static: bool = False           # every frame equals the first: stored once by the payload
    label: str | None = None       # labelled sets: the class name (`label` column) ...
    label_index: int | None = None  # ... and its index in the card's `classes` (`label_index` column)


@dataclass(frozen=True)
class EncodedPayload:
    """A frames payload as stored, with what the manifest row says of its frames."""
    kind: str                      # member extension, a kind of manifests.payload (svf, svj, avi)
    data: bytes
    frames: int
    height: int
    width: int
    frames_hash: str               # FramesHasher.hexdigest() of the frames as rendered, or as decoded (avi)
    psnr_db: float | None = None   # a lossy encoding's PSNR against the frames it was given


class _SquaredError:
    """Sum of squared differences between the frames and their lossy coding, decoded as a reader decodes
    them. (cv2.norm in float64: deterministic, ~20x cheaper than numpy on a 256 px frame.)"""

    def __init__(self, spec: PayloadSpec):
        self.codec = spec.payload_kind.codec
        self.total = self.last = 0.0
        self.values = 0
        self._out = None

    def add(self, frame: np.ndarray, coded: bytes | None) -> None:
        if coded is not None:       # None: the frame shares its predecessor's block (and error)
            if self._out is None or self._out.shape != frame.shape:
                self._out = np.empty_like(frame)
            codecs.decode_into(self.codec, coded, self._out, 0)
            self.last = float(cv2.norm(frame, self._out, cv2.NORM_L2SQR))
        self.total += self.last
        self.values += frame.size

    def psnr_db(self) -> float | None:
        if not self.values:
            return None
        mse = self.total / self.values
        # Identical frames (a flat colour codes exactly) would be infinite: capped so JSON and Parquet hold it.
        return MAX_PSNR_DB if mse == 0 else min(MAX_PSNR_DB, round(10 * math.log10(255.0 ** 2 / mse), 3))


def encode_payload(frames: Iterable[np.ndarray], fps: float, spec: PayloadSpec | None = None,
                   static: bool = False) -> EncodedPayload:
    """Encode and hash frames as they arrive (`frames` may reuse one buffer: each frame is encoded and hashed
    before the next is drawn); a lossy kind also measures its error."""
    spec = spec or PayloadSpec()
    encoder, hasher = spec.encoder(fps), FramesHasher()
    error = None if spec.payload_kind.lossless else _SquaredError(spec)
    for frame in frames:
        frame = hasher.add(frame)
        coded = encoder.add(frame, same_as_previous=static and hasher.count > 1)
        if error is not None:
            error.add(frame, coded)
    data = encoder.finish()
    return EncodedPayload(spec.extension, data, hasher.count, hasher.shape[0], hasher.shape[1],
                          hasher.hexdigest(), None if error is None else error.psnr_db())


def encode_sample(frames: Iterable[np.ndarray] | EncodedPayload, info: SampleInfo,
                  spec: PayloadSpec | None = None) -> tuple[list[tuple[str, bytes]], dict]:
    """(members in write order, manifest row without the shard's name and offsets). Frames are encoded as
    `spec` (default: lossless svf); an EncodedPayload is stored as it is."""
    payload = frames if isinstance(frames, EncodedPayload) else encode_payload(frames, info.fps, spec, info.static)
    key = layout.sample_key(info.index)
    meta = json.dumps(info.meta, sort_keys=True, separators=(",", ":")).encode()
    members = [(f"{key}.{payload.kind}", payload.data), (f"{key}.{layout.META_EXT}", meta),
               *((f"{key}.{ext}", data) for ext, data in info.extra)]
    row = {"key": key, "members": [name for name, _ in members], "seed": info.seed, "index": info.index,
           "frames": payload.frames, "height": payload.height, "width": payload.width, "fps": info.fps,
           "payload_kind": payload.kind, "payload_sha256": hashlib.sha256(payload.data).hexdigest(),
           "frames_hash": payload.frames_hash, "psnr_db": payload.psnr_db,
           "label": info.label, "label_index": info.label_index, "source": info.source}
    return members, row
