"""Seeds shared by the factory and the trainer."""

from __future__ import annotations

import hashlib


def epoch_seed(seed: int, epoch: int) -> int:
    """The dataset seed of epoch `epoch` of a procedural source: a procedural clip of that epoch equals the
    clip of the same video in a shard set built with this seed."""
    digest = hashlib.sha256(f"synthvid-epoch:{int(seed)}:{int(epoch)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
