"""`--payload auto`: pick the payload kind and settings for a variant from sample frames, by measurement.

The rule (issue 10's targets): the smallest payload whose every sampled frame stays at least
`min_psnr_db + margin_db` from the lossless render. JPEG qualities are tried from low to high and the first
that holds is the candidate; svf wins when lossless is no larger (flat variants) or when no quality holds.
The size at paper scale is projected and checked against the variant's budget when one is given; being
over budget is reported, not traded against quality. Every measured candidate is returned as data so the
factory can put the reasoning into the card.
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
    max_sample_frames: int = 48                 # frames measured, spread evenly over the samples


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


def sample_frames(samples, limit: int) -> np.ndarray:
    """Up to `limit` frames spread evenly over the (T, H, W, 3) sample videos."""
    frames = np.concatenate([np.asarray(v) for v in samples])
    idx = np.unique(np.linspace(0, len(frames) - 1, min(limit, len(frames))).round().astype(int))
    return frames[idx]


def measure(spec: PayloadSpec, frames: np.ndarray) -> dict:
    data = encode_frame_list(list(frames), fps=25.0, spec=spec)
    back = open_payload(spec.kind, data).frames()
    per_frame = [psnr(a, b) for a, b in zip(back, frames)]
    return {"kind": spec.kind, "quality": spec.quality if spec.kind == SVJ.extension else None,
            "bytes_per_frame": len(data) / len(frames), "psnr_min_db": min(per_frame),
            "psnr_db": psnr(back, frames)}


def choose_payload(samples, targets: Targets = Targets()) -> Choice:
    """The payload for a variant whose rendered videos look like `samples` (a list of (T, H, W, 3) uint8)."""
    frames = sample_frames(samples, targets.max_sample_frames)
    floor = targets.min_psnr_db + targets.margin_db
    lossless = measure(PayloadSpec(SVF.extension), frames)
    candidates, pick = [lossless], None
    for q in sorted(targets.qualities):
        m = measure(PayloadSpec(SVJ.extension, quality=q), frames)
        candidates.append(m)
        if m["psnr_min_db"] >= floor:
            pick = m
            break
    if pick is None:
        spec, chosen = PayloadSpec(SVF.extension), lossless
        reason = f"no JPEG quality up to {max(targets.qualities)} keeps every sampled frame >= {floor:.1f} dB"
    elif lossless["bytes_per_frame"] <= pick["bytes_per_frame"]:
        spec, chosen = PayloadSpec(SVF.extension), lossless
        reason = (f"lossless svf ({lossless['bytes_per_frame'] / 1e3:.1f} KB/frame) is no larger than JPEG q"
                  f"{pick['quality']} ({pick['bytes_per_frame'] / 1e3:.1f} KB/frame)")
    else:
        spec, chosen = PayloadSpec(SVJ.extension, quality=pick["quality"]), pick
        reason = (f"JPEG q{pick['quality']} is the lowest quality whose worst sampled frame is "
                  f"{pick['psnr_min_db']:.1f} dB >= {floor:.1f} dB, {chosen['bytes_per_frame'] / 1e3:.1f} KB/frame "
                  f"vs {lossless['bytes_per_frame'] / 1e3:.1f} KB/frame lossless")
    projected = int(chosen["bytes_per_frame"] * targets.videos * targets.frames_per_video)
    within = None if targets.budget_bytes is None else projected <= targets.budget_bytes
    return Choice(spec, reason, projected, within, candidates)
