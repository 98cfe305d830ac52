"""Reading a slot's samples out of shards, as small generator stages (webdataset style):

    refs --group_visits--> visits --read_visits--> (shard, pass, key, bytes) in tar order
         --in_ref_order--> (ref, bytes) in the order of refs --decode--> (index, payload, pass)

A visit is one sequential read of one shard (per pass of the stream), started when its first sample is
needed, keeping only the wanted payload members (raw bytes) until their turn: a resumed slot whose skipped
refs cover a whole shard never opens it, and no clip it skips is decoded. Shard bytes are untrusted: the tar
is read as a plain tar (no compression is ever detected), a member is read only when its size is the
manifest's, and everything wrong becomes one line naming the shard or sample (ErrorPolicy).
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple

from synthvid.manifests.payload import DEFAULT_LIMITS, FramesPayload, Limits, PayloadError
from synthvid.manifests.reader import ShardRecord

from .errors import ErrorPolicy


class ShardRef(NamedTuple):
    """Position of one sample in a source's stream."""
    shard: ShardRecord
    key: str
    index: int
    pass_: int


class ShardProblem(Exception):
    """A shard is unusable before reading it (size or hash differs from the manifest); the text says how."""


@dataclass(frozen=True)
class MemberProblem:
    """Stands in for a sample's bytes when its member cannot be read safely."""
    what: str


@dataclass
class Visit:
    shard: ShardRecord
    pass_: int
    keys: set = field(default_factory=set)


class Fetched(NamedTuple):
    shard: str
    pass_: int
    key: str | None          # None: the shard turned out bad, nothing more comes from it
    data: bytes | MemberProblem | None


def group_visits(refs: Iterable[ShardRef]) -> list[Visit]:
    """One visit per (shard, pass), in order of first need."""
    visits: dict[tuple[str, int], Visit] = {}
    for ref in refs:
        visits.setdefault((ref.shard.name, ref.pass_), Visit(ref.shard, ref.pass_)).keys.add(ref.key)
    return list(visits.values())


def plain_tar(fileobj) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    """Regular-file members of an uncompressed tar stream, in order. Mode "r|", not "r|*": a compressed
    file is refused at its first header instead of being inflated (a 65 KB gzip can hold a 64 MiB member).
    Unwanted members are skipped without being read into memory."""
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for info in tar:
            if info.isfile():
                yield info, tar


def select_members(members, wanted: dict[str, int | None], ext: str | Mapping[str, str],
                   limits: Callable[[str], Limits] | None = None) -> Iterator[tuple[str, bytes | MemberProblem]]:
    """(key, bytes) of the `<key>.<ext>` members whose key is wanted. `wanted` maps a key to its member's size
    in the manifest (None: unknown); a member of another size, or larger than a payload of the manifest's
    shape can be (`limits(key)`), is not read at all. `ext` is one extension, or each key's own (the
    manifest's `payload_kind`)."""
    for info, tar in members:
        key, _, rest = info.name.partition(".")
        if key not in wanted:
            continue
        kind = ext if isinstance(ext, str) else ext[key]
        if rest != kind:
            continue
        expected = wanted[key]
        if expected is not None and info.size != expected:
            yield key, MemberProblem(f"its .{kind} member is {info.size} bytes where the manifest says {expected}")
            continue
        try:
            (limits(key) if limits else DEFAULT_LIMITS).check_member_size(info.size)
        except PayloadError as e:
            yield key, MemberProblem(str(e))
            continue
        yield key, tar.extractfile(info).read()


def read_visits(visits: list[Visit], open_members: Callable, policy: ErrorPolicy) -> Iterator[Fetched]:
    """Each visit's wanted members, visit after visit. `open_members(shard, keys)` yields (key, data) of one
    shard. A shard that fails (unreadable, truncated, ending before a listed sample) goes to the policy once,
    is followed by a `key=None` item and is not visited again."""
    for v in visits:
        if policy.failed_before(v.shard):
            continue
        got: set[str] = set()
        try:
            for key, data in open_members(v.shard, v.keys):
                got.add(key)
                yield Fetched(v.shard.name, v.pass_, key, data)
        except ShardProblem as e:
            what = str(e)
        except (tarfile.TarError, OSError, EOFError, ValueError) as e:
            detail = str(e).split(" @ ")[0]   # some file objects append their repr
            what = f"is truncated or corrupt ({type(e).__name__}: {detail})"
        else:
            missing = sorted(v.keys - got)
            if not missing:
                continue
            what = f"ends before sample(s) {missing[:3]} listed in its manifest"
        policy.shard_failed(v.shard, what)
        yield Fetched(v.shard.name, v.pass_, None, None)


def in_ref_order(refs: Iterable[ShardRef], fetched: Iterator[Fetched]) -> Iterator[tuple[ShardRef, object]]:
    """(ref, data) in the order of refs, holding fetched members until their turn; data is None for a
    sample of a shard that turned out bad."""
    pending: dict[tuple[str, int, str], object] = {}
    bad: set[str] = set()
    for ref in refs:
        want = (ref.shard.name, ref.pass_, ref.key)
        while want not in pending and ref.shard.name not in bad:
            item = next(fetched, None)
            if item is None:
                break
            if item.key is None:
                bad.add(item.shard)
            else:
                pending[(item.shard, item.pass_, item.key)] = item.data
        yield ref, pending.pop(want, None)


def decode(pairs: Iterable[tuple[ShardRef, object]], policy: ErrorPolicy,
           opener: Callable[[ShardRef, bytes], FramesPayload] = lambda ref, data: FramesPayload(data)
           ) -> Iterator[tuple[int, FramesPayload, int]]:
    """(index, payload, pass) for each readable sample; the payload's head is parsed here (by `opener`:
    the kind and limits of the sample's manifest row), its frame blocks only when a clip asks for them."""
    for ref, data in pairs:
        where = f"{ref.shard.url}: sample {ref.key}"
        if data is None:
            policy.missing_sample()
            continue
        if isinstance(data, MemberProblem):
            policy.bad_sample(where, data.what)
            continue
        try:
            payload = opener(ref, data)
        except PayloadError as e:
            policy.bad_sample(where, e)
            continue
        payload.where, payload.bytes_read = where, len(data)
        yield ref.index, payload, ref.pass_
