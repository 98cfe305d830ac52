"""Writing payloads: a streaming encoder, so a renderer can reuse one frame buffer."""

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
        self._index: list[tuple[int, int]] = []
        self._offset = 0
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
        if same_as_previous and self._index:
            self._index.append(self._index[-1])
            return None
        coded = codecs.encode(self._codec, np.ascontiguousarray(frame), self._settings)
        block = crc_block(coded)
        self._index.append((self._offset, len(block)))
        self._blocks.append(block)
        self._offset += len(block)
        return coded

    def finish(self) -> bytes:
        if not self._index:
            raise ValueError("a payload needs at least one frame")
        h, w, c = self._shape
        header = {"codec": self._codec, "height": h, "width": w, "channels": c, "fps": self.fps,
                  **self._settings}
        return pack(header, self._index, self._blocks)


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
