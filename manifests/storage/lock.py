"""`BuildLock`: one build per dataset folder, local or on object storage.

One lock, two ways of knowing the holder is still there:

* Local folder: the lock file `.build.lock` is held with a kernel lock (`flock`), which the kernel drops
  the moment its process ends, however it ends. So a lock left by a dead build is simply free: there is no
  takeover to race (POSIX has no compare-and-swap on a file's content, so any takeover by read-check-replace
  or rename leaves a window in which two builds both hold it). The file's content, "host pid token", is
  only for messages; an empty or garbled file is taken like a missing one. A filesystem without file locks
  (some FUSE mounts) gets an exclusive create and no automatic takeover: its message says what to remove.
* Object storage: a lease. The lock object is created with a conditional write (`If-None-Match: *`),
  renewed every TTL/4 with `If-Match` on the version (ETag) its holder last wrote, and taken over, when its
  holder is a dead process of this host or nobody renewed it for the TTL (SYNTHVID_LOCK_TTL_S, 900 s, on the
  store's clock), with `If-Match` on the version the taker judged stale. The store decides each of these
  atomically (`conditional`), so of two builds racing for a stale lock exactly one wins; a holder whose
  renewal fails its precondition has lost the lease (`ensure_held` then raises) and never deletes the new
  holder's lock (the release is a conditional delete too).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import uuid
from dataclasses import dataclass

from .. import layout
from . import conditional, owner
from .errors import StorageError, space_checked
from .store import Store
from .urls import join

try:
    import fcntl
except ImportError:           # not POSIX: exclusive create only
    fcntl = None

log = logging.getLogger("synthvid.build")

LOCK_TTL_S = float(os.environ.get("SYNTHVID_LOCK_TTL_S", 900))
# flock not supported by the filesystem (NFS without a lock manager, some FUSE mounts)
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


@dataclass(frozen=True)
class Holder:
    """Who a lock's content says holds it: "host pid token"."""
    host: str
    pid: int
    token: str

    @classmethod
    def parse(cls, raw: bytes) -> "Holder | None":
        parts = raw.decode("utf-8", "replace").split()
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2])

    @property
    def dead(self) -> bool:
        return owner.dead_holder([self.host, str(self.pid)])


def describe(raw: bytes) -> str:
    """The holder a lock's content names, for messages, whatever the content is."""
    holder = Holder.parse(raw)
    if holder is not None:
        return f"held by host {holder.host}, pid {holder.pid}"
    if not raw.strip():
        return "its lock holds no holder record (empty)"
    return f"its lock holds no valid holder record ({raw[:40].decode('utf-8', 'replace')!r})"


