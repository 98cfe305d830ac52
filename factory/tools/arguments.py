"""The flags of every `synthvid-factory` command, one spelling for each concept:

- `--storage-option KEY=VALUE` (repeatable; dotted keys nest, values parse as JSON where they can) on every
  command that reads or writes a store;
- `--pool-device auto|cpu|cuda` wherever StyleGAN pool items may be rendered;
- `--payload auto|svf|svj` (and `--jpeg-quality`) where variants are encoded: `build`;
- `--workers`, `--ray-address`, `--overwrite`, `--no-progress` with one meaning on `build`, `build-pool`,
  `ingest` and `corrupt`.
"""

from __future__ import annotations

import argparse
import json

from synthvid.manifests.payload import DEFAULT_QUALITY

from ..pipeline.options import DEFAULT_VIDEOS_PER_SHARD, DEVICES, PAPER_VIDEOS
from ..pipeline.payloads import MODES
from ..pipeline.publish import DEFAULT_THREADS
from ..pools.recipe import KINDS


def add_command(sub, name: str) -> argparse.ArgumentParser:
    """Add subcommand `name` with all its flags to an argparse subparsers object."""
    return _COMMANDS[name](sub)


def param(text: str) -> tuple[str, object]:
    """--param KEY=VALUE: the value parsed as JSON where it can be, else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def kind_url(text: str) -> tuple[str | None, str]:
    """KIND=URL, or a bare URL (the kind is then read from the pool's card)."""
    kind, sep, url = text.partition("=")
    if sep and "/" not in kind and ":" not in kind:
        if not kind or not url:
            raise argparse.ArgumentTypeError(f"expected KIND=URL (e.g. textures=./pools/textures), got {text!r}")
        return kind, url
    return None, text


# -------------------------------------------------------------------------------------- shared groups
def _storage(p) -> None:
    p.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                   help="fsspec storage option, repeatable; dotted keys nest (client_kwargs.region_name=eu-west-1), "
                        "values parse as JSON where they can (e.g. endpoint_url=http://127.0.0.1:8333). "
                        "Credentials are better left to the standard chain: AWS_* variables, profiles, roles")


def _runtime(p, what: str) -> None:
    p.add_argument("--workers", type=int, metavar="N",
                   help="start a local Ray runtime with N CPUs, and keep at most N shards in flight "
                        "(default: all cores)")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="join a running Ray cluster, e.g. auto (default: $RAY_ADDRESS, else start one)")
    p.add_argument("--overwrite", action="store_true", help=f"delete an earlier, different build of {what} first")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _pool_device(p) -> None:
    p.add_argument("--pool-device", default="auto", choices=DEVICES,
                   help="where StyleGAN pool items render: auto = one GPU per task when the Ray cluster has "
                        "GPUs, else CPU (GPU bytes are reproducible per GPU model, not equal to CPU bytes)")


def _payload(p) -> None:
    p.add_argument("--payload", default="auto", choices=MODES,
                   help="how frames are stored: svf = lossless (zstd per frame), svj = JPEG 4:4:4 per frame "
                        "(compact, GPU-decodable), auto = measured per variant on its first videos: the smallest "
                        "payload keeping every sampled video >= 36 dB PSNR (flat variants: svf; textured, "
                        "StyleGAN and image variants: svj at the quality found). Pools are always svf")
    p.add_argument("--jpeg-quality", type=int, default=None, metavar="Q",
                   help=f"--payload svj: the JPEG quality, 1-100 (default {DEFAULT_QUALITY})")


def _params(p) -> None:
    p.add_argument("--size", type=int, metavar="PX", help="frame side in px (default 256)")
    p.add_argument("--frames", metavar="N|MIN-MAX", help="frames per video (default 100-200)")
    p.add_argument("--param", action="append", type=param, metavar="KEY=VALUE",
                   help="override any generator parameter (factory/generate/params.py), e.g. --param objects=200")
    p.add_argument("--recipe", action="append", metavar="FILE.toml",
                   help="a recipe file: a registered base variant plus overrides (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")


def _variants(p) -> None:
    p.add_argument("variants", nargs="*", help="variant names (see `list`)")
    p.add_argument("--all", action="store_true", help="every variant that can be built")


