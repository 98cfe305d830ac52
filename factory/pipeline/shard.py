"""One shard: encode its samples and write a byte-reproducible WebDataset tar.

A shard is a pure function of (source, seed, shard index, count, per shard): fixed member order, GNU tar
headers with mtime 0, uid/gid 0, empty owner names, mode 0444, no PAX records. It is hashed on its way
to disk, so it is never read back to hash it. An item its source skips (`SkipSample`: an unreadable video)
is left out and listed in the shard row's `skipped` (present only when something was skipped).
"""

from __future__ import annotations

import io
import tarfile

from synthvid.manifests import layout
from synthvid.manifests.hashing import HashingWriter
from synthvid.manifests.payload import PayloadSpec

from .sample import SkipSample, encode_sample


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o444
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def write_shard(source, seed: int, shard_index: int, count: int, per_shard: int, path: str,
                payload: PayloadSpec | None = None) -> tuple[dict, list[dict]]:
    """Write shard `shard_index` to `path`, frames as `payload` (default: lossless svf). Returns (shard
    row, sample rows). `source` is a ShardSource (factory.pipeline.jobs): a variant Recipe or a PoolRecipe."""
    name = layout.shard_name(source.name, shard_index)
    rows, skipped = [], []
    with open(path, "wb") as raw:
        hashing = HashingWriter(raw)
        with tarfile.open(fileobj=hashing, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for index in layout.shard_range(shard_index, count, per_shard):
                try:
                    members, row = encode_sample(*source.render_sample(seed, index), payload)
                except SkipSample as e:
                    skipped.append({"key": layout.sample_key(index), "index": index, "reason": str(e)})
                    continue
                offsets = {}
                for member, data in members:
                    if len(member) >= 100:
                        raise ValueError(f"member name {member!r} needs a long-name header")
                    offsets[member] = hashing.size + tarfile.BLOCKSIZE   # one 512-byte header per member
                    tar.addfile(_tarinfo(member, len(data)), io.BytesIO(data))
                payload_member, payload_bytes = members[0]
                rows.append({**row, "shard": name, "payload_offset": offsets[payload_member],
                             "payload_bytes": len(payload_bytes)})
    shard = {"name": name, "count": len(rows), "bytes": hashing.size, "sha256": hashing.sha.hexdigest()}
    return ({**shard, "skipped": skipped} if skipped else shard), rows
