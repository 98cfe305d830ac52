"""What a pool is: `PoolRecipe`, a dataset of pool items (textures, StyleGAN images, StyleGAN latent-walk
clips, natural images) built by the same pipeline as a variant.

A pool item is one `.svf` payload (one frame, or a clip) at `item_px`; item i is a pure function of
(pool seed, i), so a pool of N items is the first N items of any larger pool with the same seed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from synthvid.manifests import layout

from ..pipeline.sample import SampleInfo
from .stylegan import GENERATOR_VERSION

ITEMS_PER_SHARD = 64
# Pool items are stored at the default video rate; a variant reads items by index and never uses it.
POOL_FPS = 25.0
KINDS = ("textures", "stylegan", "stylegan-clips", "images")
IMAGE_DEFAULTS = {"resample": "bilinear", "fit": "squash"}


@dataclass(frozen=True)
class PoolRecipe:
    """A pool to build: its kind, item count, item size and seed (and the kind's own settings)."""
    kind: str                      # one of KINDS
    items: int
    item_px: int = 256
    seed: int = 0
    prior: str = "oriented"        # StyleGAN kinds
    clip_frames: int = 200         # stylegan-clips
    source: object = None          # images: a NaturalImageSource (selected) ; None for generated kinds
    resample: str = "bilinear"     # images: from the source to item_px ("nearest": the reference's)
    fit: str = "squash"            # images: the whole image squashed, or its centre square
    device: str = "cpu"            # StyleGAN kinds: "cuda" on a Ray cluster with GPUs (bytes differ from CPU)
    description: str = ""

    @property
    def name(self) -> str:
        if self.kind not in KINDS:
            raise ValueError(f"unknown pool kind {self.kind!r}")
        tag = self.kind
        if self.kind.startswith("stylegan") and self.prior != "oriented":
            tag += f"-{self.prior}"
        if self.kind == "stylegan-clips":
            tag += f"-{self.clip_frames}f"
        if self.kind.startswith("stylegan") and self.device != "cpu":
            tag += f"-{self.device}"
        if self.kind.startswith("stylegan"):
            tag += f"-v{GENERATOR_VERSION}"        # pools of different generator versions never share a folder
        if self.kind == "images":
            tag += "-" + hashlib.sha256(json.dumps(self.source.describe(), sort_keys=True).encode()).hexdigest()[:8]
            tag += "".join(f"-{v}" for k, v in self._image_options().items())
        return f"{tag}-{self.item_px}px-s{self.seed}-n{self.items}"

    @property
    def num_gpus(self) -> float:
        """What one build task of this pool asks Ray for, besides its CPU."""
        return 1 if self.device.startswith("cuda") else 0

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "items": self.items, "item_px": self.item_px, "seed": self.seed}
        if self.kind.startswith("stylegan"):
            d["prior"] = self.prior
            d["device"] = self.device       # GPU bytes differ from CPU ones: the card says which
            d["generator_version"] = GENERATOR_VERSION
        if self.kind == "stylegan-clips":
            d["clip_frames"] = self.clip_frames
        if self.kind == "images":
            info = self.source.describe()
            d["source"] = {k: info[k] for k in ("source", "kind", "licence")}
            d["items_list_sha256"] = hashlib.sha256("\n".join(self.source.items).encode()).hexdigest()
            d.update(self._image_options())
        return d

    def _image_options(self) -> dict:
        """resample / fit where not the defaults (pools built before these options keep their fingerprints)."""
        return {k: v for k, v in (("resample", self.resample), ("fit", self.fit)) if v != IMAGE_DEFAULTS[k]}

    def card_extra(self) -> dict:
        extra = {"pool": self.to_dict()}
        if self.kind == "images":
            extra["licence"] = self.source.licence
            extra["skipped_unreadable"] = self.source.skipped
        return extra

    def render_item(self, index: int) -> np.ndarray:
        """(F, px, px, 3) uint8: one frame, or a clip."""
        px = self.item_px
        if self.kind == "textures":
            from .textures import make_texture
            return make_texture(self.seed, index, px)[None]
        if self.kind == "stylegan":
            from .stylegan import make_stylegan_image
            return make_stylegan_image(self.seed, index, px, prior=self.prior, device=self.device)[None]
        if self.kind == "stylegan-clips":
            from .stylegan import make_stylegan_clip
            return make_stylegan_clip(self.seed, index, self.clip_frames, px, prior=self.prior, device=self.device)
        if self.kind == "images":
            return self.source.load(index, px, self.resample, self.fit)[None]
        raise ValueError(f"unknown pool kind {self.kind!r}")

    def render_sample(self, seed: int, index: int) -> tuple[np.ndarray, SampleInfo]:
        """Item `index` and what its JSON member and manifest row say (a pool renders with its own seed)."""
        if seed != self.seed:
            raise ValueError(f"pool {self.name} renders with its own seed {self.seed}, not {seed}")
        frames = self.render_item(index)
        source = self.source.items[index] if self.kind == "images" else None
        meta = {"pool": self.kind, "seed": self.seed, "index": index, "key": layout.sample_key(index),
                "frames": len(frames), "height": self.item_px, "width": self.item_px, "source": source}
        return frames, SampleInfo(index=index, seed=self.seed, fps=POOL_FPS, meta=meta, source=source)


def pool_recipe(source: str, params, items: int | None, images: str | None = None, explicit_size: bool = False,
                device: str = "cpu", validate: str = "header") -> PoolRecipe:
    """The pool of kind `source` that a variant with parameters `params` reads, `items` items (natural
    images: at most what the source holds unless the size was asked for explicitly; None: all of them)."""
    if source == "images":
        src = _natural_source(images, params.pool_seed, items, explicit_size, validate)
        return PoolRecipe("images", len(src.items), params.item_px, params.pool_seed, source=src,
                          resample=params.item_resample, fit=params.image_fit,
                          description=f"natural images from {src.root}")
    return PoolRecipe(source, items, params.item_px, params.pool_seed, prior=params.stylegan_prior,
                      clip_frames=params.clip_frames, device=device if source.startswith("stylegan") else "cpu",
                      description=f"{source} pool")


def _natural_source(spec, seed, items: int | None, explicit: bool, validate: str = "header"):
    """The first `items` readable images of the source; with an automatic size, every readable image when
    the source holds no more than that (listed once without probing, then probed as far as needed)."""
    from .natural import NaturalImageSource

    if explicit:
        return NaturalImageSource.from_spec(spec, seed, items, validate)
    listed = NaturalImageSource.from_spec(spec, seed, None, validate="none")
    if items is None or items >= listed.available:
        return NaturalImageSource.from_spec(spec, seed, None, validate)
    return NaturalImageSource.from_spec(spec, seed, items, validate)
