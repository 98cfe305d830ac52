"""Per-set statistics -> one table row of metrics, distances taken against the reference set."""

from __future__ import annotations

import math

from .collect import Nets, SetStats
from .gaussians import frechet_distance, logdet_diversity, mean_cov, symmetric_kl
from .spectrum import fit_alpha

# Metrics that can be correlated with accuracy, in the report's order, with the paper's reported r.
METRICS = {
    "fid": ("FID of frames vs reference", -0.72),
    "fvd": ("FVD of clips vs reference", -0.27),
    "diversity_logdet": ("frame diversity, log det of feature covariance", 0.53),
    "colour_kl": ("colour: symmetric KL of Lab Gaussians vs reference", -0.42),
    "spectrum_alpha": ("amplitude-spectrum slope alpha", None),
    "flow_mean": ("mean optical-flow magnitude, px/frame", None),
    "static_share": ("share of static frames", None),
}


def _gaussian_or_none(x):
    return mean_cov(x) if x is not None and len(x) else None


def _distance(fn, a, b) -> float:
    return fn(*a, *b) if a is not None and b is not None else math.nan


def set_row(stats: SetStats, ref: SetStats | None, nets: Nets, role: str = "dataset") -> dict:
    alpha, r2 = fit_alpha(*stats.spectrum.curve())
    lab_mu, lab_cov = stats.lab.gaussian()
    ref_lab = ref.lab.gaussian() if ref is not None else None
    frames_g = _gaussian_or_none(stats.frame_features)
    clips_g = _gaussian_or_none(stats.clip_features)
    ref_frames_g = _gaussian_or_none(ref.frame_features) if ref is not None else None
    ref_clips_g = _gaussian_or_none(ref.clip_features) if ref is not None else None
    row = {
        "dataset": stats.name, "role": role, "source": stats.url or stats.description,
        "videos": stats.videos, "frames": stats.frames,
        "fid": _distance(frechet_distance, frames_g, ref_frames_g),
        "fvd": _distance(frechet_distance, clips_g, ref_clips_g),
        "diversity_logdet": logdet_diversity(stats.frame_features) if frames_g is not None else math.nan,
        "colour_kl": symmetric_kl(lab_mu, lab_cov, *ref_lab) if ref_lab is not None else math.nan,
        "spectrum_alpha": alpha, "spectrum_r2": r2,
        "lab_L": float(lab_mu[0]), "lab_a": float(lab_mu[1]), "lab_b": float(lab_mu[2]),
        "flow_mean": stats.motion.mean_flow, "flow_pairs": stats.motion.flow_pairs,
        "static_share": stats.motion.static_share, "motion_pairs": stats.motion.pairs,
    }
    row.update(stats.objects.summary())
    row.update({
        "frame_features": nets.frames.label if nets.frames else "",
        "clip_features": nets.clips.label if nets.clips else "",
        "reference": ref.name if ref is not None else "",
        "ref_videos": ref.videos if ref is not None else 0,
        "ref_frames": ref.frames if ref is not None else 0,
    })
    return row
