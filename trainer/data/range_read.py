"""Clip-level reads: a video's payload read by byte range where the sample manifest says it lies
(`payload_offset`, `payload_bytes`), its head parsed once and bounded by the manifest row, then only the
frame blocks its clips need, neighbouring ranges closer than MAX_GAP coalesced into one request.

Heads are read for a window of upcoming videos at once (`open_payloads`), and so are the frames of their
clips (`fetch_frames`): on object storage each window costs two rounds of concurrent requests, not two
requests per clip in series. A payload's bytes are untrusted like a whole shard's: the head is checked
(CRC, shape against the manifest, every block inside the manifest's payload size) and each block by its
own CRC before it is decoded.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from synthvid.manifests.payload import Limits, PayloadError, PayloadHead, decode_ranges, encoded_ranges, \
    payload_for_extension, read_head
from synthvid.manifests.payload.container import ENTRY, PREAMBLE_V2

from .ranges import RangeReader, Request

# Coalescing: neighbouring ranges closer than this are read as one request (on object storage a request
# costs far more than a few KB: client CPU for signing and parsing, a round trip). Payload blocks are
# phase-major (manifests.payload.encoder), so a stride-4 clip is one range anyway; this merges what is left,
# e.g. the two ranges of a clip whose window was clamped at the end of a short video.
MAX_GAP = 64 << 10
HEAD_SLACK = 4096           # beyond the preamble and the index entries: the header JSON, with room to spare


class ReadProblem(Exception):
    """A sample's bytes could not be read from storage; the text says how."""


@dataclass(frozen=True)
class Located:
    """Where one video's payload lies, and what its manifest row promises."""
    shard: str              # shard name in the dataset folder
    offset: int             # of the payload in the shard
    size: int               # payload bytes
    kind: str               # payload kind (member extension)
    limits: Limits          # ceilings plus the row's frames, height and width


class RangePayload:
    """The frames of one video, read by byte range through a shared RangeReader (same `.num_frames`,
    `.height`, `.width`, `.frames(indices)`, `.encoded_frames(indices)` as a whole FramesPayload)."""

    def __init__(self, loc: Located, head: PayloadHead, reader: RangeReader, head_bytes: int, where: str):
        self.loc, self.head, self.reader, self.where = loc, head, reader, where
        self.kind = payload_for_extension(loc.kind)
        self.num_frames, self.height, self.width = head.num_frames, head.height, head.width
        self.bytes_read = head_bytes
        self._ranges: list[tuple[int, int]] = []
        self._pieces: list[bytes] = []
        self._problem: Exception | None = None

    def missing(self, indices) -> list[tuple[int, int]]:
        """The coalesced ranges to read for `indices`; [] when the held ranges cover them."""
        starts = [a for a, _ in self._ranges]
        for t in self.head.checked_indices(indices):
            o, n = self.head.index[t]
            i = bisect.bisect_right(starts, o) - 1
            if i < 0 or o + n > self._ranges[i][1]:
                return self.head.frame_ranges(indices, MAX_GAP)
        return []

    def requests(self, ranges) -> list[Request]:
        return [Request(self.loc.shard, self.loc.offset + a, self.loc.offset + b) for a, b in ranges]

    def hold(self, ranges, pieces) -> None:
        bad = next((p for p in pieces if isinstance(p, Exception)), None)
        if bad is not None:
            self._problem = ReadProblem(f"cannot be read ({type(bad).__name__}: {bad})")
            return
        self._ranges, self._pieces = list(ranges), list(pieces)
        self.bytes_read += sum(len(p) for p in pieces)

    def fetch(self, indices) -> None:
        ranges = self.missing(indices)
        if ranges:
            self.hold(ranges, self.reader.read(self.requests(ranges)))
        if self._problem is not None:
            raise self._problem

    def frames(self, indices) -> np.ndarray:
        self.fetch(indices)
        return decode_ranges(self.head, indices, self._ranges, self._pieces, self.loc.limits)

    def encoded_frames(self, indices) -> list[bytes]:
        self.fetch(indices)
        return encoded_ranges(self.head, indices, self._ranges, self._pieces)


def open_payloads(reader: RangeReader, items: list[tuple[Located, str]]) -> list[RangePayload | Exception]:
    """A RangePayload for each (location, label), heads read in one batch of requests; a PayloadError (a
    bad head) or a ReadProblem (storage) in place of a payload that cannot be opened."""
    probes = [Request(loc.shard, loc.offset, loc.offset + min(loc.size, _probe(loc))) for loc, _ in items]
    out: list[RangePayload | Exception] = []
    for (loc, where), piece in zip(items, reader.read(probes)):
        if isinstance(piece, Exception):
            out.append(ReadProblem(f"cannot be read ({type(piece).__name__}: {piece})"))
            continue
        try:
            out.append(_open(reader, loc, where, piece))
        except (PayloadError, ReadProblem) as e:
            out.append(e)
    return out


def fetch_frames(wanted: list[tuple[object, list[int]]]) -> None:
    """Read, in one batch per reader, the blocks that each RangePayload among `wanted` ((loader, frame
    indices) pairs) still lacks; other loaders (whole payloads, rendered videos) need nothing. A range
    that fails is kept by its payload, which raises it when its frames are asked for."""
    batches: dict[int, list] = {}
    for loader, indices in wanted:
        if isinstance(loader, RangePayload):
            ranges = loader.missing(indices)
            if ranges:
                batches.setdefault(id(loader.reader), []).append((loader, ranges))
    for jobs in batches.values():
        requests = [r for loader, ranges in jobs for r in loader.requests(ranges)]
        pieces = jobs[0][0].reader.read(requests)
        at = 0
        for loader, ranges in jobs:
            loader.hold(ranges, pieces[at:at + len(ranges)])
            at += len(ranges)


def _probe(loc: Located) -> int:
    frames = loc.limits.frames or 1
    return PREAMBLE_V2.size + HEAD_SLACK + ENTRY.size * frames


def _open(reader: RangeReader, loc: Located, where: str, first: bytes) -> RangePayload:
    read_more = [0]

    def read(start: int, end: int) -> bytes:
        if end <= len(first):
            return first[start:end]
        [piece] = reader.read([Request(loc.shard, loc.offset + start, loc.offset + end)])
        if isinstance(piece, Exception):
            raise ReadProblem(f"cannot be read ({type(piece).__name__}: {piece})")
        read_more[0] += len(piece)
        return piece

    head = read_head(loc.kind, read, loc.limits, probe=len(first), size=loc.size)
    if head.extent > loc.size:
        raise PayloadError(f"its frame index reaches byte {head.extent} of a {loc.size}-byte payload")
    return RangePayload(loc, head, reader, len(first) + read_more[0], where)
