"""Verify a published variant against its manifests: every shard's size and sha256, every sample's
members and payload sha256; with `deep`, every lossless payload decoded and its frames compared with the
manifest's frames_hash. Names each missing, truncated or mismatching shard."""

from __future__ import annotations

import hashlib
import tarfile
from dataclasses import dataclass, field

import numpy as np

from . import layout
from .hashing import HashingReader
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


def verify_dataset(url: str, storage_options: dict | None = None, progress=None, deep: bool = False) -> VerifyReport:
    ds = open_dataset(url, storage_options)
    report = VerifyReport(url=ds.url)
    expected: dict[str, dict[str, tuple]] = {}
    for row in ds.samples.select(["shard", "key", "payload_sha256", "members", "frames_hash"]).to_pylist():
        expected.setdefault(row["shard"], {})[row["key"]] = (row["payload_sha256"], row["members"],
                                                            row["frames_hash"])
    frames_suffix = "." + layout.FRAMES_EXT
    for shard in ds.shards:
        report.shards += 1
        path = f"{ds.path}/{shard.name}"
        try:
            size = ds.fs.size(path)
        except FileNotFoundError:
            report.problems.append((shard.name, "missing"))
            continue
        if size != shard.bytes:
            kind = "truncated" if size < shard.bytes else "wrong size"
            report.problems.append((shard.name, f"{kind}: {size} bytes, manifest says {shard.bytes}"))
            continue
        seen: dict[str, list[str]] = {}
        payload_ok = True
        with ds.fs.open(path, "rb") as f:
            hashing = HashingReader(f)
            try:
                with tarfile.open(fileobj=hashing, mode="r|") as tar:
                    for member in tar:
                        key, _, ext = member.name.partition(".")
                        seen.setdefault(key, []).append(member.name)
                        if member.name.endswith(frames_suffix):
                            data = tar.extractfile(member).read()
                            want = expected.get(shard.name, {}).get(key, (None, None, None))
                            if hashlib.sha256(data).hexdigest() != want[0]:
                                report.problems.append((shard.name, f"sample {key}: payload sha256 mismatch"))
                                payload_ok = False
                            elif deep:
                                problem = _deep_problem(ext, data, want[2])
                                if problem:
                                    report.problems.append((shard.name, f"sample {key}: {problem}"))
            except (tarfile.TarError, EOFError, OSError) as e:
                report.problems.append((shard.name, f"unreadable tar: {e}"))
                continue
            _, sha256 = hashing.drain()
        if sha256 != shard.sha256:
            if payload_ok:
                report.problems.append((shard.name, "sha256 mismatch"))
        want_keys = expected.get(shard.name, {})
        if sorted(seen) != sorted(want_keys):
            missing = sorted(set(want_keys) - set(seen))
            extra = sorted(set(seen) - set(want_keys))
            report.problems.append((shard.name, f"samples differ from manifest (missing {missing[:3]}, extra {extra[:3]})"))
        else:
            for key, (_, members, _) in want_keys.items():
                if seen[key] != list(members):
                    report.problems.append((shard.name, f"sample {key}: members {seen[key]} != {list(members)}"))
        report.samples += len(seen)
        report.bytes += size
        if progress is not None:
            progress(shard)
    return report


def _deep_problem(ext: str, data: bytes, frames_hash: str) -> str | None:
    """What is wrong with a payload's frames: decoded frame by frame (memory stays one frame), their xxh3-128
    compared with the manifest's frames_hash. A lossy kind's frames_hash is of frames it did not keep, so
    only its decoding is checked."""
    import xxhash

    h = xxhash.xxh3_128()
    try:
        payload = open_payload(ext, data)
        for t in range(len(payload)):
            h.update(np.ascontiguousarray(payload.frame(t)).data)
    except PayloadError as e:
        return f"payload does not decode ({e})"
    if payload_for_extension(ext).lossless and "xxh3_128:" + h.hexdigest() != frames_hash:
        return "frames_hash mismatch"
    return None
