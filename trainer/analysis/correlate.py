"""Downstream accuracy per variant and the Pearson correlation of each metric with it (paper Fig 4).

The default table is the paper's ViT-B UCF101 fine-tune top-1 per variant (`paper_accuracy.csv`, copied
from spec/variants.md, which cites the paper's figure and table for every number). Those numbers belong to
the paper's full-size datasets and pretraining runs; against them, a metric computed on a small local build
says how that build's properties line up with the paper's outcomes, not what the build would reach.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from .errors import AnalysisError
from .metrics import METRICS

PAPER_TABLE = Path(__file__).with_name("paper_accuracy.csv")
PAPER_SOURCE = ("the paper's ViT-B UCF101 fine-tune top-1 % (Yu, Chen, Gandelsman 2024; Fig 2 / Tabs 1, 2, 3, "
                "9, 10, 12 as listed in spec/variants.md)")
MIN_POINTS = 3


def parse_accuracy(text: str, where: str) -> dict[str, float]:
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or not {"variant", "accuracy"} <= set(rows[0]):
        raise AnalysisError(f"{where}: expected a CSV with header columns 'variant' and 'accuracy'")
    table: dict[str, float] = {}
    for line, row in enumerate(rows, start=2):
        try:
            value = float(row["accuracy"])
        except (TypeError, ValueError):
            raise AnalysisError(f"{where}: line {line}: accuracy {row['accuracy']!r} is not a number") from None
        name = (row["variant"] or "").strip()
        if not name or not math.isfinite(value):
            raise AnalysisError(f"{where}: line {line}: needs a variant name and a finite accuracy")
        if name in table:
            raise AnalysisError(f"{where}: line {line}: variant {name} appears twice")
        table[name] = value
    return table


def load_accuracy(spec: str) -> tuple[dict[str, float], str]:
    """(variant -> accuracy, where the numbers come from) for 'paper', 'none' or a CSV path."""
    if spec == "none":
        return {}, ""
    if spec == "paper":
        return parse_accuracy(PAPER_TABLE.read_text(), str(PAPER_TABLE)), PAPER_SOURCE
    try:
        text = Path(spec).read_text()
    except OSError as e:
        raise AnalysisError(f"--accuracy {spec}: cannot read ({e.strerror or e})") from None
    return parse_accuracy(text, f"--accuracy {spec}"), spec


def pearson(x, y) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def correlations(rows: list[dict], accuracy: dict[str, float]) -> list[dict]:
    """One entry per metric: r over the datasets that have an accuracy and a finite value of the metric
    (NaN with fewer than MIN_POINTS), the paper's r where it reports one, and the points themselves."""
    out = []
    for metric, (title, paper_r) in METRICS.items():
        points = [(r["dataset"], r[metric], accuracy[r["dataset"]]) for r in rows
                  if r["role"] == "dataset" and r["dataset"] in accuracy and math.isfinite(r[metric])]
        r = pearson([p[1] for p in points], [p[2] for p in points]) if len(points) >= MIN_POINTS else math.nan
        out.append({"metric": metric, "title": title, "r": r, "n": len(points), "paper_r": paper_r,
                    "points": points})
    return out
