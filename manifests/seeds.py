"""Seeds and random streams, the one derivation both sides use.

Every random draw in synthvid comes from a named sub-stream of (seed, index, name): never global state,
wall-clock time or worker order. Variants that share a property draw it from the same named stream, so video
i of `accelerating-shapes` is video i of `transforming-shapes` plus the draws of the `acceleration` stream
(paper 3.1: each stage only adds draws). The trainer keys its data order, clip windows and crops the same way.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _name_words(name: str) -> list[int]:
    # A stable hash (Python's hash() is salted per process).
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]


def _int_words(value: int) -> list[int]:
    if value < 0:
        raise ValueError(f"seeds and indices are non-negative integers, got {value}")
    return [value & 0xFFFFFFFF, (value >> 32) & 0xFFFFFFFF]


def substream(seed: int, index: int, name: str) -> np.random.Generator:
    """An independent generator for one named draw of one (seed, index)."""
    entropy = _int_words(int(seed)) + _int_words(int(index)) + _name_words(name)
    return np.random.Generator(np.random.Philox(np.random.SeedSequence(entropy)))


def epoch_seed(seed: int, epoch: int) -> int:
    """The dataset seed of epoch `epoch` of a procedural source: a procedural clip of that epoch equals the
    clip of the same video in a shard set built with this seed."""
    digest = hashlib.sha256(f"synthvid-epoch:{int(seed)}:{int(epoch)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
