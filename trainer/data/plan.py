"""The plan of an epoch: how many samples, steps and micro-batches, which loader slot reads which part of
each source, and in what order. A pure function of (seed, epoch, rank, worker) and the manifests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import draws

# A worker holds up to ~2 x this many compressed videos (0.7 MB for a 256 px shapes video, ~10x that for
# textured ones). Videos of a synthetic set are i.i.d. by index, so the buffer only has to mix neighbours.
SHUFFLE_BUFFER = 64
# The paper's dataset size: UCF101 split-1 train, the authors' `--virtual_dataset_size` and the size of
# each of their fixed sets (spec/paper.md A.1).
PAPER_EPOCH = 9537


@dataclass(frozen=True)
class Plan:
    epoch_size: int
    global_batch: int
    world: int
    accum: int
    workers: int   # DataLoader workers per rank (0 counts as 1 slot)

    @property
    def micro(self) -> int:
        return self.global_batch // (self.world * self.accum)

    @property
    def steps(self) -> int:
        return self.epoch_size // self.global_batch

    @property
    def micro_batches(self) -> int:   # per rank per epoch
        return self.steps * self.accum

    @property
    def slots_per_rank(self) -> int:
        return max(1, self.workers)

    @property
    def slots(self) -> int:
        return self.world * self.slots_per_rank

    def slot_micro_batches(self, worker: int) -> range:
        """Worker w of a rank makes micro-batches w, w+W, w+2W, ..."""
        return range(worker, self.micro_batches, self.slots_per_rank)

    def check(self) -> None:
        if self.global_batch % (self.world * self.accum):
            raise ValueError(f"--batch-size {self.global_batch} is not a multiple of ranks x accumulation "
                             f"({self.world} x {self.accum})")
        if self.steps == 0:
            raise ValueError(f"an epoch of {self.epoch_size} samples holds no full global batch of {self.global_batch}")


def default_epoch_size(sources) -> int:
    """One shard set: its size (a paper-size build holds 9,537 videos). Anything else, a procedural source or
    a mixture of several sources: the paper's dataset size, 9,537, as the authors' mixtures keep an epoch at
    the UCF101 size rather than the sum of their parts. `--epoch-size` overrides both."""
    if len(sources) == 1 and sources[0].finite:
        return sources[0].num_samples
    return PAPER_EPOCH


def normalised_weights(weights, n_sources: int) -> np.ndarray:
    w = np.asarray(weights if weights is not None else [1.0] * n_sources, np.float64)
    if len(w) != n_sources or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"--weights {list(w)} do not fit {n_sources} source(s)")
    return w / w.sum()


def slot_picks(plan: Plan, weights: np.ndarray, seed: int, epoch: int, slot: int) -> np.ndarray:
    """The source of each sample position of one slot this epoch (a weighted draw: weights hold in
    expectation)."""
    n = len(plan.slot_micro_batches(slot % plan.slots_per_rank)) * plan.micro
    return draws.mixture_picks(seed, epoch, slot).choice(len(weights), size=n, p=weights)


def slot_needs(plan: Plan, weights: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """(slots, sources): how many samples each slot of the whole job takes from each source this epoch.
    Every rank computes the same table, so the chunks cut from it agree without communication."""
    return np.stack([np.bincount(slot_picks(plan, weights, seed, epoch, s), minlength=len(weights))
                     for s in range(plan.slots)])


def shuffle_buffer_order(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Emission order of webdataset's shuffle buffer over a stream of n items, computed on positions: fill the
    buffer, then emit a random slot and refill it with the next item; drain at the end. Item i is emitted
    no earlier than position i - size, which bounds what the reader must hold."""
    buf: list[int] = []
    out = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        buf.append(i)
        if len(buf) >= size:
            j = int(rng.integers(len(buf)))
            buf[j], buf[-1] = buf[-1], buf[j]
            out[k] = buf.pop()
            k += 1
    while buf:
        j = int(rng.integers(len(buf)))
        buf[j], buf[-1] = buf[-1], buf[j]
        out[k] = buf.pop()
        k += 1
    return out
