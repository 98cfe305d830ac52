"""sha256 of what passes through: the one hasher behind shard writing, verifying, committing and publishing.

A shard is hashed on its way to disk (`HashingWriter`), re-hashed on its way out of storage
(`HashingReader`, `sha256_stream`), and a local file is hashed before an upload (`file_digest`), so
nothing holds a whole shard in memory or reads it twice to hash it.
"""

from __future__ import annotations

import hashlib
import io

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
