"""Pool sizes follow the paper at paper size and scale with a smaller build; cards, `list` and `build --dry-run`
say what a build uses and why; the bundled demo photographs are announced above demo size."""

from __future__ import annotations

import json
import math
import os

import pytest

from synthvid.factory.cli import main
from synthvid.factory.generate.recipe import from_variant
from synthvid.factory.generate.variants import get_variant
from synthvid.factory.pipeline.build import BuildOptions, build_variants
from synthvid.factory.pools.attach import DEMO_VIDEOS, PoolOptions, plan_pools
from synthvid.factory.pools.sizing import PAPER_IMAGES, pool_items_needed

PAPER = 9537


def size(name: str, source: str, videos: int, available=None, **overrides):
    params = from_variant(name, overrides).params
    return pool_items_needed(params, source, videos, available, get_variant(name).paper_pools)


def test_paper_size_builds_use_the_paper_pools():
    assert size("accelerating-textures", "textures", PAPER).items == 300_000
    assert size("accelerating-stylegan", "stylegan", PAPER).items == 300_000
    assert size("accelerating-image-crops", "images", PAPER).items is None          # every image of the source
    assert size("image-crops-colour-bg", "images", PAPER).items == 300_000         # the paper's 300k subset
    assert size("saturated-image-crops-image-bg", "images", PAPER).items == 300_000
    for source in ("images", "stylegan"):
        assert size("image-stylegan-crops", source, PAPER).items == 150_000         # 150k + 150k
    assert size("dynamic-stylegan-videos", "stylegan-clips", PAPER).items == PAPER   # one clip per video
    assert size("accelerating-textures", "textures", 4 * PAPER).items == 300_000    # larger builds: the paper's


def test_smaller_builds_take_the_same_items_per_video():
    assert size("accelerating-textures", "textures", 64).items == math.ceil(300_000 * 64 / PAPER) == 2014
    assert size("accelerating-image-crops", "images", 64).items == math.ceil(PAPER_IMAGES * 64 / PAPER)
    assert size("accelerating-textures", "textures", 1).items == 32 and size("accelerating-textures", "textures", 0).items == 8
    mixed = [size("image-texture-crops", s, 100).items for s in ("images", "textures")]
    assert mixed == [1573, 1573] and sum(mixed) == math.ceil(300_000 * 100 / PAPER)
    why = size("accelerating-textures", "textures", 64).why
    assert "300,000" in why and "9,537" in why and "64 videos" in why


def test_explicit_and_given_sizes():
    assert size("accelerating-textures", "textures", PAPER, pool_size=500).items == 500
    assert size("image-texture-crops", "images", PAPER, pool_size=501).items == 250
    assert size("image-texture-crops", "textures", PAPER, pool_size=501).items == 251
    assert size("accelerating-textures", "textures", PAPER, {"textures": 77}).items == 77
    given = size("accelerating-textures", "textures", PAPER, {"textures": 77})
    assert given.why == "the given pool, whole"


def test_demo_images_announced_above_demo_size(tmp_path):
    recipes = [from_variant(n) for n in ("accelerating-image-crops", "accelerating-textures",
                                         "accelerating-shapes-static-images")]
    plan = plan_pools(recipes, PoolOptions(PAPER, validate_images="none"))
    warning = plan.demo_warning()
    assert "accelerating-image-crops, accelerating-shapes-static-images crop natural images" in warning
    assert "--images" in warning and "13 bundled demo photographs" in warning
    images = next(u for u in plan.uses["accelerating-image-crops"] if u.source == "images")
    assert images.items == 13 and "the source holds 13" in images.why
    assert plan_pools(recipes, PoolOptions(DEMO_VIDEOS, validate_images="none")).demo_warning() is None
    folder = tmp_path / "imgs"
    folder.mkdir()
    from PIL import Image
    for i in range(3):
        Image.new("RGB", (20, 20), (i, 2 * i, 3 * i)).save(folder / f"{i}.png")
    assert plan_pools(recipes, PoolOptions(PAPER, images=str(folder))).demo_warning() is None


SMALL = {"size": 32, "frames_min": 3, "frames_max": 3, "objects": 10, "item_px": 16}


def test_card_says_how_pools_were_sized_and_that_demo_images_stood_in(tmp_path, capsys):
    videos = DEMO_VIDEOS + 1
    result, = build_variants([from_variant("accelerating-image-crops", SMALL)],
                             BuildOptions(str(tmp_path / "a"), videos=videos, per_shard=videos, inline=True,
                                          progress=False))
    assert "no --images was given" in capsys.readouterr().err
    card = json.load(open(os.path.join(result.url, "card.json")))
    assert card["images"]["source"] == "demo: scikit-image" and card["images"]["photographs"] == 13
    (entry,) = card["pool_sizes"]
    assert entry["source"] == "images" and entry["items"] == 13 and "holds 13" in entry["why"]
    explicit, = build_variants([from_variant("accelerating-image-crops", {**SMALL, "pool_size": 4})],
                               BuildOptions(str(tmp_path / "b"), videos=2, inline=True, progress=False))
    card = json.load(open(os.path.join(explicit.url, "card.json")))
    assert "pool_sizes" not in card and "images" not in card        # asked for: the params say it
    assert "no --images" not in capsys.readouterr().err


def test_list_and_dry_run_show_pool_sizes_sources_and_cost(tmp_path, capsys):
    assert main(["list", "*textures", "--videos", "64"]) == 0
    out = capsys.readouterr().out
    assert "pool textures: 2,014 (the paper's 300,000 at 9,537 videos, scaled to 64 videos)" in out
    assert main(["build", "accelerating-textures", "image-texture-crops", "--dry-run", "--videos", "100",
                 "--sample", "1", "--size", "32", "--frames", "3", "--param", "item_px=16",
                 "--pools-cache", str(tmp_path / "cache")]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    pools = [line for line in lines if line.strip().startswith("pool ")]
    assert len(pools) == 3 and "pool textures: 3,146 items" in pools[0]
    assert "pool images: 13 items" in pools[1] and "demo photographs" in pools[1]
    assert "pool textures: 1,573 items" in pools[2] and "CPU-hours" in pools[2]
    pool_total = float(next(line for line in lines if line.startswith("pools (")).split()[-1])
    videos_total = sum(float(line.split()[-1]) for line in lines[1:] if line.split()[0] in
                       ("accelerating-textures", "image-texture-crops"))
    total = float(next(line for line in lines if line.startswith("total")).split()[-1])
    assert pool_total > 0 and total == pytest.approx(pool_total + videos_total, abs=0.02)
    assert "demo" in captured.err and "--images" in captured.err
