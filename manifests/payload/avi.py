"""The `avi` payload kind: a real video kept as its source file's bytes (member `<key>.avi`), decoded with
PyAV when read.

Why the source bytes: UCF101's and HMDB51's files are MPEG-4 Part 2 AVIs of ~0.5 MB; re-encoding them as
svj would cost 5-12x the bytes and add a second lossy generation (benchmarks/payload_formats.py
--real-video; README "Real videos for evaluation").

Bounded before FFmpeg sees a byte: the RIFF header (`hdrl`: `avih`, the first video stream's `strh` and
`strf`) is parsed here, and its declared size, frame count, rate and duration are checked against `Limits`
and the manifest row. FFmpeg then opens the file with `max_pixels` near the declared width x height
(`PIXEL_MARGIN`), both for its stream probe and for the decoder, so a bitstream that claims larger frames
than its header is refused before a frame buffer is allocated. Only AVI files whose codec is in `CODECS`
are accepted, decided before FFmpeg probes the stream. Other containers (MP4, MKV) would be kinds of their
own with their own header probe; UCF101 and HMDB51 ship AVI only.

Frames: frame t is the t-th frame the decoder outputs, and a read decodes from the first frame to the last
one asked for (no keyframe seeking: AVI carries no timestamps for B-frames, and UCF101's XviD files pack
them). The count is the decodable frames: `ingest` decodes every frame once (to hash them: the manifest's
`frames_hash` is the xxh3-128 of the decoded RGB frames, as for every kind) and records the count in the
manifest's `frames`; a reader given that row (`Limits.for_row`) trusts it, so clip sampling needs no
probe. Without a row the count is found by decoding the video once. The declared count of an intact file
can be a frame or two off the decodable one (an empty chunk, a dropped frame, outputs nothing); more than
`count_slack` apart is a truncated or damaged file.

Decoding is a pure function of the bytes and the PyAV/FFmpeg build (one decoder thread; `rgb24` through
swscale); the versions go into the card (`describe`).
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import struct
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .limits import DEFAULT_LIMITS, Limits, PayloadError

EXTENSION = "avi"
MAX_FPS = 1000.0
# FFmpeg's max_pixels also bounds a decoder's scratch planes (aligned line sizes times a few rows): measured,
# an 80x60 MPEG-4 stream needs 53,760, 320x240 needs 125,440, 640x480 exactly its area. Twice the declared
# area plus this margin decodes every honest stream and still refuses a bitstream much larger than its header.
PIXEL_MARGIN = 1 << 18
# FourCC (biCompression, upper case) -> the FFmpeg decoder it must open as.
CODECS = {
    **dict.fromkeys(("XVID", "DIVX", "DX50", "FMP4", "MP4V", "3IV2"), "mpeg4"),   # MPEG-4 Part 2 (UCF101, HMDB51)
    **dict.fromkeys(("DIV3", "DIV4", "MP43"), "msmpeg4v3"),
    **dict.fromkeys(("H264", "X264", "AVC1"), "h264"),
    "MJPG": "mjpeg",
}


def count_slack(declared: int) -> int:
    """How far a decodable frame count may be from the count an intact header declares."""
    return max(2, math.ceil(0.05 * declared))


@dataclass(frozen=True)
class AviHeader:
    """What an AVI's header declares about its first video stream."""
    width: int
    height: int
    frames: int                  # the stream's dwLength (0: not stated)
    scale: int                   # a frame lasts dwScale / dwRate seconds
    rate: int
    fourcc: str
    codec: str                   # the FFmpeg decoder of the FourCC (CODECS)

    @property
    def fps(self) -> float:
        return self.rate / self.scale


def _u32(data, at: int) -> int:
    return struct.unpack_from("<I", data, at)[0]


