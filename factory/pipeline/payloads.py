"""`--payload auto|svf|svj`: the payload of each dataset, resolved on the driver before any shard is built.

`auto` (the default) measures: the first SAMPLE_VIDEOS videos of the build (same recipe, seed and pools)
are rendered here and `manifests.payload.choose_payload` picks the smallest payload whose worst sampled
video keeps PSNR >= 35 dB plus a 1 dB margin against its lossless render. Flat variants stay lossless `svf`
(dead leaves compress to ~5 KB a frame, smaller than any JPEG); textured, StyleGAN and image content gets
`svj` at the quality the measurement finds. The choice is a pure function of (recipe, seed, pools,
library versions), so a repeated or resumed build makes the same one and the bytes stay reproducible. The
resolved spec goes into the fingerprint (`DatasetJob.config`), the reasoning and the sampled quality
(PSNR, SSIM) into the card (`payload_choice`); the manifest holds every video's own PSNR (`psnr_db`).

Pools are always `svf`: their items are decoded by the factory into other videos, which are then encoded
again, so a lossy pool would compound two losses; and a pool is an input of the build, not what trainers
download (see ARCHITECTURE.md, "The payload").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from synthvid.manifests.payload import DEFAULT_QUALITY, SVF, SVJ, PayloadSpec, Targets, choose_payload, \
    encode_frame_list, psnr
from synthvid.manifests.payload.choose import even_frames, round_trips

MODES = ("auto", SVF.extension, SVJ.extension)
SAMPLE_VIDEOS = 4                 # videos 0..3 of the build
SAMPLE_FRAMES = Targets().max_sample_frames
POOL_CHOICE = {"requested": SVF.extension,
               "reason": "pools stay lossless: their items are composited into videos that are encoded again"}


@dataclass(frozen=True)
class PayloadRequest:
    """What the user asked for: `auto`, `svf`, or `svj` (at `quality`, default DEFAULT_QUALITY)."""
    mode: str = "auto"
    quality: int | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"--payload {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.quality is not None and self.mode != SVJ.extension:
            raise ValueError("--jpeg-quality is for --payload svj (auto measures the quality per variant)")
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise ValueError(f"--jpeg-quality {self.quality}: outside 1..100")


def resolve_payload(source, seed: int, request: PayloadRequest) -> tuple[PayloadSpec, dict]:
    """(the spec to encode with, the card's `payload_choice`) for one variant built with `seed`."""
    if request.mode == SVF.extension:
        return PayloadSpec(), {"requested": SVF.extension, "reason": "asked for (--payload svf)"}
    videos = sample_videos(source, seed)
    if request.mode == SVJ.extension:
        spec = PayloadSpec(SVJ.extension, quality=request.quality or DEFAULT_QUALITY)
        record = {"requested": SVJ.extension, "reason": f"asked for (--payload svj, quality {spec.quality})"}
    else:
        choice = choose_payload(videos, Targets())
        spec = choice.spec
        record = {"requested": "auto", "reason": choice.reason, "targets": {"min_psnr_db": Targets().min_psnr_db,
                                                                         "margin_db": Targets().margin_db},
                  "candidates": [_rounded(c) for c in choice.candidates]}
    record["sampled"] = {"videos": list(range(SAMPLE_VIDEOS)), "frames": sum(len(v) for v in videos),
                         **sampled_quality(spec, videos)}
    return spec, record


def sample_videos(source, seed: int) -> list[np.ndarray]:
    """About SAMPLE_FRAMES frames, spread evenly over each of the first SAMPLE_VIDEOS videos (copies: a
    renderer reuses one frame buffer)."""
    per = max(1, SAMPLE_FRAMES // SAMPLE_VIDEOS)
    out = []
    for index in range(SAMPLE_VIDEOS):
        frames, info = source.render_sample(seed, index)
        keep = set(even_frames(int(info.meta["frames"]), per).tolist())
        out.append(np.stack([np.array(f) for t, f in enumerate(frames) if t in keep]))
    return out


def sampled_quality(spec: PayloadSpec, videos: list[np.ndarray]) -> dict:
    """Bytes per frame, PSNR (worst video, worst frame, mean over videos) and SSIM (mean, worst frame) of
    `spec` on the sampled frames."""
    if spec.payload_kind.lossless:
        size = sum(len(encode_frame_list(list(v), 25.0, spec=spec)) for v in videos)
        return {"bytes_per_frame": round(size / sum(len(v) for v in videos), 1), "lossless": True}
    from skimage.metrics import structural_similarity

    size, per_video, per_frame, ssim = 0, [], [], []
    for data, back, v in round_trips(spec, videos):
        size += len(data)
        per_video.append(psnr(back, v))
        per_frame += [psnr(a, b) for a, b in zip(back, v)]
        # Wang et al.'s SSIM: 11x11 Gaussian window, sigma 1.5, per channel, averaged
        ssim += [structural_similarity(a, b, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False) for a, b in zip(back, v)]
    return {"bytes_per_frame": round(size / len(per_frame), 1), "lossless": False,
            "psnr_db_worst_video": round(min(per_video), 3), "psnr_db_worst_frame": round(min(per_frame), 3),
            "psnr_db_mean": round(float(np.mean(per_video)), 3), "ssim_mean": round(float(np.mean(ssim)), 5),
            "ssim_worst_frame": round(min(ssim), 5)}


def _rounded(candidate: dict) -> dict:
    """A measured candidate for the card: floats rounded, lossless PSNR (infinite) as null."""
    return {k: (round(v, 3) if math.isfinite(v) else None) if isinstance(v, float) else v
            for k, v in candidate.items()}
