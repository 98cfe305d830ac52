"""Every kind of published variant loads, as it is, in the readers users have: Hugging Face `datasets`'
webdataset builder, plain `webdataset.WebDataset` and `tarfile`. Each yields the sample's members with
their bytes unchanged; the frames payload decodes through manifests.payload to the manifest's frames, and
the latents come back as one list or array per field.

INTEROP_VARIANTS is the table to extend: one entry per kind of dataset (name -> a function building it and
returning its folder). The ingested real-video variant (issue 13) belongs here too.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import numpy as np
import pytest

from synthvid.manifests import layout
from synthvid.manifests.latents import decode_latents
from synthvid.manifests.payload import Limits, open_payload, payload_member
from synthvid.manifests.reader import open_dataset

from .helpers import TINY, TINY_POOLS


def build_flat(root: str) -> str:
    """accelerating-shapes, `auto` payload (lossless svf for flat variants)."""
    return _build(root, "accelerating-shapes", TINY)


def build_textured(root: str) -> str:
    """accelerating-textures with a small texture pool, `auto` payload (JPEG svj for textures)."""
    return _build(root, "accelerating-textures", TINY_POOLS)


def _build(root: str, variant: str, params: dict) -> str:
    from synthvid.factory.generate.recipe import from_variant
    from synthvid.factory.pipeline.build import BuildOptions, build_variants

    build_variants([from_variant(variant, params)],
                   BuildOptions(root, videos=4, seed=2, per_shard=2, inline=True, progress=False))
    return os.path.join(root, variant)


# kind of dataset -> (builder, the payload kind `auto` must have chosen)
INTEROP_VARIANTS = {"flat": (build_flat, "svf"), "textured": (build_textured, "svj")}


@pytest.fixture(scope="module", params=sorted(INTEROP_VARIANTS))
def published(request, tmp_path_factory):
    """(dataset folder, payload kind, {key: manifest row}, {key: {member extension: bytes}} from tarfile)."""
    builder, kind = INTEROP_VARIANTS[request.param]
    url = builder(str(tmp_path_factory.mktemp(f"interop-{request.param}")))
    ds = open_dataset(url)
    assert ds.payload_kinds() == [kind]
    rows = {r["key"]: r for r in ds.samples.to_pylist()}
    members: dict[str, dict[str, bytes]] = {}
    for shard in ds.shards:
        with tarfile.open(os.path.join(url, shard.name)) as tar:
            for m in tar.getmembers():
                key, ext = m.name.split(".", 1)
                members.setdefault(key, {})[ext] = tar.extractfile(m).read()
    return url, kind, rows, members


def test_tarfile_members_match_the_manifest(published):
    url, kind, rows, members = published
    assert sorted(members) == sorted(rows)
    for key, row in rows.items():
        got = members[key]
        assert [f"{key}.{ext}" for ext in got] == row["members"] == layout.member_names(key, payload=kind)
        assert payload_member(got) == kind
        assert hashlib.sha256(got[kind]).hexdigest() == row["payload_sha256"]
        frames = open_payload(kind, got[kind], Limits.for_row(row)).frames()
        assert frames.shape == (row["frames"], row["height"], row["width"], 3)
        latents = decode_latents(got[layout.LATENTS_EXT])
        assert len(latents["radius"]) == json.loads(got["json"])["latents"]["objects"]


def test_webdataset_reads_every_sample(published):
    import webdataset as wds

    url, kind, rows, members = published
    seen = {}
    for sample in wds.WebDataset(open_dataset(url).shard_urls(), shardshuffle=False, empty_check=True):
        seen[sample["__key__"]] = sample
    assert sorted(seen) == sorted(rows)
    for key, sample in seen.items():
        assert sample[kind] == members[key][kind] and sample["json"] == members[key]["json"]
        with np.load(io.BytesIO(sample[layout.LATENTS_EXT]), allow_pickle=False) as npz:
            assert np.array_equal(npz["speed"], decode_latents(members[key][layout.LATENTS_EXT])["speed"])


def test_hugging_face_datasets_loads_the_shards(published, tmp_path):
    """`datasets.load_dataset("webdataset", data_files=...)` on the shards as published: the payload as raw
    bytes, the JSON as a dict, the latents as lists per field (schema 1's structured .npy made Arrow fail)."""
    import datasets

    url, kind, rows, members = published
    shards = open_dataset(url).shard_urls()
    ds = datasets.load_dataset("webdataset", data_files={"train": shards}, split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == len(rows)
    for sample in ds:
        key = sample["__key__"]
        assert sample[kind] == members[key][kind]                          # unknown extension: raw bytes
        assert sample["json"]["index"] == rows[key]["index"]
        lat = decode_latents(members[key][layout.LATENTS_EXT])
        assert set(sample[layout.LATENTS_EXT]) == set(lat)
        assert np.allclose(np.asarray(sample[layout.LATENTS_EXT]["speed"], np.float64), lat["speed"])
        frames = open_payload(kind, sample[kind], Limits.for_row(rows[key])).frames([0])
        assert frames.shape == (1, rows[key]["height"], rows[key]["width"], 3)
