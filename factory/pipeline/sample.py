"""One sample, encoded once for every kind of dataset: frames plus what the source says about them become
the sample's tar members and its manifest row.

    members, row = encode_sample(frames, SampleInfo(index=7, seed=0, fps=25.0, meta={...}), PayloadSpec("svj"))

Members, in write order: `<key>.<kind>` (the frames payload: `.svf` lossless, `.svj` JPEG), `<key>.json`
(`meta`, sorted keys, compact), then the source's extra members (a variant's `<key>.latents.npz`). The row
holds the payload's kind and sha256, an xxh3-128 of the raw frames as rendered (`frames_hash`, whatever the
payload), and for a lossy payload its PSNR against those frames (`psnr_db`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np
import xxhash

from synthvid.manifests import layout
from synthvid.manifests.payload import PayloadSpec, codecs

MAX_PSNR_DB = 99.0


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


def encode_sample(frames: Iterable[np.ndarray], info: SampleInfo,
                  spec: PayloadSpec | None = None) -> tuple[list[tuple[str, bytes]], dict]:
    """(members in write order, manifest row without the shard's name and offsets). `frames` may reuse one
    buffer: each frame is encoded and hashed before the next is drawn."""
    spec = spec or PayloadSpec()
    encoder = spec.encoder(info.fps)
    error = None if spec.payload_kind.lossless else _SquaredError(spec)
    frames_hash = xxhash.xxh3_128()
    count, shape = 0, None
    for frame in frames:
        frame = np.ascontiguousarray(frame)
        frames_hash.update(frame.data)
        coded = encoder.add(frame, same_as_previous=info.static and count > 0)
        if error is not None:
            error.add(frame, coded)
        count, shape = count + 1, frame.shape
    payload = encoder.finish()
    key = layout.sample_key(info.index)
    meta = json.dumps(info.meta, sort_keys=True, separators=(",", ":")).encode()
    members = [(f"{key}.{spec.extension}", payload), (f"{key}.{layout.META_EXT}", meta),
               *((f"{key}.{ext}", data) for ext, data in info.extra)]
    row = {"key": key, "members": [name for name, _ in members], "seed": info.seed, "index": info.index,
           "frames": count, "height": shape[0], "width": shape[1], "fps": info.fps,
           "payload_kind": spec.kind, "payload_sha256": hashlib.sha256(payload).hexdigest(),
           "frames_hash": "xxh3_128:" + frames_hash.hexdigest(), "label": None, "source": info.source,
           "psnr_db": None if error is None else error.psnr_db()}
    return members, row
