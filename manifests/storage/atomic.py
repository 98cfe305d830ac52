"""Local files that readers see whole or not at all: written beside their final name, fsync'd, renamed over
it, and the folder fsync'd so that the rename survives a power cut. Every local write of a dataset file
goes through here (small files through `open_atomic`, finished shards through `durable_rename`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid

from ..hashing import CHUNK
from .errors import space_checked


@contextlib.contextmanager
def open_atomic(path: str, mode: str = "wb"):
    """A file object writing to a temporary sibling of `path`, which replaces `path` when the block ends
    without an exception; an exception inside the block leaves `path` as it was."""
    folder = os.path.dirname(path) or "."
    tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with space_checked(path):
            os.makedirs(folder, exist_ok=True)
            with open(tmp, mode) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            _replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def durable_rename(tmp: str, path: str) -> None:
    """Move a finished file (written and closed elsewhere) to `path` on the same filesystem, durably."""
    with space_checked(path):
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        _replace(tmp, path)


def atomic_local_write(path: str, data: bytes) -> None:
    """Write a whole small file so that readers see the old file or the new one, never a part."""
    with open_atomic(path) as f:
        f.write(data)


def atomic_local_copy(src: str, path: str) -> None:
    """Copy a local file to `path` atomically."""
    with open_atomic(path) as f, open(src, "rb") as s:
        shutil.copyfileobj(s, f, CHUNK)


def _replace(tmp: str, path: str) -> None:
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path) or ".")


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:   # not every platform opens folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
