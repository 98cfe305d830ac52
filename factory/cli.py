"""synthvid-factory: list, build, build-pool, verify, preview and publish procedural video datasets; ingest
real labelled videos (UCF101, HMDB51) and corrupt them (UCF101-P) for evaluation."""

from __future__ import annotations

import argparse
import json
import sys

from synthvid.manifests.reader import IncompleteDatasetError
from synthvid.manifests.storage import (NO_SPACE, StorageError, disk_full, join, parse_storage_options, redact,
                                        safe_url)
from synthvid.manifests.versions import code_version

from .generate.params import POOL_SOURCES, parse_frames
from .generate.recipe import from_variant, load_recipe
from .generate.variants import NotBuildableError, UnknownVariantError, get_variant, list_variants
from .pipeline.build import BuildError, BuildOptions, build_pools, build_variants
from .pipeline.payloads import PayloadRequest
from .pipeline.publish import PublishError, publish
from .realvideo.commands import cmd_corrupt, cmd_ingest
from .tools import arguments

PROG = "synthvid-factory"
# Errors a user can fix from the message alone: printed as one line, exit status 2.
USER_ERRORS = (UnknownVariantError, NotBuildableError, BuildError, StorageError, IncompleteDatasetError,
               PublishError, ValueError, FileNotFoundError, PermissionError)


# ------------------------------------------------------------------------------------------- commands
def cmd_list(args) -> int:
    from .pools.sizing import PAPER_IMAGES, pool_items_needed

    variants = list_variants(args.pattern)
    for v in variants:
        mark = "yes" if v.buildable else "no "
        paper = f"{v.paper_ucf101_ft:5.1f}" if v.paper_ucf101_ft is not None else "  -  "
        print(f"{v.number:>2}  {v.name:<36} build:{mark}  paper UCF101 FT {paper}  {v.description}")
        params = v.resolve()
        for source in params.pools_needed():
            size = pool_items_needed(params, source, args.videos, paper_pools=v.paper_pools)
            items = "every image of --images" if size.items is None else f"{size.items:,}"
            print(f"{'':<4}pool {source}: {items} ({size.why})")
    buildable = sum(v.buildable for v in variants)
    print(f"\n{len(variants)} variants, {buildable} buildable now"
          + ("" if buildable == len(variants) else "; the others need the pools (textures, StyleGAN, images)"))
    print(f"Pool sizes are those of a {args.videos:,}-video build (--videos): the paper's at 9,537 videos, in "
          "proportion below. Natural images: ImageNet train in the paper "
          f"({PAPER_IMAGES:,}); give them with `build --images`, else the 13 bundled demo photographs serve.")
    return 0


def cmd_build(args) -> int:
    recipes = _recipes(args, _overrides(args))
    storage_options = parse_storage_options(args.storage_option)
    pool_urls = _pool_urls(args, storage_options)
    payload = PayloadRequest(args.payload, args.jpeg_quality)
    if args.dry_run:
        return _dry_run(args, recipes, pool_urls, storage_options, payload)
    results = build_variants(recipes, BuildOptions(
        args.out, videos=args.videos, seed=args.seed, per_shard=args.videos_per_shard, workers=args.workers,
        ray_address=args.ray_address, overwrite=args.overwrite, progress=not args.no_progress,
        storage_options=storage_options, images=args.images, pool_urls=pool_urls, device=args.pool_device,
        payload=payload))
    for r in results:
        totals = r.card["totals"]
        print(f"{r.name}: {totals['videos']} videos in {totals['shards']} shard(s), {totals['bytes']:,} bytes, "
              f"{describe_payload(r.card)} ({r.shards_built} built, {r.shards_kept} kept) -> {safe_url(r.url)}")
    return 0


