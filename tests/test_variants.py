"""Every registered variant: buildable ones build at tiny size through Ray and show their defining property
on the shards read back; the others refuse with a clear message. Adding a variant without a property check
here fails the suite."""

from __future__ import annotations

import json
import os
import tarfile

import numpy as np
import pytest

from synthvid.factory.pipeline.build import BuildOptions, build_variants
from synthvid.factory.generate.latents import SHAPE_CODE
from synthvid.factory.generate.recipe import from_variant
from synthvid.factory.generate.variants import NotBuildableError, list_variants
from synthvid.manifests import layout
from synthvid.manifests.latents import decode_latents
from synthvid.manifests.payload import open_payload, payload_member
from synthvid.manifests.reader import open_dataset

from .helpers import TINY_POOLS

VIDEOS = 4


def _samples(root, name):
    ds = open_dataset(os.path.join(root, name))
    out = []
    for shard in ds.shards:
        with ds.open_shard(shard) as f, tarfile.open(fileobj=f, mode="r|") as tar:
            members = {}
            for m in tar:
                members[m.name.split(".", 1)[1]] = tar.extractfile(m).read()
                if len(members) == 3:
                    ext = payload_member(members)
                    out.append((json.loads(members["json"]), open_payload(ext, members[ext]).frames(),
                                decode_latents(members[layout.LATENTS_EXT])))
                    members = {}
    return out


def static(samples):
    for meta, frames, lat in samples:
        assert all(np.array_equal(frames[0], f) for f in frames)
        assert np.all(lat["speed"] == 0)


def moving(samples):
    for meta, frames, lat in samples:
        assert not np.array_equal(frames[0], frames[-1])


def circles_only(samples):
    for _, _, lat in samples:
        assert np.all(lat["shape"] == SHAPE_CODE["circle"])


def mixed_shapes(samples):
    shapes = np.concatenate([lat["shape"] for _, _, lat in samples])
    assert len(np.unique(shapes)) == 6


def speed(lo, hi):
    def check(samples):
        s = np.concatenate([lat["speed"] for _, _, lat in samples])
        assert s.min() >= lo and s.max() <= hi and s.max() - s.min() > 0.5 * (hi - lo)
    return check


def no_affine(samples):
    for _, _, lat in samples:
        assert np.all(lat["rotation"] == 0) and np.all(lat["scale"] == 0) and np.all(lat["shear"] == 0)


def affine(samples):
    for _, _, lat in samples:
        assert np.abs(lat["rotation"]).max() > 0 and np.abs(lat["scale"]).max() > 0


def no_acceleration(samples):
    for _, _, lat in samples:
        assert np.all(lat["acceleration"] == 0)


def acceleration(samples):
    a = np.concatenate([lat["acceleration"] for _, _, lat in samples])
    assert np.abs(a).max() <= 0.03 and np.abs(a).max() > 0.02


FAST, SLOW = speed(1.2, 3.0), speed(0.6, 1.5)
PROPERTIES = {
    "static-circles": [static, circles_only, no_affine],
    "moving-circles": [moving, circles_only, FAST, no_affine, no_acceleration],
    "moving-shapes": [moving, mixed_shapes, FAST, no_affine, no_acceleration],
    "transforming-shapes": [moving, mixed_shapes, FAST, affine, no_acceleration],
    "accelerating-shapes": [moving, mixed_shapes, FAST, affine, acceleration],
    "moving-circles-slow": [moving, circles_only, SLOW, no_affine, no_acceleration],
    "moving-shapes-slow": [moving, mixed_shapes, SLOW, no_affine, no_acceleration],
    "transforming-shapes-slow": [moving, mixed_shapes, SLOW, affine, no_acceleration],
    "accelerating-shapes-slow": [moving, mixed_shapes, SLOW, affine, acceleration],
}

# Variants without pools; the pool variants have their own module (tests/test_pool_variants.py).
SHAPE_VARIANTS = [v.name for v in list_variants(buildable=True) if not v.resolve().pools_needed()]
NOT_BUILDABLE = [v.name for v in list_variants(buildable=False)]


@pytest.fixture(scope="module")
def built(tmp_path_factory, ray_runtime):
    root = str(tmp_path_factory.mktemp("variants"))
    build_variants([from_variant(n, TINY_POOLS) for n in SHAPE_VARIANTS], BuildOptions(root, videos=VIDEOS, seed=1,
                   per_shard=2, workers=2, progress=False))
    return root


def test_catalogue_is_complete():
    variants = list_variants()
    assert [v.number for v in variants] == list(range(1, 29))
    assert len({v.name for v in variants}) == 28
    assert all(v.paper_ucf101_ft and 60 < v.paper_ucf101_ft < 95 for v in variants)


@pytest.mark.parametrize("name", SHAPE_VARIANTS)
def test_defining_property_on_shards(built, name):
    assert name in PROPERTIES, f"add the defining property of {name} to PROPERTIES"
    samples = _samples(built, name)
    assert len(samples) == VIDEOS
    for meta, frames, _ in samples:
        assert meta["variant"] == name and frames.shape[1:] == (64, 64, 3) and 20 <= len(frames) <= 30
    for check in PROPERTIES[name]:
        check(samples)


def test_not_yet_buildable_variants_refuse_clearly():
    from synthvid.factory.generate.variants import Variant, require_buildable

    for name in NOT_BUILDABLE:
        with pytest.raises(NotBuildableError, match="cannot be built yet"):
            from_variant(name)
    future = Variant("future-variant", 99, "not yet", None, requires="needs a generator that does not exist")
    with pytest.raises(NotBuildableError, match="cannot be built yet: needs a generator"):
        require_buildable(future)
