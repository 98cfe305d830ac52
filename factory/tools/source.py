"""The factory's renderer offered to consumers through the `synthvid.sources` entry point group.

The trainer discovers it by name ("procedural") and never imports the factory. Video `index` of dataset
seed `seed` here is bit-identical to the video of the same key in a shard set built with that seed and
the same pools.

Pools: a variant that reads pools (6-8, 13-28) takes them from `pools` ({kind: URL} of pools built by
`synthvid-factory build-pool`, the trainer's `--procedural-pool KIND=URL`), used whole as a build would.
A pool not given is built small (SMALL_POOL items, or `pool_size` when the overrides set it) into the
pools cache (`factory.pools.cache`: `$SYNTHVID_POOLS_CACHE`, else ~/.cache/synthvid/pools) the first time,
with a note on stderr: a pool build is deterministic, so every process and machine gets the same items.
`pool_urls` lists every pool the source reads (given or cached): pass it to the next instance (a loader
worker, the next epoch) and nothing is built or planned twice.
"""

from __future__ import annotations

import sys

import numpy as np

from ..generate.latents import sample_latents, video_frames
from ..generate.recipe import from_variant
from ..generate.render import Renderer

SMALL_POOL = 64              # items of a pool built for a procedural source that was given none


class ProceduralSource:
    def __init__(self, variant: str, seed: int, overrides: dict | None = None, pools: dict | None = None,
                 storage_options: dict | None = None):
        self.recipe = _with_pools(from_variant(variant, overrides), dict(pools or {}), dict(storage_options or {}))
        self.params = self.recipe.params
        self.seed = int(seed)
        self.pool_urls = {p.source: p.url for p in self.recipe.pools}

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
        renderer = Renderer(sample_latents(self.params, self.seed, index), self.params, self.recipe.open_pools())
        frame_indices = [int(t) for t in frame_indices]
        out = np.empty((len(frame_indices), self.height, self.width, 3), np.uint8)
        for i, t in enumerate(frame_indices):
            out[i] = renderer.frame(t)
        return out


_ATTACHED: dict = {}     # (variant, overrides, pools) -> recipe with pools: one plan per process


def _with_pools(recipe, pools: dict, storage_options: dict):
    if not recipe.params.pools_needed():
        if pools:
            raise ValueError(f"{recipe.name} reads no pools, but pools were given ({', '.join(sorted(pools))})")
        return recipe
    unknown = sorted(set(pools) - set(recipe.params.pools_needed()))
    if unknown:
        raise ValueError(f"{recipe.name} reads pools {recipe.params.pools_needed()}, not {unknown}")
    key = (recipe.name, recipe.overrides, tuple(sorted(pools.items())))
    if key not in _ATTACHED:
        from ..pools.attach import PoolOptions
        from ..pools.cache import attach_cached

        fixed = None if recipe.params.pool_size else SMALL_POOL
        options = PoolOptions(videos=1, given=pools, device="cpu", storage_options=storage_options,
                              fixed_items=fixed)
        _ATTACHED[key] = attach_cached([recipe], None, options, on_build=_note)[0]
    return _ATTACHED[key]


def _note(pools: list, cache: str) -> None:
    for p in pools:
        print(f"note: procedural source: no --procedural-pool {p.kind}=URL given: building a {p.items}-item {p.kind} "
              f"pool into {cache}/{p.name} once (deterministic: the same items on every machine). The paper's "
              f"pools are far larger: `synthvid-factory build-pool {p.kind} --pool-size N`, then "
              f"--procedural-pool {p.kind}=URL.", file=sys.stderr)
