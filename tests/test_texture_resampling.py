"""How a pool item becomes an object's texture (`item_resample`), and how a natural image becomes a square
item (`image_fit`): the authors' nearest-neighbour upsampling to (2 size)^2 is reproduced, and every choice
is recorded where it changes the bytes."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from synthvid.factory.generate.latents import make_latents
from synthvid.factory.generate.params import resolve
from synthvid.factory.generate.recipe import from_variant
from synthvid.factory.generate.render import Renderer
from synthvid.factory.pools.natural import NaturalImageSource
from synthvid.factory.pools.recipe import PoolRecipe, pool_recipe

RES, ITEM = 32, 16                        # an item of 16 px stands for a 64 x 64 texture: 4x4 blocks


class OneItem:
    items = 1

    def __init__(self, item):
        self.item = item

    def frame(self, i, t=0):
        return self.item

    def clip_length(self, i):
        return 1


ITEM_PIXELS = np.random.default_rng(3).integers(0, 256, (ITEM, ITEM, 3), dtype=np.uint8)


def _turning_square(resample: str):
    """One large square at the centre, turning 0.1 rad a frame, filled from the top-left of the texture."""
    params = resolve(from_variant("accelerating-textures").params,
                     {"size": RES, "item_px": ITEM, "objects": 1, "shapes": ["square"], "crop": "reference",
                      "speed_min": 0.0, "speed_max": 0.0, "acceleration_max": 0.0, "item_resample": resample})
    lat = make_latents(6, [{"radius": 14, "x0": 16, "y0": 16, "shape": "square", "rotation": 0.1, "item_u": 0.0}])
    return Renderer(lat, params, {"textures": OneItem(ITEM_PIXELS)})


def _authors_texture(renderer, t: int) -> tuple[np.ndarray, np.ndarray]:
    """The item resized to 2 RES with nearest neighbour, warped with the object's map by cv2.warpAffine,
    and where the object is (its interior, one pixel in from the edge)."""
    texture = cv2.resize(ITEM_PIXELS, (2 * RES, 2 * RES), interpolation=cv2.INTER_NEAREST)
    A = renderer.matrices(t)[0]
    cx, cy = (c[0] for c in renderer.centres(t))
    r = renderer.radius_f[0]
    M = np.concatenate([A, (np.array([cx, cy]) - A @ np.array([r, r]))[:, None]], 1)
    expected = cv2.warpAffine(texture, M, (RES, RES), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    corners = (np.array([cx, cy]) + (A @ (np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]).T * r / math.sqrt(2))).T)
    inside = np.zeros((RES, RES), np.uint8)
    cv2.fillConvexPoly(inside, np.rint(corners).astype(np.int32), 1)
    return expected, cv2.erode(inside, np.ones((3, 3), np.uint8)).astype(bool)


def test_nearest_reproduces_the_authors_upsampling():
    nearest, bilinear = _turning_square("nearest"), _turning_square("bilinear")
    for t in (0, 3, 5):
        expected, inside = _authors_texture(nearest, t)
        got = nearest.frame(t).astype(int)[inside]
        diff = np.abs(got - expected[inside])
        assert diff.max() <= 1, t                               # the remap's rounding of bilinear weights
        assert (diff == 0).mean() > 0.97, t
        other = np.abs(bilinear.frame(t).astype(int)[inside] - expected[inside])
        assert other.mean() > 5 * max(diff.mean(), 0.2), t      # bilinear upsampling is another texture


@pytest.mark.parametrize("resample", ["nearest", "bilinear"])
def test_atlas_and_per_object_warps_agree(resample):
    atlas, each = _turning_square(resample), _turning_square(resample)
    each.fill._atlas_ok = False                                 # the path dynamic crops take
    for t in (0, 4):
        a, b = atlas.frame(t).astype(int), each.frame(t).astype(int)
        assert np.abs(a - b).max() <= 1 and (a != b).mean() < 0.02


def test_nearest_needs_items_no_larger_than_the_texture():
    with pytest.raises(ValueError, match="item_resample"):
        from_variant("accelerating-textures", {"size": 64, "item_px": 256, "item_resample": "nearest"})


def test_resample_and_fit_recorded_only_when_not_the_defaults():
    default = from_variant("accelerating-image-crops").params
    assert "item_resample" not in default.to_dict() and "image_fit" not in default.to_dict()
    authors = from_variant("accelerating-image-crops", {"item_resample": "nearest", "item_px": 512}).params
    assert authors.to_dict()["item_resample"] == "nearest"
    plain = pool_recipe("images", default, 4)
    theirs = pool_recipe("images", resolve(authors, {"image_fit": "centre-crop"}), 4)
    assert "resample" not in plain.to_dict() and "fit" not in plain.to_dict()
    assert theirs.to_dict()["resample"] == "nearest" and theirs.to_dict()["fit"] == "centre-crop"
    assert plain.name != theirs.name and "nearest-centre-crop" in theirs.name
    textures = pool_recipe("textures", authors, 4)
    assert textures == PoolRecipe("textures", 4, 512, 0, description="textures pool")   # generated at item_px


def test_image_fit_squash_or_centre_crop():
    src = NaturalImageSource.from_spec(None, 0, None, validate="none")
    wide = next(i for i in range(len(src.items)) if src.load(i, None).shape[1] > src.load(i, None).shape[0] * 1.2)
    whole = src.load(wide, None)
    h, w = whole.shape[:2]
    centre = whole[:, (w - h) // 2:(w - h) // 2 + h]
    cropped = src.load(wide, 32, fit="centre-crop")
    squashed = src.load(wide, 32)
    from PIL import Image
    assert np.array_equal(cropped, np.asarray(Image.fromarray(centre).resize((32, 32), Image.BILINEAR)))
    assert np.array_equal(squashed, np.asarray(Image.fromarray(whole).resize((32, 32), Image.BILINEAR)))
    assert not np.array_equal(cropped, squashed)
    with pytest.raises(ValueError, match="fit"):
        src.load(wide, 32, fit="stretch")


def test_dynamic_crop_showing_in_one_corner_pixel():
    """An object whose box is one pixel (its corners touch pixel (0, 0)) gets its crop there too."""
    params = resolve(from_variant("dynamic-stylegan-crops").params,
                     {"size": RES, "item_px": ITEM, "objects": 1, "shapes": ["square"], "clip_frames": 2,
                      "speed_min": 0.0, "speed_max": 0.0, "acceleration_max": 0.0, "affine": False})
    lat = make_latents(2, [{"radius": 4, "x0": -3, "y0": -3, "shape": "square", "colour": (0, 0, 0)}])
    clip = np.stack([np.full((ITEM, ITEM, 3), 200, np.uint8), np.full((ITEM, ITEM, 3), 100, np.uint8)])

    class Clip(OneItem):
        def frame(self, i, t=0):
            return clip[t]

        def clip_length(self, i):
            return 2

    renderer = Renderer(lat, params, {"stylegan-clips": Clip(None)})
    frame = renderer.frame(0)
    assert frame[0, 0].tolist() == [200, 200, 200] and not frame[1:, :].any() and not frame[:, 1:].any()
