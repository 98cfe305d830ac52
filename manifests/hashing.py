"""The project's hashes: sha256 of what passes through (shard writing, verifying, committing, publishing) and
the manifest's `frames_hash` of decoded frames (`FramesHasher`: written by the factory, checked by verify --deep).

A shard is hashed on its way to disk (`HashingWriter`), re-hashed on its way out of storage
(`HashingReader`, `sha256_stream`), and a local file is hashed before an upload (`file_digest`), so
nothing holds a whole shard in memory or reads it twice to hash it.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import xxhash

# Read and hash in chunks of this size (remote reads stream; nothing holds a whole shard twice).
CHUNK = 8 << 20


class HashingReader:
    """Read-through file object: counts and hashes every byte read (tarfile reads a stream sequentially)."""

    def __init__(self, fileobj):
        self.fileobj, self.sha, self.size = fileobj, hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        data = self.fileobj.read(size)
        self.sha.update(data)
        self.size += len(data)
        return data

    def drain(self) -> tuple[int, str]:
        """Read to the end; (bytes read in all, sha256 hex)."""
        while self.read(CHUNK):
            pass
        return self.size, self.sha.hexdigest()


class HashingWriter(io.RawIOBase):
    """Write-through file object: counts and hashes every byte on its way to `raw`."""

    def __init__(self, raw):
        super().__init__()
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.raw.write(data)


def sha256_stream(fileobj) -> tuple[int, str]:
    """(size, sha256 hex) of what is left to read in a binary file object."""
    return HashingReader(fileobj).drain()


def file_digest(local_path: str) -> tuple[int, str]:
    """(size, sha256 hex) of a local file."""
    with open(local_path, "rb") as f:
        return sha256_stream(f)


class FramesHasher:
    """The manifest's `frames_hash`: xxh3-128 over the raw uint8 frames in order; counts them too."""

    def __init__(self):
        self._hash = xxhash.xxh3_128()
        self.count, self.shape = 0, None

    def add(self, frame: np.ndarray) -> np.ndarray:
        frame = np.ascontiguousarray(frame)
        self._hash.update(frame.data)
        self.count, self.shape = self.count + 1, frame.shape
        return frame

    def hexdigest(self) -> str:
        return "xxh3_128:" + self._hash.hexdigest()