def describe_payload(card: dict) -> str:
    """e.g. "svj q93, PSNR >= 37.1 dB" or "svf (lossless)"."""
    payload, quality = card["payload"], card.get("quality", {})
    if payload["lossless"]:
        return f"{payload['kind']} (lossless)"
    settings = payload["settings"]
    return f"{payload['kind']} q{settings['quality']}, PSNR >= {quality.get('psnr_db_min', float('nan')):.1f} dB"


def _dry_run(args, recipes: list, pool_urls: dict, storage_options: dict, payload) -> int:
    from .pools.attach import PoolOptions, plan_pools
    from .tools.estimate import EstimateOptions, print_estimates
    from .tools.preview import with_preview_pools

    plan = None
    if any(r.params.pools_needed() for r in recipes):
        # the pools this build would use (natural images counted, not probed), then small cached pools to
        # render sample videos with
        plan = plan_pools(recipes, PoolOptions(args.videos, args.images, pool_urls, "cpu", storage_options,
                                               validate_images="none"))
        if plan.demo_warning():
            print(plan.demo_warning(), file=sys.stderr)
        recipes = with_preview_pools(plan.recipes, args.pools_cache, args.images, pool_urls, keep_frames=True,
                                     storage_options=storage_options)
    print_estimates(recipes, EstimateOptions(args.videos, args.seed, args.videos_per_shard, args.sample, payload),
                    plan)
    return 0


def cmd_build_pool(args) -> int:
    recipe = _pool_recipe(args)
    folder = args.kind + (f"-{args.prior}" if args.kind.startswith("stylegan") and args.prior != "oriented" else "")
    results = build_pools([recipe], BuildOptions(
        args.out, workers=args.workers, ray_address=args.ray_address, overwrite=args.overwrite,
        progress=not args.no_progress, storage_options=parse_storage_options(args.storage_option),
        device=args.pool_device), folders=[folder])
    for r in results:
        totals, pool = r.card["totals"], r.card["pool"]
        extra = f", {r.card['skipped_unreadable']} unreadable skipped" if args.kind == "images" else ""
        print(f"{args.kind} pool: {totals['videos']} items at {pool['item_px']} px in {totals['shards']} shard(s), "
              f"{totals['bytes']:,} bytes ({r.shards_built} built, {r.shards_kept} kept{extra}) -> {safe_url(r.url)}")
        print(f"use it: {PROG} build VARIANT --pool {args.kind}={safe_url(r.url)}")
    return 0


def _pool_recipe(args):
    from .pools.recipe import PoolRecipe

    kind = args.kind
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
        return PoolRecipe("images", len(src.items), args.item_px, args.seed, source=src,
                          description=f"natural images from {src.root}")
    return PoolRecipe(kind, args.pool_size, args.item_px, args.seed, prior=args.prior,
                      clip_frames=args.clip_frames, description=f"{kind} pool")


def cmd_verify(args) -> int:
    from synthvid.manifests.storage import COMPLETE, dataset_state, datasets_under, url_to_fs
    from synthvid.manifests.verify import verify_dataset

    storage_options = parse_storage_options(args.storage_option)
    status = 0
    for url in args.paths:
        fs, path = url_to_fs(url, storage_options)
        targets = [url]
        if dataset_state(fs, path) != COMPLETE:
            found = [join(url, name) for name, state in datasets_under(fs, path).items() if state == COMPLETE]
            targets = found or targets
        for target in targets:
            report = verify_dataset(target, storage_options, deep=args.deep)
            shown = safe_url(target)
            if report.ok:
                print(f"OK    {shown}: {report.shards} shards, {report.samples} samples, {report.bytes:,} bytes")
                continue
            status = 1
            print(f"FAIL  {shown}: {len(report.problems)} problem(s)")
            for shard, what in report.problems:
                print(f"      {shard}: {what}")
    return status


