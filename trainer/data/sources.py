"""Opening a `--data` value as a source: a published shard set (folder or fsspec URL) or `procedural:<variant>`.

A source has `name`, `num_samples`, `finite`, `height`, `width`, `refs(seed, epoch, start, count)` (positions
of its endless per-epoch stream) and `read(refs, stats, seed, epoch)` ((index, frames loader, pass) items).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import DataError
from .plan import PAPER_EPOCH
from .procedural import ProceduralStream
from .shards import ShardSource

PROCEDURAL = "procedural:"


@dataclass(frozen=True)
class SourceOptions:
    epoch_size: int | None = None          # a procedural source's samples per epoch (default 9,537)
    storage_options: dict | None = None    # fsspec options of shard URLs
    skip_bad_shards: bool = False
    verify_shards: bool = False            # sha256 of each shard against the manifest before reading it
    procedural_params: dict | None = None  # factory parameters of procedural sources (e.g. size)
    procedural_pools: dict | None = None   # {kind: URL} of built pools procedural sources read
    read_mode: str = "range"               # shard sets: "range" (the bytes a clip needs) or "stream" (whole shards)


def open_source(spec: str, options: SourceOptions | None = None):
    options = options or SourceOptions()
    if spec.startswith(PROCEDURAL):
        try:
            return ProceduralStream(spec[len(PROCEDURAL):], options.epoch_size or PAPER_EPOCH,
                                    options.procedural_params, options.procedural_pools, options.storage_options)
        except (KeyError, ValueError, RuntimeError, OSError) as e:   # unknown variant, bad parameter or pool
            raise DataError(f"--data {spec}: {e}") from None
    return ShardSource(spec, options.storage_options, options.skip_bad_shards, options.verify_shards,
                       options.read_mode)
