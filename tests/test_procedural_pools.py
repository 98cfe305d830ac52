"""Every variant works as a procedural source (`procedural:<variant>`), pools included: given as built pool
URLs (`--procedural-pool KIND=URL`) or built small into the pools cache once. A procedural clip equals the
same video's frames in a shard set built with that seed and those pools."""

from __future__ import annotations

import os

import numpy as np
import pytest

from synthvid.factory.generate.recipe import from_variant
from synthvid.factory.generate.variants import list_variants
from synthvid.factory.pipeline.build import BuildOptions, build_pools, build_variants
from synthvid.factory.pipeline.payloads import PayloadRequest
from synthvid.factory.pools.recipe import PoolRecipe
from synthvid.factory.tools import source as source_module
from synthvid.factory.tools.source import ProceduralSource
from synthvid.manifests.payload import FramesPayload
from synthvid.manifests.reader import open_dataset
from synthvid.manifests.seeds import epoch_seed, substream
from synthvid.trainer import data as D

TINY = {"size": 32, "frames_min": 8, "frames_max": 10, "objects": 40, "item_px": 16, "clip_frames": 10}
FRAMES = [0, 3, 7]
# the first video of seed 1 that variants 14 and 15 replace by a static pool image (its own Bernoulli draw)
STATIC = next(i for i in range(10_000) if substream(1, i, "static").random(2)[0] < 0.05)


def tiny(name: str) -> dict:
    return {k: v for k, v in TINY.items() if not (k == "objects" and from_variant(name).params.objects == 0)}


@pytest.fixture(scope="module")
def pools(tmp_path_factory) -> dict:
    """Built pools of every kind, 4 items of 16 px (clips of 10 frames), as `build-pool` makes them."""
    from synthvid.factory.pools.natural import NaturalImageSource

    root = str(tmp_path_factory.mktemp("pools"))
    images = NaturalImageSource.from_spec(None, 0, 4)
    recipes = [PoolRecipe("textures", 4, 16), PoolRecipe("stylegan", 4, 16),
               PoolRecipe("stylegan-clips", 4, 16, clip_frames=10), PoolRecipe("images", 4, 16, source=images)]
    build_pools(recipes, BuildOptions(root, inline=True, progress=False), folders=[r.kind for r in recipes])
    return {r.kind: os.path.join(root, r.kind) for r in recipes}


def _given(name: str, pools: dict) -> dict:
    return {k: pools[k] for k in from_variant(name).params.pools_needed()}


@pytest.mark.parametrize("name", [v.name for v in list_variants()])
def test_every_variant_renders_as_a_procedural_source(pools, name):
    src = ProceduralSource(name, 1, tiny(name), pools=_given(name, pools))
    assert src.pool_urls == _given(name, pools)
    for index in (0, STATIC):
        clip = src.render(index, FRAMES)
        assert clip.shape == (3, 32, 32, 3) and clip.dtype == np.uint8 and clip.any()
    if from_variant(name).params.static_fraction > 0:      # the video replaced by one pool image
        assert all(np.array_equal(clip[0], f) for f in clip[1:])


def _shard_frames(url: str, index: int, frames) -> np.ndarray:
    for sample in open_dataset(url).iter_samples():
        if int(sample["__key__"]) == index:
            payload = FramesPayload(sample[next(k for k in sample if k.endswith("svf"))])
            return payload.frames(frames)
    raise AssertionError(f"no video {index} in {url}")


@pytest.mark.parametrize("name", ["accelerating-textures", "accelerating-shapes-static-images", "image-stylegan-crops",
                                  "dynamic-stylegan-crops", "dynamic-stylegan-videos"])
def test_procedural_clip_equals_the_shard_set_built_with_those_pools(tmp_path, pools, name):
    seed, videos = 1, max(8, STATIC + 1)
    built = build_variants([from_variant(name, tiny(name))],
                           BuildOptions(str(tmp_path), videos=videos, seed=seed, per_shard=7, inline=True,
                                        progress=False, pool_urls=_given(name, pools),
                                        payload=PayloadRequest("svf")))   # lossless: equal bit for bit
    src = ProceduralSource(name, seed, tiny(name), pools=_given(name, pools))
    for index in sorted({0, STATIC, videos - 1}):
        assert np.array_equal(src.render(index, FRAMES), _shard_frames(built[0].url, index, FRAMES)), index
    assert not os.path.exists(tmp_path / "_pools")                    # the given pools, nothing built


def test_pools_not_given_are_built_small_into_the_cache_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYNTHVID_POOLS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(source_module, "_ATTACHED", {})
    name, overrides = "accelerating-textures", {**tiny("accelerating-textures"), "pool_size": 3}
    first = ProceduralSource(name, 2, overrides)
    note = capsys.readouterr().err
    assert "--procedural-pool textures=URL" in note and "3-item textures pool" in note
    (kind, url), = first.pool_urls.items()
    assert kind == "textures" and url.startswith(str(tmp_path / "cache"))
    clip = first.render(4, FRAMES)
    monkeypatch.setattr(source_module, "_ATTACHED", {})                # another process: plans again
    again = ProceduralSource(name, 2, overrides)
    assert capsys.readouterr().err == ""                                # found complete: not rebuilt
    assert again.pool_urls == first.pool_urls and np.array_equal(again.render(4, FRAMES), clip)
    given = ProceduralSource(name, 2, overrides, pools=first.pool_urls)  # what a loader worker receives
    assert np.array_equal(given.render(4, FRAMES), clip)


def test_pool_errors_are_clear(pools):
    with pytest.raises(ValueError, match="reads no pools"):
        ProceduralSource("accelerating-shapes", 0, tiny("accelerating-shapes"), pools={"textures": pools["textures"]})
    with pytest.raises(ValueError, match="not \\['images'\\]"):
        ProceduralSource("accelerating-textures", 0, tiny("accelerating-textures"), pools={"images": pools["images"]})
    with pytest.raises(D.DataError, match="holds 'stylegan' items, not 'textures'"):
        D.open_source("procedural:accelerating-textures",
                      D.SourceOptions(procedural_params=tiny("accelerating-textures"),
                                      procedural_pools={"textures": pools["stylegan"]}))


def test_trainer_reads_a_procedural_pool_variant(pools):
    from synthvid.trainer import cli

    src = D.open_source("procedural:image-stylegan-crops",
                        D.SourceOptions(epoch_size=8, procedural_params=tiny("image-stylegan-crops"),
                                        procedural_pools=_given("image-stylegan-crops", pools)))
    assert src.pools == _given("image-stylegan-crops", pools)
    (index, frames, _), = list(src.read([(13, 0)], D.Stats(), seed=0, epoch=0))
    direct = ProceduralSource("image-stylegan-crops", epoch_seed(0, 0), tiny("image-stylegan-crops"), pools=src.pools)
    assert index == 13 and np.array_equal(frames.frames(FRAMES), direct.render(13, FRAMES))
    args = cli.parser().parse_args(["pretrain", "--data", "procedural:image-stylegan-crops", "--out", "o",
                                    "--procedural-pool", f"images={pools['images']}",
                                    "--procedural-pool", f"stylegan={pools['stylegan']}"])
    from synthvid.trainer.pretrain import config_from_args
    assert config_from_args(args).procedural_pools == _given("image-stylegan-crops", pools)
