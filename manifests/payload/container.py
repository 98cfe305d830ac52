"""The frames container shared by every payload kind: a checksummed head (header + frame index) and one
independently decodable block per frame. The codec of the blocks is named in the header.

Version 2 (written), little endian:

    offset 0   4 bytes   magic b"SVF2"
           4   u32       header_len
           8   u32       frames (T)
          12   u32       head_crc: CRC-32 of bytes [0, 12) + [16, head_size)
          16   header JSON (header_len bytes, ascii, sorted keys): codec, codec settings, height, width,
               channels, fps
          16 + header_len
               T x (u64 offset, u32 length): frame t's block, offset relative to the block area. Equal
               consecutive frames share one block (same entry).
    head_size = 16 + header_len + 12 T: the block area starts here.
    block      u32 crc32 of the coded frame | the coded frame (length - 4 bytes)

The head (magic, header and index) is covered by head_crc, every block by its own CRC (stored in front of
it, so a range read of a frame fetches its checksum too), so an edited fps, a swapped index entry or a
flipped bit in a frame is an error, not a different video. Version 1
(b"SVF1" | u32 header_len | header JSON with `frames` | T x (u64 offset, u32 length) | blocks) had no
checksum over its head; it is still read.
"""

from __future__ import annotations

import bisect
import json
import math
import struct
import zlib
from dataclasses import dataclass

from .codecs import SETTINGS
from .limits import DEFAULT_LIMITS, Limits, PayloadError

MAGIC_V1, MAGIC_V2 = b"SVF1", b"SVF2"
FORMAT_V2 = "svf2"
PREAMBLE_V2 = struct.Struct("<4sIII")
ENTRY = struct.Struct("<QI")
CRC = struct.Struct("<I")
# Header keys every codec has; codec settings are listed by the codec (see codecs.py).
_COMMON = {"codec": str, "height": int, "width": int, "channels": int, "fps": float}


@dataclass(frozen=True)
class PayloadHead:
    """A parsed, validated head: what the payload holds and where each frame's block lies."""

    version: int
    header: dict
    index: tuple            # per frame: (offset from payload start, length); v2 blocks start with a CRC
    size: int               # bytes of the head; the block area starts here

    @property
    def num_frames(self) -> int:
        return len(self.index)

    @property
    def codec(self) -> str:
        return self.header["codec"]

    @property
    def height(self) -> int:
        return self.header["height"]

    @property
    def width(self) -> int:
        return self.header["width"]

    @property
    def fps(self) -> float:
        return float(self.header["fps"])

    @property
    def extent(self) -> int:
        """Bytes the payload must have: the head plus the furthest block."""
        return max(o + n for o, n in self.index)

    def frame_ranges(self, indices, max_gap: int = 0) -> list[tuple[int, int]]:
        """Sorted, coalesced [start, end) byte ranges, relative to the payload start, that hold the blocks of
        `indices`. Neighbouring ranges closer than `max_gap` bytes merge: one request instead of two is
        usually cheaper on object storage than the bytes in between."""
        spans = sorted({self.index[t] for t in self.checked_indices(indices)})
        out: list[list[int]] = []
        for offset, length in spans:
            if out and offset <= out[-1][1] + max_gap:
                out[-1][1] = max(out[-1][1], offset + length)
            else:
                out.append([offset, offset + length])
        return [(a, b) for a, b in out]

    def checked_indices(self, indices) -> list[int]:
        """`indices` as ints (all frames for None); IndexError for one outside the video."""
        n = self.num_frames
        if indices is None:
            return list(range(n))
        out = []
        for t in indices:
            t = int(t)
            if not 0 <= t < n:
                raise IndexError(f"frame {t} of a {n}-frame video")
            out.append(t)
        return out


def head_size_needed(prefix: bytes, limits: Limits = DEFAULT_LIMITS) -> int | None:
    """Bytes of head a payload starting with `prefix` has, or None when the prefix is too short to tell
    (16 bytes always tell for version 2). Raises PayloadError for a prefix that is no payload."""
    if len(prefix) < 8:
        return None
    magic, hlen = bytes(prefix[:4]), struct.unpack_from("<I", prefix, 4)[0]
    if magic not in (MAGIC_V1, MAGIC_V2):
        raise PayloadError("not a synthvid frames payload (bad magic)")
    if hlen > limits.max_header_bytes:
        raise PayloadError(f"payload header of {hlen} bytes (limit {limits.max_header_bytes})")
    if magic == MAGIC_V2:
        if len(prefix) < PREAMBLE_V2.size:
            return None
        frames = _frame_count(struct.unpack_from("<I", prefix, 8)[0], limits)
        return PREAMBLE_V2.size + hlen + ENTRY.size * frames
    if len(prefix) < 8 + hlen:
        return None
    header = _parse_json(bytes(prefix[8:8 + hlen]))
    frames = _frame_count(_typed(header, "frames", int), limits)
    return 8 + hlen + ENTRY.size * frames


