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

Each clip has its own RNG (`draws.clip`), keyed by (seed, epoch, source position, video index, pass): the
temporal window and the crop box of a video do not depend on where it lands, which is what lets a procedural
clip equal the same video's clip read from a shard set built with that epoch's seed.
* A shard set is read by byte range by default: a clip's window and crop are drawn before anything is read,
  so only the payload's head and the ~16 frame blocks the clip needs are fetched (`--read-mode stream`
  reads whole shards instead). `--clips-per-video N` serves N clips from one read of a video.

Shards are untrusted: only the payload member (any kind manifests.payload knows, named by the manifest) is
read, as raw bytes, bounded by the manifest row, and decoded by manifests.payload (no webdataset decoders,
which include pickle).

Modules: plan (epoch plan, slot chunks, shuffle buffer), sources (opening --data), shards (a shard set as a
source), ranges (byte ranges of shards), range_read (payloads by byte range), shard_reader (the tar reading
stages), procedural (rendered sources), clips (window, crop, collation), clip_reads (videos to clips,
repeated sampling, encoded handover), stream (the rank's IterableDataset), device_decode (the batch's frames
on the device), augment (device-side crop, resize, normalise), errors.
"""

from .augment import augment, unnormalize
from .clip_reads import ClipOptions
from .clips import MULTISCALE, ClipSpec, collate_frames, draw_clip, load_clip, multiscale_box, temporal_indices
from .device_decode import DECODE_DEVICES, device_frames
from .errors import DataError, ErrorPolicy, Stats
from .plan import PAPER_EPOCH, SHUFFLE_BUFFER, Plan, default_epoch_size, shuffle_buffer_order
from .procedural import ProceduralStream, load_procedural_class
from .shards import READ_MODES, ShardSource
from .sources import PROCEDURAL, SourceOptions, open_source
from .stream import ClipStream, ordered

__all__ = ["augment", "unnormalize", "ClipOptions", "DECODE_DEVICES", "device_frames", "draw_clip", "READ_MODES",
           "MULTISCALE", "ClipSpec", "collate_frames", "load_clip", "multiscale_box",
           "temporal_indices", "DataError", "ErrorPolicy", "Stats", "PAPER_EPOCH", "SHUFFLE_BUFFER", "Plan",
           "default_epoch_size", "shuffle_buffer_order", "ProceduralStream", "load_procedural_class",
           "ShardSource", "PROCEDURAL", "SourceOptions", "open_source", "ClipStream", "ordered"]
