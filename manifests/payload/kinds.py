"""Payload kinds: what a member extension means, how its frames are coded, and how a reader opens one.

Readers dispatch on the member's extension through this one registry (payload_for_extension /
open_payload); an extension no kind claims is an UnknownPayloadKind error. svf and svj share the container
(container.py) and differ in the codec of their blocks; avi is a real video's source file (avi.py):

    svf   zstd-compressed raw RGB, lossless. Flat variants: lossless is also the smallest there.
    svj   baseline JPEG 4:4:4 per frame. Textured, image and StyleGAN content; GPU-decodable (nvJPEG).
    avi   a real video's source bytes, unchanged (ingest); read whole, decoded with PyAV. Never encoded here.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from . import codecs
from .container import FORMAT_V2, Blocks, PayloadHead, head_size_needed, parse_head
from .limits import DEFAULT_LIMITS, Limits, PayloadError, UnknownPayloadKind

DEFAULT_LEVEL = -1      # zstd fast mode: see ARCHITECTURE.md, "The payload, chosen by measurement"
DEFAULT_QUALITY = 93    # see benchmarks/payload_formats.py and choose.py; `auto` picks per variant
DEFAULT_PHASES = 4      # the paper's sampling stride: a clip's 16 blocks lie next to each other


@dataclass(frozen=True)
class PayloadKind:
    extension: str
    codec: str
    lossless: bool
    summary: str
    # Frames by byte range: a head and one block per frame (svf, svj). A source video (avi) is read whole.
    random_access: bool = True
    # The manifest's frames_hash is of the frames this kind decodes (svf: lossless; avi: hashed as decoded at
    # ingest). A lossy encoder's frames_hash is of the rendered frames it did not keep.
    hash_of_decoded: bool = True


SVF = PayloadKind("svf", codecs.ZSTD, True, "per-frame zstd of raw RGB (lossless)")
SVJ = PayloadKind("svj", codecs.JPEG, False, "per-frame baseline JPEG 4:4:4, optimised Huffman tables",
                  hash_of_decoded=False)
AVI = PayloadKind("avi", "source", False, "a real video's source file (AVI), decoded with PyAV", random_access=False)
_KINDS = {k.extension: k for k in (SVF, SVJ, AVI)}


def payload_extensions() -> tuple[str, ...]:
    return tuple(_KINDS)


def payload_for_extension(ext: str) -> PayloadKind:
    """The kind a member extension ('svj', '.svj' or a member name '00000000.svj') stands for."""
    kind = _KINDS.get(str(ext).rsplit(".", 1)[-1].lower())
    if kind is None:
        raise UnknownPayloadKind(f"unknown payload kind {ext!r} (this reader knows: {', '.join(_KINDS)}); "
                                 "a newer synthvid may have written it")
    return kind


def payload_member(extensions) -> str:
    """The one extension among a sample's member extensions (e.g. the keys of a webdataset sample) that a
    payload kind claims; a sample with none or several is a PayloadError."""
    found = [e for e in extensions if not str(e).startswith("__") and str(e).lower() in _KINDS]
    if len(found) != 1:
        shown = ", ".join(sorted(str(e) for e in extensions if not str(e).startswith("__")))
        raise PayloadError(f"{'no' if not found else 'more than one'} frames payload member this reader knows "
                           f"({', '.join(_KINDS)}) among the members: {shown}")
    return found[0]


@dataclass(frozen=True)
class PayloadSpec:
    """A payload kind with its settings: what the factory encodes with, and what the card records."""

    kind: str = SVF.extension
    level: int = DEFAULT_LEVEL          # svf: zstd level
    quality: int = DEFAULT_QUALITY      # svj: JPEG quality, 1..100
    phases: int = DEFAULT_PHASES        # block order: frames grouped by t % phases (see encoder.py)

    def __post_init__(self):
        if not payload_for_extension(self.kind).random_access:
            raise ValueError(f"{self.kind} payloads are source files kept as they are, never encoded by synthvid")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"JPEG quality {self.quality} outside 1..100")
        if self.phases < 1:
            raise ValueError(f"phases {self.phases}: at least 1")

    @property
    def extension(self) -> str:
        return self.kind

    @property
    def payload_kind(self) -> PayloadKind:
        return payload_for_extension(self.kind)

    def header_settings(self) -> dict:
        return {"level": self.level} if self.payload_kind.codec == codecs.ZSTD else {"quality": self.quality}

    def encoder(self, fps: float):
        from .encoder import FramesEncoder

        return FramesEncoder(fps, spec=self)

    def describe(self) -> dict:
        """For the manifest and the card: kind, member extension, container format, codec, settings, and the
        library versions that decide the bytes."""
        k = self.payload_kind
        settings = dict(self.header_settings(), phases=self.phases)
        if k.codec == codecs.JPEG:
            settings.update(subsampling="4:4:4", optimize_huffman=True, process="baseline")
        return {"kind": k.extension, "member": k.extension, "format": FORMAT_V2, "codec": k.codec,
                "lossless": k.lossless, "settings": settings, "summary": k.summary,
                "encoder_versions": encoder_versions(k.codec)}

    @classmethod
    def from_describe(cls, d: dict) -> "PayloadSpec":
        s = d.get("settings", {})
        return cls(kind=d["kind"], **{k: s[k] for k in ("level", "quality", "phases") if k in s})

    def with_(self, **changes) -> "PayloadSpec":
        return dataclasses.replace(self, **changes)


@functools.lru_cache(maxsize=4)
def encoder_versions(codec: str) -> dict:
    """Library versions the encoded bytes depend on (same versions + same settings = same bytes)."""
    import zstandard

    if codec == codecs.ZSTD:
        return {"zstandard": zstandard.__version__, "libzstd": ".".join(map(str, zstandard.ZSTD_VERSION))}
    import PIL
    from PIL import features

    return {"pillow": PIL.__version__, "libjpeg_turbo": features.version("libjpeg_turbo") or "unknown"}


class FramesPayload:
    """Random access to the frames of one whole payload without decoding the others.

    `kind` says what the member's extension promised (svf by default, for callers from before svj);
    a payload whose codec is not that kind's is refused.
    """

    def __init__(self, data, limits: Limits | None = None, kind: PayloadKind = SVF):
        self.limits = limits or DEFAULT_LIMITS
        self.head = _head_of_kind(data, self.limits, kind)
        self.kind = kind
        self._blocks = Blocks.whole(self.head, data)
        self.header = dict(self.head.header, frames=self.head.num_frames)
        self.num_frames, self.height, self.width = self.head.num_frames, self.head.height, self.head.width
        self.fps = self.head.fps

    def __len__(self) -> int:
        return self.num_frames

    def frame(self, t: int) -> np.ndarray:
        return self.frames([t])[0]

    def frames(self, indices=None) -> np.ndarray:
        """(len(indices), H, W, 3) uint8; all frames when indices is None. Shared blocks decode once."""
        return decode_blocks(self._blocks, indices, self.limits)

    def encoded_frames(self, indices=None) -> list[bytes]:
        """The checked, still-encoded blocks of `indices` (JPEG files for svj): for a GPU decoder."""
        return encoded_blocks(self._blocks, indices)

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Every frame in order, one decoded at a time (as AviPayload.iter_frames, which must decode in
        order: a caller walking a whole video uses this, not frame(t) per t)."""
        for t in range(self.num_frames):
            yield self.frame(t)


