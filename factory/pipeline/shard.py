"""One shard: render its videos, encode them, and write a byte-reproducible WebDataset tar.

A shard is a pure function of (recipe, seed, shard index, videos, videos per shard): fixed member order,
GNU tar headers with mtime 0, uid/gid 0, empty owner names, mode 0444, no PAX records.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import numpy as np
import xxhash

from synthvid.manifests import layout
from synthvid.manifests.hashing import HashingWriter
from synthvid.manifests.payload import FramesEncoder

from ..generate.latents import sample_latents
from ..generate.recipe import Recipe
from ..generate.render import Renderer


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o444
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def render_sample(recipe: Recipe, seed: int, index: int) -> tuple[list[tuple[str, bytes]], dict]:
    """(members in write order, manifest row without the shard name) of video `index`."""
    params = recipe.params
    latents = sample_latents(params, seed, index)
    renderer = Renderer(latents, params, pools=recipe.open_pools())
    encoder = FramesEncoder(fps=params.fps)
    frames_hash = xxhash.xxh3_128()
    buf = np.empty((params.size, params.size, 3), np.uint8)
    static = renderer.is_static
    for t in range(latents.frames):
        frame = renderer.frame(t, out=buf)
        frames_hash.update(frame.data)
        encoder.add(frame, same_as_previous=static and t > 0)
    payload = encoder.finish()

    key = layout.sample_key(index)
    meta = {"variant": recipe.name, "seed": seed, "index": index, "key": key, "frames": latents.frames,
            "fps": params.fps, "height": params.size, "width": params.size, "latents": latents.summary(),
            **renderer.sample_info()}
    meta_bytes = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    npy = io.BytesIO()
    np.save(npy, latents.to_records(), allow_pickle=False)
    names = layout.member_names(key)
    members = list(zip(names, [payload, meta_bytes, npy.getvalue()]))
    row = {"key": key, "members": names, "seed": seed, "index": index, "frames": latents.frames,
           "height": params.size, "width": params.size, "fps": params.fps,
           "payload_sha256": hashlib.sha256(payload).hexdigest(),
           "frames_hash": "xxh3_128:" + frames_hash.hexdigest(), "label": None, "source": None}
    return members, row


def write_shard(recipe, seed: int, shard_index: int, videos: int, per_shard: int,
                path: str, on_video=None) -> tuple[dict, list[dict]]:
    """Write shard `shard_index` to `path`. Returns (shard row, sample rows). `recipe` is anything with a
    `name` and `render_sample(seed, index) -> (members, row)`: a variant Recipe or a PoolRecipe."""
    name = layout.shard_name(recipe.name, shard_index)
    rows = []
    with open(path, "wb") as raw:
        hashing = HashingWriter(raw)
        with tarfile.open(fileobj=hashing, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for index in layout.shard_range(shard_index, videos, per_shard):
                members, row = recipe.render_sample(seed, index)
                offsets = {}
                for member, data in members:
                    if len(member) >= 100:
                        raise ValueError(f"member name {member!r} needs a long-name header")
                    offsets[member] = hashing.size + tarfile.BLOCKSIZE   # one 512-byte header per member
                    tar.addfile(_tarinfo(member, len(data)), io.BytesIO(data))
                payload_member = members[0][0]
                rows.append({**row, "shard": name, "payload_offset": offsets[payload_member],
                             "payload_bytes": len(members[0][1])})
                if on_video is not None:
                    on_video()
        size = hashing.size
    return {"name": name, "count": len(rows), "bytes": size, "sha256": hashing.sha.hexdigest()}, rows
