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
from synthvid.factory.pipeline.payloads import PayloadRequest
from synthvid.factory.tools.source import ProceduralSource
from synthvid.manifests import layout
from synthvid.manifests.payload import FramesPayload, PayloadSpec, encode_frames
from synthvid.manifests.reader import open_dataset
from synthvid.manifests.verify import verify_dataset

VARIANT = "accelerating-shapes"
PARAMS = {"size": 32, "frames_min": 6, "frames_max": 9, "objects": 40}

# The tiny build of each payload kind a build can write.
GOLDEN_BUILD = {
    "svf": {
        "accelerating-shapes-000000.tar": "960db6a65677040393d11371024c851ef618ac65f682617165dddbf88a7d7d9d",
        "accelerating-shapes-000001.tar": "bd1713d4d77ef405d82f0e99309734fbde5d906f950a208f9b7403fe686cab5b",
        "card.json": "79916ca6bfbe139b4ba8e4cbac7cd48475f10a16423f70ce56517eab15043009",
        "manifest-samples.parquet": "7b682a5f0b0bf3e031d9942d10ddcdff7734cec589b6ec0e81d9050d109118b7",
        "manifest-shards.parquet": "18dade8c6bdab0a21b1c6793327d1db4ed60408956f6a628ae8bb42f6fc37a91",
    },
    "svj": {
        "accelerating-shapes-000000.tar": "edc29f2c5985ee2c820b569b200adeb98ca1ba9936b479567426b532a9df18e3",
        "accelerating-shapes-000001.tar": "b2c32d34d33cfe370760e487b9610c3998cf6069b9f4e02df4dbb350d254eadf",
        "card.json": "88caeb92537eea4b9823dc5e3e64befb4b4cf8e7837ed4dbdbf046b54c910252",
        "manifest-samples.parquet": "3ecf6e7d3795b326ff9c9ccb95e38453930b6c02b8da3030400856df32544606",
        "manifest-shards.parquet": "de41eaf35b7c0790a1ecc918600c6fae18eb61356faa42fb3ced6dcbc6d0abe5",
    },
}
# One payload of each kind, encoded from a formula (no renderer): the codecs' bytes alone.
GOLDEN_PAYLOADS = {
    "svf": "662ac4c277e94604248aac5b9aa6d7f28ed196ff925111ae4276c4ffc8f5a0d7",
    "svj": "89ed372789590c4629151761ffd724d9eeff3f3d631db2b0edc2d9dd4af2abc4",
}

BUMP = ("the bytes changed. If on purpose: bump the resume identity (synthvid.__version__ or "
        "manifests.layout.SCHEMA_VERSION) so no build resumes across the change, note it in the release, and "
        "re-pin these digests in tests/test_golden.py")


def _card_digest(data: bytes) -> str:
    card = json.loads(data)
    card.pop("code_version")            # the commit that wrote it: provenance, not content
    return hashlib.sha256(json.dumps(card, sort_keys=True).encode()).hexdigest()


def _tiny(out, kind: str):
    build_variants([from_variant(VARIANT, PARAMS)], BuildOptions(
        str(out), videos=3, seed=11, per_shard=2, inline=True, progress=False, payload=PayloadRequest(kind)))
    return out / VARIANT


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory):
    return _tiny(tmp_path_factory.mktemp("golden"), "svf")


@pytest.mark.parametrize("kind", list(GOLDEN_BUILD))
def test_tiny_build_bytes_are_pinned(kind, tiny_build, tmp_path):
    built = tiny_build if kind == "svf" else _tiny(tmp_path, kind)
    names = sorted(p.name for p in built.iterdir() if p.is_file() and p.name != layout.BUILD_LOG)
    got = {}
    for name in names:
        data = (built / name).read_bytes()
        got[name] = _card_digest(data) if name == layout.CARD else hashlib.sha256(data).hexdigest()
    card = json.loads((built / layout.CARD).read_bytes())
    assert card["payload"]["kind"] == kind
    assert got == GOLDEN_BUILD[kind], (f"{BUMP}:\nGOLDEN_BUILD[{kind!r}] = {json.dumps(got, indent=4)}\n"
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
