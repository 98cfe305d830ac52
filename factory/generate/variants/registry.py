"""The variant registry: each variant is declarative data (parameters over the shared defaults).

Like timm's model registry: `register_variant` adds one, `list_variants(pattern)` lists, `get_variant(name)`
looks one up and names close matches when it does not exist. Tests loop over every registered variant.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field

from ..params import VideoParams, resolve


class UnknownVariantError(KeyError):
    def __str__(self) -> str:
        return self.args[0]


class NotBuildableError(RuntimeError):
    pass


@dataclass(frozen=True)
class Variant:
    name: str
    number: int                      # its number in the catalogue (factory/generate/variants/catalogue.py)
    description: str
    paper_ucf101_ft: float | None    # paper reference: ViT-B UCF101 fine-tune top-1 %
    params: dict = field(default_factory=dict)   # overrides of VideoParams defaults
    base: str | None = None          # the variant this one extends (documentation and recipes)
    requires: str | None = None      # why it cannot be built yet (None: buildable)
    family: str = "shapes"
    paper_pools: dict = field(default_factory=dict)   # pool sizes of the paper's build where not the default

    @property
    def buildable(self) -> bool:
        return self.requires is None

    def resolve(self, overrides: dict | None = None) -> VideoParams:
        merged = {**self.params, **(overrides or {})}
        return resolve(VideoParams(), merged)


_REGISTRY: dict[str, Variant] = {}


def register_variant(variant: Variant) -> Variant:
    if variant.name in _REGISTRY:
        raise ValueError(f"variant {variant.name!r} registered twice")
    _REGISTRY[variant.name] = variant
    return variant


def list_variants(pattern: str = "*", buildable: bool | None = None) -> list[Variant]:
    """Registered variants in catalogue order, filtered by a glob pattern and buildability."""
    found = [v for v in _REGISTRY.values() if fnmatch.fnmatch(v.name, pattern)]
    if buildable is not None:
        found = [v for v in found if v.buildable == buildable]
    return sorted(found, key=lambda v: v.number)


def get_variant(name: str) -> Variant:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownVariantError(
            f"unknown variant {name!r}.{hint} Run `synthvid-factory list` for all {len(_REGISTRY)}.") from None


def require_buildable(variant: Variant) -> Variant:
    if not variant.buildable:
        raise NotBuildableError(f"variant {variant.name!r} cannot be built yet: {variant.requires}")
    return variant
