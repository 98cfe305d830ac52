"""Pools as artifacts: textures, StyleGAN images, StyleGAN latent-walk clips and natural images, built once
as sharded, manifested, resumable datasets of their own and read by every variant that needs them.

A pool item is one `.svf` payload (one frame, or a clip) at `item_px`; item i is a pure function of
(pool seed, i), so a pool of N items is the first N items of any larger pool with the same seed. Variant
builds read items by byte range (the manifest records each payload's offset), locally or remotely.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from synthvid.manifests import layout
from synthvid.manifests.payload import FramesEncoder, FramesPayload
from synthvid.manifests.reader import open_dataset
from synthvid.manifests.storage import join

from synthvid.manifests.seeds import substream

PAPER_POOL_SIZE = 300_000
ITEMS_PER_SHARD = 64


@dataclass(frozen=True)
class PoolRecipe:
    """What a pool is. Duck-types the parts of Recipe the shard writer uses (name, to_dict, render_sample)."""
    kind: str                      # textures | stylegan | stylegan-clips | images
    items: int
    item_px: int = 256
    seed: int = 0
    prior: str = "oriented"        # StyleGAN kinds
    clip_frames: int = 200         # stylegan-clips
    source: object = None          # images: a NaturalImageSource (selected) ; None for generated kinds
    device: str = "cpu"            # StyleGAN kinds: "cuda" on a Ray cluster with GPUs (bytes differ from CPU)
    description: str = ""
    paper_ucf101_ft: None = None

    @property
    def name(self) -> str:
        tag = {"textures": "textures", "stylegan": "stylegan", "stylegan-clips": "stylegan-clips",
               "images": "images"}[self.kind]
        if self.kind.startswith("stylegan") and self.prior != "oriented":
            tag += f"-{self.prior}"
        if self.kind == "stylegan-clips":
            tag += f"-{self.clip_frames}f"
        if self.kind.startswith("stylegan") and self.device != "cpu":
            tag += f"-{self.device}"
        if self.kind == "images":
            tag += "-" + hashlib.sha256(json.dumps(self.source.describe(), sort_keys=True).encode()).hexdigest()[:8]
        return f"{tag}-{self.item_px}px-s{self.seed}-n{self.items}"

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "items": self.items, "item_px": self.item_px, "seed": self.seed}
        if self.kind.startswith("stylegan"):
            d["prior"] = self.prior
            d["device"] = self.device       # GPU bytes differ from CPU ones: the card says which
        if self.kind == "stylegan-clips":
            d["clip_frames"] = self.clip_frames
        if self.kind == "images":
            info = self.source.describe()
            d["source"] = {k: info[k] for k in ("source", "kind", "licence")}
            d["items_list_sha256"] = hashlib.sha256("\n".join(self.source.items).encode()).hexdigest()
        return d

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
            return self.source.load(index, px)[None]
        raise ValueError(f"unknown pool kind {self.kind!r}")

    def render_sample(self, seed: int, index: int) -> tuple[list, dict]:
        import xxhash

        frames = self.render_item(index)
        enc = FramesEncoder(fps=25.0)
        h = xxhash.xxh3_128()
        for f in frames:
            h.update(np.ascontiguousarray(f).data)
            enc.add(f)
        payload = enc.finish()
        key = layout.sample_key(index)
        source = self.source.items[index] if self.kind == "images" else None
        meta = {"pool": self.kind, "seed": self.seed, "index": index, "key": key, "frames": len(frames),
                "height": self.item_px, "width": self.item_px, "source": source}
        names = [f"{key}.{layout.FRAMES_EXT}", f"{key}.{layout.META_EXT}"]
        members = list(zip(names, [payload, json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()]))
        row = {"key": key, "members": names, "seed": self.seed, "index": index, "frames": len(frames),
               "height": self.item_px, "width": self.item_px, "fps": 25.0,
               "payload_sha256": hashlib.sha256(payload).hexdigest(), "frames_hash": "xxh3_128:" + h.hexdigest(),
               "label": None, "source": source}
        return members, row

    @property
    def num_gpus(self) -> float:
        """What one build task of this pool asks Ray for, besides its CPU."""
        return 1 if self.device.startswith("cuda") else 0

    def card_extra(self) -> dict:
        extra = {"pool": self.to_dict()}
        if self.kind == "images":
            extra["licence"] = self.source.licence
            extra["skipped_unreadable"] = self.source.skipped
        return extra


class PoolReader:
    """Random access to the items of a built pool, by byte range, with a small cache of payloads."""

    def __init__(self, url: str, storage_options: dict | None = None, limit: int | None = None,
                 cache_items: int = 256):
        self.ds = open_dataset(url, storage_options)
        self.url = self.ds.url
        rows = self.ds.samples.select(["index", "shard", "payload_offset", "payload_bytes"]).to_pylist()
        self._where = {r["index"]: (r["shard"], r["payload_offset"], r["payload_bytes"]) for r in rows}
        self.items = len(self._where) if limit is None else int(limit)
        if self.items > len(self._where):
            raise PoolMismatchError(f"pool {self.url} holds {len(self._where)} items, {self.items} asked for "
                                    "(--pool-size); build a larger pool (build-pool --pool-size) or ask for fewer")
        self._cache: OrderedDict[int, FramesPayload] = OrderedDict()
        self._cache_items = cache_items

    @property
    def fingerprint(self) -> str:
        return self.ds.card["fingerprint"]

    def payload(self, i: int) -> FramesPayload:
        i = int(i)
        hit = self._cache.get(i)
        if hit is not None:
            self._cache.move_to_end(i)
            return hit
        shard, offset, size = self._where[i]
        data = self.ds.fs.cat_file(f"{self.ds.path}/{shard}", start=offset, end=offset + size)
        p = FramesPayload(data)
        self._cache[i] = p
        if len(self._cache) > self._cache_items:
            self._cache.popitem(last=False)
        return p

    def frame(self, i: int, t: int = 0) -> np.ndarray:
        p = self.payload(i)
        return p.frame(int(t) % p.num_frames)

    def clip_length(self, i: int) -> int:
        return self.payload(i).num_frames


class MixedPool:
    """Half of the items from each of two pools (by count), interleaved by a seeded shuffle."""

    def __init__(self, name: str, a: PoolReader, b: PoolReader, items: int, seed: int):
        self.items = items
        self.parts = (a, b)
        self.half = items // 2
        self.perm = substream(seed, items, f"mixed-pool:{name}").permutation(items)

    def _locate(self, i: int):
        j = int(self.perm[int(i)])
        return (self.parts[0], j) if j < self.half else (self.parts[1], j - self.half)

    def frame(self, i: int, t: int = 0) -> np.ndarray:
        pool, j = self._locate(i)
        return pool.frame(j, t)

    def source_of(self, i: int) -> int:
        return 0 if int(self.perm[int(i)]) < self.half else 1

    def clip_length(self, i: int) -> int:
        pool, j = self._locate(i)
        return pool.clip_length(j)


@dataclass(frozen=True)
class PoolRef:
    """A built pool a variant reads: where it is and what it is (its fingerprint goes into the card)."""
    source: str           # a POOL_SOURCES entry
    url: str
    items: int            # items this variant uses (a prefix of the pool)
    fingerprint: str
    licence: str | None = None
    storage_options: dict = field(default_factory=dict)

    def card(self) -> dict:
        d = {"source": self.source, "items_used": self.items, "fingerprint": self.fingerprint}
        if self.licence:
            d["licence"] = self.licence
        return d


def open_pools(refs: tuple, params) -> dict:
    """Pool views by name ("textures", "images+textures", ...) for every pool the parameters read."""
    readers = {r.source: PoolReader(r.url, r.storage_options, limit=r.items) for r in refs}
    views: dict = {}
    for name in params.pool_views():
        parts = name.split("+")
        if len(parts) == 1:
            views[name] = readers[name]
        else:
            a, b = readers[parts[0]], readers[parts[1]]
            views[name] = MixedPool(name, a, b, a.items + b.items, params.pool_seed)
    return views


def default_pool_size(videos: int) -> int:
    """What a build can use: the paper's 300k at paper size, far fewer for a small build (4 per video; a
    whole-frame clip variant takes one clip per video, see pool_items_needed)."""
    return min(PAPER_POOL_SIZE, max(8, 4 * videos))


def pool_items_needed(params, source: str, videos: int, available: dict | None = None) -> int:
    """Items of a single source a variant needs; a mixed pool takes half from each part.

    `available`: items held by the given (URL) pools, by source. With pool_size auto (0) a given pool is
    used whole (a mixed pool: both halves as large as the smaller part allows); an explicit pool_size is
    taken as asked, and a given pool smaller than that is an error when it is opened (never a shrink)."""
    available = available or {}
    mixed = [n for n in (params.pool, params.background_pool, params.static_pool) if "+" in n and source in n.split("+")]
    whole_frame = (params.background_mode == "pool-clip" and source == (params.background_pool or params.pool)
                   and params.fill != "pool")
    if whole_frame and not params.pool_size and source not in available:
        return max(1, min(videos, PAPER_POOL_SIZE))   # whole-frame clips: one video needs one clip
    if params.pool_size:
        total = params.pool_size
    elif mixed:
        parts = mixed[0].split("+")
        given = [available[p] for p in parts if p in available]
        if given:
            built = [default_pool_size(videos) // 2] if len(given) < len(parts) else []
            return min(given + built)
        total = default_pool_size(videos)
    elif source in available:
        return available[source]
    else:
        total = default_pool_size(videos)
    if mixed:
        return total - total // 2 if mixed[0].split("+")[1] == source else total // 2
    return total


def _natural_source(spec, seed, items, explicit: bool):
    from .natural import NaturalImageSource

    if explicit:
        return NaturalImageSource.from_spec(spec, seed, items)
    probe = NaturalImageSource.from_spec(spec, seed, None)
    return NaturalImageSource.from_spec(spec, seed, min(items, len(probe.items)))


def pool_recipe(source: str, params, items: int, images: str | None = None, explicit_size: bool = False,
                device: str = "cpu") -> PoolRecipe:
    if source == "images":
        src = _natural_source(images, params.pool_seed, items, explicit_size)
        return PoolRecipe("images", len(src.items), params.item_px, params.pool_seed, source=src,
                          description=f"natural images from {src.root}")
    return PoolRecipe(source, items, params.item_px, params.pool_seed, prior=params.stylegan_prior,
                      clip_frames=params.clip_frames, device=device if source.startswith("stylegan") else "cpu",
                      description=f"{source} pool")


class PoolMismatchError(ValueError):
    """A given pool (--pool KIND=URL) is not what the variant needs: wrong kind, size or item format."""


def read_pool_card(url: str, storage_options: dict | None = None) -> dict:
    """The `pool` entry of a built pool's card; a clear error when `url` is no (complete) pool."""
    ds = open_dataset(url, storage_options)
    pool = ds.card.get("pool")
    if not isinstance(pool, dict) or "kind" not in pool:
        raise PoolMismatchError(f"{url} is a dataset but not a pool (its card has no 'pool' entry); build one "
                                "with `synthvid-factory build-pool KIND --out DIR`")
    return {**pool, "items_built": ds.card["totals"]["videos"]}


