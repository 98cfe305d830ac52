"""Pinned bytes: a tiny build's shard, manifests and card, and one payload of each kind, against sha256
digests recorded here. Nothing else in the suite notices output that changes between two commits (every
other determinism test compares two builds of the same checkout).

When one of these fails on purpose (a renderer, payload, schema or card change):
  * a build resumed across the change would mix old and new shards, unless the resume identity changes:
    bump `synthvid.__version__` (the fingerprint holds it) or `manifests.layout.SCHEMA_VERSION`, and say so
    in the release notes;
  * then re-pin the digests below from the failure message.
When it fails after a dependency upgrade (the card lists the versions that decide the bytes), the versions
changed the bytes: re-pin, and the fingerprint already keeps old shards from being resumed.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import xxhash

from synthvid.factory.generate.recipe import from_variant
from synthvid.factory.pipeline.build import BuildOptions, build_variants
from synthvid.factory.tools.source import ProceduralSource
from synthvid.manifests import layout
from synthvid.manifests.payload import FramesPayload, PayloadSpec, encode_frames
from synthvid.manifests.reader import open_dataset
from synthvid.manifests.verify import verify_dataset

VARIANT = "accelerating-shapes"
PARAMS = {"size": 32, "frames_min": 6, "frames_max": 9, "objects": 40}

GOLDEN_BUILD = {
    "accelerating-shapes-000000.tar": "644bdb876d3234252e68239ec1385b2f219664ef1dd24dcbd39c93599d5ab846",
    "accelerating-shapes-000001.tar": "75c4fd8fca524b66851a525525f05573fbfdadb650919988ceca55f996607e64",
    "manifest-samples.parquet": "8969f62c80cee6a77e76f339ce17986ca37ba3a0c6167f8187b8d21fb68ac0fa",
    "manifest-shards.parquet": "830d1d53b0084b160ec4976d788086f25254178f5635729ff6274a6528fba9df",
    "card.json": "8bb6546d464a10c27bad6ff61e8e0fc6a94029d2cb188621d07e173c54a2e509",
}
# One payload of each kind (the factory writes svf today; svj is pinned at the payload level until builds
# can choose it, then add its tiny build above).
GOLDEN_PAYLOADS = {
    "svf": "3ee4e357220deec38595746248f1558c4ef894574d6f03f3275744eb9c3dccf0",
    "svj": "429a849b6c6f25b67e990a17ea0f99743564f61185eefb7bf8376967e5ba8613",
}

BUMP = ("the bytes changed. If on purpose: bump the resume identity (synthvid.__version__ or "
        "manifests.layout.SCHEMA_VERSION) so no build resumes across the change, note it in the release, and "
        "re-pin these digests in tests/test_golden.py")


def _card_digest(data: bytes) -> str:
    card = json.loads(data)
    card.pop("code_version")            # the commit that wrote it: provenance, not content
    return hashlib.sha256(json.dumps(card, sort_keys=True).encode()).hexdigest()


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("golden")
    build_variants([from_variant(VARIANT, PARAMS)],
                   BuildOptions(str(out), videos=3, seed=11, per_shard=2, inline=True, progress=False))
    return out / VARIANT


def test_tiny_build_bytes_are_pinned(tiny_build):
    got = {}
    for name in GOLDEN_BUILD:
        data = (tiny_build / name).read_bytes()
        got[name] = _card_digest(data) if name == layout.CARD else hashlib.sha256(data).hexdigest()
    card = json.loads((tiny_build / layout.CARD).read_bytes())
    assert got == GOLDEN_BUILD, (f"{BUMP}:\nGOLDEN_BUILD = {json.dumps(got, indent=4)}\n"
                                 f"(software that decides the bytes here: {card['software']})")


def _frames() -> np.ndarray:
    """A smooth, moving test pattern made from a formula (no RNG, no renderer)."""
    t, y, x = np.meshgrid(np.arange(5), np.arange(24), np.arange(32), indexing="ij")
    r = (x * 8 + t * 16) % 256
    g = (y * 10) % 256
    b = ((x + y + 3 * t) // 4 % 2) * 200
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("kind", list(GOLDEN_PAYLOADS))
def test_payload_bytes_are_pinned(kind):
    data = encode_frames(_frames(), fps=25, spec=PayloadSpec(kind))
    digest = hashlib.sha256(data).hexdigest()
    assert digest == GOLDEN_PAYLOADS[kind], f"{kind}: {BUMP}:\n    {kind!r}: {digest!r},"


def test_procedural_source_reproduces_the_manifest_frames_hash(tiny_build):
    """The trainer's renderer (`synthvid.sources` entry point, any frame from (latents, t)) reproduces what
    the factory streamed into the build, frame for frame: the manifest's frames_hash, and the stored payload."""
    source = ProceduralSource(VARIANT, seed=11, overrides=PARAMS)
    rows = pq.read_table(tiny_build / layout.SAMPLES_MANIFEST).to_pylist()
    assert len(rows) == 3
    for row in rows:
        frames = source.render(row["index"], list(range(row["frames"])))
        h = xxhash.xxh3_128()
        for f in frames:
            h.update(np.ascontiguousarray(f).data)
        assert "xxh3_128:" + h.hexdigest() == row["frames_hash"], row["key"]
    stored = {s["__key__"]: s for s in open_dataset(str(tiny_build)).iter_samples()}
    assert np.array_equal(FramesPayload(stored["00000002"]["svf"]).frames(), source.render(2, range(rows[2]["frames"])))
    assert verify_dataset(str(tiny_build), deep=True).ok
