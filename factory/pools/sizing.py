"""How many items a variant's pools hold, and why: the paper's pools at paper size, in proportion below it.

The paper's pools (spec/variants.md, paper Tabs 1, 2, 10, 12) for its 9,537-video datasets:
- statistical textures and StyleGAN images: 300,000 each;
- natural images: ImageNet train, all 1,281,167 images ("1.3M"), except the variants the paper built on a
  300k subset (20, 21, 25, 27, 28: `Variant.paper_pools`); a build uses every image its source holds;
- mixed pools: 150,000 + 150,000 (half of 300,000 from each source).
A build of V videos takes the paper's count for V >= 9,537 and the paper's count x V / 9,537 (the same
items per video, at least 8) for a smaller build; a natural-image pool never more than its source holds
(the scikit-image demo set: 13). Latent-walk clips are not in the paper's code: dynamic crops take 4
clips per video, a whole-frame clip variant one per video. `--pool-size N` asks for N (a mixed pool: N/2
from each source), a given pool (`--pool`) is used whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..pipeline.options import PAPER_VIDEOS

PAPER_POOL_SIZE = 300_000          # textures, StyleGAN images; a mixed pool's total
PAPER_IMAGES = 1_281_167           # ImageNet-1k train, the paper's natural-image pool
CLIPS_PER_VIDEO = 4                # dynamic crops (not in the paper's code)
MIN_ITEMS = 8


@dataclass(frozen=True)
class PoolSize:
    """Items a variant takes from one source (None: every image the source holds) and the rule that said so."""
    items: int | None
    why: str


def _scaled(paper: int, videos: int) -> int:
    return paper if videos >= PAPER_VIDEOS else max(MIN_ITEMS, math.ceil(paper * videos / PAPER_VIDEOS))


def paper_size(source: str, videos: int, paper_pools: dict | None = None) -> PoolSize:
    """The automatic size of a single-source pool of a build of `videos` videos."""
    at = f"{PAPER_VIDEOS:,} videos"
    if source == "stylegan-clips":
        n = max(MIN_ITEMS, CLIPS_PER_VIDEO * videos)
        return PoolSize(n, f"{CLIPS_PER_VIDEO} latent-walk clips per video; the paper's code has none")
    if source == "images" and not (paper_pools or {}).get("images"):
        if videos >= PAPER_VIDEOS:
            return PoolSize(None, f"every image of the source, as the paper's ImageNet train ({PAPER_IMAGES:,}) "
                                  f"at {at}")
        return PoolSize(_scaled(PAPER_IMAGES, videos), f"the paper's {PAPER_IMAGES:,} images at {at}, scaled to "
                                                       f"{videos:,} videos")
    paper = (paper_pools or {}).get(source, PAPER_POOL_SIZE)
    if videos >= PAPER_VIDEOS:
        return PoolSize(paper, f"the paper's {paper:,} at {at}")
    return PoolSize(_scaled(paper, videos), f"the paper's {paper:,} at {at}, scaled to {videos:,} videos")


def pool_items_needed(params, source: str, videos: int, available: dict | None = None,
                      paper_pools: dict | None = None, fixed: int | None = None) -> PoolSize:
    """Items of a single source a variant needs, and why; a mixed pool takes half from each part.

    `available`: items held by the given (URL) pools, by source; with pool_size auto (0) a given pool is
    used whole (a mixed pool: both halves as large as the smaller part allows). An explicit pool_size is
    taken as asked; a given pool smaller than that is an error when it is opened (never a shrink).
    `fixed`: an automatic size that replaces the paper rule (small pools for previews and procedural
    sources)."""
    available = available or {}
    mixed = [n for n in (params.pool, params.background_pool, params.static_pool) if "+" in n and source in n.split("+")]
    whole_frame = (params.background_mode == "pool-clip" and source == (params.background_pool or params.pool)
                   and params.fill != "pool")
    if params.pool_size:
        return _half(params.pool_size, mixed, source, f"pool_size {params.pool_size:,} (--pool-size)")
    if source in available and not mixed:
        return PoolSize(available[source], "the given pool, whole")
    if mixed:
        given = [available[p] for p in mixed[0].split("+") if p in available]
        if given:
            others = [] if len(given) == len(mixed[0].split("+")) else [_auto_total(videos, fixed) // 2]
            return PoolSize(min(given + others), "half of a mixed pool, as large as the given part(s) allow")
        return _half(_auto_total(videos, fixed), mixed, source,
                     f"fixed {fixed:,}" if fixed else paper_size("textures", videos).why)
    if fixed:
        return PoolSize(fixed, f"small pool of {fixed:,}")
    if whole_frame:
        return PoolSize(max(1, videos), "one whole-frame clip per video")
    return paper_size(source, videos, paper_pools)


def _auto_total(videos: int, fixed: int | None) -> int:
    return fixed or paper_size("textures", videos).items


def _half(total: int, mixed: list, source: str, why: str) -> PoolSize:
    if not mixed:
        return PoolSize(total, why)
    first = mixed[0].split("+")[0] == source
    return PoolSize(total // 2 if first else total - total // 2, f"half of {total:,}: {why}")
