"""Scores of a multi-view test: per-view softmax averaged per video, top-1 / top-5, a per-class table, and
the relative robustness of a corrupted test set.

VideoMAE's merge (spec videomae.md 2.3): softmax of each view's logits, mean over the video's views, argmax.
Views are keyed by video id, so views computed on different ranks, or twice (DistributedSampler padding),
merge into the same video: a repeated (video, view) key counts once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def average_views(logits: torch.Tensor, video_ids, view_ids=None) -> tuple[np.ndarray, np.ndarray]:
    """logits (N, classes) of N views; video_ids (N,) ints; view_ids (N,) ints or None (all distinct).
    Returns (sorted unique video ids, mean softmax probabilities (videos, classes))."""
    probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    vids = np.asarray(video_ids, dtype=np.int64)
    views = np.arange(len(vids)) if view_ids is None else np.asarray(view_ids, dtype=np.int64)
    if len(vids) != len(probs) or len(views) != len(probs):
        raise ValueError(f"{len(probs)} logits rows for {len(vids)} video ids and {len(views)} view ids")
    _, first = np.unique(np.stack([vids, views], 1), axis=0, return_index=True)
    keep = np.sort(first)
    vids, probs = vids[keep], probs[keep]
    order, inverse = np.unique(vids, return_inverse=True)
    sums = np.zeros((len(order), probs.shape[1]))
    np.add.at(sums, inverse, probs)
    return order, sums / np.bincount(inverse)[:, None]


@dataclass(frozen=True)
class ClassRow:
    name: str
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")


@dataclass(frozen=True)
class Accuracy:
    top1: float
    top5: float
    videos: int
    per_class: tuple[ClassRow, ...]

    def to_dict(self) -> dict:
        return {"top1": self.top1, "top5": self.top5, "videos": self.videos,
                "per_class": [{"class": r.name, "correct": r.correct, "total": r.total, "accuracy": r.accuracy}
                              for r in self.per_class]}

    def table(self) -> str:
        """The per-class table as Markdown."""
        rows = ["| class | correct | videos | top-1 % |", "|---|---:|---:|---:|"]
        rows += [f"| {r.name} | {r.correct} | {r.total} | {100 * r.accuracy:.1f} |" for r in self.per_class]
        return "\n".join(rows)


def accuracy(probs: np.ndarray, labels, classes) -> Accuracy:
    """Top-1, top-5 (top-k with k = min(5, classes)) and per-class top-1 of per-video probabilities."""
    labels = np.asarray(labels, dtype=np.int64)
    if probs.shape[0] != labels.shape[0] or probs.shape[0] == 0:
        raise ValueError(f"{probs.shape[0]} videos' scores for {labels.shape[0]} labels")
    k = min(5, probs.shape[1])
    # stable sort on the negated scores: ties go to the lower class index, the same on every machine
    ranked = np.argsort(-probs, axis=1, kind="stable")
    hit1 = ranked[:, 0] == labels
    hit5 = (ranked[:, :k] == labels[:, None]).any(axis=1)
    rows = tuple(ClassRow(str(name), int(hit1[labels == c].sum()), int((labels == c).sum()))
                 for c, name in enumerate(classes))
    return Accuracy(top1=float(hit1.mean()), top5=float(hit5.mean()), videos=int(len(labels)), per_class=rows)


def relative_robustness(clean: float, corrupted: float) -> float:
    """1 - (clean - corrupted) / clean: the share of clean accuracy kept under a corruption. Schiappa et al.
    (CVPR 2023), whose UCF101-P this is, define it so (relative robustness; their absolute robustness is
    1 - (clean - corrupted) with accuracies as fractions) and average it over corruptions and severities;
    the paper's Fig 3 shows accuracies and spec G gives no formula."""
    if clean <= 0:
        raise ValueError("relative robustness needs a clean accuracy above 0")
    return 1.0 - (clean - corrupted) / clean


def mean_relative_robustness(clean: float, corrupted: dict) -> float:
    """Mean of relative_robustness over every (corruption, severity) -> accuracy entry of `corrupted`."""
    if not corrupted:
        raise ValueError("no corrupted accuracies")
    return float(np.mean([relative_robustness(clean, a) for a in corrupted.values()]))


def absolute_robustness(clean: float, corrupted: float) -> float:
    """1 - (clean - corrupted), accuracies as fractions (Schiappa et al.'s absolute robustness)."""
    return 1.0 - (clean - corrupted)
