"""Decode one real video (a file path or its bytes) with PyAV into (T, H, W, 3) uint8 RGB frames, bounded.

Real datasets are untrusted input: a file may be truncated, not a video at all, or claim a huge frame size or
duration. Every limit is checked before the work or allocation it bounds (frame size before decoding, the
frame count and decoded bytes while decoding), and every failure is one VideoDecodeError naming the file.
The same bytes and PyAV/FFmpeg versions give the same frames: decoding is a pure function of the stream.
This reads a source file of any container FFmpeg knows, for people and tests; ingested shards keep AVI files
as the `avi` payload kind, read by manifests.payload.avi with the same decoder and the same truncation rule
(`count_slack`), so both give the same frames of the same file.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import av
import numpy as np

from synthvid.manifests.payload.avi import count_slack


class VideoDecodeError(RuntimeError):
    """A video that cannot be decoded within the limits; the message starts with the file's name."""


@dataclass(frozen=True)
class DecodeLimits:
    # UCF101's longest video has 1,776 frames (71 s at 25 fps) and HMDB51's are shorter; these ceilings leave
    # room for other datasets while keeping one hostile file from holding a worker for long.
    max_frames: int = 20_000                # decoded frames (before the stride keeps every k-th)
    max_pixels: int = 1920 * 1088           # width x height of a frame
    max_seconds: float = 3600.0             # stream duration when the container states one
    max_bytes: int = 4 << 30                # RGB bytes of the frames kept
    # A truncated file decodes its first frames without complaint: when the container states a frame count,
    # decoding more than count_slack(count) fewer is an error (intact files can be a frame or two off).


@dataclass(frozen=True)
class DecodedVideo:
    frames: np.ndarray                      # (T, H, W, 3) uint8 RGB, every `stride`-th decoded frame
    fps: float                              # the stream's average rate (0.0 when the container states none)
    decoded: int                            # frames decoded from the file (T = ceil(decoded / stride))


def _open_target(source):
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    return os.fspath(source)


def _label(source, name: str | None) -> str:
    if name:
        return name
    return "<bytes>" if isinstance(source, (bytes, bytearray, memoryview)) else os.fspath(source)


def _check_stream(stream, label: str, limits: DecodeLimits) -> None:
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > limits.max_pixels:
        raise VideoDecodeError(f"{label}: frames of {width}x{height} exceed the limit of {limits.max_pixels} pixels")
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
        if seconds > limits.max_seconds:
            raise VideoDecodeError(f"{label}: {seconds:.0f} s long, over the limit of {limits.max_seconds:.0f} s")


def _decode_stream(container, stream, label: str, limits: DecodeLimits, stride: int) -> tuple[list, int]:
    kept, shape, total_bytes, count = [], None, 0, 0
    for count, frame in enumerate(container.decode(stream), 1):
        if count > limits.max_frames:
            raise VideoDecodeError(f"{label}: more than {limits.max_frames} frames")
        if (count - 1) % stride:
            continue
        if frame.width * frame.height > limits.max_pixels:
            raise VideoDecodeError(f"{label}: frame {count - 1} of {frame.width}x{frame.height} exceeds the limit "
                                   f"of {limits.max_pixels} pixels")
        rgb = frame.to_ndarray(format="rgb24")
        if shape is None:
            shape = rgb.shape
        elif rgb.shape != shape:
            raise VideoDecodeError(f"{label}: frame {count - 1} is {rgb.shape[1]}x{rgb.shape[0]} where the first "
                                   f"was {shape[1]}x{shape[0]}")
        total_bytes += rgb.nbytes
        if total_bytes > limits.max_bytes:
            raise VideoDecodeError(f"{label}: decoded frames exceed the limit of {limits.max_bytes} bytes")
        kept.append(rgb)
    return kept, count


def decode_video(source, *, name: str | None = None, limits: DecodeLimits = DecodeLimits(),
                 stride: int = 1) -> DecodedVideo:
    """Frames 0, stride, 2*stride, ... of the first video stream of `source` (a path or the file's bytes).
    `name` is what errors call the video (default: the path)."""
    label = _label(source, name)
    if stride < 1:
        raise ValueError(f"stride {stride}: must be >= 1")
    try:
        with av.open(_open_target(source), mode="r") as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{label}: no video stream")
            stream = container.streams.video[0]
            _check_stream(stream, label, limits)
            kept, decoded = _decode_stream(container, stream, label, limits, stride)
            fps = float(stream.average_rate) if stream.average_rate else 0.0
            promised = stream.frames
    except VideoDecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError, MemoryError) as e:
        # av raises its FFmpegError family for bad data, OSError subclasses for missing files, and a few
        # ValueErrors for streams it cannot describe; all mean the same thing to the caller.
        raise VideoDecodeError(f"{label}: not a readable video ({type(e).__name__}: {str(e)[:200]})") from None
    if not kept:
        raise VideoDecodeError(f"{label}: no frames decoded")
    if promised and promised - decoded > count_slack(promised):
        raise VideoDecodeError(f"{label}: truncated or corrupt: the container states {promised} frames, "
                               f"{decoded} decoded")
    return DecodedVideo(frames=np.stack(kept), fps=fps, decoded=decoded)
