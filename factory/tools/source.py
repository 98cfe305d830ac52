"""The factory's renderer offered to consumers through the `synthvid.sources` entry point group.

The trainer discovers it by name ("procedural") and never imports the factory. Video `index` of dataset
seed `seed` here is bit-identical to the video of the same key in a shard set built with that seed.
"""

from __future__ import annotations

import numpy as np

from ..generate.latents import sample_latents, video_frames
from ..generate.recipe import from_variant
from ..generate.render import Renderer


class ProceduralSource:
    def __init__(self, variant: str, seed: int, overrides: dict | None = None):
        self.recipe = from_variant(variant, overrides)
        self.params = self.recipe.params
        self.seed = int(seed)

    @property
    def height(self) -> int:
        return self.params.size

    @property
    def width(self) -> int:
        return self.params.size

    @property
    def fps(self) -> float:
        return self.params.fps

    def num_frames(self, index: int) -> int:
        return video_frames(self.params, self.seed, index)

    def render(self, index: int, frame_indices) -> np.ndarray:
        """(len(frame_indices), H, W, 3) uint8: only these frames are rendered."""
        renderer = Renderer(sample_latents(self.params, self.seed, index), self.params)
        frame_indices = [int(t) for t in frame_indices]
        out = np.empty((len(frame_indices), self.height, self.width, 3), np.uint8)
        for i, t in enumerate(frame_indices):
            out[i] = renderer.frame(t)
        return out