def _pools(p) -> None:
    from ..pools.cache import default_pools_cache

    p.add_argument("--images", metavar="PATH_OR_URL",
                   help="natural images: a folder (recursive jpg/png/webp), a list file, .tar shards, any fsspec "
                        "URL; the paper's are ImageNet train (default: scikit-image's 13 bundled photographs, a "
                        "demo set: above 64 videos a build warns and its card says so)")
    p.add_argument("--pool-size", type=int, metavar="N",
                   help="items per pool (default: the paper's pools at 9537 videos, i.e. 300k textures or StyleGAN "
                        "images, every natural image of --images, 150k + 150k mixed; the same per video for "
                        "fewer videos, at least 8; with --pool: the whole given pool). See `list`")
    p.add_argument("--pool", action="append", type=kind_url, metavar="[KIND=]URL",
                   help="use a pool built by `build-pool` instead of building one (kinds: textures, stylegan, "
                        "stylegan-clips, images; checked against the pool's card, read from it when left "
                        "out); repeatable")
    p.add_argument("--pools-cache", default=None, metavar="DIR",
                   help=f"where small preview pools are built once (default {default_pools_cache()})")


# ------------------------------------------------------------------------------------------ commands
def _list(sub):
    p = sub.add_parser("list", help="the 28 variants, marking which build, and the pools each reads")
    p.add_argument("pattern", nargs="?", default="*", help="glob on names, e.g. '*slow' (default: all)")
    p.add_argument("--videos", type=int, default=PAPER_VIDEOS,
                   help=f"size the pools of a build of N videos (default {PAPER_VIDEOS}, the paper's)")
    return p


def _build(sub):
    p = sub.add_parser("build", help="build variants into WebDataset shards with Parquet manifests")
    _variants(p)
    p.add_argument("--out", default="./out", help="output root, a path or fsspec URL (default ./out)")
    p.add_argument("--videos", type=int, default=PAPER_VIDEOS,
                   help=f"videos per variant (default {PAPER_VIDEOS}, UCF101 split 1)")
    p.add_argument("--videos-per-shard", type=int, default=DEFAULT_VIDEOS_PER_SHARD, metavar="N",
                   help=f"videos per tar shard (default {DEFAULT_VIDEOS_PER_SHARD})")
    _runtime(p, "these variants")
    _payload(p)
    p.add_argument("--dry-run", action="store_true",
                   help="estimate bytes and CPU-hours from a small sample rendered here; write nothing")
    p.add_argument("--sample", type=int, default=3, metavar="N", help="videos rendered per variant by --dry-run")
    _storage(p)
    _pool_device(p)
    _pools(p)
    _params(p)
    return p


def _build_pool(sub):
    p = sub.add_parser("build-pool", help="build a pool (textures, StyleGAN images or clips, natural images) "
                                          "as a dataset of its own, into OUT/KIND")
    p.add_argument("kind", choices=KINDS, help="what the pool holds")
    p.add_argument("--pool-size", type=int, metavar="N", help="items (images: default every readable image)")
    p.add_argument("--out", default="./pools", help="pools root, a path or fsspec URL (default ./pools)")
    p.add_argument("--item-px", type=int, default=256, metavar="PX", help="side of a stored item in px (default 256)")
    p.add_argument("--seed", type=int, default=0, help="pool seed (default 0; a variant given this pool adopts its seed)")
    p.add_argument("--images", metavar="PATH_OR_URL", help="images: the source (default: scikit-image's photos)")
    p.add_argument("--prior", default="oriented", choices=("oriented", "high-freq"),
                   help="StyleGAN kinds: the filter prior (default oriented)")
    p.add_argument("--clip-frames", type=int, default=200, metavar="N",
                   help="stylegan-clips: frames per clip (default 200)")
    _runtime(p, "this pool")
    _pool_device(p)
    _storage(p)
    return p


def _verify(sub):
    p = sub.add_parser("verify", help="re-hash every shard and sample against the manifests")
    p.add_argument("paths", nargs="+", help="a variant folder/URL, or a build root holding several")
    p.add_argument("--deep", action="store_true",
                   help="also decode every lossless payload and compare its frames with the manifest's frames_hash")
    _storage(p)
    return p


def _preview(sub):
    p = sub.add_parser("preview", help="a GIF, MP4 or PNG contact sheet of a variant (or --all)")
    _variants(p)
    p.add_argument("--out", required=True, help="NAME.gif, NAME.mp4 or NAME.png")
    p.add_argument("--index", type=int, default=0, help="which video (default 0)")
    p.add_argument("--columns", type=int, default=8, help="contact sheet: frames per row (default 8)")
    p.add_argument("--tile", type=int, default=128, help="contact sheet: tile side in px (default 128)")
    p.add_argument("--palette", action="store_true", help="contact sheet: 256-colour PNG (smaller, for docs)")
    _pools(p)
    _storage(p)
    _params(p)
    return p


