"""One sample, encoded once for every kind of dataset: frames plus what the source says about them become
the sample's tar members and its manifest row.

    members, row = encode_sample(frames, SampleInfo(index=7, seed=0, fps=25.0, meta={...}))

Members, in write order: `<key>.svf` (the frames payload), `<key>.json` (`meta`, sorted keys, compact),
then the source's extra members (a variant's `<key>.latents.npy`). The row holds the payload's sha256 and
an xxh3-128 of the raw frames (`frames_hash`), so a reader can check either.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import xxhash

from synthvid.manifests import layout
from synthvid.manifests.payload import FramesEncoder


@dataclass(frozen=True)
class SampleInfo:
    """What a source says about one sample besides its frames."""
    index: int
    seed: int
    fps: float
    meta: dict                     # the JSON member
    extra: tuple = ()              # (extension, bytes) members written after the payload and the JSON
    source: str | None = None      # the row's `source` column (where a natural item came from)
    static: bool = False           # every frame equals the first: stored once by the payload


def encode_sample(frames: Iterable[np.ndarray], info: SampleInfo) -> tuple[list[tuple[str, bytes]], dict]:
    """(members in write order, manifest row without the shard's name and offsets). `frames` may reuse one
    buffer: each frame is encoded and hashed before the next is drawn."""
    encoder = FramesEncoder(fps=info.fps)
    frames_hash = xxhash.xxh3_128()
    count, shape = 0, None
    for frame in frames:
        frame = np.ascontiguousarray(frame)
        frames_hash.update(frame.data)
        encoder.add(frame, same_as_previous=info.static and count > 0)
        count, shape = count + 1, frame.shape
    payload = encoder.finish()
    key = layout.sample_key(info.index)
    meta = json.dumps(info.meta, sort_keys=True, separators=(",", ":")).encode()
    members = [(f"{key}.{layout.FRAMES_EXT}", payload), (f"{key}.{layout.META_EXT}", meta),
               *((f"{key}.{ext}", data) for ext, data in info.extra)]
    row = {"key": key, "members": [name for name, _ in members], "seed": info.seed, "index": info.index,
           "frames": count, "height": shape[0], "width": shape[1], "fps": info.fps,
           "payload_sha256": hashlib.sha256(payload).hexdigest(),
           "frames_hash": "xxh3_128:" + frames_hash.hexdigest(), "label": None, "source": info.source}
    return members, row
