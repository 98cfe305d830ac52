"""The `ingest` and `corrupt` commands of synthvid-factory (flags: factory.tools.arguments)."""

from __future__ import annotations

import sys

from synthvid.manifests.storage import parse_storage_options

from ..pipeline.options import BuildOptions, BuildResult
from .ingest import IngestRequest, ingest
from .ucf101p import CorruptRequest, corrupt_test_set


def _options(args, allow_skipped: bool = False) -> BuildOptions:
    return BuildOptions(args.out, per_shard=args.videos_per_shard, workers=args.workers,
                        ray_address=args.ray_address, overwrite=args.overwrite, progress=not args.no_progress,
                        storage_options=parse_storage_options(args.storage_option), allow_skipped=allow_skipped)


def _report(r: BuildResult) -> None:
    totals = r.card["totals"]
    print(f"{r.name}: {totals['videos']} videos in {totals['shards']} shard(s), {totals['bytes']:,} bytes "
          f"({r.shards_built} built, {r.shards_kept} kept) -> {r.url}")


def cmd_ingest(args) -> int:
    request = IngestRequest(args.dataset, args.root, args.splits, args.split, skip_missing=args.skip_missing)
    results = ingest(request, _options(args, allow_skipped=args.skip_unreadable))
    for r in results:
        _report(r)
        print(f"  {len(r.card['classes'])} classes, split {args.split} {r.card['split']['part']}")
        _summary(r.card)
    return 0


def _summary(card: dict) -> None:
    """Every video left out, by reason, on stderr (the card holds the same lists)."""
    name = card["variant"]
    for item in card.get("skipped", {}).get("items", ()):
        print(f"{name}: unreadable, left out: {item['reason']}", file=sys.stderr)
    for why, entry in card["source_videos"].items():
        if isinstance(entry, dict) and entry["count"]:
            print(f"{name}: {entry['count']} {why} video(s) of the split, not ingested (listed in card.json)",
                  file=sys.stderr)


def cmd_corrupt(args) -> int:
    request = CorruptRequest(args.corruption, args.severity, args.seed, args.stride, args.short_side, args.payload,
                             args.quality)
    for r in corrupt_test_set(args.source, request, _options(args)):
        _report(r)
    return 0
