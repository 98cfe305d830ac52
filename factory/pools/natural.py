"""Natural-image sources for the image-crop variants (8, 14, 18-21, 25-28).

    src = NaturalImageSource.from_spec(spec, seed, pool_size)
    src.items        # ids of the pool, in pool order (first pool_size after the seeded shuffle)
    src.load(i, size)  # -> (size, size, 3) uint8
    src.licence      # text for the variant card
    src.skipped      # unreadable candidates skipped while selecting the pool (count); src.skipped_ids

A spec is one of
- ``None`` or ``"skimage"``: the default, natural photographs bundled with scikit-image (`skimage.data`,
  offline, no download), only those whose docstrings state a free licence (see `SKIMAGE_IMAGES`);
- a folder, local or any fsspec URL (``s3://bucket/imagenet/train``): every ``.jpg/.jpeg/.png/.webp``
  below it, recursively; ``.tar`` files below it are read as image shards (their image members count);
- a list file (a text file, one image path or URL per line; relative paths are relative to the list file;
  ``#`` comments and blank lines ignored);
- a single ``.tar`` shard or a glob of shards (``s3://bucket/shards/train-*.tar``).

Pool selection: candidates are ordered by ``sha256(f"{seed}:{relpath}")`` (relpath relative to the source
root, ``shard.tar::member`` for shard members), so the order depends only on the seed and the names, not on
the listing order or the root's location, and a prefix of 300k ImageNet images spans all classes. The pool
is the first ``pool_size`` *readable* candidates in that order: each candidate is probed (opened and
verified, ``validate="header"``; ``"decode"`` decodes fully, ``"none"`` trusts the listing) and unreadable ones
are skipped and counted. Asking for more images than the source holds (or more than remain readable) is an
error naming both numbers, never a silent shrink.

`load` converts any mode to RGB (grey replicated, alpha dropped) and makes it size x size: ``fit`` "squash"
(default) resizes the whole image ignoring its aspect ratio, as the reference does for every texture and
image it crops from (nearest-neighbour to 512 x 512), so a static replacement (variants 14) shows the whole
photograph, a little stretched; "centre-crop" keeps the aspect ratio and cuts the central square (closer
to the authors' static images, which reach the network through a training crop of the unsquashed
image). ``resample`` is "bilinear" (default, PIL's antialiased bilinear) or "nearest" (the reference's).
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import tarfile
from dataclasses import dataclass, field

import numpy as np

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp")
SHARD_EXTS = (".tar",)

# scikit-image bundled photographs and their licences, as stated in skimage.data's docstrings (0.26).
# Excluded: moon, page, motorcycle (no licence stated), text, horse, logo, colorwheel, phantom, chessboards
# (not natural photographs / synthetic), lfw_subset (face crops, licence of LFW).
SKIMAGE_IMAGES = {
    "astronaut": "public domain (NASA, Eileen Collins portrait; 'No known copyright restrictions')",
    "brick": "CC0 (CC0Textures, Bricks25)",
    "camera": "CC0 (photographer Lav Varshney)",
    "chelsea": "CC0 (photographer Stefan van der Walt)",
    "clock": "public domain (photographer Stefan van der Walt)",
    "coffee": "CC0 (photographer Rachel Michetti, courtesy Pikolo Espresso Bar)",
    "coins": "no known copyright restrictions (Brooklyn Museum collection)",
    "grass": "CC0 (DeviantArt linolafett, Grass-01)",
    "gravel": "CC0 (CC0Textures, Gravel04)",
    "hubble_deep_field": "public domain (NASA / HubbleSite)",
    "immunohistochemistry": "no known copyright restrictions (CMMI)",
    "retina": "CC0 1.0 (Mikael Haggstrom, Wikimedia Commons)",
    "rocket": "public domain (SpaceX, DSCOVR launch photo)",
}


class NaturalImageError(ValueError):
    """A natural-image source cannot serve the request; the message names the source and the fix."""


class UnreadableImage(NaturalImageError):
    pass


def shuffle_key(seed: int, relpath: str) -> bytes:
    return hashlib.sha256(f"{int(seed)}:{relpath}".encode("utf-8")).digest()


def seeded_order(seed: int, relpaths: list[str]) -> list[str]:
    """relpaths sorted by sha256(f"{seed}:{relpath}") (ties, impossible in practice, by name)."""
    return sorted(relpaths, key=lambda r: (shuffle_key(seed, r), r))


def _lower_ext(path: str) -> str:
    return posixpath.splitext(path.lower())[1]


def _to_rgb_array(img) -> np.ndarray:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA").convert("RGB")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    arr = np.asarray(img, dtype=np.uint8)
    return arr


FITS = ("squash", "centre-crop")


def _centre_square(arr: np.ndarray) -> np.ndarray:
    h, w = arr.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return arr[top:top + side, left:left + side]


def _resize(arr: np.ndarray, size: int | None, resample: str, fit: str = "squash") -> np.ndarray:
    if fit not in FITS:
        raise ValueError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")
    if fit == "centre-crop" and size is not None:
        arr = _centre_square(arr)
    if size is None or (arr.shape[0] == size and arr.shape[1] == size):
        return np.ascontiguousarray(arr)
    from PIL import Image

    modes = {"bilinear": Image.BILINEAR, "nearest": Image.NEAREST}
    if resample not in modes:
        raise ValueError(f"resample must be one of {sorted(modes)}, got {resample!r}")
    return np.asarray(Image.fromarray(arr).resize((int(size), int(size)), modes[resample]), dtype=np.uint8).copy()


def _decode(data: bytes, what: str, full: bool = True):
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        if full:
            img.load()
        else:
            img.verify()
        return img
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UnreadableImage(f"unreadable image {what}: {type(exc).__name__}: {exc}") from exc


@dataclass
class NaturalImageSource:
    kind: str                        # "skimage" | "folder" | "list" | "shards"
    root: str                        # what the user gave (URL / path), or "skimage"
    seed: int
    items: list[str]                 # ids of the pool, in pool order
    available: int                   # candidates the source holds
    licence: str
    skipped: int = 0
    skipped_ids: list = field(default_factory=list)
    # how to read the items: a URL of a list file may carry credentials, so none of this shows in a repr
    _fs: object = field(default=None, repr=False)
    _base: str = field(default="", repr=False)
    _paths: dict = field(default_factory=dict, repr=False)       # id -> (path or URL, member or None)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(cls, spec: str | None, seed: int, pool_size: int | None = None,
                  validate: str = "header") -> "NaturalImageSource":
        if validate not in ("header", "decode", "none"):
            raise ValueError(f"validate must be 'header', 'decode' or 'none', got {validate!r}")
        if pool_size is not None and int(pool_size) < 1:
            raise NaturalImageError(f"--pool-size must be a positive number of images, got {pool_size}")
        if spec is None or str(spec) == "skimage":
            src = cls._skimage(seed)
        else:
            src = cls._from_url(str(spec), seed)
        src._select(pool_size, validate)
        return src

    @classmethod
    def _skimage(cls, seed: int) -> "NaturalImageSource":
        import skimage

        ids = [f"skimage:{name}" for name in SKIMAGE_IMAGES]
        order = seeded_order(seed, ids)
        return cls("skimage", "skimage", int(seed), order, len(order),
                   f"scikit-image {skimage.__version__} bundled sample photographs (skimage.data)",
                   _paths={i: (i.split(":", 1)[1], None) for i in order})

    @classmethod
    def _from_url(cls, spec: str, seed: int) -> "NaturalImageSource":
        from synthvid.manifests.storage import safe_url, url_to_fs

        hint = ("pass a folder of .jpg/.png/.webp images (searched recursively), a list file with one image "
                "path per line, a .tar shard or a glob of shards, or leave the option out to use the bundled "
                "scikit-image photographs")
        fs, path = url_to_fs(spec)
        path = path.rstrip("/") or path
        is_glob = any(ch in safe_url(path) for ch in "*?[")     # a URL's query is no glob
        if is_glob:
            files = sorted(fs.glob(path))
            base = posixpath.dirname(path.split("*")[0].split("?")[0].split("[")[0]) or "/"
            kind = "shards" if any(_lower_ext(f) in SHARD_EXTS for f in files) else "folder"
        elif fs.isdir(path):
            files = sorted(fs.find(path))
            base = path
            kind = "shards" if any(_lower_ext(f) in SHARD_EXTS for f in files) else "folder"
        elif fs.isfile(path):
            base = posixpath.dirname(path)
            if _lower_ext(safe_url(path)) in SHARD_EXTS:
                files, kind = [path], "shards"
            elif _lower_ext(safe_url(path)) in IMAGE_EXTS:
                files, kind = [path], "folder"
            else:
                files, kind = cls._read_list(fs, path, spec), "list"
        else:
            raise NaturalImageError(f"image source {safe_url(spec)!r} does not exist; {hint}")

        paths: dict = {}
        for f in files:
            ext = _lower_ext(safe_url(f))
            if ext in IMAGE_EXTS:   # ids are stored (manifest `source`, sample JSON): never a URL's secrets
                paths[cls._rel(safe_url(f), base)] = (f, None)
            elif ext in SHARD_EXTS:
                try:
                    with fs.open(f, "rb") as fh, tarfile.open(fileobj=fh, mode="r:") as tar:
                        for m in tar.getmembers():
                            if m.isfile() and _lower_ext(m.name) in IMAGE_EXTS:
                                paths[f"{cls._rel(f, base)}::{m.name}"] = (f, m.name)
                except (tarfile.TarError, OSError) as exc:
                    raise NaturalImageError(f"image shard {safe_url(f)!r} of {safe_url(spec)!r} cannot be read as "
                                            f"tar: {exc}") from exc
        if not paths:
            what = "matches no files" if is_glob else ("holds no images" if kind != "list" else "lists no images")
            raise NaturalImageError(
                f"image source {safe_url(spec)!r} {what} (extensions {', '.join(IMAGE_EXTS)}, or .tar shards); {hint}")
        order = seeded_order(seed, list(paths))
        shown = safe_url(spec)    # cards and descriptions name the source, never its credentials
        licence = (f"user-supplied natural images from {shown} ({kind}); licence as granted by the source's "
                   "owner (the factory records no licence of its own for them)")
        return cls(kind, shown, int(seed), order, len(order), licence, _fs=fs, _base=base, _paths=paths)

    @staticmethod
    def _rel(path: str, base: str) -> str:
        if base and path.startswith(base.rstrip("/") + "/"):
            return path[len(base.rstrip("/")) + 1:]
        return path

    @staticmethod
    def _read_list(fs, path: str, spec: str) -> list[str]:
        try:
            text = fs.cat_file(path).decode("utf-8")
        except UnicodeDecodeError as exc:
            from synthvid.manifests.storage import safe_url

            raise NaturalImageError(f"{safe_url(spec)!r} is neither a folder nor a text list of image paths") from exc
        base = posixpath.dirname(path)
        out = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "://" in line:
                out.append(line)    # read through its own filesystem (`_read_bytes`)
            else:
                out.append(line if line.startswith("/") else posixpath.normpath(posixpath.join(base, line)))
        return out

    def _select(self, pool_size: int | None, validate: str) -> None:
        candidates = self.items
        want = len(candidates) if pool_size is None else int(pool_size)
        if want > len(candidates):
            raise NaturalImageError(
                f"asked for a pool of {want} images but {self.root!r} holds only {len(candidates)}; "
                f"lower --pool-size to at most {len(candidates)} or point at a larger source")
        chosen, skipped = [], []
        for item in candidates:
            if len(chosen) == want:
                break
            if validate != "none":
                try:
                    self._open(item, full=(validate == "decode"))
                except UnreadableImage:
                    skipped.append(item)
                    continue
            chosen.append(item)
        if pool_size is None and chosen:
            want = len(chosen)                       # no size asked: every readable image
        if len(chosen) < want:
            raise NaturalImageError(
                f"asked for a pool of {want} images but only {len(chosen)} of the {len(candidates)} in "
                f"{self.root!r} are readable ({len(skipped)} unreadable, e.g. {skipped[:3]}); lower --pool-size "
                f"to at most {len(chosen)} or repair the source")
        self.items = chosen
        self.skipped = len(skipped)
        self.skipped_ids = skipped
        if self.kind == "skimage":
            import skimage

            names = sorted(i.split(":", 1)[1] for i in chosen)
            self.licence = (f"scikit-image {skimage.__version__} bundled sample photographs (skimage.data): "
                            + "; ".join(f"{n}: {SKIMAGE_IMAGES[n]}" for n in names))

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.items)

    def _read_bytes(self, item: str) -> bytes:
        path, member = self._paths[item]
        try:
            if member is None and "://" in path:      # a URL line of a list file
                from synthvid.manifests.storage import url_to_fs

                fs, inner = url_to_fs(path)
                return fs.cat_file(inner)
            if member is None:
                return self._fs.cat_file(path)
            with self._fs.open(path, "rb") as fh, tarfile.open(fileobj=fh, mode="r:") as tar:
                f = tar.extractfile(member)
                if f is None:
                    raise UnreadableImage(f"shard member {item} is not a file")
                return f.read()
        except (OSError, tarfile.TarError, KeyError) as exc:
            raise UnreadableImage(f"cannot read image {item} of {self.root!r}: {exc}") from exc

    def _open(self, item: str, full: bool = True):
        if self.kind == "skimage":
            import skimage.data

            name = self._paths[item][0]
            arr = np.asarray(getattr(skimage.data, name)())
            if arr.dtype == bool:
                arr = arr.astype(np.uint8) * 255
            if arr.ndim == 2:
                arr = np.repeat(arr[..., None], 3, axis=2)
            return arr[..., :3].astype(np.uint8)
        return _decode(self._read_bytes(item), f"{item} of {self.root!r}", full=full)

    def load(self, i: int, size: int | None = 256, resample: str = "bilinear", fit: str = "squash") -> np.ndarray:
        """Pool image i as (size, size, 3) uint8, squashed or centre-cropped (`fit`); size None keeps the
        original."""
        item = self.items[int(i)]
        img = self._open(item, full=True)
        arr = img if isinstance(img, np.ndarray) else _to_rgb_array(img)
        return _resize(arr, size, resample, fit)

    def describe(self) -> dict:
        """What a variant card records about its natural-image pool."""
        return {"source": self.root, "kind": self.kind, "seed": self.seed, "pool_size": len(self.items),
                "available": self.available, "skipped_unreadable": self.skipped, "licence": self.licence}
