"""Verify a published variant against its manifests: every shard's size and sha256, every sample's
members and payload sha256; with `deep`, every lossless payload decoded and its frames compared with the
manifest's frames_hash. Names each missing, truncated or mismatching shard."""

from __future__ import annotations

import hashlib
import tarfile
from dataclasses import dataclass, field

from . import layout
from .hashing import FramesHasher, HashingReader
from .payload import PayloadError, open_payload, payload_for_extension
from .reader import open_dataset


@dataclass
class VerifyReport:
    url: str
    shards: int = 0
    samples: int = 0
    bytes: int = 0
    problems: list = field(default_factory=list)   # (shard name, what is wrong)

    @property
    def ok(self) -> bool:
        return not self.problems


def manifest_problems(ds) -> list[tuple[str, str]]:
    """The two manifests against the sha256 the card records for them (card["manifests"])."""
    recorded = ds.card.get("manifests")
    if not isinstance(recorded, dict):
        return [(layout.CARD, "records no manifest hashes")]
    problems = []
    for name in (layout.SAMPLES_MANIFEST, layout.SHARDS_MANIFEST):
        want, got = recorded.get(name), ds.file_sha256.get(name)
        if want != got:
            problems.append((name, f"sha256 {str(got)[:16]}... where the card records {str(want)[:16]}..."))
    return problems


def verify_dataset(url: str, storage_options: dict | None = None, progress=None, deep: bool = False) -> VerifyReport:
    ds = open_dataset(url, storage_options)
    report = VerifyReport(url=ds.url)
    report.problems += manifest_problems(ds)
    expected: dict[str, dict[str, tuple]] = {}
    columns = ["shard", "key", "payload_sha256", "members", "payload_kind", "frames_hash"]
    for row in ds.samples.select(columns).to_pylist():
        expected.setdefault(row["shard"], {})[row["key"]] = (row["payload_sha256"], row["members"],
                                                            f"{row['key']}.{row['payload_kind']}",
                                                            row["frames_hash"])
    for shard in ds.shards:
        report.shards += 1
        size = _check_shard(ds, shard, expected.get(shard.name, {}), report, deep)
        if size is not None:
            report.bytes += size
        if progress is not None:
            progress(shard)
    return report


def _check_shard(ds, shard, want_keys: dict, report: VerifyReport, deep: bool) -> int | None:
    """One shard against its manifest rows: its size, sha256, samples, members and payload hashes (frames
    with `deep`). Problems go to `report`; returns the shard's size when it could be read."""
    path = f"{ds.path}/{shard.name}"
    try:
        size = ds.fs.size(path)
    except FileNotFoundError:
        report.problems.append((shard.name, "missing"))
        return None
    if size != shard.bytes:
        kind = "truncated" if size < shard.bytes else "wrong size"
        report.problems.append((shard.name, f"{kind}: {size} bytes, manifest says {shard.bytes}"))
        return None
    seen: dict[str, list[str]] = {}
    payload_ok = True
    with ds.fs.open(path, "rb") as f:
        hashing = HashingReader(f)
        try:
            with tarfile.open(fileobj=hashing, mode="r|") as tar:
                for member in tar:
                    key, _, ext = member.name.partition(".")
                    seen.setdefault(key, []).append(member.name)
                    want, _, payload_name, frames_hash = want_keys.get(key, (None,) * 4)
                    if member.name != payload_name:
                        continue
                    data = tar.extractfile(member).read()
                    if hashlib.sha256(data).hexdigest() != want:
                        report.problems.append((shard.name, f"sample {key}: payload sha256 mismatch"))
                        payload_ok = False
                    elif deep and (problem := _deep_problem(ext, data, frames_hash)):
                        report.problems.append((shard.name, f"sample {key}: {problem}"))
        except (tarfile.TarError, EOFError, OSError) as e:
            report.problems.append((shard.name, f"unreadable tar: {e}"))
            return None
        _, sha256 = hashing.drain()
    if sha256 != shard.sha256 and payload_ok:
        report.problems.append((shard.name, "sha256 mismatch"))
    if sorted(seen) != sorted(want_keys):
        missing = sorted(set(want_keys) - set(seen))
        extra = sorted(set(seen) - set(want_keys))
        report.problems.append((shard.name, f"samples differ from manifest (missing {missing[:3]}, extra {extra[:3]})"))
    else:
        for key, (_, members, *_) in want_keys.items():
            if seen[key] != list(members):
                report.problems.append((shard.name, f"sample {key}: members {seen[key]} != {list(members)}"))
    report.samples += len(seen)
    return size


def _deep_problem(ext: str, data: bytes, frames_hash: str) -> str | None:
    """What is wrong with a payload's frames: decoded frame by frame (memory stays one frame) and hashed as
    the factory hashed them. A lossy kind's frames_hash is of frames it did not keep, so only its decoding is
    checked."""
    hasher = FramesHasher()
    try:
        for frame in open_payload(ext, data).iter_frames():
            hasher.add(frame)
    except PayloadError as e:
        return f"payload does not decode ({e})"
    if payload_for_extension(ext).hash_of_decoded and hasher.hexdigest() != frames_hash:
        return "frames_hash mismatch"
    return None
