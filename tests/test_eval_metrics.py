"""Multi-view score averaging, top-1 / top-5, the per-class table and relative robustness."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthvid.trainer.eval.metrics import accuracy, average_views, mean_relative_robustness, relative_robustness


def test_views_are_softmaxed_averaged_and_deduplicated():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [9.0, 9.0, 0.0], [0.0, 3.0, 0.0]])
    videos, probs = average_views(logits, video_ids=[7, 7, 3, 3, 7], view_ids=[0, 1, 0, 1, 1])
    assert videos.tolist() == [3, 7]
    sm = torch.softmax(logits, -1).numpy()
    assert np.allclose(probs[1], (sm[0] + sm[1]) / 2)      # the repeated (7, view 1) counts once
    assert np.allclose(probs[0], (sm[2] + sm[3]) / 2)
    # argmax of the mean of softmaxes, not of the mean of logits
    videos, probs = average_views(torch.tensor([[10.0, 0.0], [0.0, 1.0], [0.0, 1.0]]), [0, 0, 0])
    assert probs[0].argmax() == 0
    with pytest.raises(ValueError, match="3 logits rows for 2 video ids"):
        average_views(torch.zeros(3, 2), [0, 1])


def test_top1_top5_and_per_class_table():
    classes = [f"c{i}" for i in range(6)]
    probs = np.full((4, 6), 0.01)
    probs[0, 0] = 0.9                           # right
    probs[1, [2, 1]] = [0.5, 0.4]               # wrong at top-1, right at top-5
    probs[2, [0, 1, 3, 4, 5]] = [.2, .19, .18, .17, .16]; probs[2, 2] = 0.001    # label 2 ranks 6th
    probs[3, 5] = 0.9                           # right
    acc = accuracy(probs, [0, 1, 2, 5], classes)
    assert (acc.top1, acc.top5, acc.videos) == (0.5, 0.75, 4)
    rows = {r.name: (r.correct, r.total) for r in acc.per_class}
    assert rows == {"c0": (1, 1), "c1": (0, 1), "c2": (0, 1), "c3": (0, 0), "c4": (0, 0), "c5": (1, 1)}
    assert "| c0 | 1 | 1 | 100.0 |" in acc.table() and "| c1 | 0 | 1 | 0.0 |" in acc.table()
    assert acc.to_dict()["per_class"][0] == {"class": "c0", "correct": 1, "total": 1, "accuracy": 1.0}
    two = accuracy(np.array([[0.4, 0.6], [0.5, 0.5]]), [1, 0], ["a", "b"])
    assert (two.top1, two.top5) == (1.0, 1.0)    # top-5 of 2 classes is top-2; ties go to the lower index


def test_relative_robustness():
    assert relative_robustness(0.9, 0.45) == pytest.approx(0.5)
    assert mean_relative_robustness(0.8, {("jpeg", 1): 0.8, ("jpeg", 5): 0.4}) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        relative_robustness(0.0, 0.1)
