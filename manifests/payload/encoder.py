"""Writing payloads: a streaming encoder, so a renderer can reuse one frame buffer.

Blocks are stored phase-major: all frames t with t % phases == 0 in time order, then t % phases == 1, and
so on (`PayloadSpec.phases`, 4 by default, the paper's sampling stride). A training clip takes 16 frames at
stride 4, all of one phase, so its blocks lie next to each other: one byte range per clip, whatever the
bytes per frame (on object storage one request instead of sixteen). Readers follow the frame index and
never depend on the order."""

from __future__ import annotations

import numpy as np

from . import codecs
from .container import crc_block, pack
from .kinds import DEFAULT_LEVEL, PayloadSpec


class FramesEncoder:
    """Frames are encoded as they arrive. Deterministic bytes for the same spec and library versions
    (single-threaded encoders). `FramesEncoder(fps, level=...)` is the svf kind at that zstd level."""

    def __init__(self, fps: float, level: int | None = None, spec: PayloadSpec | None = None):
        spec = spec or PayloadSpec()
        if level is not None:
            spec = spec.with_(level=level)
        self.fps, self.spec = float(fps), spec
        self.level = spec.level
        self._codec = spec.payload_kind.codec
        self._settings = spec.header_settings()
        self._blocks: list[bytes] = []
        self._block_of: list[int] = []       # frame t -> its block (consecutive equal frames share one)
        self._shape = None

    def add(self, frame: np.ndarray, same_as_previous: bool = False) -> bytes | None:
        """Encode one frame; returns its coded bytes (None when it shares its predecessor's block), so a
        caller can measure a lossy kind's error without encoding twice."""
        if self._shape is None:
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"frames must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
            self._shape = frame.shape
        elif frame.shape != self._shape or frame.dtype != np.uint8:
            raise ValueError(f"frame of shape {frame.shape}/{frame.dtype} in a {self._shape} uint8 video")
        if same_as_previous and self._block_of:
            self._block_of.append(self._block_of[-1])
            return None
        coded = codecs.encode(self._codec, np.ascontiguousarray(frame), self._settings)
        self._block_of.append(len(self._blocks))
        self._blocks.append(crc_block(coded))
        return coded

    def finish(self) -> bytes:
        if not self._block_of:
            raise ValueError("a payload needs at least one frame")
        h, w, c = self._shape
        header = {"codec": self._codec, "height": h, "width": w, "channels": c, "fps": self.fps,
                  **self._settings}
        first = {}                                     # block -> the first frame that shows it
        for t, b in enumerate(self._block_of):
            first.setdefault(b, t)
        phases = self.spec.phases
        order = sorted(range(len(self._blocks)), key=lambda b: (first[b] % phases, first[b]))
        offsets, at = {}, 0
        for b in order:
            offsets[b] = at
            at += len(self._blocks[b])
        index = [(offsets[b], len(self._blocks[b])) for b in self._block_of]
        return pack(header, index, [self._blocks[b] for b in order])


def encode_frames(frames: np.ndarray, fps: float, level: int | None = None,
                  spec: PayloadSpec | None = None) -> bytes:
    """Encode a (T, H, W, 3) uint8 array."""
    frames = np.ascontiguousarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    return encode_frame_list(list(frames), fps=fps, level=level, spec=spec)


def encode_frame_list(frames: list, fps: float, level: int | None = None,
                      spec: PayloadSpec | None = None) -> bytes:
    """Like encode_frames, for a list of (H, W, 3) frames; the same array object repeated, or a frame equal
    to its predecessor, shares its predecessor's block."""
    if not len(frames):
        raise ValueError("a payload needs at least one frame")
    enc = FramesEncoder(fps=fps, level=level, spec=spec)
    prev = None
    for frame in frames:
        enc.add(frame, same_as_previous=prev is not None and (frame is prev or np.array_equal(frame, prev)))
        prev = frame
    return enc.finish()


def decode_frames(data, indices=None, ext: str = "svf", limits=None) -> np.ndarray:
    from .kinds import open_payload

    return open_payload(ext, data, limits).frames(indices)


__all__ = ["DEFAULT_LEVEL", "FramesEncoder", "encode_frames", "encode_frame_list", "decode_frames"]
