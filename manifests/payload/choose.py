"""`--payload auto`: pick the payload kind and settings for a variant from sample videos, by measurement.

The rule (issue 10's targets): the smallest payload that keeps every sampled video's PSNR against its
lossless render at least `min_psnr_db + margin_db` (the margin covers the videos the samples did not show).
JPEG qualities are tried from low to high and the first that holds is the candidate; svf wins when lossless
is no larger (flat variants: dead leaves compress to a few KB a frame) or when no quality holds. The size at
paper scale is projected and checked against the variant's budget when one is given; being over budget is
reported, not traded against quality. Every measured candidate is returned as data (with its worst single
frame) so the factory can put the reasoning into the card.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .encoder import encode_frame_list
from .kinds import SVF, SVJ, PayloadSpec, open_payload

PAPER_VIDEOS = 9537         # the paper's pretraining set size (UCF101 train split)
PAPER_FRAMES = 150          # mean frames per video (100-199)


@dataclass(frozen=True)
class Targets:
    min_psnr_db: float = 35.0
    margin_db: float = 1.0                      # headroom for videos the samples did not show
    qualities: tuple[int, ...] = (80, 85, 88, 90, 91, 92, 93, 94, 95, 96, 97)
    budget_bytes: int | None = None             # at paper size; e.g. 40e9 image/StyleGAN, 90e9 textures
    videos: int = PAPER_VIDEOS
    frames_per_video: float = PAPER_FRAMES
    max_sample_frames: int = 48                 # frames measured, spread evenly over the sample videos


@dataclass(frozen=True)
class Choice:
    spec: PayloadSpec
    reason: str
    projected_bytes: int                        # at targets.videos x targets.frames_per_video
    within_budget: bool | None                  # None: no budget given
    candidates: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["spec"] = self.spec.describe()
        return d


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of uint8 images (inf when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def even_frames(n: int, per: int) -> np.ndarray:
    """Indices of at most `per` frames spread evenly over a video of `n` (first and last included)."""
    return np.unique(np.linspace(0, n - 1, min(per, n)).round().astype(int))


def sample_videos(samples, limit: int) -> list[np.ndarray]:
    """Each (T, H, W, 3) sample video cut to about limit / len(samples) frames spread evenly over it."""
    per = max(1, limit // max(1, len(samples)))
    return [np.asarray(v)[even_frames(len(v), per)] for v in samples]


def round_trips(spec: PayloadSpec, videos: list[np.ndarray]):
    """(encoded bytes, decoded frames, original frames) of each video under `spec`."""
    for v in videos:
        data = encode_frame_list(list(v), fps=25.0, spec=spec)
        yield data, open_payload(spec.kind, data).frames(), v


def measure(spec: PayloadSpec, videos: list[np.ndarray]) -> dict:
    """Bytes per frame, the worst video's PSNR and the worst frame's PSNR of `spec` on `videos`."""
    nbytes, frames, per_video, per_frame = 0, 0, [], []
    for data, back, v in round_trips(spec, videos):
        nbytes, frames = nbytes + len(data), frames + len(v)
        per_video.append(psnr(back, v))
        per_frame += [psnr(a, b) for a, b in zip(back, v)]
    return {"kind": spec.kind, "quality": spec.quality if spec.kind == SVJ.extension else None,
            "bytes_per_frame": nbytes / frames, "psnr_db": min(per_video), "psnr_min_frame_db": min(per_frame)}


def choose_payload(samples, targets: Targets = Targets()) -> Choice:
    """The payload for a variant whose rendered videos look like `samples` (a list of (T, H, W, 3) uint8)."""
    videos = sample_videos(samples, targets.max_sample_frames)
    floor = targets.min_psnr_db + targets.margin_db
    lossless = measure(PayloadSpec(SVF.extension), videos)
    candidates, pick = [lossless], None
    for q in sorted(targets.qualities):
        m = measure(PayloadSpec(SVJ.extension, quality=q), videos)
        candidates.append(m)
        if m["psnr_db"] >= floor or m["bytes_per_frame"] >= lossless["bytes_per_frame"]:
            pick = m            # holds, or already no smaller than lossless (sizes grow with quality)
            break
    if pick is None:
        spec, chosen = PayloadSpec(SVF.extension), lossless
        reason = f"no JPEG quality up to {max(targets.qualities)} keeps every sampled video >= {floor:.1f} dB"
    elif lossless["bytes_per_frame"] <= pick["bytes_per_frame"]:
        spec, chosen = PayloadSpec(SVF.extension), lossless
        reason = (f"lossless svf ({lossless['bytes_per_frame'] / 1e3:.1f} KB/frame) is no larger than JPEG q"
                  f"{pick['quality']} ({pick['bytes_per_frame'] / 1e3:.1f} KB/frame)")
    else:
        spec, chosen = PayloadSpec(SVJ.extension, quality=pick["quality"]), pick
        reason = (f"JPEG q{pick['quality']} is the lowest quality whose worst sampled video is "
                  f"{pick['psnr_db']:.1f} dB >= {floor:.1f} dB (worst frame {pick['psnr_min_frame_db']:.1f} dB), "
                  f"{chosen['bytes_per_frame'] / 1e3:.1f} KB/frame vs {lossless['bytes_per_frame'] / 1e3:.1f} "
                  "KB/frame lossless")
    projected = int(chosen["bytes_per_frame"] * targets.videos * targets.frames_per_video)
    within = None if targets.budget_bytes is None else projected <= targets.budget_bytes
    return Choice(spec, reason, projected, within, candidates)
