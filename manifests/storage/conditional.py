"""Conditional writes of one small object: create it only when absent, replace or delete it only while it is
still the version a caller read. What a lease (`lock.BuildLock`) is built on.

On S3 (and S3-compatible stores) these are the standard preconditions: PUT with `If-None-Match: *`, PUT and
DELETE with `If-Match: <ETag>`; the store decides atomically, so of two writers racing from the same version
exactly one wins and the other gets 412 Precondition Failed. Verified against the test server (SeaweedFS 4.x,
tests/test_locks.py) and used through botocore's `IfNoneMatch` / `IfMatch` parameters (botocore >= 1.36).
A store without them (other fsspec filesystems: memory://, gcs:// through fsspec's generic calls, ...)
falls back to write-then-compare, which two writers racing within a round trip can both pass; `exact`
says which of the two a filesystem gets.

A version is the store's ETag (or, in the fallback, the sha256 of the content).
"""

from __future__ import annotations

import hashlib

from .errors import StorageError
from .retry import invalidate

# A lost precondition is "exists" (412); AWS answers If-Match on a missing key with 404.
_LOST = ("exists", "not_found")


def exact(store) -> bool:
    """True when `store`'s filesystem makes these decisions atomically on the server."""
    return hasattr(store.fs, "call_s3")


def read(store, rel: str) -> tuple[bytes, str, object]:
    """(content, version, last modified or None) of the object now; FileNotFoundError when absent.
    The version is taken before the content, so a caller that judges the content and then writes on that
    version can only act on what it judged or fail: never on something newer it did not see."""
    info = store.info(rel)
    data = store.read_bytes(rel)
    if exact(store):
        return data, str(info.get("ETag") or ""), info.get("LastModified")
    return data, _digest(data), info.get("LastModified") or info.get("mtime") or info.get("created")


def create(store, rel: str, data: bytes) -> str | None:
    """Write `data` to rel only if nothing is there; its version, or None when an object exists."""
    if exact(store):
        return _put(store, rel, data, IfNoneMatch="*")
    try:
        store.call("create", rel, store.fs.pipe_file, store.path(rel), data, mode="create")
    except StorageError as e:
        if e.kind == "exists":
            return None
        raise
    except (TypeError, NotImplementedError, ValueError):   # no exclusive create on this filesystem
        if store.exists(rel):
            return None
        store.put_bytes(rel, data)
    return _confirm(store, rel, data)


def replace(store, rel: str, data: bytes, version: str) -> str | None:
    """Write `data` to rel only while it is still at `version`; the new version, or None when it changed."""
    if exact(store):
        return _put(store, rel, data, IfMatch=version)
    try:
        now = read(store, rel)[1]
    except FileNotFoundError:
        return None
    if now != version:
        return None
    store.put_bytes(rel, data)
    return _confirm(store, rel, data)


def delete(store, rel: str, version: str) -> bool:
    """Delete rel only while it is still at `version`; False when it changed or is gone."""
    if not exact(store):
        try:
            if read(store, rel)[1] != version:
                return False
        except FileNotFoundError:
            return False
        store.remove(rel)
        return True
    return _s3(store, rel, "delete_object", IfMatch=version) is not None


def _put(store, rel: str, data: bytes, **condition) -> str | None:
    out = _s3(store, rel, "put_object", Body=data, **condition)
    return None if out is None else str(out.get("ETag") or "")


def _s3(store, rel: str, method: str, **kwargs) -> dict | None:
    """One conditional S3 call on rel; its response, or None when its precondition failed."""
    bucket, key, _ = store.fs.split_path(store.path(rel))
    try:
        return store.call(f"conditional {method}", rel, store.fs.call_s3, method, Bucket=bucket, Key=key, **kwargs)
    except StorageError as e:
        if e.kind in _LOST:
            return None
        raise
    finally:
        invalidate(store.fs, store.path(rel))


def _confirm(store, rel: str, data: bytes) -> str | None:
    """Fallback: the version of rel if it now holds exactly `data` (the last writer won), else None."""
    try:
        current = store.read_bytes(rel)
    except FileNotFoundError:
        return None
    return _digest(current) if current == data else None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