def _head_of_kind(prefix, limits: Limits, kind: PayloadKind) -> PayloadHead:
    head = parse_head(prefix, limits)
    if head.codec != kind.codec:
        raise PayloadError(f"a {kind.extension} member holding {head.codec} frames (expected {kind.codec})")
    return head


def open_payload(ext: str, data, limits: Limits | None = None):
    """The payload in member bytes `data`, read as the kind its extension names: a FramesPayload, or an
    AviPayload (same reading interface) for a source video."""
    kind = payload_for_extension(ext)
    if kind is AVI:
        from .avi import AviPayload

        return AviPayload(data, limits)
    return FramesPayload(data, limits, kind)


def read_head(ext: str, read, limits: Limits | None = None, probe: int = 16384,
              size: int | None = None) -> PayloadHead:
    """Parse a payload's head with at most three small reads. `read(start, end)` returns bytes [start, end)
    of the payload, relative to its start (the caller adds the member's offset in the shard); `size` is the
    payload's length when known (manifest `payload_bytes`): no read then asks past it. The first read takes
    `probe` bytes, enough for the head of a video of ~1,300 frames; a larger head takes one more."""
    limits = limits or DEFAULT_LIMITS
    kind = payload_for_extension(ext)
    if not kind.random_access:
        raise PayloadError(f"{kind.extension} payloads have no frame index to range-read: read the whole member")
    clip = (lambda n: n) if size is None else (lambda n: min(n, size))
    asked = clip(probe)
    prefix = bytes(read(0, asked))
    for _ in range(2):      # a version-1 head may need its header read before its size is known
        need = head_size_needed(prefix, limits)
        if len(prefix) < asked or (need is not None and need <= len(prefix)) or asked == clip(asked + 1):
            break           # the payload ended, or the whole head is here
        asked = clip(need if need is not None else 8 + limits.max_header_bytes)
        prefix += bytes(read(len(prefix), asked))
    return _head_of_kind(prefix, limits, kind)


def decode_ranges(head: PayloadHead, indices, ranges, pieces, limits: Limits | None = None) -> np.ndarray:
    """Frames `indices` from `pieces`, the bytes of `ranges` = head.frame_ranges(indices, ...)."""
    return decode_blocks(Blocks(head, list(ranges), list(pieces)), indices, limits or DEFAULT_LIMITS)


def encoded_ranges(head: PayloadHead, indices, ranges, pieces) -> list[bytes]:
    """The checked, still-encoded frames `indices` from range-read pieces: for a GPU decoder."""
    return encoded_blocks(Blocks(head, list(ranges), list(pieces)), indices)


def decode_blocks(blocks: Blocks, indices, limits: Limits) -> np.ndarray:
    head = blocks.head
    ts = head.checked_indices(indices)
    limits.check_decode(len(ts), head.height, head.width)
    out = np.empty((len(ts), head.height, head.width, 3), np.uint8)
    first: dict[tuple[int, int], int] = {}
    for i, t in enumerate(ts):
        key = head.index[t]
        if key in first:
            out[i] = out[first[key]]
            continue
        first[key] = i
        codecs.decode_into(head.codec, blocks.block(t), out[i], t)
    return out


def encoded_blocks(blocks: Blocks, indices) -> list[bytes]:
    head = blocks.head
    out = []
    for t in head.checked_indices(indices):
        blk = blocks.block(t)
        if head.codec == codecs.JPEG:
            codecs.check_jpeg(blk, head.height, head.width, t)
        out.append(bytes(blk))
    return out
