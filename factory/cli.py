"""synthvid-factory: list, build, verify and preview procedural video datasets."""

from __future__ import annotations

import argparse
import json
import sys

from synthvid.manifests.reader import IncompleteDatasetError
from synthvid.manifests.storage import StorageError, join, redact

from .pipeline.build import BuildError, BuildOptions, build_variants
from .pipeline.options import DEFAULT_VIDEOS_PER_SHARD
from .generate.params import parse_frames
from .generate.recipe import from_variant, load_recipe
from .generate.variants import NotBuildableError, UnknownVariantError, get_variant, list_variants

PROG = "synthvid-factory"
# Errors a user can fix from the message alone: printed as one line, exit status 2.
USER_ERRORS = (UnknownVariantError, NotBuildableError, BuildError, StorageError, IncompleteDatasetError,
               ValueError, FileNotFoundError, PermissionError)


def _kv(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _overrides(args) -> dict:
    overrides = dict(args.param or [])
    if getattr(args, "pool_size", None) is not None:
        overrides["pool_size"] = args.pool_size
    if args.size is not None:
        overrides["size"] = args.size
    if args.frames is not None:
        overrides.update(parse_frames(args.frames))
    return overrides


def _recipes(args, overrides: dict) -> list:
    names = list(args.variants)
    if getattr(args, "all", False):
        buildable = [v.name for v in list_variants(buildable=True)]
        skipped = [v.name for v in list_variants(buildable=False)]
        if skipped:
            print(f"note: {len(skipped)} variant(s) cannot be built yet and are skipped "
                  f"(see `{PROG} list`)", file=sys.stderr)
        names += [n for n in buildable if n not in names]
    for name in names:
        get_variant(name)  # unknown names fail before any work
    recipes = [from_variant(n, overrides) for n in names]
    recipes += [load_recipe(path, overrides) for path in (getattr(args, "recipe", None) or [])]
    if not recipes:
        raise ValueError("name at least one variant, --all, or --recipe FILE")
    return recipes


def cmd_list(args) -> int:
    variants = list_variants(args.pattern)
    for v in variants:
        mark = "yes" if v.buildable else "no "
        paper = f"{v.paper_ucf101_ft:5.1f}" if v.paper_ucf101_ft is not None else "  -  "
        print(f"{v.number:>2}  {v.name:<36} build:{mark}  paper UCF101 FT {paper}  {v.description}")
    buildable = sum(v.buildable for v in variants)
    print(f"\n{len(variants)} variants, {buildable} buildable now"
          + ("" if buildable == len(variants) else "; the others need the pools (textures, StyleGAN, images)"))
    return 0


def _pool_urls(args) -> dict:
    """--pool KIND=URL options as {kind: url}; every pool's card is checked against its KIND."""
    from .generate.params import POOL_SOURCES
    from .pools.reader import check_pool_kind, read_pool_card

    urls: dict = {}
    for kind, url in (getattr(args, "pool", None) or []):
        card = read_pool_card(str(url), dict(args.storage_option or []))
        if kind is None:                     # a bare URL: the pool's card says what it holds
            kind = card["kind"]
        if kind not in POOL_SOURCES:
            raise ValueError(f"--pool {kind}=...: the kind must be one of {', '.join(POOL_SOURCES)}")
        if kind in urls and urls[kind] != url:
            raise ValueError(f"--pool {kind}= given twice ({urls[kind]} and {url})")
        check_pool_kind(kind, url, card)
        urls[kind] = str(url)
    return urls


def cmd_build(args) -> int:
    overrides = _overrides(args)
    recipes = _recipes(args, overrides)
    storage_options = dict(args.storage_option or [])
    pool_urls = _pool_urls(args)
    if args.dry_run:
        from .tools.estimate import estimate, format_bytes
        from .tools.preview import with_preview_pools

        if any(r.params.pools_needed() for r in recipes):
            recipes = with_preview_pools(recipes, args.pools_cache, args.images, pool_urls, keep_frames=True)
            print("note: pool variants are sampled with small cached pools (see `preview`); building their "
                  "pools is not included (see `build-pool`, benchmarks/pool_throughput.py)", file=sys.stderr)

        total_bytes = total_cpu = 0.0
        print(f"{'variant':<30} {'videos':>7} {'shards':>6} {'bytes/video':>12} {'CPU-s/video':>12} "
              f"{'total':>10} {'CPU-hours':>10}")
        for r in recipes:
            e = estimate(r, args.videos, args.seed, args.videos_per_shard, sample=args.sample)
            total_bytes += e["total_bytes"]
            total_cpu += e["cpu_hours"]
            print(f"{r.name:<30} {e['videos']:>7} {e['shards']:>6} {format_bytes(e['bytes_per_video']):>12} "
                  f"{e['cpu_s_per_video']:>12.3f} {format_bytes(e['total_bytes']):>10} {e['cpu_hours']:>10.2f}")
        print(f"{'total':<30} {'':>7} {'':>6} {'':>12} {'':>12} {format_bytes(total_bytes):>10} {total_cpu:>10.2f}")
        print(f"(estimated from {args.sample} rendered video(s) per variant on this machine; nothing written)")
        return 0
    results = build_variants(recipes, BuildOptions(
        args.out, videos=args.videos, seed=args.seed, per_shard=args.videos_per_shard, workers=args.workers,
        ray_address=args.ray_address, overwrite=args.overwrite, progress=not args.no_progress,
        storage_options=storage_options, images=args.images, pool_urls=pool_urls, device=args.pool_device))
    for r in results:
        totals = r.card["totals"]
        print(f"{r.name}: {totals['videos']} videos in {totals['shards']} shard(s), {totals['bytes']:,} bytes "
              f"({r.shards_built} built, {r.shards_kept} kept) -> {r.url}")
    return 0


def cmd_verify(args) -> int:
    from synthvid.manifests.storage import COMPLETE, dataset_state, datasets_under, url_to_fs
    from synthvid.manifests.verify import verify_dataset

    storage_options = dict(args.storage_option or [])
    status = 0
    for url in args.paths:
        fs, path = url_to_fs(url, storage_options)
        targets = [url]
        if dataset_state(fs, path) != COMPLETE:
            found = [join(url, name) for name, state in datasets_under(fs, path).items() if state == COMPLETE]
            targets = found or targets
        for target in targets:
            report = verify_dataset(target, storage_options)
            if report.ok:
                print(f"OK    {target}: {report.shards} shards, {report.samples} samples, {report.bytes:,} bytes")
            else:
                status = 1
                print(f"FAIL  {target}: {len(report.problems)} problem(s)")
                for shard, what in report.problems:
                    print(f"      {shard}: {what}")
    return status


def cmd_build_pool(args) -> int:
    from .pipeline.build import build_pools
    from .pools.recipe import PoolRecipe

    kind = args.kind
    storage_options = dict(args.storage_option or [])
    if kind != "images" and args.pool_size is None:
        raise ValueError(f"build-pool {kind}: give --pool-size N (items to generate)")
    if args.pool_size is not None and args.pool_size < 1:
        raise ValueError(f"--pool-size must be at least 1, got {args.pool_size}")
    if args.images is not None and kind != "images":
        raise ValueError("--images is for `build-pool images`")
    if args.item_px < 8:
        raise ValueError(f"--item-px must be at least 8, got {args.item_px}")
    if kind == "images":
        from .pools.natural import NaturalImageSource

        src = NaturalImageSource.from_spec(args.images, args.seed, args.pool_size)
        recipe = PoolRecipe("images", len(src.items), args.item_px, args.seed, source=src,
                            description=f"natural images from {src.root}")
    else:
        recipe = PoolRecipe(kind, args.pool_size, args.item_px, args.seed, prior=args.prior,
                            clip_frames=args.clip_frames, description=f"{kind} pool")
    folder = kind + (f"-{args.prior}" if kind.startswith("stylegan") and args.prior != "oriented" else "")
    results = build_pools([recipe], BuildOptions(
        args.out, workers=args.workers, ray_address=args.ray_address, overwrite=args.overwrite,
        progress=not args.no_progress, storage_options=storage_options, device=args.device), folders=[folder])
    for r in results:
        totals = r.card["totals"]
        pool = r.card["pool"]
        extra = f", {r.card['skipped_unreadable']} unreadable skipped" if kind == "images" else ""
        print(f"{kind} pool: {totals['videos']} items at {pool['item_px']} px in {totals['shards']} shard(s), "
              f"{totals['bytes']:,} bytes ({r.shards_built} built, {r.shards_kept} kept{extra}) -> {r.url}")
        print(f"use it: {PROG} build VARIANT --pool {kind}={r.url}")
    return 0


def cmd_preview(args) -> int:
    from .tools.preview import contact_sheet, render_preview_frames, with_preview_pools, write_png, write_preview

    overrides = _overrides(args)
    pool_urls = _pool_urls(args)
    if args.all or len(args.variants) > 1:
        if not args.out.lower().endswith(".png"):
            raise ValueError("a preview of several variants is a contact sheet: give --out NAME.png")
        recipes = with_preview_pools(_recipes(args, overrides), args.pools_cache, args.images, pool_urls,
                                     progress=True)
        rows = [(f"{r.name}", render_preview_frames(r, args.seed, args.index)) for r in recipes]
        write_png(args.out, contact_sheet(rows, columns=args.columns, tile=args.tile), palette=args.palette)
    else:
        recipes = with_preview_pools(_recipes(args, overrides)[:1], args.pools_cache, args.images, pool_urls,
                                     progress=True)
        write_preview(args.out, recipes[0], args.seed, args.index)
    print(f"wrote {args.out}")
    return 0


def _add_params(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, help="frame side in px (default 256)")
    p.add_argument("--frames", help="frames per video, N or MIN-MAX (default 100-200)")
    p.add_argument("--param", action="append", type=_kv, metavar="KEY=VALUE",
                   help="override any generator parameter (see ARCHITECTURE.md), e.g. --param objects=200")
    p.add_argument("--recipe", action="append", metavar="FILE.toml", help="a recipe file: a registered base + overrides")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")


def _kind_url(text: str) -> tuple[str | None, str]:
    """KIND=URL, or a bare URL (the kind is then read from the pool's card)."""
    kind, sep, url = text.partition("=")
    if sep and "/" not in kind and ":" not in kind:
        if not kind or not url:
            raise argparse.ArgumentTypeError(f"expected KIND=URL (e.g. textures=./pools/textures), got {text!r}")
        return kind, url
    return None, text


def _add_pool_options(p: argparse.ArgumentParser, cache: bool) -> None:
    p.add_argument("--images", metavar="PATH_OR_URL",
                   help="natural images: a folder (recursive jpg/png/webp), a list file, .tar shards, any fsspec "
                        "URL (default: scikit-image's bundled photographs, offline)")
    p.add_argument("--pool-size", type=int, metavar="N",
                   help="items per pool (default: what the build can use, 4 per video, the paper's 300k at paper "
                        "size; with --pool: the whole given pool)")
    p.add_argument("--pool", action="append", type=_kind_url, metavar="[KIND=]URL",
                   help="use a pool built by `build-pool` instead of building one (kinds: textures, stylegan, "
                        "stylegan-clips, images; checked against the pool's card, read from it when left "
                        "out); repeatable")
    if cache:
        from .tools.preview import default_pools_cache
        p.add_argument("--pools-cache", default=None, metavar="DIR",
                       help=f"where small preview pools are built once (default {default_pools_cache()})")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="the 28 variants, marking which build")
    p.add_argument("pattern", nargs="?", default="*", help="glob on names, e.g. '*slow'")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("build", help="build variants into WebDataset shards with Parquet manifests")
    p.add_argument("variants", nargs="*", help="variant names (see `list`)")
    p.add_argument("--all", action="store_true", help="every variant that can be built")
    p.add_argument("--out", default="./out", help="output root, a path or fsspec URL (default ./out)")
    p.add_argument("--videos", type=int, default=9537, help="videos per variant (default 9537, UCF101 split 1)")
    p.add_argument("--videos-per-shard", type=int, default=DEFAULT_VIDEOS_PER_SHARD)
    p.add_argument("--workers", type=int, help="local Ray runtime with N CPUs (default: all cores)")
    p.add_argument("--ray-address", default=None, help="join an existing Ray cluster (or set RAY_ADDRESS)")
    p.add_argument("--overwrite", action="store_true", help="delete an earlier build of these variants first")
    p.add_argument("--dry-run", action="store_true", help="estimate bytes and CPU-hours from a small sample")
    p.add_argument("--sample", type=int, default=3, help="videos rendered per variant by --dry-run")
    p.add_argument("--storage-option", action="append", type=_kv, metavar="KEY=VALUE",
                   help="fsspec storage option, e.g. endpoint_url=http://127.0.0.1:8333")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--pool-device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="StyleGAN pool items: auto = cuda when the Ray cluster has GPUs (other bytes than CPU)")
    _add_pool_options(p, cache=True)
    _add_params(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("build-pool", help="build a pool (textures, StyleGAN images or clips, natural images) "
                                          "as a dataset of its own, into OUT/KIND")
    p.add_argument("kind", choices=("textures", "stylegan", "stylegan-clips", "images"))
    p.add_argument("--pool-size", type=int, metavar="N", help="items (images: default every readable image)")
    p.add_argument("--out", default="./pools", help="pools root, a path or fsspec URL (default ./pools)")
    p.add_argument("--item-px", type=int, default=256, help="side of a stored item in px (default 256)")
    p.add_argument("--seed", type=int, default=0, help="pool seed (default 0; a variant given this pool adopts its seed)")
    p.add_argument("--images", metavar="PATH_OR_URL", help="images: the source (default: scikit-image's photos)")
    p.add_argument("--prior", default="oriented", choices=("oriented", "high-freq"), help="StyleGAN kinds")
    p.add_argument("--clip-frames", type=int, default=200, help="stylegan-clips: frames per clip (default 200)")
    p.add_argument("--workers", type=int, help="local Ray runtime with N CPUs (default: all cores)")
    p.add_argument("--ray-address", default=None, help="join an existing Ray cluster (or set RAY_ADDRESS)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="StyleGAN kinds: auto = one GPU per task when the Ray cluster has GPUs, else CPU")
    p.add_argument("--overwrite", action="store_true", help="delete an earlier build of this pool first")
    p.add_argument("--storage-option", action="append", type=_kv, metavar="KEY=VALUE")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_build_pool)

    p = sub.add_parser("verify", help="re-hash every shard and sample against the manifests")
    p.add_argument("paths", nargs="+", help="a variant folder/URL, or a build root holding several")
    p.add_argument("--storage-option", action="append", type=_kv, metavar="KEY=VALUE")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("preview", help="a GIF, MP4 or PNG contact sheet of a variant (or --all)")
    p.add_argument("variants", nargs="*")
    p.add_argument("--all", action="store_true")
    p.add_argument("--out", required=True, help="NAME.gif, NAME.mp4 or NAME.png")
    p.add_argument("--index", type=int, default=0, help="which video (default 0)")
    p.add_argument("--columns", type=int, default=8, help="contact sheet: frames per row (default 8)")
    p.add_argument("--tile", type=int, default=128, help="contact sheet: tile side in px (default 128)")
    p.add_argument("--palette", action="store_true", help="contact sheet: 256-colour PNG (smaller, for docs)")
    _add_pool_options(p, cache=True)
    p.add_argument("--storage-option", action="append", type=_kv, metavar="KEY=VALUE")
    _add_params(p)
    p.set_defaults(func=cmd_preview)

    from .pipeline.publish import add_publish_parser

    add_publish_parser(sub)
    for register in _EXTRA_COMMANDS:
        register(sub)
    return ap


# Subcommands contributed by other modules (publish, build-pool): each a function(subparsers).
_EXTRA_COMMANDS: list = []


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as e:
        print(f"{PROG}: error: {redact(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
