"""Gaussian summaries of samples and the distances between them (float64 throughout).

* Frechet distance (FID / FVD): |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)). The matrix square root's
  trace is taken as the sum of sqrt(eigenvalues) of S1^(1/2) S2 S1^(1/2), a symmetric PSD matrix, so no
  complex parts appear and a set against itself gives 0 up to rounding.
* Symmetric KL (colour): KL(P||Q) + KL(Q||P), the sum of both directions (spec E leaves sum vs mean open).
* Diversity: log det(S + eps I). With fewer frames than feature dimensions the sample covariance is
  singular; eps puts a floor under its null space, so every missing direction costs log(eps) and a set of
  identical frames scores D log(eps), the lowest possible.
"""

from __future__ import annotations

import numpy as np

DIVERSITY_EPS = 1e-6   # squared feature units; feature networks here give O(1) activations
COLOUR_EPS = 1e-2      # squared Lab units: std 0.1, under OpenCV's ~0.4-unit conversion error


def mean_cov(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of the rows of x (n, d); covariance 0 for a single row."""
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"need a non-empty (n, d) sample, got shape {x.shape}")
    mu = x.mean(axis=0)
    if len(x) == 1:
        return mu, np.zeros((x.shape[1], x.shape[1]))
    c = x - mu
    return mu, c.T @ c / (len(x) - 1)


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, s1, mu2, s2) -> float:
    a = _sqrt_psd(s1)
    m = a @ s2 @ a
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    d = np.asarray(mu1) - np.asarray(mu2)
    return float(max(d @ d + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt, 0.0))


def _kl(mu_p, s_p, mu_q, s_q) -> float:
    k = len(mu_p)
    q_inv = np.linalg.inv(s_q)
    d = mu_q - mu_p
    _, logdet_p = np.linalg.slogdet(s_p)
    _, logdet_q = np.linalg.slogdet(s_q)
    return 0.5 * (np.trace(q_inv @ s_p) + d @ q_inv @ d - k + logdet_q - logdet_p)


def symmetric_kl(mu1, s1, mu2, s2, eps: float = COLOUR_EPS) -> float:
    eye = np.eye(len(mu1)) * eps
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    return float(max(_kl(mu1, s1 + eye, mu2, s2 + eye) + _kl(mu2, s2 + eye, mu1, s1 + eye), 0.0))


def logdet_diversity(features: np.ndarray, eps: float = DIVERSITY_EPS) -> float:
    _, s = mean_cov(features)
    sign, value = np.linalg.slogdet(s + eps * np.eye(len(s)))
    return float(value) if sign > 0 else float("nan")
