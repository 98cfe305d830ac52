"""Which pools each variant reads, and attaching them: given pools (`--pool KIND=URL`) are checked and
their item format adopted; missing ones become pool recipes for the build pipeline to build first; then
each recipe gets the `PoolRef`s of the pools it reads (their fingerprints go into its card).

    plan = plan_pools(recipes, PoolOptions(videos=64))
    ... build plan.to_build under ROOT (factory.pipeline.build.build_pools) ...
    recipes = attach_pools(plan, ROOT)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from synthvid.manifests.storage import join

from ..generate.variants import get_variant
from .natural import SKIMAGE_IMAGES
from .reader import PoolMismatchError, PoolReader, PoolRef, check_pool_kind, read_pool_card
from .recipe import PoolRecipe, pool_recipe
from .sizing import PAPER_IMAGES, pool_items_needed


# Above this many videos a build of image-crop variants on the bundled demo photographs is warned about
# and says so in its card (`images`): they stand in for the paper's ImageNet train.
DEMO_VIDEOS = 64


@dataclass(frozen=True)
class PoolOptions:
    """What a build says about pools."""
    videos: int                      # videos per variant: sizes the automatic pools
    images: str | None = None        # natural images (default: the bundled photographs)
    given: dict = field(default_factory=dict, repr=False)   # {kind: URL} of built pools to use (--pool)
    device: str = "cpu"              # where StyleGAN pool items render (resolved: "cpu" or "cuda")
    storage_options: dict = field(default_factory=dict, repr=False)
    fixed_items: int | None = None   # automatic pools of this size instead of the paper rule (previews)
    validate_images: str = "header"  # how natural images are probed when the pool is chosen ("none": count)


@dataclass(frozen=True)
class _Use:
    """One pool a recipe reads: a given URL, or a pool to build (named by its recipe)."""
    source: str
    items: int
    why: str                         # the sizing rule (factory.pools.sizing)
    url: str | None = None           # a given pool
    build: str | None = None         # the name of a pool in PoolPlan.to_build


@dataclass(frozen=True)
class PoolPlan:
    recipes: list                    # the variant recipes, item formats adopted from given pools
    to_build: list                   # PoolRecipes of the pools that must be built first
    uses: dict                       # recipe name -> [_Use]
    storage_options: dict = field(default_factory=dict, repr=False)
    videos: int = 0

    def demo_images(self) -> list[str]:
        """Recipes above demo size whose natural images are the bundled demo set (a pool to build from
        it; a given pool's card is checked when it is attached)."""
        if self.videos <= DEMO_VIDEOS:
            return []
        demo = {p.name for p in self.to_build if p.kind == "images" and p.source.kind == "skimage"}
        return [r.name for r in self.recipes if any(u.build in demo for u in self.uses[r.name])]

    def demo_warning(self) -> str | None:
        names = self.demo_images()
        if not names:
            return None
        return (f"warning: {', '.join(names)} crop natural images and no --images was given: they use "
                f"scikit-image's {len(SKIMAGE_IMAGES)} bundled demo photographs (several greyscale), not the "
                f"paper's ImageNet train ({PAPER_IMAGES:,} images). To reproduce the paper pass --images "
                "PATH_OR_URL (ImageNet train, or any folder, list file or .tar shards of images).")


def plan_pools(recipes: list, options: PoolOptions) -> PoolPlan:
    """Decide every pool the recipes read. A given pool must hold the kind it is given for; its item format
    (item_px, clip_frames, StyleGAN prior, pool seed) is adopted unless the recipe overrides it
    differently (then: an error)."""
    cards = {}
    for source, url in options.given.items():
        cards[source] = read_pool_card(url, options.storage_options)
        check_pool_kind(source, url, cards[source])
    available = {s: c["items_built"] for s, c in cards.items()}

    to_build: dict[str, PoolRecipe] = {}
    uses: dict[str, list] = {}
    adopted = []
    for r in recipes:
        used = {s: cards[s] for s in r.params.pools_needed() if s in cards}
        r = _adopt_pool_format(r, used) if used else r
        adopted.append(r)
        uses[r.name] = []
        paper_pools = get_variant(r.base).paper_pools
        for source in r.params.pools_needed():
            size = pool_items_needed(r.params, source, options.videos, available, paper_pools, options.fixed_items)
            if source in options.given:
                uses[r.name].append(_Use(source, size.items, size.why, url=options.given[source]))
                continue
            pr = pool_recipe(source, r.params, size.items, options.images, explicit_size=r.params.pool_size > 0,
                             device=options.device, validate=options.validate_images)
            why = size.why if pr.kind != "images" or (size.items and pr.items >= size.items) else \
                f"{size.why}; the source holds {pr.items:,}"
            to_build.setdefault(pr.name, pr)
            uses[r.name].append(_Use(source, pr.items, why, build=pr.name))
    return PoolPlan(adopted, list(to_build.values()), uses, dict(options.storage_options), options.videos)


def attach_pools(plan: PoolPlan, root: str) -> list:
    """The plan's recipes with the PoolRefs of their pools attached (pools built by the plan live in
    `root/<pool name>`); every pool is opened once to read its fingerprint and licence."""
    result = []
    for r in plan.recipes:
        refs = []
        for use in plan.uses[r.name]:
            url = use.url if use.url is not None else join(root, use.build)
            reader = PoolReader(url, plan.storage_options, limit=use.items)
            demo = plan.videos > DEMO_VIDEOS and reader.ds.card.get("pool", {}).get("source", {}).get("kind") == "skimage"
            refs.append(PoolRef(use.source, url, use.items, reader.fingerprint, reader.ds.card.get("licence"),
                                dict(plan.storage_options), why=use.why, demo=demo))
        result.append(dataclasses.replace(r, pools=tuple(refs)) if refs else r)
    return result


def _adopt_pool_format(recipe, cards: dict):
    """Take item_px / clip_frames / prior / pool seed from the given pools unless the recipe sets them; a
    conflict between what the recipe asks and what a pool holds is an error naming both."""
    params, explicit = recipe.params, dict(recipe.overrides)
    changes = {}
    for key, card_key in (("item_px", "item_px"), ("clip_frames", "clip_frames"), ("stylegan_prior", "prior"),
                          ("pool_seed", "seed"), ("image_fit", "fit")):
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