def _chunks(data, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(id, body start, body end) of the RIFF chunks in data[start:end]; a chunk must fit its parent."""
    at = start
    while at + 8 <= end:
        cid, size = bytes(data[at:at + 4]), _u32(data, at + 4)
        if at + 8 + size > end:
            raise PayloadError(f"AVI chunk {cid.decode('latin-1')!r} at byte {at} runs past its parent")
        yield cid, at + 8, at + 8 + size
        at += 8 + size + (size & 1)


def _video_stream(data, start: int, end: int) -> tuple[bytes, bytes] | None:
    """(strh, strf) bodies of the first `vids` stream list inside hdrl."""
    for cid, lo, hi in _chunks(data, start, end):
        if cid != b"LIST" or hi - lo < 4 or bytes(data[lo:lo + 4]) != b"strl":
            continue
        parts = {c: bytes(data[a:b]) for c, a, b in _chunks(data, lo + 4, hi) if c in (b"strh", b"strf")}
        if b"strh" in parts and parts[b"strh"][:4] == b"vids":
            if len(parts[b"strh"]) < 36 or len(parts.get(b"strf", b"")) < 20:
                raise PayloadError("AVI video stream header too short")
            return parts[b"strh"], parts[b"strf"]
    return None


def parse_avi_header(data, limits: Limits) -> AviHeader:
    """The declared shape of the first video stream, checked against `limits` (ceilings and the manifest row).
    Reads at most the `hdrl` list, itself at most `limits.max_header_bytes`; never calls FFmpeg."""
    if len(data) < 24 or bytes(data[:4]) != b"RIFF" or bytes(data[8:12]) != b"AVI ":
        raise PayloadError("not an AVI file (no RIFF 'AVI ' header)")
    if bytes(data[12:16]) != b"LIST" or bytes(data[20:24]) != b"hdrl":
        raise PayloadError("AVI file without its header list (hdrl) first")
    size = _u32(data, 16)
    if size > limits.max_header_bytes or 20 + size > len(data):
        raise PayloadError(f"AVI header list of {size} bytes (limit {limits.max_header_bytes}, file {len(data)})")
    stream = _video_stream(data, 24, 20 + size)
    if stream is None:
        raise PayloadError("AVI file without a video stream")
    strh, strf = stream
    scale, rate, _start, length = struct.unpack_from("<IIII", strh, 20)
    width, height = struct.unpack_from("<ii", strf, 4)
    fourcc = strf[16:20].decode("latin-1").upper()
    if fourcc not in CODECS:
        raise PayloadError(f"AVI video codec {fourcc!r} is not accepted (accepted: {', '.join(sorted(CODECS))})")
    if not (scale and rate and rate / scale <= MAX_FPS):
        raise PayloadError(f"AVI declares a frame rate of {rate}/{scale} (limit 0..{MAX_FPS:g} fps)")
    header = AviHeader(width, abs(height), length, scale, rate, fourcc, CODECS[fourcc])
    _check_declared(header, limits)
    return header


def _check_declared(h: AviHeader, limits: Limits) -> None:
    want = limits.frames      # the decodable count: compared with the declared one within count_slack
    limits.expecting(None, limits.height, limits.width).check_shape(max(1, h.frames), h.height, h.width)
    if want is not None and not 1 <= want <= limits.max_frames:
        raise PayloadError(f"the manifest states {want} frames (limit 1..{limits.max_frames})")
    if want is not None and h.frames and abs(h.frames - want) > count_slack(h.frames):
        raise PayloadError(f"AVI declares {h.frames} frames, the manifest says {want}")
    seconds = max(h.frames, want or 0) / h.fps
    if seconds > limits.max_seconds:
        raise PayloadError(f"AVI lasts {seconds:.0f} s (limit {limits.max_seconds:.0f} s)")


class AviPayload:
    """The frames of one `.avi` member: the same reading interface as `FramesPayload` (num_frames, fps,
    height, width, frames(indices)). Frame t is the t-th frame the decoder outputs.

    A read decodes from the first frame to the last one asked for. Keyframe seeking would need each frame's
    position from its timestamp, and AVI carries none for B-frames: FFmpeg's timestamps of UCF101-style XviD
    files (packed B-frames) are shifted by the decoder delay, and empty chunks (dropped frames) output nothing."""

    def __init__(self, data, limits: Limits | None = None):
        self.limits = limits or DEFAULT_LIMITS
        self.data = bytes(data)
        self.avi = parse_avi_header(self.data, self.limits)
        self.height, self.width, self.fps = self.avi.height, self.avi.width, self.avi.fps
        self.header = {"codec": self.avi.codec, "fourcc": self.avi.fourcc, "height": self.height,
                       "width": self.width, "fps": self.fps, "declared_frames": self.avi.frames}
        self._num_frames = self.limits.frames

    @property
    def num_frames(self) -> int:
        """The manifest's count when the reader was given it; else counted by decoding once."""
        if self._num_frames is None:
            self._num_frames = sum(1 for _ in self.iter_frames(rgb=False))
        return self._num_frames

    def __len__(self) -> int:
        return self.num_frames

    def frame(self, t: int) -> np.ndarray:
        return self.frames([t])[0]

    def frames(self, indices=None) -> np.ndarray:
        """(len(indices), H, W, 3) uint8 RGB; all frames when indices is None."""
        n = self.num_frames
        ts = list(range(n)) if indices is None else [int(t) for t in indices]
        bad = [t for t in ts if not 0 <= t < n]
        if bad:
            raise PayloadError(f"frame {bad[0]} asked of a video of {n} frames")
        self.limits.check_decode(len(ts), self.height, self.width)
        out = np.empty((len(ts), self.height, self.width, 3), np.uint8)
        rows: dict[int, list[int]] = {}
        for i, t in enumerate(ts):
            rows.setdefault(t, []).append(i)
        if not ts:
            return out
        last = max(ts)
        with contextlib.closing(self._decoded()) as decoded:
            for t, frame in enumerate(decoded):
                if t in rows:
                    out[rows[t]] = frame.to_ndarray(format="rgb24")
                if t == last:
                    return out
        raise PayloadError(f"the video decodes fewer frames than the {n} the manifest states (frame {last} asked)")

    def encoded_frames(self, indices=None) -> list[bytes]:
        raise PayloadError("an avi payload has no separately encoded frames: decode it with frames()")

    def iter_frames(self, rgb: bool = True) -> Iterator[np.ndarray | None]:
        """Every decodable frame in order (RGB arrays, or None when `rgb` is False: counting only). The
        count is checked against the header: more than `count_slack` frames from the declared count (either
        way) is a PayloadError, so a lying header cannot keep a reader decoding."""
        declared = self.avi.frames
        ceiling = min(self.limits.max_frames, declared + count_slack(declared)) if declared else self.limits.max_frames
        count = 0
        for frame in self._decoded():
            count += 1
            if count > ceiling:
                raise PayloadError(f"the video decodes more than {ceiling} frames (it declares {declared})")
            yield frame.to_ndarray(format="rgb24") if rgb else None
        if count == 0:
            raise PayloadError("the video decodes no frames")
        if declared and declared - count > count_slack(declared):
            raise PayloadError(f"truncated or damaged: the header declares {declared} frames, {count} decode")

    def _decoded(self):
        """av.VideoFrames of the first video stream, each checked to have the declared size."""
        av = _av()
        guard = {"max_pixels": str(2 * self.width * self.height + PIXEL_MARGIN)}
        try:
            with av.open(io.BytesIO(self.data), mode="r", format="avi", options=guard) as container:
                stream = _checked_stream(container, self.avi)
                stream.codec_context.options = dict(guard)
                stream.codec_context.thread_count = 1
                for frame in container.decode(stream):
                    if (frame.width, frame.height) != (self.width, self.height):
                        raise PayloadError(f"a frame of {frame.width}x{frame.height} in a video declared "
                                           f"{self.width}x{self.height}")
                    yield frame
        except (av.FFmpegError, ValueError, OSError, EOFError, MemoryError) as e:
            if isinstance(e, PayloadError):
                raise
            raise PayloadError(f"not a decodable video ({type(e).__name__}: {str(e)[:160]})") from None


def _checked_stream(container, avi: AviHeader):
    """The first video stream, checked against the header: codec and frame size."""
    if not container.streams.video:
        raise PayloadError("FFmpeg finds no video stream")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx is None or ctx.name != avi.codec:
        raise PayloadError(f"FFmpeg opens the {avi.fourcc} stream as {getattr(ctx, 'name', None)}, not {avi.codec}")
    if (ctx.width, ctx.height) != (avi.width, avi.height):
        raise PayloadError(f"the stream's frames are not the declared {avi.width}x{avi.height}")
    return stream


def _av():
    try:
        import av
    except ImportError:
        raise PayloadError("reading avi payloads needs PyAV: pip install av") from None
    return av


@functools.lru_cache(maxsize=1)
def decoder_versions() -> dict:
    """Versions the decoded frames (and so `frames_hash`) depend on."""
    av = _av()
    libs = av.library_versions
    return {"av": av.__version__, "ffmpeg": getattr(av, "ffmpeg_version_info", "unknown"),
            **{k: ".".join(map(str, libs[k])) for k in ("libavcodec", "libavformat", "libswscale") if k in libs}}


def describe() -> dict:
    """The card's `payload` entry of a set of source videos."""
    return {"kind": EXTENSION, "member": EXTENSION, "format": "AVI (RIFF), the source file's bytes unchanged",
            "codec": "source", "lossless": False, "accepted_codecs": sorted(set(CODECS.values())),
            "summary": "real videos kept as their source files; decoded with PyAV (one thread, rgb24)",
            "frames_hash": "xxh3-128 of the decoded rgb24 frames", "decoder_versions": decoder_versions()}
