"""A recipe is what a build makes: a variant name, the variant it derives from, and resolved parameters.

Registered variants are recipes; users write their own as TOML naming a registered base:

    name = "fast-shapes"            # optional; default: the file's stem
    base = "accelerating-shapes"
    description = "twice the speed"
    [params]
    speed_min = 2.4
    speed_max = 6.0
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from synthvid.manifests import layout
from synthvid.manifests.latents import encode_latents

from ..pipeline.sample import SampleInfo
from .latents import sample_latents
from .params import VideoParams
from .render import Renderer
from .variants import get_variant, require_buildable

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_RECIPE_KEYS = {"name", "base", "description", "params"}


@dataclass(frozen=True)
class Recipe:
    """A variant to build (a factory.pipeline.jobs.ShardSource): one video per sample."""
    name: str
    base: str                 # the registered variant it resolves from (itself for registered variants)
    description: str
    params: VideoParams
    paper_ucf101_ft: float | None = None
    overrides: tuple = ()     # (key, value) pairs applied over the base, for the card
    pools: tuple = ()         # PoolRefs of the built pools it reads (attached by the build)

    def to_dict(self) -> dict:
        d = {"name": self.name, "base": self.base, "description": self.description,
             "paper_ucf101_ft": self.paper_ucf101_ft, "overrides": {k: v for k, v in self.overrides},
             "params": self.params.to_dict()}
        if self.pools:
            d["pools"] = [p.card() for p in self.pools]   # content (fingerprints), never locations
        return d

    @property
    def num_gpus(self) -> float:
        return 0   # videos render on CPUs

    def card_extra(self) -> dict:
        """Card entries outside the fingerprint: the paper figure, how automatically sized pools got their
        size, and a demo image set standing in for the paper's."""
        extra = {"paper_ucf101_ft": self.paper_ucf101_ft}
        if not self.params.pool_size and self.pools:
            extra["pool_sizes"] = [{"source": p.source, "items": p.items, "why": p.why} for p in self.pools]
        demo = [p for p in self.pools if p.demo]
        if demo:
            extra["images"] = {"source": "demo: scikit-image", "photographs": demo[0].items,
                               "why": "no --images given; the paper used ImageNet train (1,281,167 images)"}
        return extra

    def render_sample(self, seed: int, index: int):
        """(frames of video `index`, drawn into one reused buffer; what its members and row say)."""
        params = self.params
        latents = sample_latents(params, seed, index)
        renderer = Renderer(latents, params, pools=self.open_pools())
        meta = {"variant": self.name, "seed": seed, "index": index, "key": layout.sample_key(index),
                "frames": latents.frames, "fps": params.fps, "height": params.size, "width": params.size,
                "latents": latents.summary(), **renderer.sample_info()}
        info = SampleInfo(index=index, seed=seed, fps=params.fps, meta=meta,
                          extra=((layout.LATENTS_EXT, encode_latents(latents.to_records())),),
                          static=renderer.is_static)
        return renderer.stream(), info

    def open_pools(self) -> dict:
        """Pool views for rendering; opened once per process and recipe (a shard task renders many videos)."""
        if not self.pools:
            if self.params.pools_needed():
                raise RuntimeError(f"{self.name} reads pools {self.params.pools_needed()} but none are attached")
            return {}
        key = (self.name, tuple((p.source, p.url, p.items, p.fingerprint) for p in self.pools))
        if key not in _OPEN_POOLS:
            from ..pools.reader import open_pools
            _OPEN_POOLS.clear()
            _OPEN_POOLS[key] = open_pools(self.pools, self.params)
        return _OPEN_POOLS[key]


_OPEN_POOLS: dict = {}


def _freeze(d: dict) -> tuple:
    return tuple(sorted((k, list(v) if isinstance(v, tuple) else v) for k, v in d.items()))


def from_variant(name: str, overrides: dict | None = None) -> Recipe:
    variant = require_buildable(get_variant(name))
    overrides = dict(overrides or {})
    return Recipe(name=variant.name, base=variant.name, description=variant.description,
                  params=variant.resolve(overrides), paper_ucf101_ft=variant.paper_ucf101_ft,
                  overrides=_freeze(overrides))


def load_recipe(path: str | Path, overrides: dict | None = None) -> Recipe:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"recipe file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"recipe {path}: not valid TOML ({e})") from None
    unknown = sorted(set(data) - _RECIPE_KEYS)
    if unknown:
        raise ValueError(f"recipe {path}: unknown key '{unknown[0]}' (allowed: {', '.join(sorted(_RECIPE_KEYS))})")
    if "base" not in data:
        raise ValueError(f"recipe {path}: missing 'base' (the registered variant it derives from)")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"recipe {path}: 'name' must be lower-case letters, digits, '.', '_' or '-'; got {name!r}")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise ValueError(f"recipe {path}: [params] must be a table")
    base = require_buildable(get_variant(data["base"]))
    merged = {**params, **(overrides or {})}
    try:
        resolved = base.resolve(merged)
    except ValueError as e:
        raise ValueError(f"recipe {path}: {e}") from None
    return Recipe(name=name, base=base.name, description=str(data.get("description", f"{base.name} with overrides")),
                  params=resolved, paper_ucf101_ft=None, overrides=_freeze(merged))
