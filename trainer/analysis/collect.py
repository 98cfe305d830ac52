"""One streaming pass over a video set's sample: every per-set statistic the metrics need.

Each sampled video is decoded once (its clip frames and their successors) and feeds the spectrum, colour,
motion and object accumulators and, when feature networks are given, the frame and clip feature lists.
Features are stored by video index and sorted at the end, so the result does not depend on read order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .colour import LabAccumulator
from .errors import AnalysisError
from .features import FeatureNet
from .motion import MotionAccumulator
from .objects import ObjectAccumulator
from .sampling import SampleSpec, choose_videos, clip_indices, flow_slots, motion_pairs
from .spectrum import SpectrumAccumulator, luminance


@dataclass
class Nets:
    frames: FeatureNet | None = None
    clips: FeatureNet | None = None


@dataclass
class SetStats:
    name: str
    description: str
    url: str | None
    videos: int = 0
    frames: int = 0
    spectrum: SpectrumAccumulator = field(default_factory=SpectrumAccumulator)
    lab: LabAccumulator = field(default_factory=LabAccumulator)
    motion: MotionAccumulator = field(default_factory=MotionAccumulator)
    objects: ObjectAccumulator = field(default_factory=ObjectAccumulator)
    frame_features: np.ndarray | None = None    # (videos * frames, D), rows in video-index order
    clip_features: np.ndarray | None = None     # (videos, D)


class _FeatureBuffer:
    """Clips wait here until a batch is full (or the frame size changes), so a GPU sees full batches;
    results are kept by video index."""

    def __init__(self, net: FeatureNet | None, batch: int, clips: bool):
        self.net, self.batch, self.clips = net, batch, clips
        self.pending: list[tuple[int, np.ndarray]] = []
        self.done: dict[int, np.ndarray] = {}

    def add(self, index: int, frames: np.ndarray) -> None:
        if self.net is None:
            return
        if not self.clips:   # a video's frames are a batch of their own
            self.done[index] = self.net.frame_features(frames)
            return
        if self.pending and self.pending[0][1].shape != frames.shape:   # mixed sizes: batches are uniform
            self.flush()
        self.pending.append((index, frames))
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            feats = self.net.clip_features(np.stack([f for _, f in self.pending]))
            self.done.update({i: f[None] for (i, _), f in zip(self.pending, feats)})
            self.pending = []

    def result(self) -> np.ndarray | None:
        if self.net is None:
            return None
        self.flush()
        if not self.done:
            return None
        return np.concatenate([self.done[i] for i in sorted(self.done)])


def _add_video(stats: SetStats, video, spec: SampleSpec, buffers) -> None:
    n = video.frames.num_frames
    clip = clip_indices(n, video.index, spec)
    pairs = motion_pairs(clip, n)
    wanted = sorted({int(t) for t in clip} | {t for p in pairs for t in p})
    decoded = dict(zip(wanted, video.frames.frames(wanted)))
    frames = np.stack([decoded[int(t)] for t in clip])
    for frame in frames:
        stats.spectrum.add(luminance(frame))
        stats.lab.add(frame)
    slots = flow_slots(spec)
    for k, (a, b) in enumerate(pairs):
        stats.motion.add(decoded[a], decoded[b], with_flow=k in slots)
    stats.objects.add(video.meta)
    buffers[0].add(video.index, frames)
    buffers[1].add(video.index, frames)
    stats.videos += 1
    stats.frames += len(frames)


def collect(vset, spec: SampleSpec, nets: Nets, progress: bool = True, batch: int = 32) -> SetStats:
    stats = SetStats(vset.name, vset.description, vset.url)
    chosen = choose_videos([e.index for e in vset.entries()], spec)
    buffers = (_FeatureBuffer(nets.frames, batch, clips=False), _FeatureBuffer(nets.clips, batch, clips=True))
    with tqdm(total=len(chosen), desc=f"analyse {vset.name}", unit="video", disable=not progress) as bar:
        for video in vset.read(chosen):
            _add_video(stats, video, spec, buffers)
            bar.update(1)
    if stats.videos == 0:
        raise AnalysisError(f"{vset.url or vset.name}: no videos to analyse")
    stats.frame_features = buffers[0].result()
    stats.clip_features = buffers[1].result()
    return stats