def _publish(sub):
    p = sub.add_parser("publish", help="upload a finished local build to object storage (resumable, verified)")
    p.add_argument("src", help="a build's --out folder, or one variant folder inside it")
    p.add_argument("dst", help="destination root URL, e.g. s3://bucket/synthvid/v1 (variants go to DST/<variant>/)")
    p.add_argument("--variant", action="append", default=None, metavar="NAME",
                   help="publish only this variant (repeatable); default: every finished variant")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"parallel uploads (default {DEFAULT_THREADS})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    _storage(p)
    return p


def _ingest(sub):
    p = sub.add_parser("ingest", help="an official UCF101 / HMDB51 split as two labelled shard sets, "
                                      "OUT/<dataset>-s<split>-train and -test (videos kept as their .avi bytes)")
    p.add_argument("dataset", choices=("ucf101", "hmdb51"), help="which official layout ROOT and --splits follow")
    p.add_argument("root", help="the class folders of .avi videos (UCF-101/, hmdb51/): a path or fsspec URL")
    p.add_argument("--splits", required=True, metavar="DIR",
                   help="ucfTrainTestlist/ (classInd.txt, trainlist0N.txt, testlist0N.txt) or "
                        "testTrainMulti_7030_splits/ (<class>_test_split<N>.txt)")
    p.add_argument("--split", type=int, default=1, choices=(1, 2, 3), help="official split number (default 1)")
    p.add_argument("--out", required=True, help="output root, a path or fsspec URL")
    p.add_argument("--videos-per-shard", type=int, default=DEFAULT_VIDEOS_PER_SHARD, metavar="N",
                   help=f"videos per tar shard (default {DEFAULT_VIDEOS_PER_SHARD})")
    p.add_argument("--skip-unreadable", action="store_true",
                   help="leave out videos that do not decode (named and counted in the card and on stderr); "
                        "default: the ingest fails naming them, and the next run re-reads only their shards")
    p.add_argument("--skip-missing", action="store_true",
                   help="listed videos absent from ROOT are named, counted skips (a partial copy); default: an error")
    _runtime(p, "these sets")
    _storage(p)
    return p


def _corrupt(sub):
    p = sub.add_parser("corrupt", help="UCF101-P: an ingested test set under the 14 corruptions of the paper's "
                                       "robustness test, one shard set per corruption and severity, OUT/<name>-s<N>")
    p.add_argument("source", metavar="URL", help="an ingested test set, or the ingest --out holding exactly one")
    p.add_argument("--out", required=True, help="output root, a path or fsspec URL")
    p.add_argument("--corruption", default="all", metavar="all|NAME[,NAME]",
                   help="all, or names: translate, rotate, static_rotate, shot, speckle, gaussian, impulse, "
                        "defocus, zoom, jpeg, freeze, box_jumble, jumble, reverse (default all)")
    p.add_argument("--severity", default="1-5", metavar="1-5|N[,N]", help="severity levels (default 1-5)")
    p.add_argument("--seed", type=int, default=0, help="corruption seed (default 0): draws per (corruption, "
                                                       "severity, video, crop)")
    p.add_argument("--stride", type=int, default=None, metavar="N",
                   help="keep every N-th frame, as the test reads them (default: UCF101 4, HMDB51 2)")
    p.add_argument("--short-side", type=int, default=224, metavar="PX",
                   help="resize the short side to PX before corrupting (default 224, the test crop)")
    p.add_argument("--payload", default="auto", choices=("auto", "svf", "svj"),
                   help="auto (default): lossless svf for the noise corruptions, whose noise JPEG would reshape, "
                        "svj for the others (3-8x smaller at 42-51 dB); or svf / svj for every set")
    p.add_argument("--quality", type=int, default=DEFAULT_QUALITY, metavar="Q",
                   help=f"svj JPEG quality (default {DEFAULT_QUALITY})")
    p.add_argument("--videos-per-shard", type=int, default=DEFAULT_VIDEOS_PER_SHARD, metavar="N",
                   help=f"videos per tar shard (default {DEFAULT_VIDEOS_PER_SHARD})")
    _runtime(p, "these sets")
    _storage(p)
    return p


_COMMANDS = {"list": _list, "build": _build, "build-pool": _build_pool, "verify": _verify, "preview": _preview,
             "publish": _publish, "ingest": _ingest, "corrupt": _corrupt}
