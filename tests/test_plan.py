"""The epoch plan on its own (trainer/data/plan.py): counts, slots, checks, mixture picks and the shuffle
buffer's order, with hypothesis over the shapes a run can have. Pure functions: no data is read."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthvid.trainer.data.plan import (PAPER_EPOCH, Plan, default_epoch_size, normalised_weights, shuffle_buffer_order,
                                        slot_needs, slot_picks)

plans = st.builds(lambda world, accum, micro, workers, steps, extra: Plan(
    epoch_size=steps * world * accum * micro + extra, global_batch=world * accum * micro, world=world, accum=accum,
    workers=workers),
    world=st.integers(1, 4), accum=st.integers(1, 3), micro=st.integers(1, 5), workers=st.integers(0, 4),
    steps=st.integers(1, 6), extra=st.integers(0, 3))


@given(plans)
def test_plan_counts(plan):
    plan.check()
    assert plan.micro * plan.world * plan.accum == plan.global_batch
    assert plan.steps == plan.epoch_size // plan.global_batch                 # the remainder is dropped
    assert plan.micro_batches == plan.steps * plan.accum
    assert plan.slots_per_rank == max(1, plan.workers) and plan.slots == plan.world * plan.slots_per_rank
    # the worker slots of a rank split its micro-batches: disjoint, complete, in round-robin order
    slots = [list(plan.slot_micro_batches(w)) for w in range(plan.slots_per_rank)]
    assert sorted(m for s in slots for m in s) == list(range(plan.micro_batches))
    assert all(s == list(range(w, plan.micro_batches, plan.slots_per_rank)) for w, s in enumerate(slots))


def test_plan_numbers():
    p = Plan(epoch_size=100, global_batch=12, world=2, accum=3, workers=0)
    assert (p.micro, p.steps, p.micro_batches, p.slots_per_rank, p.slots) == (2, 8, 24, 1, 2)
    assert Plan(100, 12, 2, 3, 4).slots == 8


@pytest.mark.parametrize("plan, message", [
    (Plan(100, 10, 4, 1, 0), "not a multiple of ranks x accumulation .4 x 1."),
    (Plan(100, 12, 2, 4, 0), "not a multiple of ranks x accumulation .2 x 4."),
    (Plan(7, 8, 1, 1, 0), "an epoch of 7 samples holds no full global batch of 8"),
])
def test_plan_check_names_the_problem(plan, message):
    with pytest.raises(ValueError, match=message):
        plan.check()


def test_plan_check_accepts_exact_fits():
    Plan(8, 8, 2, 2, 0).check()      # one step exactly
    Plan(8, 8, 8, 1, 0).check()


class _Source:
    def __init__(self, finite: bool, num_samples: int = 0):
        self.finite, self.num_samples = finite, num_samples


def test_default_epoch_size():
    assert default_epoch_size([_Source(True, 123)]) == 123
    assert default_epoch_size([_Source(False)]) == PAPER_EPOCH == 9537
    assert default_epoch_size([_Source(True, 123), _Source(True, 50)]) == PAPER_EPOCH


def test_normalised_weights():
    assert normalised_weights(None, 3).tolist() == pytest.approx([1 / 3] * 3)
    assert normalised_weights([3, 1], 2).tolist() == [0.75, 0.25]
    assert normalised_weights([0, 2], 2).tolist() == [0.0, 1.0]        # a zero weight is allowed
    for bad, n in (([1, 2], 3), ([1, -1], 2), ([0, 0], 2), ([1], 2)):
        with pytest.raises(ValueError, match="do not fit"):
            normalised_weights(bad, n)


@given(plans, st.integers(0, 3))
def test_every_slot_picks_a_source_for_each_sample_its_worker_makes(plan, seed):
    """Slot s is worker s % W of rank s // W; its picks cover exactly the micro-batches that worker makes,
    also when the workers of a rank make different numbers of them."""
    w = normalised_weights([0.5, 0.5], 2)
    needs = slot_needs(plan, w, seed=seed, epoch=0)
    for s in range(plan.slots):
        rank, worker = divmod(s, plan.slots_per_rank)
        made = len(plan.slot_micro_batches(worker)) * plan.micro
        assert needs[s].sum() == len(slot_picks(plan, w, seed, 0, s)) == made, (rank, worker)
    per_rank = needs.sum(axis=1).reshape(plan.world, plan.slots_per_rank).sum(axis=1)
    assert per_rank.tolist() == [plan.micro_batches * plan.micro] * plan.world


def test_slot_picks_and_needs():
    plan = Plan(epoch_size=96, global_batch=8, world=2, accum=1, workers=2)    # micro 4, 12 micro-batches
    w = normalised_weights([0.75, 0.25], 2)
    picks = slot_picks(plan, w, seed=1, epoch=0, slot=1)
    assert len(picks) == len(plan.slot_micro_batches(1)) * plan.micro == 24
    assert np.array_equal(picks, slot_picks(plan, w, seed=1, epoch=0, slot=1))     # pure
    assert not np.array_equal(picks, slot_picks(plan, w, seed=1, epoch=1, slot=1))  # epochs differ
    assert not np.array_equal(picks, slot_picks(plan, w, seed=1, epoch=0, slot=0))  # slots differ
    # slot 3 is rank 1's worker 1: it makes as many samples as rank 0's worker 1
    assert len(slot_picks(plan, w, 1, 0, 3)) == 24
    needs = slot_needs(plan, w, seed=1, epoch=0)
    assert needs.shape == (plan.slots, 2)
    assert needs.sum(axis=1).tolist() == [24] * plan.slots
    assert needs[1].tolist() == np.bincount(picks, minlength=2).tolist()
    only_second = slot_needs(plan, normalised_weights([0, 1], 2), seed=1, epoch=0)
    assert only_second[:, 0].tolist() == [0] * plan.slots


@settings(max_examples=60)
@given(n=st.integers(0, 200), size=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_shuffle_buffer_order_is_a_bounded_permutation(n, size, seed):
    order = shuffle_buffer_order(n, size, np.random.default_rng(seed))
    assert sorted(order.tolist()) == list(range(n))
    # item i leaves no earlier than position i - size + 1: the reader never holds more than `size` items
    pos = np.empty(n, np.int64)
    pos[order] = np.arange(n)
    assert all(pos[i] >= i - size + 1 for i in range(n))
    assert np.array_equal(order, shuffle_buffer_order(n, size, np.random.default_rng(seed)))


def test_shuffle_buffer_order_matches_a_direct_simulation():
    """An independent simulation of webdataset's buffer (pick a random slot, emit it, move the last item into
    its place) over the same draws gives the same order, and the order really is shuffled."""
    n, size = 50, 8
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    got = shuffle_buffer_order(n, size, rng_a).tolist()
    buf, want = [], []
    for item in list(range(n)) + [None] * size:
        if item is not None:
            buf.append(item)
            if len(buf) < size:
                continue
        if not buf:
            break
        j = int(rng_b.integers(len(buf)))
        want.append(buf[j])
        buf[j] = buf[-1]
        buf.pop()
    assert got == want
    assert got != list(range(n))
    assert shuffle_buffer_order(5, 1, np.random.default_rng(0)).tolist() == [0, 1, 2, 3, 4]   # size 1: no shuffle