def parse_head(data, limits: Limits = DEFAULT_LIMITS) -> PayloadHead:
    """Parse and validate the head at the start of `data` (the whole payload or a prefix of at least
    head_size_needed bytes)."""
    need = head_size_needed(data, limits)
    if need is None or len(data) < need:
        raise PayloadError(f"truncated payload head: {len(data)} bytes, the head needs {need or 'more'}")
    # A copy of the head alone (a few KB): no memoryview of the caller's buffer outlives a failed parse (a
    # view caught in an exception's reference cycle can crash the collector when the buffer is resized).
    head = bytes(data[:need])
    if head[:4] == MAGIC_V2:
        _, hlen, frames, crc = PREAMBLE_V2.unpack_from(head)
        if zlib.crc32(head[16:need], zlib.crc32(head[:12])) != crc:
            raise PayloadError("payload head checksum mismatch (header or frame index altered)")
        header = _header(head[16:16 + hlen], version=2)
        entries = ENTRY.iter_unpack(head[16 + hlen:need])
        version = 2
    else:
        hlen = struct.unpack_from("<I", head, 4)[0]
        header = _header(head[8:8 + hlen], version=1)
        frames = header.pop("frames")
        entries = ENTRY.iter_unpack(head[8 + hlen:need])
        version = 1
    limits.check_shape(frames, header["height"], header["width"])
    index = tuple((need + o, n) for o, n in entries)
    least = CRC.size + 1 if version == 2 else 1
    for start, length in index:
        if length < least or start + length > limits.max_payload_bytes:
            raise PayloadError(f"frame index entry ({start}, {length}) out of bounds")
    return PayloadHead(version, header, index, need)


def pack(header: dict, index: list[tuple[int, int]], blocks: list[bytes]) -> bytes:
    """A version-2 payload: `index` holds (offset in the block area, length) per frame; each block is
    already prefixed with its CRC (see crc_block)."""
    body = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("ascii")
    table = b"".join(ENTRY.pack(*e) for e in index)
    crc = zlib.crc32(body + table, zlib.crc32(MAGIC_V2 + struct.pack("<II", len(body), len(index))))
    return b"".join([PREAMBLE_V2.pack(MAGIC_V2, len(body), len(index), crc), body, table, *blocks])


class Blocks:
    """The bytes of some blocks of one payload: the whole payload, or pieces read by byte range."""

    def __init__(self, head: PayloadHead, ranges: list[tuple[int, int]], pieces: list):
        if len(ranges) != len(pieces):
            raise ValueError(f"{len(ranges)} ranges but {len(pieces)} pieces")
        order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
        self.head = head
        self._starts = [ranges[i][0] for i in order]
        self._ranges = [ranges[i] for i in order]
        self._pieces = [memoryview(pieces[i]) for i in order]

    @classmethod
    def whole(cls, head: PayloadHead, data) -> "Blocks":
        if len(data) < head.extent:
            raise PayloadError(f"truncated payload: {len(data)} bytes, blocks need {head.extent}")
        return cls(head, [(0, len(data))], [data])

    def block(self, t: int) -> memoryview:
        """Frame t's coded frame, its CRC checked (version 2)."""
        start, length = self.head.index[t]
        i = bisect.bisect_right(self._starts, start) - 1
        if i < 0 or start + length > self._ranges[i][1]:
            raise PayloadError(f"frame {t} lies outside the byte ranges read")
        a, _ = self._ranges[i]
        piece = self._pieces[i]
        if len(piece) < start + length - a:
            raise PayloadError(f"truncated read: frame {t} needs bytes up to {start + length}")
        blk = piece[start - a:start - a + length]
        if self.head.version == 1:
            return blk
        if zlib.crc32(blk[CRC.size:]) != CRC.unpack_from(blk)[0]:
            raise PayloadError(f"frame {t}: block checksum mismatch")
        return blk[CRC.size:]


def crc_block(coded: bytes) -> bytes:
    """A version-2 block: the coded frame behind its CRC-32."""
    return CRC.pack(zlib.crc32(coded)) + coded


def _frame_count(frames: int, limits: Limits) -> int:
    if not 1 <= frames <= limits.max_frames:
        raise PayloadError(f"payload declares {frames} frames (limit 1..{limits.max_frames})")
    return frames


def _parse_json(raw: bytes) -> dict:
    try:
        header = json.loads(raw.decode("ascii"))
    except (ValueError, RecursionError) as e:    # UnicodeDecodeError is a ValueError
        raise PayloadError(f"corrupt payload header: {type(e).__name__}") from None
    if not isinstance(header, dict):
        raise PayloadError("corrupt payload header: not a JSON object")
    return header


def _typed(header: dict, key: str, kind: type):
    v = header.get(key)
    ok = (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)) if kind is float \
        else isinstance(v, kind) and not isinstance(v, bool)
    if not ok:
        raise PayloadError(f"corrupt payload header: {key!r} is {type(v).__name__}, not {kind.__name__}")
    return v


def _header(raw: bytes, version: int) -> dict:
    """The header as a dict of known keys with checked types; anything else is a PayloadError."""
    header = _parse_json(raw)
    schema = dict(_COMMON, frames=int) if version == 1 else dict(_COMMON)
    codec = header.get("codec")
    if not isinstance(codec, str) or codec not in SETTINGS:
        raise PayloadError(f"payload codec {codec!r} unknown (known: {', '.join(sorted(SETTINGS))})")
    schema.update(SETTINGS[codec])
    extra = set(header) - set(schema)
    if extra:
        raise PayloadError(f"corrupt payload header: unknown key(s) {sorted(extra)[:3]}")
    out = {k: _typed(header, k, t) for k, t in schema.items()}
    if out["channels"] != 3:
        raise PayloadError(f"payload of {out['channels']} channels (RGB payloads have 3)")
    if not 0 < out["fps"] <= 1000:
        raise PayloadError(f"payload fps {out['fps']} out of range")
    return out
