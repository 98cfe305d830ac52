"""The dataset one rank's DataLoader iterates: micro-batches of uint8 clips, cut from the epoch plan."""

from __future__ import annotations

import multiprocessing as mp
import warnings

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .. import draws
from .clip_reads import ClipOptions, clip_batch, video_clips
from .clips import ClipSpec
from .errors import DataError, ErrorPolicy, Stats
from .plan import SHUFFLE_BUFFER, Plan, normalised_weights, shuffle_buffer_order, slot_needs, slot_picks


class ClipStream(IterableDataset):
    """Micro-batches of uint8 clips for one rank: dicts with
    frames (B, T, H, W, 3) uint8 (padded to the batch's largest frame), box (B, 4) = (y0, x0, h, w),
    source/index (B,), micro (the micro-batch number in the epoch), stats (short, skipped samples, shards),
    bytes (B,: read from storage per clip) and shape (B, 3); with `ClipOptions(handover=True)` JPEG clips
    come as `encoded` files instead (see clip_reads.clip_batch; `device_frames` gives the frames either way).
    What a source's videos become (`source_items`) and how a micro-batch is put together (`collate`) are the
    two methods a subclass changes (fine-tuning's augmented, labelled clips: eval/train_data.py).
    """

    def __init__(self, sources, weights, plan: Plan, spec: ClipSpec, seed: int, rank: int,
                 options: ClipOptions | None = None):
        plan.check()
        self.sources, self.plan, self.spec, self.seed, self.rank = sources, plan, spec, seed, rank
        self.options = options or ClipOptions()
        self.weights = normalised_weights(weights, len(sources))
        # The position lives in shared memory: persistent DataLoader workers were forked with an older copy
        # of this object, and read the position each time a new epoch's iterator starts.
        self._position = mp.Array("q", [0, 0], lock=False)
        for s in sources:
            shards = getattr(s, "shards", None)
            whole = getattr(s, "reads_whole_shards", True)   # a source reading samples by range does not care
            if shards is not None and whole and len(shards) < plan.slots and rank == 0:
                warnings.warn(f"{s.name} has {len(shards)} shard(s) for {plan.slots} ranks x workers: several "
                              "workers read the same shard, each keeping its own samples (more I/O); build with "
                              "more shards or use fewer workers", stacklevel=2)

    def set_position(self, epoch: int, start_micro: int = 0) -> None:
        self._position[0], self._position[1] = int(epoch), int(start_micro)

    @property
    def epoch(self) -> int:
        return int(self._position[0])

    @property
    def start_micro(self) -> int:
        return int(self._position[1])

    def __len__(self) -> int:
        return self.plan.micro_batches - self.start_micro

    def __iter__(self):
        info = get_worker_info()
        worker = info.id if info is not None else 0
        if info is not None:
            if info.num_workers != self.plan.slots_per_rank:
                raise RuntimeError(f"plan made for {self.plan.slots_per_rank} workers, DataLoader has {info.num_workers}")
            torch.set_num_threads(1)   # a worker is one core's worth of decoding; torch ops there are small
        yield from self.iter_worker(worker)

    def iter_worker(self, worker: int):
        """The micro-batches of one loader slot, from the epoch's start position on."""
        plan, B = self.plan, self.plan.micro
        slot = self.rank * plan.slots_per_rank + worker
        mine = plan.slot_micro_batches(worker)
        done = sum(1 for m in mine if m < self.start_micro)
        picks = slot_picks(plan, self.weights, self.seed, self.epoch, slot)
        stats = Stats()
        streams = self._slot_streams(slot, picks[: done * B], stats)
        pos = done * B
        for m in mine[done:]:
            before = stats.as_tensor()
            items = [next(streams[si]) for si in picks[pos:pos + B]]
            pos += B
            batch = self.collate(items)
            batch.update(source=torch.tensor([int(si) for si in picks[pos - B:pos]]), micro=m,
                         stats=stats.as_tensor() - before)
            yield batch

    def collate(self, items: list) -> dict:
        """The micro-batch of `source_items`' items (the stream adds source, micro and stats)."""
        return clip_batch(items)

    def _slot_streams(self, slot: int, done_picks: np.ndarray, stats: Stats) -> list:
        """One clip stream per source. Each source's epoch stream is cut into consecutive chunks, one per slot
        (rank-major): disjoint, balanced to the sample, and a chunk is a run of consecutive shards, so a
        worker reads few shards. With N clips per video a slot takes ceil(clips / N) videos. A resumed slot
        drops the clips its finished micro-batches took, unread."""
        n = self.options.clips_per_video
        needs = -(-slot_needs(self.plan, self.weights, self.seed, self.epoch) // n)     # videos
        starts = np.cumsum(needs, axis=0) - needs
        skips = np.bincount(done_picks, minlength=len(self.sources))                   # clips
        return [self._source_stream(si, slot, int(starts[slot, si]), int(needs[slot, si]), int(skips[si]),
                                    int(needs[:, si].sum()), stats) for si in range(len(self.sources))]

    def _source_stream(self, si: int, slot: int, start: int, count: int, skip: int, total: int, stats: Stats):
        """Source si's items for this slot: its chunk of videos, from the `skip`-th clip on."""
        videos, first_repeat = divmod(skip, self.options.clips_per_video)
        return self.source_items(si, self._chunk(si, slot, start, count, videos, total, stats), stats, first_repeat)

    def source_items(self, si: int, items, stats: Stats, first_repeat: int = 0):
        """What the stream batches, from source si's (index, loader, pass) items: here clips, one read of a
        video serving `clips_per_video` of them, the first video's from repeat `first_repeat` on."""
        src = self.sources[si]

        def rng_for(index: int, pass_: int, repeat: int) -> np.random.Generator:
            return draws.clip(self.seed, self.epoch, si, index, pass_, repeat)

        policy = ErrorPolicy(getattr(src, "skip_bad_shards", False), stats)
        for clip in video_clips(items, rng_for, self.spec, self.options, policy, getattr(src, "read_ahead", 1),
                                first_repeat):
            stats.short += clip.short
            yield clip

    def _chunk(self, si: int, slot: int, start: int, count: int, skip: int, total: int, stats: Stats):
        """The slot's chunk of source si (videos) through a shuffle buffer, its first `skip` dropped unread.
        Skipped bad samples are made up from a spare region past every slot's chunk, so the batch count
        never changes."""
        src = self.sources[si]
        refs = src.refs(self.seed, self.epoch, start, count)
        order = shuffle_buffer_order(len(refs), SHUFFLE_BUFFER, draws.shuffle_buffer(self.seed, self.epoch, slot, si))
        yield from src.read([refs[i] for i in order][skip:], stats, self.seed, self.epoch)
        size = max(count, self.plan.micro)
        spare = total + slot * size
        while True:   # only reached when samples were skipped as bad
            got = 0
            for item in src.read(src.refs(self.seed, self.epoch, spare, size), stats, self.seed, self.epoch):
                got += 1
                yield item
            if got == 0:
                raise DataError(f"{src.name}: no readable samples left for worker slot {slot}")
            spare += size


def ordered(batches, start: int = 0):
    """Yield a DataLoader's micro-batches by their `micro` number, from `start`. With a resumed epoch the
    first micro-batch belongs to some worker other than 0 while the DataLoader asks worker 0 first; a
    buffer of at most `workers` batches puts them back in order."""
    pending: dict[int, dict] = {}
    nxt = start
    for b in batches:
        pending[b["micro"]] = b
        while nxt in pending:
            yield pending.pop(nxt)
            nxt += 1
    if pending:
        raise RuntimeError(f"micro-batches {sorted(pending)} arrived but {nxt} never did")