def check_pool_kind(source: str, url: str, card: dict) -> None:
    if card["kind"] != source:
        raise PoolMismatchError(f"--pool {source}={url}: that pool holds {card['kind']!r} items, not {source!r} "
                                f"(pass it as --pool {card['kind']}=URL, or build a {source} pool)")


def _adopt_pool_format(recipe, cards: dict):
    """Take item_px / clip_frames / prior / pool seed from the given pools unless the recipe sets them; a
    conflict between what the recipe asks and what a pool holds is an error naming both."""
    import dataclasses

    params, explicit = recipe.params, dict(getattr(recipe, "overrides", ()) or ())
    changes = {}
    for key, card_key in (("item_px", "item_px"), ("clip_frames", "clip_frames"), ("stylegan_prior", "prior"),
                          ("pool_seed", "seed")):
        values = {src: c[card_key] for src, c in cards.items() if card_key in c}
        if not values:
            continue
        distinct = sorted(set(values.values()), key=str)
        if len(distinct) > 1:
            raise PoolMismatchError(f"{recipe.name}: the given pools disagree on {key} ({values}); give pools "
                                    "built with the same setting")
        value = distinct[0]
        if getattr(params, key) == value:
            continue
        if key in explicit:
            raise PoolMismatchError(f"{recipe.name}: {key} is {getattr(params, key)!r} but the given pool(s) "
                                    f"{sorted(values)} hold {value!r}; drop the override or give a matching pool")
        changes[key] = value
    if not changes:
        return recipe
    return dataclasses.replace(recipe, params=dataclasses.replace(params, **changes).validate())


