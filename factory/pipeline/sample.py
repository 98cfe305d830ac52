"""One sample, encoded once for every kind of dataset: frames plus what the source says about them become
the sample's tar members and its manifest row.

    members, row = encode_sample(frames, SampleInfo(index=7, seed=0, fps=25.0, meta={...}))

Members, in write order: `<key>.<kind>` (the frames payload: `.svf`, or what a source encoded itself),
`<key>.json` (`meta`, sorted keys, compact), then the source's extra members (a variant's
`<key>.latents.npy`). The row holds the payload's sha256 and an xxh3-128 of the raw frames (`frames_hash`),
so a reader can check either.

A source may hand over an `EncodedPayload` instead of frames: a real video's source bytes (ingest) or frames
it encoded with a payload spec of its own (corrupt). It then states the frame count, size and frames_hash
itself: for a source video, the hash of the frames its payload kind decodes (`FramesHasher`, the same hash).
A source that cannot produce an item for a reason in the data (an unreadable video) raises `SkipSample`:
the shard leaves it out and names it (factory.pipeline.shard).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from synthvid.manifests import layout
from synthvid.manifests.hashing import FramesHasher
from synthvid.manifests.payload import FramesEncoder, PayloadSpec


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


def encode_payload(frames: Iterable[np.ndarray], fps: float, spec: PayloadSpec | None = None,
                   static: bool = False) -> EncodedPayload:
    """Encode and hash frames as they arrive (`frames` may reuse one buffer)."""
    encoder, hasher = FramesEncoder(fps=fps, spec=spec), FramesHasher()
    for frame in frames:
        encoder.add(hasher.add(frame), same_as_previous=static and hasher.count > 1)
    data = encoder.finish()
    return EncodedPayload(encoder.spec.extension, data, hasher.count, hasher.shape[0], hasher.shape[1],
                          hasher.hexdigest())


def encode_sample(frames: Iterable[np.ndarray] | EncodedPayload,
                  info: SampleInfo) -> tuple[list[tuple[str, bytes]], dict]:
    """(members in write order, manifest row without the shard's name and offsets)."""
    payload = frames if isinstance(frames, EncodedPayload) else encode_payload(frames, info.fps, static=info.static)
    key = layout.sample_key(info.index)
    meta = json.dumps(info.meta, sort_keys=True, separators=(",", ":")).encode()
    members = [(f"{key}.{payload.kind}", payload.data), (f"{key}.{layout.META_EXT}", meta),
               *((f"{key}.{ext}", data) for ext, data in info.extra)]
    row = {"key": key, "members": [name for name, _ in members], "seed": info.seed, "index": info.index,
           "frames": payload.frames, "height": payload.height, "width": payload.width, "fps": info.fps,
           "payload_sha256": hashlib.sha256(payload.data).hexdigest(), "frames_hash": payload.frames_hash,
           "label": info.label, "label_index": info.label_index, "source": info.source}
    return members, row
