"""The frames payload: one `.svf` member per video ("synthvid frames", format version 1).

Why a container of its own: training reads 16 frames of a 100-200 frame video, so every frame must be
decodable alone (no GOP to walk), and the factory must write it in well under a millisecond per frame.
Lossy video codecs fail the 40 dB bar on saturated hard-edged frames (yuv420p smears coloured edges), PNG
costs ~2 ms/frame to write. Each frame is therefore raw HxWx3 uint8 compressed on its own with zstd at a
low level (lossless) with zstd's per-frame checksum, so a corrupt frame fails to decode rather than
decoding wrong; identical consecutive frames share one block, so a static video costs one frame.
ARCHITECTURE.md records the measurements behind the choice.

Layout (little endian):
    b"SVF1" | u32 header_len | header JSON (sorted keys, ascii) | T x (u64 offset, u32 length) | blocks
Offsets are relative to the start of the block area.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import zstandard

MAGIC = b"SVF1"
EXTENSION = "svf"
_INDEX = struct.Struct("<QI")
DEFAULT_LEVEL = -1   # zstd fast mode: see ARCHITECTURE.md, "The payload, chosen by measurement"


class PayloadError(ValueError):
    """The bytes are not a complete, valid synthvid frames payload."""


def encode_frames(frames: np.ndarray, fps: float, level: int = DEFAULT_LEVEL) -> bytes:
    """Encode a (T, H, W, 3) uint8 array. Deterministic for a given libzstd version (single-threaded)."""
    frames = np.ascontiguousarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    return encode_frame_list(list(frames), fps=fps, level=level)


def encode_frame_list(frames: list, fps: float, level: int = DEFAULT_LEVEL) -> bytes:
    """Like encode_frames, for a list of (H, W, 3) frames; the same array object repeated, or a frame equal
    to its predecessor, shares its predecessor's block."""
    if not frames:
        raise ValueError("a payload needs at least one frame")
    enc = FramesEncoder(fps=fps, level=level)
    prev = None
    for frame in frames:
        enc.add(frame, same_as_previous=prev is not None and (frame is prev or np.array_equal(frame, prev)))
        prev = frame
    return enc.finish()


class FramesEncoder:
    """Streaming encoder: frames are compressed as they arrive, so a renderer can reuse one buffer."""

    def __init__(self, fps: float, level: int = DEFAULT_LEVEL):
        self.fps, self.level = fps, level
        self._cctx = zstandard.ZstdCompressor(level=level, threads=0, write_checksum=True,
                                              write_content_size=True)
        self._blocks: list[bytes] = []
        self._index: list[tuple[int, int]] = []
        self._offset = 0
        self._shape = None

    def add(self, frame: np.ndarray, same_as_previous: bool = False) -> None:
        if self._shape is None:
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"frames must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
            self._shape = frame.shape
        elif frame.shape != self._shape or frame.dtype != np.uint8:
            raise ValueError(f"frame of shape {frame.shape}/{frame.dtype} in a {self._shape} uint8 video")
        if same_as_previous and self._index:
            self._index.append(self._index[-1])
            return
        block = self._cctx.compress(np.ascontiguousarray(frame).data)
        self._index.append((self._offset, len(block)))
        self._blocks.append(block)
        self._offset += len(block)

    def finish(self) -> bytes:
        if not self._index:
            raise ValueError("a payload needs at least one frame")
        h, w, c = self._shape
        header = json.dumps(
            {"codec": "zstd", "level": self.level, "frames": len(self._index), "height": h, "width": w,
             "channels": c, "fps": self.fps},
            sort_keys=True, separators=(",", ":"),
        ).encode("ascii")
        table = b"".join(_INDEX.pack(o, n) for o, n in self._index)
        return b"".join([MAGIC, struct.pack("<I", len(header)), header, table, *self._blocks])


class FramesPayload:
    """Random access to the frames of one payload without decoding the others."""

    def __init__(self, data: bytes):
        if len(data) < 8 or data[:4] != MAGIC:
            raise PayloadError("not a synthvid frames payload (bad magic)")
        (hlen,) = struct.unpack_from("<I", data, 4)
        try:
            self.header = json.loads(data[8:8 + hlen])
        except ValueError as e:
            raise PayloadError(f"corrupt payload header: {e}") from None
        self.num_frames = int(self.header["frames"])
        self.height = int(self.header["height"])
        self.width = int(self.header["width"])
        self.fps = float(self.header["fps"])
        table_start = 8 + hlen
        self._blocks_start = table_start + self.num_frames * _INDEX.size
        if len(data) < self._blocks_start:
            raise PayloadError("truncated payload (frame index incomplete)")
        self._index = [_INDEX.unpack_from(data, table_start + i * _INDEX.size) for i in range(self.num_frames)]
        end = max(o + n for o, n in self._index)
        if len(data) < self._blocks_start + end:
            raise PayloadError(f"truncated payload: {len(data)} bytes, blocks need {self._blocks_start + end}")
        self._data = data
        self._dctx = zstandard.ZstdDecompressor()

    def __len__(self) -> int:
        return self.num_frames

    def frame(self, t: int) -> np.ndarray:
        if not 0 <= t < self.num_frames:
            raise IndexError(f"frame {t} of a {self.num_frames}-frame video")
        o, n = self._index[t]
        start = self._blocks_start + o
        size = self.height * self.width * 3
        try:
            raw = self._dctx.decompress(self._data[start:start + n], max_output_size=size)
        except zstandard.ZstdError as e:
            raise PayloadError(f"corrupt frame {t}: {e}") from None
        if len(raw) != size:
            raise PayloadError(f"frame {t} decodes to {len(raw)} bytes, expected {size}")
        return np.frombuffer(raw, np.uint8).reshape(self.height, self.width, 3)

    def frames(self, indices=None) -> np.ndarray:
        """(len(indices), H, W, 3) uint8; all frames when indices is None. Shared blocks decode once."""
        if indices is None:
            indices = range(self.num_frames)
        out = np.empty((len(indices), self.height, self.width, 3), np.uint8)
        cache: dict[tuple[int, int], np.ndarray] = {}
        for i, t in enumerate(indices):
            t = int(t)
            if not 0 <= t < self.num_frames:
                raise IndexError(f"frame {t} of a {self.num_frames}-frame video")
            key = self._index[t]
            if key not in cache:
                cache[key] = self.frame(t)
            out[i] = cache[key]
        return out


def decode_frames(data: bytes, indices=None) -> np.ndarray:
    return FramesPayload(data).frames(indices)
