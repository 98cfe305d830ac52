"""Byte ranges of a dataset's shards, for clip-level reads.

Locally each range is one `os.pread` on a descriptor kept open per shard (a few at a time). On object
storage a batch of ranges is one `fs.cat_ranges` call, which s3fs and friends run as concurrent GET
requests with a Range header; a range that fails there is read again alone through the storage layer's
retries (`manifests.storage.with_retries`: backoff for transient faults, one named error otherwise). A
range that comes back short (the shard changed under us) is an error, never a silently short frame.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import NamedTuple

from synthvid.manifests.storage import Store, is_local

OPEN_FILES = 8          # local descriptors kept per process (a worker reads a run of consecutive shards)


class RangeError(OSError):
    """A range could not be read in full; the message names the shard and the range."""


class Request(NamedTuple):
    shard: str          # the shard's name in the dataset folder
    start: int          # [start, end) in the shard
    end: int


class RangeReader:
    """Reads byte ranges of the shards of the dataset at `url`. Create it in the process that uses it:
    descriptors and remote clients are not shared across fork."""

    def __init__(self, url: str, storage_options: dict | None = None):
        self.url = url
        self.local = is_local(url)
        self._store = Store(url, storage_options)
        self._fds: OrderedDict[str, int] = OrderedDict()
        self.requests = 0            # ranges asked for, and bytes returned (for benchmarks)
        self.bytes = 0

    def read(self, requests: list[Request]) -> list[bytes | Exception]:
        """The bytes of each request, in order; a request that fails is its exception (the caller decides
        whether that costs a sample or a shard)."""
        if not requests:
            return []
        out = [self._pread(r) for r in requests] if self.local else self._cat_ranges(requests)
        self.requests += len(requests)
        self.bytes += sum(len(b) for b in out if isinstance(b, bytes))
        return out

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.popitem()[1])

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # -- local -------------------------------------------------------------------------------------------
    def _fd(self, shard: str) -> int:
        fd = self._fds.get(shard)
        if fd is not None:
            self._fds.move_to_end(shard)
            return fd
        fd = os.open(self._store.path(shard), os.O_RDONLY)
        self._fds[shard] = fd
        if len(self._fds) > OPEN_FILES:
            os.close(self._fds.popitem(last=False)[1])
        return fd

    def _pread(self, r: Request) -> bytes | Exception:
        try:
            fd = self._fd(r.shard)
            parts, pos = [], r.start
            while pos < r.end:
                got = os.pread(fd, r.end - pos, pos)
                if not got:
                    break
                parts.append(got)
                pos += len(got)
            return _checked(r, b"".join(parts))
        except OSError as e:
            return e

    # -- object storage ----------------------------------------------------------------------------------
    def _cat_ranges(self, requests: list[Request]) -> list[bytes | Exception]:
        fs = self._store.fs
        paths = [self._store.path(r.shard) for r in requests]
        try:
            got = fs.cat_ranges(paths, [r.start for r in requests], [r.end for r in requests], on_error="return")
        except Exception as e:  # noqa: BLE001 - the whole batch failed: every range is retried alone below
            got = [e] * len(requests)
        out = []
        for r, piece in zip(requests, got):
            if isinstance(piece, Exception):
                piece = self._retried(r)
            out.append(piece if isinstance(piece, Exception) else _checked(r, bytes(piece)))
        return out

    def _retried(self, r: Request) -> bytes | Exception:
        try:
            return self._store.call(f"read bytes {r.start}-{r.end}", r.shard, self._store.fs.cat_file,
                                    self._store.path(r.shard), start=r.start, end=r.end)
        except Exception as e:  # noqa: BLE001 - StorageError or FileNotFoundError, reported by the caller
            return e


def _checked(r: Request, data: bytes) -> bytes | RangeError:
    if len(data) != r.end - r.start:
        return RangeError(f"{r.shard}: bytes {r.start}-{r.end} came back as {len(data)} bytes (the shard is "
                          "shorter than its manifest says)")
    return data
