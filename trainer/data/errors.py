"""Bad input data: the error type, the skip counters, and the one policy that decides between them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from synthvid.manifests.storage import safe_url

log = logging.getLogger("synthvid.trainer.data")


class DataError(RuntimeError):
    """Bad input data: the message names the source or shard and what to do."""


@dataclass
class Stats:
    short: int = 0            # clips whose window was longer than the video (indices clamped)
    skipped_samples: int = 0
    skipped_shards: int = 0

    def as_tensor(self) -> torch.Tensor:
        return torch.tensor([self.short, self.skipped_samples, self.skipped_shards], dtype=torch.long)


@dataclass
class ErrorPolicy:
    """What a bad shard or sample does: raise one line naming it (the default), or, with
    --skip-bad-shards, count it and go on."""

    skip: bool
    stats: Stats
    failed: set = field(default_factory=set)     # names of the shards found bad during this read

    def bad_shard(self, url: str, what: str) -> None:
        if not self.skip:
            raise DataError(f"{url} {what}; pass --skip-bad-shards to skip it")
        self.stats.skipped_shards += 1
        log.warning("skipping shard %s: %s", safe_url(url), what)

    def shard_failed(self, shard, what: str) -> None:
        """A shard (a ShardRecord) found bad: reported once, remembered so its other samples are not read."""
        if shard.name not in self.failed:
            self.failed.add(shard.name)
            self.bad_shard(shard.url, what)

    def failed_before(self, shard) -> bool:
        return shard.name in self.failed

    def bad_sample(self, where: str, what) -> None:
        if not self.skip:
            raise DataError(f"{where}: {what}; pass --skip-bad-shards to skip it")
        self.stats.skipped_samples += 1

    def missing_sample(self) -> None:
        """A sample of a shard already reported bad."""
        self.stats.skipped_samples += 1
