"""Natural-image sources (factory/pools/natural.py): folders, list files, shards, the bundled default."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from synthvid.factory.pools.natural import (
    SKIMAGE_IMAGES,
    NaturalImageError,
    NaturalImageSource,
    UnreadableImage,
    seeded_order,
    shuffle_key,
)


def _png_bytes(seed: int, size=(24, 16), mode="RGB") -> bytes:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=None).convert(mode).save(buf, "PNG")
    return buf.getvalue()


def _make_folder(root, n=6):
    """n images in nested class folders, in jpg / png / webp."""
    exts = ["png", "jpg", "webp"]
    for i in range(n):
        d = root / f"class{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        img = Image.open(io.BytesIO(_png_bytes(i))).convert("RGB")
        img.save(d / f"img{i}.{exts[i % 3]}")
    (root / "notes.txt").write_text("not an image")
    return root


def test_folder_recursive_and_loads(tmp_path):
    root = _make_folder(tmp_path / "imgs")
    src = NaturalImageSource.from_spec(str(root), seed=0, pool_size=None)
    assert src.kind == "folder" and len(src.items) == 6 and src.available == 6 and src.skipped == 0
    assert all(i.startswith("class") for i in src.items)          # ids are paths relative to the root
    img = src.load(0, 32)
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    assert src.load(1, None).shape == (16, 24, 3)                  # original size kept when size is None
    assert "user-supplied" in src.licence
    assert src.describe()["pool_size"] == 6


def test_missing_and_empty_folder_are_clear_errors(tmp_path):
    with pytest.raises(NaturalImageError, match="does not exist") as e:
        NaturalImageSource.from_spec(str(tmp_path / "nope"), 0, 5)
    assert str(tmp_path / "nope") in str(e.value) and "scikit-image" in str(e.value)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("x")
    with pytest.raises(NaturalImageError, match="holds no images") as e:
        NaturalImageSource.from_spec(str(empty), 0, None)
    assert str(empty) in str(e.value)


def test_unreadable_images_are_skipped_and_counted(tmp_path):
    root = _make_folder(tmp_path / "imgs", n=6)
    (root / "class0" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage, not a jpeg")
    (root / "class1" / "empty.png").write_bytes(b"")
    src = NaturalImageSource.from_spec(str(root), seed=3, pool_size=None)   # all readable ones
    assert src.available == 8
    assert src.skipped == 2 and sorted(src.skipped_ids) == ["class0/broken.jpg", "class1/empty.png"]
    assert len(src.items) == 6
    for i in range(len(src.items)):
        assert src.load(i, 8).shape == (8, 8, 3)
    # a pool that needs the broken files' slots is filled from the next readable candidates
    assert len(NaturalImageSource.from_spec(str(root), seed=3, pool_size=6).items) == 6
    # without validation the broken file is in the pool, and loading it raises a clear error
    raw = NaturalImageSource.from_spec(str(root), seed=3, pool_size=None, validate="none")
    bad = [i for i, item in enumerate(raw.items) if item in ("class0/broken.jpg", "class1/empty.png")]
    with pytest.raises(UnreadableImage, match="broken.jpg|empty.png"):
        raw.load(bad[0], 8)


def test_pool_larger_than_source_is_an_error(tmp_path):
    root = _make_folder(tmp_path / "imgs", n=4)
    with pytest.raises(NaturalImageError, match="pool of 5 images but .* holds only 4"):
        NaturalImageSource.from_spec(str(root), 0, 5)
    (root / "class0" / "broken.png").write_bytes(b"nope")
    with pytest.raises(NaturalImageError, match="only 4 of the 5 .* readable"):
        NaturalImageSource.from_spec(str(root), 0, 5)
    with pytest.raises(NaturalImageError, match="holds only 13"):
        NaturalImageSource.from_spec(None, 0, 14)


def test_deterministic_shuffle_keyed_by_seed_and_relpath(tmp_path):
    root = _make_folder(tmp_path / "a", n=9)
    a = NaturalImageSource.from_spec(str(root), seed=7, pool_size=4, validate="none").items
    b = NaturalImageSource.from_spec(str(root), seed=7, pool_size=4, validate="none").items
    c = NaturalImageSource.from_spec(str(root), seed=8, pool_size=9, validate="none").items
    assert a == b and len(a) == 4
    assert c != NaturalImageSource.from_spec(str(root), seed=7, pool_size=9, validate="none").items
    # the order is sha256(f"{seed}:{relpath}"), independent of where the root lives
    moved = tmp_path / "elsewhere" / "b"
    moved.parent.mkdir()
    root.rename(moved)
    assert NaturalImageSource.from_spec(str(moved), seed=7, pool_size=4, validate="none").items == a
    rel = sorted(a)
    assert seeded_order(7, rel) == sorted(rel, key=lambda r: shuffle_key(7, r))
    import hashlib
    assert shuffle_key(7, "x/y.jpg") == hashlib.sha256(b"7:x/y.jpg").digest()
    # a pool of N is the first N of the full order
    full = NaturalImageSource.from_spec(str(moved), seed=7, pool_size=None, validate="none").items
    assert full[:4] == a


def test_list_file(tmp_path):
    root = _make_folder(tmp_path / "imgs", n=3)
    lst = tmp_path / "list.txt"
    lst.write_text("# my images\nimgs/class0/img0.png\n\nimgs/class1/img1.jpg\n" + str(root / "class2/img2.webp") + "\n")
    src = NaturalImageSource.from_spec(str(lst), 1, None)
    assert src.kind == "list" and len(src.items) == 3
    assert src.load(0, 16).shape == (16, 16, 3)
    lst2 = tmp_path / "bad.txt"
    lst2.write_text("imgs/missing.png\n")
    with pytest.raises(NaturalImageError, match="only 0 of the 1"):
        NaturalImageSource.from_spec(str(lst2), 1, None)


def test_tar_shards_at_a_url(tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    for s in range(2):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for k in range(3):
                data = _png_bytes(10 * s + k, mode="L" if k == 0 else "RGB")
                info = tarfile.TarInfo(f"{s:03d}_{k}.png")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            info = tarfile.TarInfo("meta.json")
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
        fs.pipe(f"/natshards/train-{s:03d}.tar", buf.getvalue())
    src = NaturalImageSource.from_spec("memory://natshards/train-*.tar", seed=0, pool_size=5)
    assert src.kind == "shards" and src.available == 6 and len(src.items) == 5
    assert all("::" in i for i in src.items)
    imgs = [src.load(i, 12) for i in range(5)]
    assert all(im.shape == (12, 12, 3) for im in imgs)
    whole = NaturalImageSource.from_spec("memory://natshards", seed=0, pool_size=None)
    assert whole.available == 6
    fs.rm("/natshards", recursive=True)


def test_default_skimage_source_offline_and_licensed():
    src = NaturalImageSource.from_spec(None, seed=0, pool_size=None)
    assert src.kind == "skimage" and len(src.items) == len(SKIMAGE_IMAGES) == 13
    for name, lic in SKIMAGE_IMAGES.items():
        assert name in src.licence and lic
        assert any(w in lic for w in ("CC0", "public domain", "no known copyright"))
    small = NaturalImageSource.from_spec("skimage", seed=0, pool_size=3)
    assert small.items == src.items[:3]
    assert sum(name in small.licence for name in SKIMAGE_IMAGES) == 3   # licence lists the pool's images
    img = src.load(src.items.index("skimage:camera"), 20)                # greyscale -> RGB
    assert img.shape == (20, 20, 3) and np.array_equal(img[..., 0], img[..., 1])