class BuildLock:
    """Held from `acquire` (or `with`) to `release`; `store` is the dataset folder it guards."""

    def __init__(self, store: Store, ttl: float | None = None):
        self.store = store
        self.ttl = LOCK_TTL_S if ttl is None else float(ttl)
        self.token = owner.token()
        self.held = False
        self.lost: str | None = None          # why the lease was lost (object storage), else None
        self._fd: int | None = None           # local: the flock'd lock file
        self._version: str | None = None      # object storage: the ETag we last wrote
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def acquire(self) -> None:
        if self.store.local:
            self._acquire_local()
        else:
            self._acquire_remote()
        self.held = True

    def ensure_held(self) -> None:
        """Raise StorageError when the lease went to another build (a stall longer than the TTL)."""
        if self.lost:
            raise StorageError(f"{self.store.display()}: this build lost its lock ({self.lost}); another build "
                               "took it over, so this one stops before writing the card", kind="lock_lost")

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._thread.join(timeout=30)
            self._stop = None
        if not self.held:
            return
        self.held = False
        if self.store.local:
            self._release_local()
            return
        try:   # only our own version: a lock taken over after a stall must not be undone
            if self._version is not None and not self.lost:
                conditional.delete(self.store, layout.LOCK, self._version)
        except StorageError as e:
            # never mask the build's own outcome: the lease expires after the TTL
            log.warning("could not remove the build lock (%s)", e)

    def _busy(self, raw: bytes, how: str) -> StorageError:
        return StorageError(f"another build is writing {self.store.display()} ({describe(raw)}); {how}",
                            kind="locked")

    # -- local -----------------------------------------------------------------------------------------
    def _acquire_local(self) -> None:
        path = os.path.join(self.store.root, layout.LOCK)
        if fcntl is None:
            return self._acquire_exclusive(path)
        for _ in range(10):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raw = _read_fd(fd)
                os.close(fd)
                raise self._busy(raw, "wait for it to finish (its lock is released the moment it ends)") from None
            except OSError as e:
                os.close(fd)
                if e.errno in _NO_FLOCK:
                    return self._acquire_exclusive(path)
                raise
            if _same_file(fd, path):   # not a file its last holder unlinked after we opened it
                try:
                    with space_checked(path):
                        os.ftruncate(fd, 0)
                        os.pwrite(fd, self.token.encode(), 0)
                except BaseException:
                    os.close(fd)       # the lock goes with it; an empty lock file is free for the next build
                    raise
                self._fd = fd
                return
            os.close(fd)
        raise StorageError(f"{path}: could not take the build lock (another build keeps taking it); make sure "
                           "only one build writes this output")

    def _acquire_exclusive(self, path: str) -> None:
        """No kernel locks here: an exclusive create; a lock file left behind is removed by hand."""
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            with open(path, "rb") as f:
                raw = f.read(4096)
            raise self._busy(raw, f"this filesystem has no file locks, so a lock left by a dead build stays: "
                                  f"remove {path} if no build is running") from None
        with os.fdopen(fd, "w") as f:
            f.write(self.token)

    def _release_local(self) -> None:
        path = os.path.join(self.store.root, layout.LOCK)
        fd, self._fd = self._fd, None
        try:
            # unlinked while still locked: whoever opened this file meanwhile sees it is gone and retries
            if fd is None or _same_file(fd, path):
                os.unlink(path)
        except FileNotFoundError:
            pass
        finally:
            if fd is not None:
                os.close(fd)

    # -- object storage --------------------------------------------------------------------------------
    def _acquire_remote(self) -> None:
        store, rel, mine = self.store, layout.LOCK, self.token.encode()
        if not conditional.exact(store):
            log.warning("%s: this store has no conditional writes; two builds starting at the same moment "
                        "could both take the lock", store.display())
        for _ in range(5):
            self._version = conditional.create(store, rel, mine)
            if self._version is None:
                try:
                    raw, version, modified = conditional.read(store, rel)
                except FileNotFoundError:
                    continue                        # released meanwhile: try to create it again
                why = self._stale(raw, modified)
                if why is None:
                    raise self._busy(raw, f"wait for it, or delete {join(store.url, rel)} if that build is "
                                          f"dead (a lock nobody renews expires after {self.ttl:.0f}s)")
                self._version = conditional.replace(store, rel, mine, version)
                if self._version is None:
                    continue                        # another build took it first: judge the new holder
                log.warning("%s: took over a stale build lock (%s)", store.display(rel), why)
            self._start_renewal()
            return
        raise StorageError(f"{join(store.url, rel)}: could not take the build lock (another build keeps "
                           "taking it); make sure only one build writes this output")

    def _stale(self, raw: bytes, modified) -> str | None:
        """Why a lock with this content and modification time may be taken over, or None."""
        holder = Holder.parse(raw)
        if holder is not None and holder.dead:
            return f"its process {holder.pid} on this host is gone"
        if modified is None:        # a store that keeps no modification times: only a dead holder is stale
            return None
        try:
            age = (_store_clock(self.store) - modified).total_seconds()
        except TypeError:           # a clock or time without a time zone: not comparable, so not stale
            return None
        if age > self.ttl:
            return f"nobody renewed it for {age:.0f}s"
        return None

    def _start_renewal(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, args=(self._stop,), name="synthvid-lock-renewal",
                                        daemon=True)
        self._thread.start()

    def _renew(self, stop: threading.Event) -> None:
        while not stop.wait(self.ttl / 4):
            try:
                version = conditional.replace(self.store, layout.LOCK, self.token.encode(), self._version)
            except Exception as e:  # noqa: BLE001 - transient: the next renewal tries again
                log.warning("%s: could not renew the build lock (%s); retrying", self.store.display(), e)
                continue
            if version is None:     # its version changed: another build took it over after a stall
                self.lost = "its lease was taken over while this build stalled"
                log.error("%s: %s", self.store.display(), self.lost)
                return
            self._version = version


def _store_clock(store: Store):
    """The store's current time: the modification time of a probe object written now."""
    clock = f"{layout.LOCK}.clock-{uuid.uuid4().hex[:8]}"
    store.put_bytes(clock, b"")
    try:
        return store.info(clock).get("LastModified")
    finally:
        store.remove(clock)


def _read_fd(fd: int) -> bytes:
    try:
        return os.pread(fd, 4096, 0)
    except OSError:
        return b""


def _same_file(fd: int, path: str) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
