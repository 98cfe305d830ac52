"""UCF101-P: accuracy per corruption and severity for several checkpoints side by side, each against its own
clean accuracy, and the paper's Fig 3 drawn from the user's runs.

Per (checkpoint, corruption, severity): top-1, the relative robustness 1 - (clean - corrupted) / clean and the
absolute robustness 1 - (clean - corrupted) (Schiappa et al., CVPR 2023, the benchmark UCF101-P follows; see
metrics.relative_robustness). A checkpoint's mean relative robustness averages every (corruption, severity)
it was tested on. The clean accuracy is the checkpoint's top-1 on a clean set (no `corruption` in its card)
of the same dataset among those tested; without one, accuracies are reported alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from ..figures import png_bytes
from .metrics import absolute_robustness, mean_relative_robustness, relative_robustness

# The corruption names of `synthvid-factory corrupt` in the order of the paper's Fig 3, with its labels.
FIG3 = (("translate", "translate"), ("rotate", "rotate"), ("static_rotate", "imgrotate"), ("shot", "shot"),
        ("speckle", "speckle"), ("gaussian", "gauss"), ("impulse", "impulse"), ("defocus", "defocus"),
        ("zoom", "zoom"), ("jpeg", "jpeg"), ("freeze", "freeze"), ("box_jumble", "boxjumble"),
        ("jumble", "jumble"), ("reverse", "reverse"))
_LABEL = dict(FIG3)
_ORDER = {name: i for i, (name, _) in enumerate(FIG3)}


@dataclass(frozen=True)
class Cell:
    checkpoint: str
    corruption: str
    severity: int
    top1: float
    clean: float | None          # the checkpoint's clean top-1, when a clean set was tested

    @property
    def relative(self) -> float | None:
        return relative_robustness(self.clean, self.top1) if self.clean else None

    @property
    def absolute(self) -> float | None:
        return absolute_robustness(self.clean, self.top1) if self.clean is not None else None

    def row(self) -> dict:
        return {"checkpoint": self.checkpoint, "corruption": self.corruption, "figure_label": label(self.corruption),
                "severity": self.severity, "top1": self.top1, "clean_top1": self.clean,
                "relative_robustness": self.relative, "absolute_robustness": self.absolute}


def label(corruption: str) -> str:
    return _LABEL.get(corruption, corruption)


def order(corruptions) -> list[str]:
    """Fig 3's order; names it does not know after, alphabetically."""
    return sorted(set(corruptions), key=lambda c: (_ORDER.get(c, len(_ORDER)), c))


def cells(results) -> list[Cell]:
    """One Cell per corrupted result (eval.testrun.Result), with the clean top-1 of its checkpoint on a clean
    set of the same dataset."""
    clean = {(r.checkpoint, r.dataset): r.accuracy.top1 for r in results if r.corruption is None}
    out = [Cell(r.checkpoint, r.corruption, r.severity, r.accuracy.top1, clean.get((r.checkpoint, r.dataset)))
           for r in results if r.corruption is not None]
    return sorted(out, key=lambda c: (c.checkpoint, _ORDER.get(c.corruption, len(_ORDER)), c.corruption, c.severity))


def mean_relative(table: list[Cell], checkpoint: str) -> float | None:
    mine = [c for c in table if c.checkpoint == checkpoint]
    if not mine or any(c.clean is None or c.clean <= 0 for c in mine):
        return None
    return mean_relative_robustness(mine[0].clean, {(c.corruption, c.severity): c.top1 for c in mine})


def figure_png(table: list[Cell], checkpoints: list[str]) -> bytes:
    """Fig 3: grouped bars of top-1 % per corruption (the clean accuracy first as 'original'), one bar per
    checkpoint, one panel per severity; the legend gives each checkpoint's mean relative robustness."""
    severities = sorted({c.severity for c in table})
    names = order(c.corruption for c in table)
    fig = Figure(figsize=(max(6.0, 0.4 * (len(names) + 1) * len(checkpoints) + 2), 2.6 * len(severities) + 0.8))
    width = 0.8 / max(1, len(checkpoints))
    x = np.arange(len(names) + 1)
    for row, sev in enumerate(severities):
        ax = fig.add_subplot(len(severities), 1, row + 1)
        for k, ck in enumerate(checkpoints):
            by = {c.corruption: c for c in table if c.checkpoint == ck and c.severity == sev}
            clean = next((c.clean for c in table if c.checkpoint == ck and c.clean is not None), np.nan)
            ys = [clean] + [by[n].top1 if n in by else np.nan for n in names]
            mr = mean_relative(table, ck)
            shown = f"{ck} (mean rel. robustness {mr:.3f})" if mr is not None else ck
            ax.bar(x - 0.4 + width * (k + 0.5), 100 * np.asarray(ys, float), width, label=shown if row == 0 else None)
        ax.set_xticks(x, ["original"] + [label(n) for n in names], rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(f"top-1 %, severity {sev}", fontsize=8)
        ax.set_ylim(0, 100)
        ax.grid(axis="y", linewidth=0.3)
    fig.axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("UCF101-P: accuracy per corruption (paper Fig 3)", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)
