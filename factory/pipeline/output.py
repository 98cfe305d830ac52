"""The output location of one variant: commit protocol for shards and small files, local or remote.

A shard is written to a local temporary file by the task that renders it, then committed:
  * local filesystem: fsync, then rename inside the variant folder (atomic);
  * object storage: upload straight to the final key (a PUT or a completed multipart upload is atomic:
    readers see the whole object or none), then read the stored object back and compare its size and
    sha256 with the local file; a mismatch uploads again, then fails. Transient faults (connection reset,
    5xx, throttling, the server restarting) are retried with backoff (manifests.storage.with_retries).
Only after that does the task write the shard's marker, so a marker always names bytes that are stored.
Small files (markers, manifests, card) are written whole: temp file + rename locally, one PUT remotely.
No temporary object is ever created in the store; multipart uploads orphaned by a killed process are
aborted by `cleanup_temp`, and local temp files of dead processes are removed there too.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import uuid

from synthvid.manifests import layout
from synthvid.manifests.storage import (StorageError, Store, atomic_local_write, check_writable, file_digest, join,
                                        with_retries)

_CHECKED: set[str] = set()  # remote outputs already probed by this process


class OutputDir:
    def __init__(self, url: str, storage_options: dict | None = None):
        self.url = str(url).rstrip("/")
        self.storage_options = dict(storage_options or {})
        self.store = Store(self.url, self.storage_options)
        self.local = self.store.local
        self.fs, self.path = self.store.fs, self.store.root

    def __repr__(self) -> str:  # never the storage options: they may hold credentials
        return f"OutputDir({self.store.display()!r})"

    def _p(self, rel: str) -> str:
        return join(self.path, rel)

    # -- reading ---------------------------------------------------------------------------------------
    def exists(self, rel: str) -> bool:
        return self.store.exists(rel)

    def read_bytes(self, rel: str) -> bytes:
        return self.store.read_bytes(rel)

    def size(self, rel: str) -> int | None:
        try:
            return self.store.size(rel)
        except FileNotFoundError:
            return None

    def sha256(self, rel: str) -> str:
        return self.store.sha256(rel)

    def matches(self, rel: str, size: int, sha256: str) -> bool:
        """`rel` is stored with exactly this size and sha256 (what a resume checks before keeping a shard)."""
        return self.store.matches(rel, size, sha256)

    def listdir(self, rel: str = "") -> list[str]:
        return self.store.listdir(rel)

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
        elif self.url not in _CHECKED:
            # before any work: no such bucket, wrong credentials, unreachable endpoint -> one clear line
            check_writable(self.url, self.storage_options)
            _CHECKED.add(self.url)

    def _remote_tmp_dir(self) -> str:
        folder = os.path.join(tempfile.gettempdir(), f"synthvid-{os.getuid() if hasattr(os, 'getuid') else 0}")
        os.makedirs(folder, exist_ok=True)
        return folder

    def temp_path(self, name: str) -> str:
        """A local path to write `name` into before committing it (same filesystem when local, so the
        commit is a rename)."""
        if self.local:
            folder = os.path.join(self.path, ".tmp")
            os.makedirs(folder, exist_ok=True)
        else:
            folder = self._remote_tmp_dir()
        return os.path.join(folder, f"{name}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}")

    def commit_file(self, tmp_path: str, rel: str, size: int, sha256: str) -> None:
        """Move a finished local file into place; afterwards `rel` holds exactly (size, sha256)."""
        try:
            if self.local:
                with open(tmp_path, "rb") as f:
                    os.fsync(f.fileno())
                os.makedirs(os.path.dirname(self._p(rel)) or ".", exist_ok=True)
                os.replace(tmp_path, self._p(rel))
                return
            self.store.upload_verified(tmp_path, rel, size=size, sha256=sha256)
        finally:
            if os.path.exists(tmp_path):
                os.remove(tmp_path)

    def commit_shard(self, local_tmp_path: str, name: str) -> tuple[int, str]:
        """Commit a finished shard file under `name`; returns its (bytes, sha256), verified in the store."""
        size, sha = file_digest(local_tmp_path)
        self.commit_file(local_tmp_path, name, size, sha)
        return size, sha

    def put_bytes(self, rel: str, data: bytes) -> None:
        if self.local:
            atomic_local_write(self._p(rel), data)
        else:
            self.store.put_bytes(rel, data)

    def append_text(self, rel: str, text: str) -> None:
        """Append to a log (not part of the dataset's bytes; read-modify-write remotely)."""
        if self.local:
            with open(self._p(rel), "a") as f:
                f.write(text)
        else:
            try:
                old = self.read_bytes(rel)
            except FileNotFoundError:
                old = b""
            self.put_bytes(rel, old + text.encode())

    def remove(self, rel: str) -> None:
        path = self._p(rel)

        def rm():
            try:
                self.fs.rm(path, recursive=True)
            except FileNotFoundError:
                pass
        with_retries(rm, url=self.store.display(rel), what="delete", fs=self.fs, policy=self.store.policy)
        try:
            self.fs.invalidate_cache(path)
        except Exception:  # noqa: BLE001 - best effort
            pass

    def cleanup_temp(self) -> None:
        """Remove what interrupted commits left behind: the empty local .tmp folder and temp files of dead
        processes of this host; on object storage, orphaned multipart uploads under the variant."""
        host = socket.gethostname()
        folder = os.path.join(self.path, ".tmp") if self.local else self._remote_tmp_dir()
        if os.path.isdir(folder):
            for entry in os.listdir(folder):
                parts = entry.rsplit(".", 3)
                if len(parts) == 4 and parts[1] == host and parts[2].isdigit() and not _alive(int(parts[2])):
                    try:
                        os.remove(os.path.join(folder, entry))
                    except OSError:
                        pass
            if self.local and not os.listdir(folder):
                os.rmdir(folder)
        if not self.local:
            self.store.abort_incomplete_uploads()


LOCK_TTL_S = float(os.environ.get("SYNTHVID_LOCK_TTL_S", 900))


class BuildLock:
    """One build per variant folder.

    Local: an O_EXCL lock file with host and pid; a lock whose process is gone (same host) is taken over.
    Object storage: a lock object created with a conditional PUT (If-None-Match: *, so two drivers racing
    cannot both win where the store supports it; others fall back to write-then-read-back). The lock is a
    lease: its holder rewrites it every TTL/4 from a background thread, and a lock whose holder is a dead
    process of this host, or that nobody renewed for SYNTHVID_LOCK_TTL_S (default 900 s, measured on the
    store's clock), is taken over. So a build killed with SIGKILL can be resumed at once on the same host,
    and from any host after the TTL.
    """

    def __init__(self, out: OutputDir):
        self.out = out
        self.token = f"{socket.gethostname()} {os.getpid()} {uuid.uuid4().hex}"
        self.held = False
        self._stop = None
        self._thread = None

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
            self._acquire_remote()

    # -- object storage --------------------------------------------------------------------------------
    def _create(self) -> bool:
        """Conditional create of the lock object; False when one exists."""
        store, rel = self.out.store, layout.LOCK
        try:
            with_retries(store.fs.pipe_file, store.path(rel), self.token.encode(), mode="create",
                         url=store.display(rel), what="create lock", fs=store.fs, policy=store.policy)
        except StorageError as e:
            if e.kind == "exists":
                return False
            raise
        except (TypeError, NotImplementedError):  # a filesystem without exclusive create
            if store.exists(rel):
                return False
            store.put_bytes(rel, self.token.encode())
        time.sleep(0.05)
        try:
            return store.read_bytes(rel).decode(errors="replace") == self.token
        except FileNotFoundError:
            return False

    def _stale(self, holder: list[str]) -> str | None:
        """Why the current lock may be taken over, or None."""
        if len(holder) >= 2 and holder[0] == socket.gethostname() and holder[1].isdigit() \
                and not _alive(int(holder[1])):
            return f"its process {holder[1]} on this host is gone"
        store = self.out.store
        try:
            modified = store.info(layout.LOCK).get("LastModified")
        except FileNotFoundError:
            return "it is gone"
        if modified is None:
            return None
        clock = f"{layout.LOCK}.clock-{uuid.uuid4().hex[:8]}"
        store.put_bytes(clock, b"")
        try:
            now = store.info(clock).get("LastModified")
        finally:
            store.remove(clock)
        if now is not None and (now - modified).total_seconds() > LOCK_TTL_S:
            return f"nobody renewed it for {(now - modified).total_seconds():.0f}s"
        return None

    def _acquire_remote(self) -> None:
        store, rel = self.out.store, layout.LOCK
        for _ in range(3):
            if self._create():
                self.held = True
                self._start_renewal()
                return
            try:
                holder = store.read_bytes(rel).decode(errors="replace").split()
            except FileNotFoundError:
                continue
            why = self._stale(holder)
            if why is None:
                raise StorageError(
                    f"another build is writing {self.out.url} (lock held by host {holder[0] if holder else '?'}, "
                    f"pid {holder[1] if len(holder) > 1 else '?'}); wait for it, or delete "
                    f"{join(self.out.url, rel)} if that build is dead (a lock nobody renews expires after "
                    f"{LOCK_TTL_S:.0f}s)")
            import logging
            logging.getLogger("synthvid.build").warning("%s: taking over a stale build lock (%s)",
                                                        store.display(rel), why)
            store.remove(rel)
        raise StorageError(f"{join(self.out.url, rel)}: could not take the build lock (another build keeps "
                           "taking it); make sure only one build writes this output")

    def _start_renewal(self) -> None:
        import threading

        self._stop = threading.Event()

        def renew():
            while not self._stop.wait(LOCK_TTL_S / 4):
                try:
                    if self.out.read_bytes(layout.LOCK).decode(errors="replace") != self.token:
                        return  # taken over after a stall: never clobber the new holder
                    self.out.store.put_bytes(layout.LOCK, self.token.encode())
                except Exception:  # noqa: BLE001 - the next renewal tries again
                    pass
        self._thread = threading.Thread(target=renew, name="synthvid-lock-renewal", daemon=True)
        self._thread.start()

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._stop = None
        if self.held:
            self.held = False
            if self.out.local:
                self.out.remove(layout.LOCK)
                return
            try:  # only our own lock: a takeover after a long stall must not be undone
                if self.out.read_bytes(layout.LOCK).decode(errors="replace") == self.token:
                    self.out.remove(layout.LOCK)
            except FileNotFoundError:
                pass
            except StorageError as e:
                # never mask the build's own outcome: the next build on this host takes the lock over,
                # any other after SYNTHVID_LOCK_TTL_S
                import logging
                logging.getLogger("synthvid.build").warning("could not remove the build lock (%s)", e)

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

