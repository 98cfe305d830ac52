"""Which videos and which frames an analysis reads: pure functions of (seed, video index).

Every draw comes from `manifests.seeds.substream`, keyed by the video's index in its dataset, so video i of
two variants gets the same frame window (the variants share their draws, paper 3.1), a rerun reads the same
frames, and the choice does not depend on shard order or on which other videos were drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthvid.manifests.seeds import substream


@dataclass(frozen=True)
class SampleSpec:
    videos: int = 1000       # spec E: 1,000 videos per dataset
    frames: int = 16         # spec E: 16 frames per video (diversity); also the FVD clip length
    stride: int = 4          # the pretraining clip's sampling rate: clips look like what VideoMAE sees
    flow_pairs: int = 4      # optical flow on this many of a clip's frames (Farneback is the costly part)
    seed: int = 0

    def __post_init__(self):
        for name in ("videos", "frames", "stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.flow_pairs <= self.frames:
            raise ValueError(f"flow_pairs must be in [0, frames={self.frames}], got {self.flow_pairs}")


def choose_videos(indices: list[int], spec: SampleSpec) -> list[int]:
    """Up to spec.videos of the given video indices, drawn without replacement, returned sorted."""
    pool = np.array(sorted(set(int(i) for i in indices)), np.int64)
    if len(pool) <= spec.videos:
        return pool.tolist()
    order = substream(spec.seed, 0, "analysis-videos").permutation(len(pool))
    return sorted(pool[order[: spec.videos]].tolist())


def clip_indices(num_frames: int, index: int, spec: SampleSpec) -> np.ndarray:
    """spec.frames frame indices at spec.stride from a window whose start is uniform over the video; a video
    shorter than the window starts at 0 with indices clamped to its last frame (as training clips do)."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    span = (spec.frames - 1) * spec.stride + 1
    start = 0
    if num_frames >= span:
        start = int(substream(spec.seed, index, "analysis-clip").integers(0, num_frames - span + 1))
    return np.minimum(start + spec.stride * np.arange(spec.frames), num_frames - 1)


def motion_pairs(clip: np.ndarray, num_frames: int) -> list[tuple[int, int]]:
    """(t, t+1) for every clip frame t: instantaneous motion in pixels per frame; the last frame of a video
    pairs with its predecessor. A one-frame video has no pairs."""
    if num_frames < 2:
        return []
    return [(int(t), int(t) + 1) if t + 1 < num_frames else (int(t) - 1, int(t)) for t in clip]


def flow_slots(spec: SampleSpec) -> set[int]:
    """Positions in the clip whose pair also gets optical flow: spread evenly over the clip."""
    if spec.flow_pairs == 0:
        return set()
    return {int(round(x)) for x in np.linspace(0, spec.frames - 1, spec.flow_pairs)}
