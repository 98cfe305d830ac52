"""Names and places inside a published variant. The one place that knows them: both sides import this.

    <root>/<variant>/
        <variant>-000000.tar ...       WebDataset shards, one sample per video
        _commit/<variant>-000000.json  per-shard commit marker: the shard's row and its sample rows
        manifest-samples.parquet       one row per video, sorted by key
        manifest-shards.parquet        one row per shard, sorted by name
        card.json                      dataset card; written last, so a variant without it is incomplete
        build-log.jsonl                timings and hosts (not part of the dataset's bytes)
"""

from __future__ import annotations

import re

# 2: the payload member may be any registered kind (`payload_kind` column; svf or svj), per-video PSNR of
# a lossy payload (`psnr_db`), latents as `.latents.npz`. Version 1 datasets (svf, `.latents.npy`) still read.
SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)

CARD = "card.json"
SAMPLES_MANIFEST = "manifest-samples.parquet"
SHARDS_MANIFEST = "manifest-shards.parquet"
BUILD_LOG = "build-log.jsonl"
COMMIT_DIR = "_commit"
LOCK = ".build.lock"

# Members of one sample, by extension (webdataset splits the member name at the first dot). The frames
# payload's extension is its kind (manifests.payload: svf, svj, ...), named per sample by the manifest's
# `payload_kind`; FRAMES_EXT is the lossless kind, the only one of schema version 1.
FRAMES_EXT = "svf"
META_EXT = "json"               # seed, index, frame count, fps, size, latent summary
LATENTS_EXT = "latents.npz"     # per-object latents, one array per field (manifests.latents; never pickled)
LATENTS_V1_EXT = "latents.npy"  # schema version 1: one structured array (HF `datasets` cannot load it)


# A name read from a manifest or a tar is untrusted: it must be one plain file name of this dataset, never a
# path: letters, digits and ". _ + -", not starting with a dot (so no "/", "\\", "..", absolute paths, drive
# letters, hidden files or control characters), so that no reader, verifier or publisher ever opens a file
# outside the dataset folder because a manifest said so.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")
NAME_PATTERN = _PLAIN_NAME.pattern   # for vectorised checks (pyarrow.compute) of whole manifest columns


class UnsafeNameError(ValueError):
    """A manifest or shard names a file that is not a plain file name of the dataset (a path, '..', ...)."""


def is_plain_name(name) -> bool:
    return isinstance(name, str) and _PLAIN_NAME.fullmatch(name) is not None


def check_shard_name(name, where: str = "the shard manifest") -> str:
    """`name` if it is a shard file name of this dataset (a plain `<name>.tar`); UnsafeNameError otherwise."""
    if not is_plain_name(name) or not name.endswith(".tar"):
        raise UnsafeNameError(f"{where} names shard {name!r}, which is not a plain '<name>.tar' file name of "
                              "this dataset; the dataset is corrupt or hostile: do not use it")
    return name


def shard_name(variant: str, shard_index: int) -> str:
    return f"{variant}-{shard_index:06d}.tar"


def marker_name(shard: str) -> str:
    return f"{COMMIT_DIR}/{shard.removesuffix('.tar')}.json"


def sample_key(index: int) -> str:
    return f"{index:08d}"


def member_names(key: str, with_latents: bool = True, payload: str = FRAMES_EXT) -> list[str]:
    """Members of one sample in the fixed order they are written; `payload` is the payload's kind."""
    names = [f"{key}.{payload}", f"{key}.{META_EXT}"]
    if with_latents:
        names.append(f"{key}.{LATENTS_EXT}")
    return names


def num_shards(videos: int, per_shard: int) -> int:
    return -(-videos // per_shard)


def shard_range(shard_index: int, videos: int, per_shard: int) -> range:
    """Video indices held by one shard: contiguous, so a shard is a pure function of its index."""
    start = shard_index * per_shard
    return range(start, min(videos, start + per_shard))
