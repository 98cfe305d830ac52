"""Every random draw of the trainer, by name: one table, one derivation.

Each generator here is `synthvid.manifests.seeds.substream(seed, index, name)`, the project's one
seed-to-RNG derivation (the factory draws its videos the same way). Keys that are not the seed or the
index go into the stream's name, so each draw is a pure function of its key and of nothing else: not of
timing, worker order or global state. That is why a resumed run draws what an uninterrupted one drew, and
why video i's clip of a procedural source equals video i's clip read from a shard set built with that
epoch's seed (both go through `clip`).
"""

from __future__ import annotations

import numpy as np
import torch

from synthvid.manifests.seeds import substream


def _stream(seed: int, index: int, name: str, **key: int) -> np.random.Generator:
    return substream(seed, index, "trainer." + name + "".join(f"/{k}={int(v)}" for k, v in key.items()))


def shard_order(seed: int, epoch: int, pass_: int) -> np.random.Generator:
    """Order of a shard set's shards in pass `pass_` of an epoch's stream."""
    return _stream(seed, epoch, "shard-order", pass_=pass_)


def procedural_order(seed: int, epoch: int, pass_: int) -> np.random.Generator:
    """Order of a procedural source's video indices in pass `pass_` of an epoch's stream."""
    return _stream(seed, epoch, "procedural-order", pass_=pass_)


def mixture_picks(seed: int, epoch: int, slot: int) -> np.random.Generator:
    """Which source each sample position of a loader slot takes, for weighted mixtures."""
    return _stream(seed, epoch, "mixture-picks", slot=slot)


def shuffle_buffer(seed: int, epoch: int, slot: int, source: int) -> np.random.Generator:
    """The shuffle buffer of one slot's chunk of one source."""
    return _stream(seed, epoch, "shuffle-buffer", slot=slot, source=source)


def clip(seed: int, epoch: int, source: int, index: int, pass_: int = 0, repeat: int = 0) -> np.random.Generator:
    """A clip's temporal window and crop box: keyed by the video, not by where it lands in a batch. Clip
    `repeat` > 0 of a video (--clips-per-video) has a key of its own; repeat 0 is the one-clip key."""
    if repeat:
        return _stream(seed, index, "clip", epoch=epoch, source=source, pass_=pass_, repeat=repeat)
    return _stream(seed, index, "clip", epoch=epoch, source=source, pass_=pass_)


def sample_order(seed: int, epoch: int, pass_: int) -> np.random.Generator:
    """Order of a labelled set's videos in pass `pass_` of an epoch (a full shuffle, as fine-tuning's
    sampler: real datasets are stored class by class)."""
    return _stream(seed, epoch, "sample-order", pass_=pass_)


def augment(seed: int, epoch: int, index: int, repeat: int) -> np.random.Generator:
    """Fine-tuning augmentation (RandAugment ops, crop, flip, erasing) of repeat `repeat` of video `index`."""
    return _stream(seed, index, "finetune-augment", epoch=epoch, repeat=repeat)


def mixup(seed: int, rank: int, step: int) -> np.random.Generator:
    """Mixup / CutMix lambda and box of one micro-step on one rank."""
    return _stream(seed, step, "mixup", rank=rank)


def dropout_seed(seed: int, rank: int, step: int) -> int:
    """The torch seed of one micro-step's dropout and drop-path draws on one rank: set before its forward,
    so a resumed fine-tuning run draws what an uninterrupted one drew."""
    return int(_stream(seed, step, "dropout", rank=rank).integers(2**63 - 1))


def mask_generator(seed: int, rank: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The tube-mask RNG of one micro-step on one rank: a torch generator seeded from the named stream of
    (seed, rank, step), so a resumed run draws the same masks without saving RNG state."""
    g = torch.Generator(device=device)
    g.manual_seed(int(_stream(seed, step, "mask", rank=rank).integers(2**63 - 1)))
    return g