def ensure_pools(recipes: list, out: str, videos: int, images: str | None, pool_urls: dict,
                 build_fn, storage_options: dict | None = None, root: str | None = None,
                 device: str = "cpu") -> list:
    """For each recipe that reads pools: use the given pool URLs or build the pools under
    <out>/_pools/ (or `root`), then return recipes with their PoolRefs attached. `build_fn(pool_recipes,
    root)` builds. A given pool must hold the kind it is given for; its item format (item_px, clip_frames,
    StyleGAN prior) is adopted unless the recipe overrides it differently (then: an error)."""
    import dataclasses

    cards = {}
    for source, url in pool_urls.items():
        cards[source] = read_pool_card(url, storage_options)
        check_pool_kind(source, url, cards[source])
    available = {s: c["items_built"] for s, c in cards.items()}

    needed: dict[str, PoolRecipe] = {}
    per_recipe: dict[str, list] = {}
    adopted = []
    for r in recipes:
        used = {s: cards[s] for s in r.params.pools_needed() if s in cards}
        r = _adopt_pool_format(r, used) if used else r
        adopted.append(r)
        refs = []
        for source in r.params.pools_needed():
            items = pool_items_needed(r.params, source, videos, available)
            if source in pool_urls:
                refs.append(("url", source, pool_urls[source], items))
                continue
            pr = pool_recipe(source, r.params, items, images, explicit_size=r.params.pool_size > 0, device=device)
            needed.setdefault(pr.name, pr)
            refs.append(("built", source, pr.name, pr.items))
        per_recipe[r.name] = refs
    root = root or join(out, "_pools")
    if needed:
        build_fn(list(needed.values()), root)
    result = []
    for r in adopted:
        refs = []
        for how, source, where, items in per_recipe[r.name]:
            url = where if how == "url" else join(root, where)
            reader = PoolReader(url, storage_options, limit=items)
            card = reader.ds.card
            refs.append(PoolRef(source, url, items, reader.fingerprint, card.get("licence"),
                                dict(storage_options or {})))
        result.append(dataclasses.replace(r, pools=tuple(refs)) if refs else r)
    return result
