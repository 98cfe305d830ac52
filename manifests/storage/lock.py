"""`BuildLock`: one build per dataset folder, local or on object storage.

Local: an O_EXCL lock file holding "host pid token"; a lock whose process is gone (same host) is taken
over. Object storage: a lock object created with a conditional PUT (If-None-Match: *, so two drivers racing
cannot both win where the store supports it; others fall back to write-then-read-back). The lock is a
lease: its holder rewrites it every TTL/4 from a background thread, and a lock whose holder is a dead
process of this host, or that nobody renewed for the TTL (SYNTHVID_LOCK_TTL_S, default 900 s, measured on
the store's clock), is taken over. So a build killed with SIGKILL can be resumed at once on the same host,
and from any host after the TTL.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid

from .. import layout
from . import owner
from .errors import StorageError
from .store import Store
from .urls import join

log = logging.getLogger("synthvid.build")

LOCK_TTL_S = float(os.environ.get("SYNTHVID_LOCK_TTL_S", 900))


class BuildLock:
    """Held from `acquire` (or `with`) to `release`; `store` is the dataset folder it guards."""

    def __init__(self, store: Store, ttl: float | None = None):
        self.store = store
        self.ttl = LOCK_TTL_S if ttl is None else float(ttl)
        self.token = owner.token()
        self.held = False
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

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._stop = None
        if not self.held:
            return
        self.held = False
        if self.store.local:
            self.store.remove(layout.LOCK)
            return
        try:  # only our own lock: a takeover after a long stall must not be undone
            if self._holder_token() == self.token:
                self.store.remove(layout.LOCK)
        except FileNotFoundError:
            pass
        except StorageError as e:
            # never mask the build's own outcome: the next build on this host takes the lock over,
            # any other after the TTL
            log.warning("could not remove the build lock (%s)", e)

    def _busy(self, holder: list[str], how: str) -> StorageError:
        host = holder[0] if holder else "?"
        pid = holder[1] if len(holder) > 1 else "?"
        return StorageError(f"another build is writing {self.store.url} (lock held by host {host}, pid {pid}); "
                            f"{how}")

    def _holder_token(self) -> str:
        return self.store.read_bytes(layout.LOCK).decode(errors="replace")

    # -- local -----------------------------------------------------------------------------------------
    def _acquire_local(self) -> None:
        path = os.path.join(self.store.root, layout.LOCK)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                with open(path) as f:
                    holder = f.read().split()
                if owner.dead_holder(holder):
                    os.remove(path)   # the build that held it died; its committed shards stay valid
                    continue
                raise self._busy(holder, f"wait for it to finish, or remove {path} if that build is dead") from None
            with os.fdopen(fd, "w") as f:
                f.write(self.token)
            self.held = True
            return
        raise StorageError(f"{path}: could not take the build lock (another build keeps taking it); make sure "
                           "only one build writes this output")

    # -- object storage --------------------------------------------------------------------------------
    def _acquire_remote(self) -> None:
        store, rel = self.store, layout.LOCK
        for _ in range(3):
            if self._create():
                self.held = True
                self._start_renewal()
                return
            try:
                holder = self._holder_token().split()
            except FileNotFoundError:
                continue
            why = self._stale(holder)
            if why is None:
                raise self._busy(holder, f"wait for it, or delete {join(store.url, rel)} if that build is dead "
                                         f"(a lock nobody renews expires after {self.ttl:.0f}s)")
            log.warning("%s: taking over a stale build lock (%s)", store.display(rel), why)
            store.remove(rel)
        raise StorageError(f"{join(store.url, rel)}: could not take the build lock (another build keeps "
                           "taking it); make sure only one build writes this output")

    def _create(self) -> bool:
        """Conditional create of the lock object; False when one exists."""
        store, rel = self.store, layout.LOCK
        try:
            store.call("create lock", rel, store.fs.pipe_file, store.path(rel), self.token.encode(), mode="create")
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
            return self._holder_token() == self.token
        except FileNotFoundError:
            return False

    def _stale(self, holder: list[str]) -> str | None:
        """Why the current lock may be taken over, or None."""
        if owner.dead_holder(holder):
            return f"its process {holder[1]} on this host is gone"
        store = self.store
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
        if now is not None and (now - modified).total_seconds() > self.ttl:
            return f"nobody renewed it for {(now - modified).total_seconds():.0f}s"
        return None

    def _start_renewal(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, args=(self._stop,), name="synthvid-lock-renewal",
                                        daemon=True)
        self._thread.start()

    def _renew(self, stop: threading.Event) -> None:
        while not stop.wait(self.ttl / 4):
            try:
                if self._holder_token() != self.token:
                    return  # taken over after a stall: never clobber the new holder
                self.store.put_bytes(layout.LOCK, self.token.encode())
            except Exception:  # noqa: BLE001 - the next renewal tries again
                pass
