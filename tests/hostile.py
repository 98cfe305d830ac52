"""Hostile datasets for the tests: a real build whose shards, manifests and card a forger then rewrites the
way someone who controls the whole published dataset could (every hash restated, so only the readers'
own checks stand in the way). No tests here."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import pyarrow.parquet as pq

from synthvid.manifests import layout
from synthvid.manifests.payload import DEFAULT_LIMITS, PayloadError, parse_head
from synthvid.manifests.schema import SAMPLE_SCHEMA, SHARD_SCHEMA, rows_to_parquet_bytes


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rows(vdir: str) -> tuple[list[dict], list[dict]]:
    """(sample rows, shard rows) of a local dataset folder."""
    return (pq.read_table(os.path.join(vdir, layout.SAMPLES_MANIFEST)).to_pylist(),
            pq.read_table(os.path.join(vdir, layout.SHARDS_MANIFEST)).to_pylist())


def restate(vdir: str, samples: list[dict], shards: list[dict]) -> None:
    """Write both manifests and record their sha256 in the card, as a build would have."""
    samples_pq = rows_to_parquet_bytes(samples, SAMPLE_SCHEMA, "key")
    shards_pq = rows_to_parquet_bytes(shards, SHARD_SCHEMA, "name")
    for name, data in ((layout.SAMPLES_MANIFEST, samples_pq), (layout.SHARDS_MANIFEST, shards_pq)):
        with open(os.path.join(vdir, name), "wb") as f:
            f.write(data)
    card_path = os.path.join(vdir, layout.CARD)
    card = json.load(open(card_path))
    card["manifests"] = {layout.SAMPLES_MANIFEST: _sha(samples_pq), layout.SHARDS_MANIFEST: _sha(shards_pq)}
    with open(card_path, "w") as f:
        json.dump(card, f)


def replace_payload(vdir: str, key: str, data: bytes, row_shape: dict | None = None) -> str:
    """Put `data` in place of sample `key`'s frames member; restate its shard, the manifests and the card.
    The row's frames/height/width become `row_shape` where given, else what the payload declares when its
    head parses (a forger makes them agree). Returns the shard's name."""
    samples, shards = rows(vdir)
    row = next(r for r in samples if r["key"] == key)
    path = os.path.join(vdir, row["shard"])
    members = []
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            members.append((m, data if m.name == f"{key}.{layout.FRAMES_EXT}" else tar.extractfile(m).read()))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for m, body in members:
            m.size = len(body)
            tar.addfile(m, io.BytesIO(body))
    shard = buf.getvalue()
    with open(path, "wb") as f:
        f.write(shard)
    with tarfile.open(path) as tar:            # every later member of the shard moved: restate all offsets
        offsets = {m.name: m.offset_data for m in tar.getmembers()}
    for r in samples:
        if r["shard"] == row["shard"]:
            r["payload_offset"] = offsets[r["members"][0]]
    row.update(payload_bytes=len(data), payload_sha256=_sha(data))
    if row_shape is not None:
        row.update(row_shape)
    else:
        try:
            head = parse_head(data, DEFAULT_LIMITS)
            row.update(frames=head.num_frames, height=head.height, width=head.width)
        except PayloadError:
            pass
    for s in shards:
        if s["name"] == row["shard"]:
            s.update(bytes=len(shard), sha256=_sha(shard))
    restate(vdir, samples, shards)
    return row["shard"]
