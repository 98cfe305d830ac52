"""Streaming clips for pretraining: published shard sets (local or any fsspec URL) and procedural sources.

The plan of an epoch is a pure function of (seed, epoch, rank, worker) and the manifests, never of timing:

* An epoch is `epoch_size` samples, `steps = epoch_size // global_batch` optimiser steps (remainder dropped).
  Each step is `accum` micro-batches per rank, so every rank runs the same number of batches and DDP
  cannot hang on a short rank (webdataset#188/#225/#434 are the failure this avoids).
* There are `ranks x workers` slots. Each source's epoch is one stream (shards in an order shuffled per
  epoch, samples of a shard in key order) cut into consecutive chunks, one per slot, sized to what the slot
  needs: disjoint, balanced to the sample, and a chunk is a run of consecutive shards. With fewer shards
  than slots it warns: several workers then read one shard, each keeping only its own samples.
* A slot reads its chunk through a small shuffle buffer. The buffer is simulated on the manifest's keys,
  so the order is known before a byte is read; a resumed worker skips whole shards and never decodes the
  clips it skips.
* When the epoch asks more of a source than it holds (a mixture, an epoch larger than the set), its stream
  goes on with another pass in a new order: videos repeat only after the whole set was seen.
* A mixture picks the source of each slot position with a weighted RNG, so weights hold in expectation.
* Worker w of a rank makes the micro-batches m = w, w+W, w+2W, ...; the engine reorders them by `micro`.

Each clip has its own RNG, keyed by (seed, epoch, source position, video index, pass): the temporal window
and the crop box of a video do not depend on where it lands, which is what lets a procedural clip equal
the same video's clip read from a shard built with that epoch's seed.

Shards are untrusted: only the `.svf` member is read, as raw bytes, and decoded by manifests.payload
(no webdataset decoders, which include pickle).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import tarfile
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from synthvid.manifests import layout
from synthvid.manifests.payload import FramesPayload, PayloadError
from synthvid.manifests.reader import PublishedDataset, ShardRecord, open_dataset
from synthvid.manifests.storage import is_local, join, url_to_fs

log = logging.getLogger(__name__)

# A worker holds up to ~2 x this many compressed videos (0.7 MB for a 256 px shapes video, ~10x that for
# textured ones). Videos of a synthetic set are i.i.d. by index, so the buffer only has to mix neighbours.
SHUFFLE_BUFFER = 64
MULTISCALE = (1.0, 0.875, 0.75, 0.66)
DEFAULT_PROCEDURAL_EPOCH = 9537   # UCF101 split-1 train: S's `virtual_dataset_size`


class DataError(RuntimeError):
    """Bad input data: the message names the source or shard and what to do."""


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) & 0xFFFFFFFF for k in key] + [int(k) >> 32 for k in key])


# ----------------------------------------------------------------------------------------------------------
# Clip geometry: temporal window and multi-scale crop, drawn from the clip's own RNG.

@dataclass(frozen=True)
class ClipSpec:
    num_frames: int = 16
    sampling_rate: int = 4
    input_size: int = 224
    scales: tuple = MULTISCALE
    max_distort: int = 1


def temporal_indices(n: int, spec: ClipSpec, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """16 frames at stride 4 from a window whose start is uniform over the video (spec C.1:
    o ~ randint(0, n - 64)). A shorter video gets start 0 and indices clamped to its last frame, as VideoMAE
    repeats the last frame; the second value says so, so the caller can count it."""
    span = spec.num_frames * spec.sampling_rate
    start = int(rng.integers(0, n - span + 1)) if n >= span else 0
    idx = start + spec.sampling_rate * np.arange(spec.num_frames)
    short = bool(idx[-1] >= n)
    return np.minimum(idx, n - 1), short


def multiscale_box(h: int, w: int, spec: ClipSpec, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """GroupMultiScaleCrop (VideoMAE transforms.py): crop sides from scales of the short side, sides within
    3 px of the input size snapped to it, width and height scales at most `max_distort` steps apart, offset
    one of 13 fixed positions. Returns (y0, x0, crop_h, crop_w); the resize to input_size runs on the device."""
    base = min(h, w)
    sizes = [int(base * s) for s in spec.scales]
    snap = [spec.input_size if abs(s - spec.input_size) < 3 else s for s in sizes]
    pairs = [(ch, cw) for i, ch in enumerate(snap) for j, cw in enumerate(snap) if abs(i - j) <= spec.max_distort]
    ch, cw = pairs[int(rng.integers(len(pairs)))]
    ch, cw = min(ch, h), min(cw, w)
    ws, hs = (w - cw) // 4, (h - ch) // 4
    offsets = [(0, 0), (0, 4 * ws), (4 * hs, 0), (4 * hs, 4 * ws), (2 * hs, 2 * ws),
               (2 * hs, 0), (2 * hs, 4 * ws), (4 * hs, 2 * ws), (0, 2 * ws),
               (1 * hs, 1 * ws), (1 * hs, 3 * ws), (3 * hs, 1 * ws), (3 * hs, 3 * ws)]
    y0, x0 = offsets[int(rng.integers(len(offsets)))]
    return y0, x0, ch, cw


def clip_rng(seed: int, epoch: int, source: int, index: int, pass_: int = 0) -> np.random.Generator:
    return _rng(0xC11B, seed, epoch, source, index, pass_)


# ----------------------------------------------------------------------------------------------------------
# Sources. A source turns (epoch, slot) into an endless stream of (index, frames-loader) items.

@dataclass
class Stats:
    short: int = 0            # clips whose window was longer than the video (indices clamped)
    skipped_samples: int = 0
    skipped_shards: int = 0

    def as_tensor(self) -> torch.Tensor:
        return torch.tensor([self.short, self.skipped_samples, self.skipped_shards], dtype=torch.long)


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


class ShardSource:
    """One published variant read through the manifests API."""

    finite = True

    def __init__(self, url: str, storage_options: dict | None = None, skip_bad_shards: bool = False):
        try:
            self.ds: PublishedDataset = open_dataset(url, storage_options)
        except Exception as e:   # IncompleteDatasetError, missing bucket, bad URL
            msg = str(e)
            raise DataError(msg if str(url).rstrip("/") in msg else f"--data {url}: {msg}") from None
        self.url = url
        self.skip_bad_shards = skip_bad_shards
        self._fs_pid = None
        keys = self.ds.samples.column("key").to_pylist()
        shards = self.ds.samples.column("shard").to_pylist()
        index = self.ds.samples.column("index").to_pylist()
        frames = self.ds.samples.column("frames").to_pylist()
        self.shards = [s for s in self.ds.shards if s.count > 0]
        by_shard: dict[str, list[tuple[str, int, int]]] = {s.name: [] for s in self.shards}
        for k, s, i, f in zip(keys, shards, index, frames):
            if s in by_shard:
                by_shard[s].append((k, int(i), int(f)))
        self.members = {s: sorted(v) for s, v in by_shard.items()}   # tar order is key order
        self.num_samples = sum(len(v) for v in self.members.values())
        if self.num_samples == 0:
            raise DataError(f"--data {url}: the variant has no samples")
        self.height = int(self.ds.samples.column("height")[0].as_py())
        self.width = int(self.ds.samples.column("width")[0].as_py())
        self.name = url

    def refs(self, seed: int, epoch: int, start: int, count: int) -> list[tuple]:
        """Positions [start, start+count) of this epoch's endless stream: pass p is every sample, shards in
        an order shuffled by (seed, epoch, p), samples of a shard in key order. (shard, key, index, pass)."""
        out = []
        n = self.num_samples
        pos = start
        while pos < start + count:
            pass_, offset = divmod(pos, n)
            order = _rng(0x5EED, seed, epoch, pass_).permutation(len(self.shards))
            flat = [(self.shards[o], *m[:2], pass_) for o in order for m in self.members[self.shards[o].name]]
            take = min(n - offset, start + count - pos)
            out += flat[offset:offset + take]
            pos += take
        return out

    def read(self, refs, stats: Stats):
        """(index, payload, pass) for each readable ref, in order."""
        for (index, payload), ref in self._read(refs, stats):
            yield index, payload, ref[3]

    def _read(self, refs, stats: Stats):
        """Yield ((index, payload), ref) in the order of refs. Each (shard, pass) visit is one sequential read,
        in order of first need, holding only the wanted `.svf` members (raw bytes) until their turn. A shard
        that turns out bad is skipped for good (counted) or raises, naming it."""
        wanted: dict[tuple[str, int], set[str]] = {}
        visits: list[tuple[ShardRecord, int]] = []
        for shard, key, _, pass_ in refs:
            v = (shard.name, pass_)
            if v not in wanted:
                wanted[v] = set()
                visits.append((shard, pass_))
            wanted[v].add(key)
        pending: dict[tuple[str, int, str], bytes] = {}
        seen: set[tuple[str, int, str]] = set()
        bad: set[str] = set()
        readers = iter(visits)
        current = cur = None
        for ref in refs:
            shard, key, index, pass_ = ref
            want = (shard.name, pass_, key)
            while want not in pending and shard.name not in bad:
                if current is None:
                    cur, cur_pass = next(readers)
                    current = None if cur.name in bad else self._members(cur, wanted[(cur.name, cur_pass)])
                    if current is None:
                        continue
                try:
                    k, data = next(current)
                    pending[(cur.name, cur_pass, k)] = data
                    seen.add((cur.name, cur_pass, k))
                except StopIteration:
                    current = None
                    missing = sorted(k for k in wanted[(cur.name, cur_pass)] if (cur.name, cur_pass, k) not in seen)
                    if missing:
                        self._bad(cur, f"ends before sample(s) {missing[:3]} listed in its manifest", stats)
                        bad.add(cur.name)
                except (tarfile.TarError, OSError, EOFError, ValueError) as e:
                    current = None
                    detail = str(e).split(" @ ")[0]   # webdataset appends the file object's repr
                    self._bad(cur, f"is truncated or corrupt ({type(e).__name__}: {detail})", stats)
                    bad.add(cur.name)
            data = pending.pop(want, None)
            if data is None:
                stats.skipped_samples += 1
                continue
            try:
                payload = FramesPayload(data)
            except PayloadError as e:
                if not self.skip_bad_shards:
                    raise DataError(f"{shard.url}: sample {key}: {e}; pass --skip-bad-shards to skip it") from None
                stats.skipped_samples += 1
                continue
            payload.where = f"{shard.url}: sample {key}"
            yield (index, payload), ref

    def _bad(self, shard: ShardRecord, what: str, stats: Stats) -> None:
        if not self.skip_bad_shards:
            raise DataError(f"{shard.url} {what}; pass --skip-bad-shards to skip it")
        stats.skipped_shards += 1
        log.warning("skipping shard %s: %s", shard.url, what)

    def _open(self, shard: ShardRecord):
        # A filesystem object per process: s3fs and friends are not fork-safe, and DataLoader workers fork
        # after the manifests were read in the parent. Shards are read front to back, so read ahead.
        if self._fs_pid != os.getpid():
            self._fs, self._root = url_to_fs(self.ds.url, self.ds.storage_options)
            self._fs_pid = os.getpid()
        opts = {} if is_local(self.ds.url) else {"block_size": 8 << 20, "cache_type": "readahead"}
        return self._fs.open(join(self._root, shard.name), "rb", **opts)

    def _members(self, shard: ShardRecord, keys: set[str]):
        import webdataset.tariterators as wt

        ext = "." + layout.FRAMES_EXT

        def select(fname: str) -> bool:
            key, _, rest = fname.partition(".")
            return rest == layout.FRAMES_EXT and key in keys

        with self._open(shard) as f:
            # webdataset's raw tar reader: bytes only, no decoders. select_files skips unwanted members
            # without reading them into memory.
            for item in wt.tar_file_iterator(f, select_files=select):
                name = item["fname"]
                if name.endswith(ext):
                    yield name[: -len(ext)], item["data"]


class _Rendered:
    """Frames loader for a procedural video: the same `.num_frames` / `.frames(indices)` as FramesPayload."""

    def __init__(self, source, index: int):
        self.source, self.index = source, index
        self.num_frames = int(source.num_frames(index))

    def frames(self, indices) -> np.ndarray:
        return np.asarray(self.source.render(self.index, [int(i) for i in indices]), dtype=np.uint8)


def load_procedural_class():
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="synthvid.sources") if ep.name == "procedural"]
    if not eps:
        raise DataError("--data procedural:...: no 'procedural' entry point in group synthvid.sources; "
                        "install synthvid with the factory (pip install -e .[factory])")
    return eps[0].load()


class ProceduralStream:
    """`procedural:<variant>`: epoch e renders the variant as if built with epoch_seed(data_seed, e); only the
    frames a clip samples are rendered."""

    finite = False

    def __init__(self, variant: str, epoch_size: int, overrides: dict | None = None):
        self.variant = variant
        self.name = f"procedural:{variant}"
        self.num_samples = int(epoch_size)
        self.overrides = overrides
        self._cls = load_procedural_class()
        probe = self._source(0)
        self.height, self.width = int(probe.height), int(probe.width)

    def _source(self, seed: int):
        return self._cls(self.variant, seed, self.overrides)

    def source_for_epoch(self, seed: int, epoch: int):
        from synthvid.manifests.seeds import epoch_seed

        return self._source(epoch_seed(seed, epoch))

    def refs(self, seed: int, epoch: int, start: int, count: int) -> list[tuple]:
        """Positions of the endless stream: pass p is video indices [p*N, (p+1)*N) in an order shuffled by
        (seed, epoch, p): fresh videos, never a repeat within an epoch. (index, pass)."""
        out = []
        n = self.num_samples
        pos = start
        while pos < start + count:
            pass_, offset = divmod(pos, n)
            take = min(n - offset, start + count - pos)
            order = _rng(0x9A0C, seed, epoch, pass_).permutation(n)[offset:offset + take] + pass_ * n
            out += [(int(i), pass_) for i in order]
            pos += take
        return out

    def read(self, refs, stats: Stats, seed: int = 0, epoch: int = 0):
        src = self.source_for_epoch(seed, epoch)
        for index, pass_ in refs:
            yield index, _Rendered(src, index), pass_


def open_source(spec: str, *, epoch_size: int | None = None, storage_options: dict | None = None,
                skip_bad_shards: bool = False, overrides: dict | None = None):
    if spec.startswith("procedural:"):
        try:
            return ProceduralStream(spec.split(":", 1)[1], epoch_size or DEFAULT_PROCEDURAL_EPOCH, overrides)
        except (KeyError, ValueError, RuntimeError) as e:   # unknown or unbuildable variant, bad parameter
            raise DataError(f"--data {spec}: {e}") from None
    return ShardSource(spec, storage_options, skip_bad_shards)


# ----------------------------------------------------------------------------------------------------------
# The epoch plan and the dataset.

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

    def check(self) -> None:
        if self.global_batch % (self.world * self.accum):
            raise ValueError(f"--batch-size {self.global_batch} is not a multiple of ranks x accumulation "
                             f"({self.world} x {self.accum})")
        if self.steps == 0:
            raise ValueError(f"an epoch of {self.epoch_size} samples holds no full global batch of {self.global_batch}")


def default_epoch_size(sources) -> int:
    finite = [s.num_samples for s in sources if s.finite]
    return sum(finite) if finite else max(s.num_samples for s in sources)


class ClipStream(IterableDataset):
    """Micro-batches of uint8 clips for one rank: dicts with
    frames (B, T, H, W, 3) uint8 (padded to the batch's largest frame), box (B, 4) = (y0, x0, h, w),
    source/index (B,), micro (the micro-batch number in the epoch) and stats (short, skipped samples, shards).
    """

    def __init__(self, sources, weights, plan: Plan, spec: ClipSpec, seed: int, rank: int):
        plan.check()
        self.sources, self.plan, self.spec, self.seed, self.rank = sources, plan, spec, seed, rank
        w = np.asarray(weights if weights is not None else [1.0] * len(sources), np.float64)
        if len(w) != len(sources) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"--weights {list(w)} do not fit {len(sources)} source(s)")
        self.weights = w / w.sum()
        # The position lives in shared memory: persistent DataLoader workers were forked with an older copy
        # of this object, and read the position each time a new epoch's iterator starts.
        self._position = mp.Array("q", [0, 0], lock=False)
        n_slots = plan.world * plan.slots_per_rank
        for s in sources:
            if isinstance(s, ShardSource) and len(s.shards) < n_slots and rank == 0:
                warnings.warn(f"{s.name} has {len(s.shards)} shard(s) for {n_slots} ranks x workers: several workers "
                              "read the same shard, each keeping its own samples (more I/O); build with more "
                              "shards or use fewer workers", stacklevel=2)

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

    def slot_micro_batches(self, worker: int) -> range:
        return range(worker, self.plan.micro_batches, self.plan.slots_per_rank)

    def __iter__(self):
        info = get_worker_info()
        worker = info.id if info is not None else 0
        if info is not None:
            if info.num_workers != self.plan.slots_per_rank:
                raise RuntimeError(f"plan made for {self.plan.slots_per_rank} workers, DataLoader has {info.num_workers}")
            torch.set_num_threads(1)   # a worker is one core's worth of decoding; torch ops there are small
        yield from self.iter_worker(worker)

    def _slot_needs(self) -> np.ndarray:
        """(slots, sources): how many samples each slot of the whole job takes from each source this epoch.
        Every rank computes the same table, so the chunks below agree without communication."""
        plan = self.plan
        W = plan.slots_per_rank
        needs = np.zeros((plan.world * W, len(self.sources)), np.int64)
        for slot in range(plan.world * W):
            picks = self._picks(slot)
            needs[slot] = np.bincount(picks, minlength=len(self.sources))
        return needs

    def _picks(self, slot: int) -> np.ndarray:
        W = self.plan.slots_per_rank
        n = len(range(slot % W, self.plan.micro_batches, W)) * self.plan.micro
        return _rng(0x31C5, self.seed, self.epoch, slot).choice(len(self.sources), size=n, p=self.weights)

    def iter_worker(self, worker: int):
        plan, spec, B = self.plan, self.spec, self.plan.micro
        W = plan.slots_per_rank
        slot = self.rank * W + worker
        mine = range(worker, plan.micro_batches, W)
        done = sum(1 for m in mine if m < self.start_micro)
        todo = [m for m in mine if m >= self.start_micro]
        picks = self._picks(slot)
        needs = self._slot_needs()
        # Each source's epoch stream is cut into consecutive chunks, one per slot (rank-major): disjoint,
        # balanced to the sample, and a chunk is a run of consecutive shards, so a worker reads few shards.
        starts = np.cumsum(needs, axis=0) - needs
        skips = np.bincount(picks[: done * B], minlength=len(self.sources))
        stats = Stats()
        streams = [self._source_stream(si, int(starts[slot, si]), int(needs[slot, si]), int(skips[si]),
                                       int(needs[:, si].sum()), slot, stats) for si in range(len(self.sources))]
        pos = done * B
        for m in todo:
            clips, boxes, src_ids, idxs = [], [], [], []
            before = stats.as_tensor()
            for _ in range(B):
                si = int(picks[pos])
                pos += 1
                while True:
                    index, loader, pass_ = next(streams[si])
                    try:
                        frames, box, short = load_clip(loader, spec, clip_rng(self.seed, self.epoch, si, index, pass_))
                        break
                    except PayloadError as e:   # a frame block that does not decode
                        if not getattr(self.sources[si], "skip_bad_shards", False):
                            raise DataError(f"{getattr(loader, 'where', self.sources[si].name)}: {e}; "
                                            "pass --skip-bad-shards to skip it") from None
                        stats.skipped_samples += 1
                stats.short += short
                clips.append(frames)
                boxes.append(box)
                src_ids.append(si)
                idxs.append(index)
            yield {"frames": collate_frames(clips), "box": torch.tensor(boxes, dtype=torch.long),
                   "source": torch.tensor(src_ids), "index": torch.tensor(idxs), "micro": m,
                   "stats": stats.as_tensor() - before}

    def _source_stream(self, si: int, start: int, count: int, skip: int, total: int, slot: int, stats: Stats):
        """The slot's chunk of source si through a shuffle buffer, its first `skip` items dropped unread.
        Skipped bad samples are made up from a spare region past every slot's chunk, so the batch count
        never changes."""
        src = self.sources[si]
        refs = src.refs(self.seed, self.epoch, start, count)
        refs = [refs[i] for i in shuffle_buffer_order(len(refs), SHUFFLE_BUFFER, _rng(0xB0FF, self.seed, self.epoch, slot, si))]
        kw = {"seed": self.seed, "epoch": self.epoch} if isinstance(src, ProceduralStream) else {}
        yield from src.read(refs[skip:], stats, **kw)
        size = max(count, self.plan.micro)
        spare = total + slot * size
        while True:   # only reached when samples were skipped as bad
            got = 0
            for item in src.read(src.refs(self.seed, self.epoch, spare, size), stats, **kw):
                got += 1
                yield item
            if got == 0:
                raise DataError(f"{src.name}: no readable samples left for worker slot {slot}")
            spare += size


def load_clip(loader, spec: ClipSpec, rng: np.random.Generator):
    """(frames (T, H, W, 3) uint8, crop box, short) for one video: temporal window first, then the box, both
    from the clip's RNG, and only the sampled frames decoded."""
    idx, short = temporal_indices(loader.num_frames, spec, rng)
    frames = loader.frames(idx)
    box = multiscale_box(frames.shape[1], frames.shape[2], spec, rng)
    return frames, box, short


def collate_frames(clips: list[np.ndarray]) -> torch.Tensor:
    h = max(c.shape[1] for c in clips)
    w = max(c.shape[2] for c in clips)
    out = torch.zeros((len(clips), clips[0].shape[0], h, w, 3), dtype=torch.uint8)
    for i, c in enumerate(clips):
        out[i, :, : c.shape[1], : c.shape[2]] = torch.from_numpy(np.ascontiguousarray(c))
    return out


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


# ----------------------------------------------------------------------------------------------------------
# Device side: crop + resize + normalise (on the GPU when there is one; the loader only moves uint8).

def augment(frames: torch.Tensor, box: torch.Tensor, size: int, uint8_resize: bool | None = None) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) + boxes -> float (B, 3, T, size, size), ImageNet-normalised, on frames' device.

    Each clip's box is cut out and resized bilinearly with antialiasing, which matches VideoMAE's PIL
    bilinear resize to within one grey level. On the CPU this runs on uint8 (PyTorch's vectorised uint8
    kernel, ~10x faster than float); on a GPU in float, rounded to uint8 levels like the CPU path.
    `uint8_resize` forces one path (tests run the GPU's float path on the CPU)."""
    from .model import IMAGENET_MEAN, IMAGENET_STD

    b, t = frames.shape[:2]
    cpu = frames.device.type == "cpu" if uint8_resize is None else uint8_resize
    out = torch.empty((b, t, 3, size, size), dtype=torch.uint8 if cpu else torch.float32, device=frames.device)
    # Clips with the same crop size are resized together: a handful of (h, w) pairs per batch, so a few
    # large kernels instead of one small one per clip.
    groups: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for i, (y0, x0, ch, cw) in enumerate(box.tolist()):
        groups.setdefault((ch, cw), []).append((i, y0, x0))
    for (ch, cw), members in groups.items():
        crops = torch.stack([frames[i, :, y0:y0 + ch, x0:x0 + cw] for i, y0, x0 in members])   # (n, T, h, w, 3)
        crops = crops.flatten(0, 1).permute(0, 3, 1, 2)                                         # (n*T, 3, h, w)
        crops = crops.contiguous(memory_format=torch.channels_last) if cpu else crops.float()
        if (ch, cw) != (size, size):
            crops = torch.nn.functional.interpolate(crops, size=(size, size), mode="bilinear", align_corners=False,
                                                    antialias=True)
        if not cpu:
            crops = crops.round_().clamp_(0, 255)
        idx = torch.tensor([m[0] for m in members], device=frames.device)
        out.index_copy_(0, idx, crops.reshape(len(members), t, 3, size, size))
    x = out.float() if cpu else out
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1) * 255
    std = x.new_tensor(IMAGENET_STD).view(1, 1, 3, 1, 1) * 255
    return x.sub_(mean).div_(std).permute(0, 2, 1, 3, 4)


def unnormalize(x: torch.Tensor) -> torch.Tensor:
    from .model import IMAGENET_MEAN, IMAGENET_STD

    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    return (x * std + mean).clamp(0, 1)
