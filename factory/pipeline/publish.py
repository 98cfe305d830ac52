"""Publish a finished local build to any fsspec URL (s3://, gs://, ...): resumable, verified, card last.

    synthvid-factory publish ./out s3://bucket/synthvid/v1                    # every complete variant
    synthvid-factory publish ./out s3://bucket/synthvid/v1 --variant moving-shapes
    synthvid-factory publish ./out/moving-shapes s3://bucket/synthvid/v1      # one variant folder

`<dst>/<variant>/` receives the variant's files in commit order: shards, then the per-shard commit markers,
then the manifests, the build log, and `card.json` last, so a reader never sees a partly published variant as
complete. Every upload is read back and its size and sha256 compared; an object already there with the
same size and sha256 is skipped, so an interrupted publish resumes where it stopped. A destination card that
differs from the local one is deleted first (the variant is incomplete until the new card lands). Local
shards are checked against the local manifest before anything is uploaded.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from synthvid.manifests import layout
from synthvid.manifests.hashing import file_digest
from synthvid.manifests.schema import parquet_bytes_to_table
from synthvid.manifests.storage import (COMPLETE, PROBE_PREFIX, StorageError, Store, check_writable, dataset_state,
                                        datasets_under, join, safe_url, url_to_fs)

log = logging.getLogger("synthvid.publish")

DEFAULT_THREADS = 4


class PublishError(RuntimeError):
    """The local build cannot be published as asked; the message names the variant or file and the fix."""


@dataclass
class PublishedVariant:
    variant: str
    url: str
    files: int = 0
    uploaded: int = 0
    skipped: int = 0
    bytes_total: int = 0
    bytes_uploaded: int = 0
    extra_remote: list = field(default_factory=list)


def _excluded(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return (name == layout.LOCK or name.startswith(".") or ".tmp" in name or name.endswith((".part", "~"))
            or name.startswith(PROBE_PREFIX))


def _variant_dirs(src: str, variants) -> list[tuple[str, str]]:
    """[(variant name, local folder)] to publish, refusing incomplete variants."""
    src = os.path.abspath(src)
    if not os.path.isdir(src):
        raise PublishError(f"{src}: no such folder; give the --out folder of a finished build")
    fs, _ = url_to_fs(src)
    if dataset_state(fs, src) == COMPLETE:
        states = {os.path.basename(src): COMPLETE}
        folders = {os.path.basename(src): src}
    else:
        states = datasets_under(fs, src)
        folders = {name: os.path.join(src, name) for name in states}
    found = sorted(n for n, state in states.items() if state == COMPLETE)
    incomplete = sorted(n for n, state in states.items() if state != COMPLETE)
    if variants:
        for v in variants:
            if v in incomplete:
                raise PublishError(f"{v}: the local build is incomplete (no {layout.CARD}); finish it with the "
                                   "same `synthvid-factory build` command, then publish")
            if v not in found:
                raise PublishError(f"{v}: not found under {src} (found: {', '.join(found) or 'none'})")
        return [(v, folders[v]) for v in variants]
    if incomplete:
        raise PublishError(f"{src}: incomplete variants {', '.join(incomplete)} (no {layout.CARD}); finish "
                           "their build or publish the others with --variant NAME")
    if not found:
        raise PublishError(f"{src}: no finished variant here (no {layout.CARD} in it or its sub-folders)")
    return [(v, folders[v]) for v in found]


def _local_files(folder: str) -> list[str]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), folder).replace(os.sep, "/")
            if not _excluded(rel):
                out.append(rel)
    return sorted(out)


def _phase(rel: str) -> int:
    """Commit order: data, markers, manifests and log, card."""
    if rel == layout.CARD:
        return 3
    if rel in (layout.SAMPLES_MANIFEST, layout.SHARDS_MANIFEST, layout.BUILD_LOG):
        return 2
    if rel.startswith(layout.COMMIT_DIR + "/"):
        return 1
    return 0


def _check_local(variant: str, folder: str, digests: dict[str, tuple[int, str]]) -> None:
    """Every shard of the local manifest is present with the recorded size and sha256."""
    manifest = os.path.join(folder, layout.SHARDS_MANIFEST)
    if not os.path.exists(manifest):
        raise PublishError(f"{variant}: {layout.SHARDS_MANIFEST} is missing in {folder}; rebuild the variant")
    with open(manifest, "rb") as f:
        rows = parquet_bytes_to_table(f.read()).to_pylist()
    for row in rows:
        layout.check_shard_name(row["name"], f"{variant}: the local {layout.SHARDS_MANIFEST}")
        got = digests.get(row["name"])
        if got is None:
            raise PublishError(f"{variant}: shard {row['name']} is missing locally; run `synthvid-factory build` "
                               "again to restore it, then publish")
        if got != (row["bytes"], row["sha256"]):
            raise PublishError(f"{variant}: local shard {row['name']} does not match its manifest "
                               f"({got[0]} bytes vs {row['bytes']}); run `synthvid-factory verify {folder}` and "
                               "rebuild it before publishing")


def publish(src: str, dst: str, storage_options: dict | None = None, progress: bool = True,
            variants=None, threads: int = DEFAULT_THREADS) -> dict:
    """Upload the finished variants under `src` (a build's --out folder, or one variant folder) to
    `<dst>/<variant>/`. Returns a summary: per-variant files/uploaded/skipped/bytes, totals, seconds, MB/s."""
    t0 = time.monotonic()
    dst = str(dst).rstrip("/")
    chosen = _variant_dirs(src, list(variants) if variants else None)
    check_writable(dst, storage_options)
    results: list[PublishedVariant] = []
    bar = None
    if progress:
        try:
            from tqdm import tqdm
            bar = tqdm(total=0, unit="B", unit_scale=True, unit_divisor=1024, desc="publish", file=sys.stderr,
                       dynamic_ncols=True)
        except ImportError:
            bar = None
    try:
        for variant, folder in chosen:
            results.append(_publish_variant(variant, folder, join(dst, variant), storage_options, bar, threads))
    finally:
        if bar is not None:
            bar.close()
    seconds = time.monotonic() - t0
    uploaded = sum(r.bytes_uploaded for r in results)
    summary = {
        "destination": safe_url(dst),
        "variants": {r.variant: {"url": safe_url(r.url), "files": r.files, "uploaded": r.uploaded,
                                 "skipped": r.skipped, "bytes": r.bytes_total, "bytes_uploaded": r.bytes_uploaded,
                                 "extra_remote_files": r.extra_remote} for r in results},
        "files": sum(r.files for r in results),
        "uploaded": sum(r.uploaded for r in results),
        "skipped": sum(r.skipped for r in results),
        "bytes": sum(r.bytes_total for r in results),
        "bytes_uploaded": uploaded,
        "seconds": round(seconds, 3),
        "mb_per_s": round(uploaded / 1e6 / seconds, 2) if seconds > 0 else None,
    }
    return summary


def _publish_variant(variant: str, folder: str, url: str, storage_options, bar, threads: int) -> PublishedVariant:
    store = Store(url, storage_options)
    files = _local_files(folder)
    digests = {rel: file_digest(os.path.join(folder, rel)) for rel in files}
    _check_local(variant, folder, digests)
    result = PublishedVariant(variant, url, files=len(files), bytes_total=sum(s for s, _ in digests.values()))
    if bar is not None:
        bar.total += result.bytes_total
        bar.refresh()

    # A destination card that is not ours makes the variant incomplete while we change its files.
    if store.exists(layout.CARD) and not store.matches(layout.CARD, *digests[layout.CARD]):
        log.warning("%s: replacing a different published build; it is incomplete until the new card lands",
                    store.display())
        store.remove(layout.CARD)

    remote = store.walk_files()

    def one(rel: str) -> tuple[str, bool]:
        size, sha = digests[rel]
        if remote.get(rel) == size and store.matches(rel, size, sha):
            return rel, False
        store.upload_verified(os.path.join(folder, rel), rel, size=size, sha256=sha)
        return rel, True

    for phase in range(4):
        batch = [rel for rel in files if _phase(rel) == phase]
        if not batch:
            continue
        workers = max(1, min(threads, len(batch)))
        with ThreadPoolExecutor(workers, thread_name_prefix="publish") as pool:
            for rel, did_upload in pool.map(one, batch):
                size = digests[rel][0]
                if did_upload:
                    result.uploaded += 1
                    result.bytes_uploaded += size
                else:
                    result.skipped += 1
                if bar is not None:
                    bar.update(size)
    result.extra_remote = sorted(set(remote) - set(files) - {layout.LOCK})
    store.abort_incomplete_uploads()

    # The published variant must open as complete through the reader both sides use.
    from synthvid.manifests.reader import open_dataset

    ds = open_dataset(url, storage_options)
    local_shards = sorted(r for r in files if _phase(r) == 0 and r.endswith(".tar"))
    if sorted(s.name for s in ds.shards) != local_shards:
        raise StorageError(f"{safe_url(url)}: published manifest lists other shards than the local build",
                           kind="integrity", url=safe_url(url))
    return result
