"""Labelled shard sets for the evaluation tests, written with the contract's own writers (manifests.payload's
encoder, manifests.schema's Parquet settings, manifests.layout's names): the layout `synthvid-factory ingest`
and `corrupt` publish, in miniature.

    write_labelled(out, videos=[(frames, label_index), ...], classes=("a", "b"), split=("ucf101", 1, "test"))

A sample is `<key>.<payload ext>` + `<key>.json`; the sample manifest carries `label_index` and `label`; the
card `classes`, `split`, `payload` and (UCF101-P) `corruption`. `member_ext` names the frames member without
encoding it (a payload kind this reader does not know).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import numpy as np
import xxhash

from synthvid.manifests import layout
from synthvid.manifests.payload import FramesEncoder, PayloadSpec
from synthvid.manifests.schema import SAMPLE_SCHEMA, SHARD_SCHEMA, rows_to_parquet_bytes

def _payload(frames: np.ndarray, kind: str) -> bytes:
    enc = FramesEncoder(25.0, spec=PayloadSpec(kind))
    for f in frames:
        enc.add(np.ascontiguousarray(f))
    return enc.finish()


def _shard(path: str, samples: list[tuple[str, bytes, bytes]]) -> dict[str, int]:
    """A plain tar of (member name, bytes) pairs; returns each member's data offset in the file."""
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in samples:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o444
            tar.addfile(info, io.BytesIO(data))
    with tarfile.open(path, "r") as tar:
        return {m.name: m.offset_data for m in tar.getmembers()}


def write_labelled(out: str, videos: list, classes, split=("ucf101", 1, "train"), *, kind: str = "svf",
                   per_shard: int = 4, corruption: dict | None = None, member_ext: str | None = None) -> str:
    """Write a labelled set of `videos` [(frames (T, H, W, 3) uint8, label_index)] at `out`; returns `out`."""
    os.makedirs(out, exist_ok=True)
    name = os.path.basename(out.rstrip("/"))
    ext = member_ext or kind
    rows, shard_rows = [], []
    for s in range(layout.num_shards(len(videos), per_shard)):
        shard = layout.shard_name(name, s)
        members, meta = [], {}
        for i in layout.shard_range(s, len(videos), per_shard):
            frames, label = videos[i]
            key = layout.sample_key(i)
            payload = _payload(frames, kind) if member_ext is None else b"not a frames payload" * 8
            members += [(f"{key}.{ext}", payload), (f"{key}.json", json.dumps({"index": i}).encode())]
            meta[key] = (i, frames, label, payload)
        offsets = _shard(os.path.join(out, shard), members)
        for key, (i, frames, label, payload) in meta.items():
            rows.append({"key": key, "shard": shard, "members": [f"{key}.{ext}", f"{key}.json"], "seed": 0,
                         "index": i, "frames": len(frames), "height": frames.shape[1], "width": frames.shape[2],
                         "fps": 25.0, "payload_kind": ext, "payload_sha256": hashlib.sha256(payload).hexdigest(),
                         "frames_hash": "xxh3_128:" + xxhash.xxh3_128(np.ascontiguousarray(frames).data).hexdigest(),
                         "payload_offset": offsets[f"{key}.{ext}"], "payload_bytes": len(payload),
                         "label": classes[label], "label_index": label, "source": f"{classes[label]}/v{i}.avi"})
        data = open(os.path.join(out, shard), "rb").read()
        shard_rows.append({"name": shard, "count": len(meta), "bytes": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()})
    samples_pq = rows_to_parquet_bytes(rows, SAMPLE_SCHEMA, "key")
    shards_pq = rows_to_parquet_bytes(shard_rows, SHARD_SCHEMA, "name")
    _write(out, layout.SAMPLES_MANIFEST, samples_pq)
    _write(out, layout.SHARDS_MANIFEST, shards_pq)
    digests = {layout.SAMPLES_MANIFEST: hashlib.sha256(samples_pq).hexdigest(),
               layout.SHARDS_MANIFEST: hashlib.sha256(shards_pq).hexdigest()}
    card = {"schema_version": layout.SCHEMA_VERSION, "variant": name, "classes": list(classes),
            "manifests": digests, "fingerprint": hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest(),
            "split": {"dataset": split[0], "split": split[1], "part": split[2]},
            "payload": {"kind": ext, "member": ext}, "totals": {"videos": len(videos), "shards": len(shard_rows)}}
    if corruption is not None:
        card["corruption"] = corruption
    _write(out, layout.CARD, json.dumps(card, indent=1).encode())
    return out


def _write(out: str, name: str, data: bytes) -> None:
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def natural_sets(root: str, train_per_class: int = 10, test_per_class: int = 4, frames: int = 24) -> dict:
    """A 3-class train set (svf) and test set (svj) of tests/videodata.py's natural clips (cyclists,
    animation, panned photos; 80x60): {"train": url, "test": url, "classes": names, "test_videos": [...]}."""
    from tests.videodata import UCF_CLASSES, TinySpec, make_clip

    spec = TinySpec(frames=frames)
    n = train_per_class + test_per_class
    videos = {(label, i): make_clip(label, i, spec) for label in range(len(UCF_CLASSES)) for i in range(n)}
    train = [(videos[label, i], label) for label in range(3) for i in range(train_per_class)]
    test = [(videos[label, i], label) for label in range(3) for i in range(train_per_class, n)]
    return {"train": write_labelled(os.path.join(root, "ucf-train"), train, UCF_CLASSES, ("ucf101", 1, "train")),
            "test": write_labelled(os.path.join(root, "ucf-test"), test, UCF_CLASSES, ("ucf101", 1, "test"),
                                   kind="svj"),
            "classes": UCF_CLASSES, "test_videos": test}
