"""Low-level motion: mean optical-flow magnitude and the share of static frames.

Flow: OpenCV Farneback on 8-bit luminance (cv2.COLOR_RGB2GRAY) of a frame and its successor, with OpenCV's
sample parameters (FARNEBACK below), averaged over every pixel: pixels per frame at the video's own
resolution, the unit of the factory's speed parameters. Most pixels of a dead-leaves frame are covered by
slow or static objects, so the mean is well below the objects' drawn speeds. Farneback costs ~17 ms per
256x256 pair on this project's 2-core machine, so it runs on `flow_pairs` of a clip's frames; the static
test is a cheap pixel difference and runs on all of them.

Static: a frame of which at most STATIC_FRACTION of the pixels differ from its successor by more than
STATIC_LEVEL grey levels in any channel. A repeated frame changes no pixel; low-level sensor or compression
noise stays under the level, while a moving object changes the pixels along its edges (a mean-difference
rule would call a frame with one small moving object static).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
STATIC_LEVEL = 8
STATIC_FRACTION = 1e-4   # 6 pixels of a 256x256 frame


def flow_magnitude(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |flow| in pixels between two (H, W, 3) uint8 RGB frames."""
    ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
    flow = cv2.calcOpticalFlowFarneback(ga, gb, None, **FARNEBACK)
    return float(np.sqrt((flow.astype(np.float64) ** 2).sum(axis=2)).mean())


def is_static(a: np.ndarray, b: np.ndarray) -> bool:
    changed = (np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > STATIC_LEVEL).mean()
    return bool(changed <= STATIC_FRACTION)


@dataclass
class MotionAccumulator:
    flow_sum: float = 0.0
    flow_pairs: int = 0
    static: int = 0
    pairs: int = 0

    def add(self, a: np.ndarray, b: np.ndarray, with_flow: bool) -> None:
        self.pairs += 1
        self.static += is_static(a, b)
        if with_flow:
            self.flow_sum += flow_magnitude(a, b)
            self.flow_pairs += 1

    @property
    def mean_flow(self) -> float:
        return self.flow_sum / self.flow_pairs if self.flow_pairs else float("nan")

    @property
    def static_share(self) -> float:
        return self.static / self.pairs if self.pairs else float("nan")
