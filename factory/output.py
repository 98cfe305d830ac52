"""The output location of one variant: commit protocol for shards and small files, local or remote.

A shard is written to a local temporary file by the task that renders it, then committed: on a local
filesystem an fsync'd rename inside the variant folder, on object storage an upload whose size and sha256
are checked before anything refers to it. Only then is the shard's marker written. Small files (markers,
manifests, card) are written whole: a temp file and rename locally, one PUT remotely.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import uuid

from synthvid.manifests import layout
from synthvid.manifests.storage import StorageError, is_local, join, url_to_fs


def _sha256_file(fobj, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    for block in iter(lambda: fobj.read(chunk), b""):
        h.update(block)
    return h.hexdigest()


class OutputDir:
    def __init__(self, url: str, storage_options: dict | None = None):
        self.url = str(url).rstrip("/")
        self.storage_options = dict(storage_options or {})
        self.local = is_local(self.url)
        self.fs, self.path = url_to_fs(self.url, self.storage_options)

    def _p(self, rel: str) -> str:
        return join(self.path, rel)

    # -- reading ---------------------------------------------------------------------------------------
    def exists(self, rel: str) -> bool:
        return self.fs.exists(self._p(rel))

    def read_bytes(self, rel: str) -> bytes:
        return self.fs.cat_file(self._p(rel))

    def size(self, rel: str) -> int | None:
        try:
            return int(self.fs.size(self._p(rel)))
        except FileNotFoundError:
            return None

    def sha256(self, rel: str) -> str:
        with self.fs.open(self._p(rel), "rb") as f:
            return _sha256_file(f)

    def listdir(self, rel: str = "") -> list[str]:
        try:
            return sorted(os.path.basename(p.rstrip("/")) for p in self.fs.ls(self._p(rel), detail=False))
        except FileNotFoundError:
            return []

    # -- writing ---------------------------------------------------------------------------------------
    def makedirs(self) -> None:
        if self.local:
            try:
                os.makedirs(os.path.join(self.path, layout.COMMIT_DIR), exist_ok=True)
            except OSError as e:
                raise StorageError(f"cannot create output folder {self.url}: {e.strerror}; "
                                   "choose a writable --out") from None
            if not os.access(self.path, os.W_OK):
                raise StorageError(f"output folder {self.url} is not writable; choose another --out")

    def temp_path(self, name: str) -> str:
        """A local path to write `name` into before committing it (same filesystem when local, so the
        commit is a rename)."""
        if self.local:
            folder = os.path.join(self.path, ".tmp")
            os.makedirs(folder, exist_ok=True)
        else:
            folder = tempfile.gettempdir()
        return os.path.join(folder, f"{name}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}")

    def commit_file(self, tmp_path: str, rel: str, size: int, sha256: str) -> None:
        """Move a finished local file into place; afterwards `rel` holds exactly (size, sha256)."""
        if self.local:
            with open(tmp_path, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp_path, self._p(rel))
            return
        try:
            self.fs.put_file(tmp_path, self._p(rel))
            stored = self.size(rel)
            if stored != size:
                raise StorageError(f"{join(self.url, rel)}: stored {stored} bytes, expected {size}")
            if self.sha256(rel) != sha256:
                raise StorageError(f"{join(self.url, rel)}: stored bytes do not match their sha256")
        finally:
            if os.path.exists(tmp_path):
                os.remove(tmp_path)

    def put_bytes(self, rel: str, data: bytes) -> None:
        if self.local:
            tmp = self.temp_path(os.path.basename(rel))
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.makedirs(os.path.dirname(self._p(rel)) or ".", exist_ok=True)
            os.replace(tmp, self._p(rel))
        else:
            self.fs.pipe_file(self._p(rel), data)

    def append_text(self, rel: str, text: str) -> None:
        """Append to a log (not part of the dataset's bytes; best effort remotely)."""
        if self.local:
            with open(self._p(rel), "a") as f:
                f.write(text)
        else:
            old = self.read_bytes(rel) if self.exists(rel) else b""
            self.fs.pipe_file(self._p(rel), old + text.encode())

    def remove(self, rel: str) -> None:
        try:
            self.fs.rm(self._p(rel), recursive=True)
        except FileNotFoundError:
            pass

    def cleanup_temp(self) -> None:
        if self.local:
            tmp = os.path.join(self.path, ".tmp")
            if os.path.isdir(tmp) and not os.listdir(tmp):
                os.rmdir(tmp)


class BuildLock:
    """One build per variant folder. Local: an O_EXCL lock file with host and pid; a lock whose process is
    gone (same host) is taken over. Remote stores get a best-effort lock object."""

    def __init__(self, out: OutputDir):
        self.out = out
        self.token = f"{socket.gethostname()} {os.getpid()} {uuid.uuid4().hex}"
        self.held = False

    def acquire(self) -> None:
        if self.out.local:
            path = os.path.join(self.out.path, layout.LOCK)
            for _ in range(2):
                try:
                    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    holder = open(path).read().split()
                    if len(holder) >= 2 and holder[0] == socket.gethostname() and not _alive(int(holder[1])):
                        os.remove(path)   # the build that held it died; its committed shards stay valid
                        continue
                    raise StorageError(
                        f"another build is writing {self.out.url} (lock held by host {holder[0] if holder else '?'}, "
                        f"pid {holder[1] if len(holder) > 1 else '?'}); wait for it to finish, or remove "
                        f"{path} if that build is dead") from None
                with os.fdopen(fd, "w") as f:
                    f.write(self.token)
                self.held = True
                return
        else:
            rel = layout.LOCK
            if self.out.exists(rel):
                holder = self.out.read_bytes(rel).decode(errors="replace").split()
                raise StorageError(
                    f"another build is writing {self.out.url} (lock held by host {holder[0] if holder else '?'}, "
                    f"pid {holder[1] if len(holder) > 1 else '?'}); wait for it, or delete {join(self.out.url, rel)} "
                    "if that build is dead")
            self.out.put_bytes(rel, self.token.encode())
            self.held = True

    def release(self) -> None:
        if self.held:
            self.out.remove(layout.LOCK)
            self.held = False

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
