"""From a source's videos to clips: each video's clip windows are drawn first (one per repeat), the bytes
those clips need are fetched for a window of upcoming videos at once, then the frames are decoded here, or
handed over still encoded (JPEG) for the training device to decode (`--decode-device cuda`).

Repeated sampling (`--clips-per-video N`, as VideoMAE v2 and mae_st do): one read of a video serves N
clips, each with its own window and crop; they follow each other in the stream, so they share a batch.
Clip r of video i draws from `draws.clip(..., repeat=r)`; repeat 0 is the one-clip draw, so N = 1 is the
paper's one clip per video and equals a procedural source's clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, NamedTuple

import numpy as np
import torch

from synthvid.manifests.payload import PayloadError
from synthvid.manifests.payload.codecs import JPEG

from .clips import ClipDraw, ClipSpec, collate_frames, draw_clip
from .errors import ErrorPolicy
from .range_read import ReadProblem, fetch_frames


@dataclass(frozen=True)
class ClipOptions:
    clips_per_video: int = 1
    handover: bool = False          # JPEG payloads leave the worker encoded: the device decodes them

    def __post_init__(self):
        if self.clips_per_video < 1:
            raise ValueError(f"--clips-per-video {self.clips_per_video}: at least 1")


class Clip(NamedTuple):
    frames: np.ndarray | None       # (T, H, W, 3) uint8; None when handed over encoded
    encoded: list | None            # T JPEG files (bytes), checked, for the device decoder
    shape: tuple                    # (T, H, W)
    box: tuple                      # (y0, x0, h, w)
    index: int
    short: bool
    nbytes: int                     # bytes read from storage for this clip (a video's read shared by its clips)


def video_clips(items: Iterator, rng_for: Callable, spec: ClipSpec, options: ClipOptions, policy: ErrorPolicy,
                read_ahead: int = 1, first_repeat: int = 0) -> Iterator[Clip]:
    """Clips of the (index, loader, pass) items, `clips_per_video` per video (the first video from repeat
    `first_repeat` on: a resumed slot does not redo clips it already made). `rng_for(index, pass, repeat)`
    is the clip's RNG. A video whose frames do not decode or cannot be read goes to the policy."""
    window: list = []
    for item in items:
        window.append(item)
        if len(window) >= read_ahead:
            yield from _window_clips(window, rng_for, spec, options, policy, first_repeat)
            window, first_repeat = [], 0
    yield from _window_clips(window, rng_for, spec, options, policy, first_repeat)


def _window_clips(window, rng_for, spec, options, policy, first_repeat) -> Iterator[Clip]:
    planned = []
    for k, (index, loader, pass_) in enumerate(window):
        repeats = range(first_repeat if k == 0 else 0, options.clips_per_video)
        planned.append((index, loader, [draw_clip(loader.num_frames, loader.height, loader.width, spec,
                                                  rng_for(index, pass_, r)) for r in repeats]))
    fetch_frames([(loader, np.unique(np.concatenate([d.indices for d in ds]))) for _, loader, ds in planned if ds])
    for index, loader, ds in planned:
        try:
            clips = [_clip(loader, d, index, options, len(ds)) for d in ds]
        except (PayloadError, ReadProblem) as e:   # a frame block that does not decode, a range not read
            policy.bad_sample(getattr(loader, "where", "?"), e)
            continue
        yield from clips


def _clip(loader, d: ClipDraw, index: int, options: ClipOptions, share: int) -> Clip:
    nbytes = getattr(loader, "bytes_read", 0) // max(1, share)
    shape = (len(d.indices), loader.height, loader.width)
    kind = getattr(loader, "kind", None)
    if options.handover and kind is not None and kind.codec == JPEG:
        return Clip(None, loader.encoded_frames(d.indices), shape, d.box, index, d.short, nbytes)
    return Clip(loader.frames(d.indices), None, shape, d.box, index, d.short, nbytes)


def clip_batch(clips: list[Clip]) -> dict:
    """The tensors of a micro-batch of clips: `frames` (B, T, H, W, 3) uint8 unless every clip is encoded,
    `encoded` (per clip: its JPEG files or None) when any is, `box`, `index`, `bytes`; see `device_frames`."""
    out = {"box": torch.tensor([c.box for c in clips], dtype=torch.long),
           "index": torch.tensor([c.index for c in clips]),
           "bytes": torch.tensor([c.nbytes for c in clips], dtype=torch.long),
           "shape": torch.tensor([c.shape for c in clips], dtype=torch.long)}
    if any(c.frames is not None for c in clips):
        out["frames"] = collate_frames([c.frames for c in clips], [c.shape for c in clips])
    if any(c.encoded is not None for c in clips):
        out["encoded"] = [c.encoded for c in clips]
    return out
