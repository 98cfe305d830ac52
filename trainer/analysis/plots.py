"""PNG plots (matplotlib's Agg canvas, no global backend state, no timestamps in the files)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..figures import png_bytes


def scatter_png(entry: dict, accuracy_label: str) -> bytes:
    """Metric (x) against accuracy (y), one labelled point per dataset, r in the title (paper Fig 4)."""
    fig = Figure(figsize=(4.6, 3.6))
    ax = fig.add_subplot()
    names, xs, ys = zip(*entry["points"]) if entry["points"] else ((), (), ())
    ax.scatter(xs, ys, s=22, color="#2b6cb0")
    for name, x, y in zip(names, xs, ys):
        ax.annotate(name, (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
    if len(xs) >= 2 and np.std(xs) > 0:
        k, c = np.polyfit(xs, ys, 1)
        grid = np.linspace(min(xs), max(xs), 2)
        ax.plot(grid, k * grid + c, color="#c05621", linewidth=1)
    r = entry["r"]
    paper = f", paper r = {entry['paper_r']:+.2f}" if entry["paper_r"] is not None else ""
    ax.set_title(f"{entry['metric']}: r = {r:+.2f} (n = {entry['n']}){paper}" if np.isfinite(r)
                 else f"{entry['metric']}: n = {entry['n']}, too few points for r", fontsize=8)
    ax.set_xlabel(entry["title"], fontsize=7)
    ax.set_ylabel(accuracy_label, fontsize=7)
    ax.tick_params(labelsize=6)
    fig.tight_layout()
    return png_bytes(fig)


def spectra_png(curves: list[tuple[str, np.ndarray, np.ndarray, float]]) -> bytes:
    """Radially averaged amplitude spectra (log-log), one line per set, alpha in the legend."""
    fig = Figure(figsize=(5.2, 3.8))
    ax = fig.add_subplot()
    for name, f, a, alpha in curves:
        if len(f):
            ax.loglog(f, a / a[0], linewidth=1, label=f"{name} (alpha {alpha:.2f})")
    ax.set_xlabel("frequency, cycles/pixel", fontsize=7)
    ax.set_ylabel("mean amplitude (relative to the lowest bin)", fontsize=7)
    ax.set_title("amplitude spectra over the fitted band", fontsize=8)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=5, loc="lower left")
    fig.tight_layout()
    return png_bytes(fig)
