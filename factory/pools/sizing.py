"""How many items a variant's pools hold: the automatic size of a build, and each source's share of a
mixed pool."""

from __future__ import annotations

PAPER_POOL_SIZE = 300_000


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