def cmd_preview(args) -> int:
    from .tools.preview import contact_sheet, render_preview_frames, with_preview_pools, write_png, write_preview

    storage_options = parse_storage_options(args.storage_option)
    pool_urls = _pool_urls(args, storage_options)
    recipes = _recipes(args, _overrides(args))
    several = args.all or len(args.variants) > 1
    if several and not args.out.lower().endswith(".png"):
        raise ValueError("a preview of several variants is a contact sheet: give --out NAME.png")
    recipes = with_preview_pools(recipes if several else recipes[:1], args.pools_cache, args.images, pool_urls,
                                 progress=True, storage_options=storage_options)
    if several:
        rows = [(f"{r.name}", render_preview_frames(r, args.seed, args.index)) for r in recipes]
        write_png(args.out, contact_sheet(rows, columns=args.columns, tile=args.tile), palette=args.palette)
    else:
        write_preview(args.out, recipes[0], args.seed, args.index)
    print(f"wrote {args.out}")
    return 0


def cmd_publish(args) -> int:
    summary = publish(args.src, args.dst, storage_options=parse_storage_options(args.storage_option),
                      progress=not args.no_progress, variants=args.variant, threads=args.threads)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
        return 0
    for name, v in summary["variants"].items():
        print(f"{name}: {v['files']} files, {v['uploaded']} uploaded, {v['skipped']} already there -> {v['url']}")
    print(f"published {summary['bytes_uploaded'] / 1e6:.1f} MB in {summary['seconds']:.1f}s "
          f"({summary['mb_per_s'] or 0:.1f} MB/s) to {summary['destination']}")
    return 0


# ------------------------------------------------------------------------------------------ arguments
def _overrides(args) -> dict:
    overrides = dict(args.param or [])
    if args.pool_size is not None:
        overrides["pool_size"] = args.pool_size
    if args.size is not None:
        overrides["size"] = args.size
    if args.frames is not None:
        overrides.update(parse_frames(args.frames))
    return overrides


def _recipes(args, overrides: dict) -> list:
    names = list(args.variants)
    if args.all:
        buildable = [v.name for v in list_variants(buildable=True)]
        skipped = [v.name for v in list_variants(buildable=False)]
        if skipped:
            print(f"note: {len(skipped)} variant(s) cannot be built yet and are skipped "
                  f"(see `{PROG} list`)", file=sys.stderr)
        names += [n for n in buildable if n not in names]
    for name in names:
        get_variant(name)  # unknown names fail before any work
    recipes = [from_variant(n, overrides) for n in names]
    recipes += [load_recipe(path, overrides) for path in (args.recipe or [])]
    if not recipes:
        raise ValueError("name at least one variant, --all, or --recipe FILE")
    return recipes


def _pool_urls(args, storage_options: dict) -> dict:
    """--pool options as {kind: url}; every pool's card is checked against its KIND."""
    from .pools.reader import check_pool_kind, read_pool_card

    urls: dict = {}
    for kind, url in (args.pool or []):
        card = read_pool_card(str(url), storage_options)
        if kind is None:                     # a bare URL: the pool's card says what it holds
            kind = card["kind"]
        if kind not in POOL_SOURCES:
            raise ValueError(f"--pool {kind}=...: the kind must be one of {', '.join(POOL_SOURCES)}")
        if kind in urls and urls[kind] != url:
            raise ValueError(f"--pool {kind}= given twice ({urls[kind]} and {url})")
        check_pool_kind(kind, url, card)
        urls[kind] = str(url)
    return urls


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__)
    ap.add_argument("--version", action="version", version=f"{PROG} {code_version()}",
                    help="print the synthvid version and commit, then exit")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = {"list": cmd_list, "build": cmd_build, "build-pool": cmd_build_pool, "verify": cmd_verify,
                "preview": cmd_preview, "publish": cmd_publish, "ingest": cmd_ingest, "corrupt": cmd_corrupt}
    for name, command in commands.items():
        arguments.add_command(sub, name).set_defaults(func=command)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as e:
        print(f"{PROG}: error: {redact(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:     # a full disk under a write of its own (previews): one line too
        if e.errno not in NO_SPACE:
            raise
        print(f"{PROG}: error: {redact(str(disk_full(e.filename or '.')))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
