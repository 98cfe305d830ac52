"""`Store`: one root (a local folder or any fsspec URL) and every operation the project does on it, each
retried, verified where it commits data, and named in one clear line when it fails.

The commit protocol. A dataset file is written whole to a local temporary file first (`temp_path`), then
committed (`commit_file`):
  * local filesystem: fsync, then rename inside the root, then fsync of the folder (atomic, durable);
  * object storage: upload straight to the final key (a PUT or a completed multipart upload is atomic:
    readers see the whole object or none), then read the stored object back and compare its size and
    sha256 with the local file; a mismatch uploads again, then fails.
Small files (markers, manifests, card) are written whole (`put_bytes`): temp file + rename locally, one PUT
remotely. No temporary object is ever created in the store; `cleanup_temp` removes temp files of dead
processes of this host and aborts multipart uploads orphaned by a killed process.

Transient faults (connection reset, 5xx, throttling, the server restarting) are retried with backoff
through `Store.call`, the one retry wrapper every caller uses; remote reads bypass fsspec's listing
cache, so what they report is what the store holds now.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
import uuid

from ..hashing import CHUNK, file_digest, sha256_stream
from . import owner
from .atomic import atomic_local_copy, atomic_local_write, durable_rename
from .errors import StorageError, space_checked, storage_error
from .redaction import redact
from .retry import PROBE_POLICY, RetryPolicy, invalidate, with_retries
from .urls import is_local, join, safe_url, url_to_fs

log = logging.getLogger("synthvid.storage")

PROBE_PREFIX = ".synthvid-probe-"
_PROBED: set[str] = set()   # remote roots `makedirs` already probed in this process


class Store:
    """Retrying, verified operations on paths relative to one root."""

    def __init__(self, url: str, storage_options: dict | None = None, policy: RetryPolicy | None = None):
        self.url = str(url).rstrip("/")
        self.storage_options = dict(storage_options or {})
        self.fs, self.root = url_to_fs(self.url, self.storage_options, quick_retries=True)
        self.root = self.root.rstrip("/")
        self.local = is_local(self.url)
        self.policy = policy or RetryPolicy.from_env()

    def __repr__(self) -> str:  # never the options: they may hold credentials
        return f"Store({safe_url(self.url)!r})"

    def path(self, rel: str = "") -> str:
        return join(self.root, rel) if rel else self.root

    def display(self, rel: str = "") -> str:
        return safe_url(join(self.url, rel) if rel else self.url)

    def call(self, what: str, rel: str, fn, *args, not_found_ok: bool = False, **kwargs):
        """fn(*args, **kwargs) with this store's retry policy; failures name `rel` under this root.
        A missing object raises FileNotFoundError when not_found_ok, StorageError otherwise."""
        return with_retries(fn, *args, url=self.display(rel), what=what, fs=self.fs, policy=self.policy,
                            not_found_ok=not_found_ok, **kwargs)

    # -- reads -----------------------------------------------------------------------------------------
    def exists(self, rel: str) -> bool:
        path = self.path(rel)
        invalidate(self.fs, path)
        return bool(self.call("exists", rel, self.fs.exists, path))

    def info(self, rel: str) -> dict:
        path = self.path(rel)
        invalidate(self.fs, path)
        return self.call("stat", rel, self.fs.info, path, not_found_ok=True)

    def size(self, rel: str) -> int:
        return int(self.info(rel)["size"])

    def read_bytes(self, rel: str) -> bytes:
        return self.call("read", rel, self.fs.cat_file, self.path(rel), not_found_ok=True)

    def digest(self, rel: str) -> tuple[int, str]:
        """(size, sha256) of the stored object, streamed."""
        def run():
            with self.fs.open(self.path(rel), "rb", block_size=CHUNK, cache_type="none") as f:
                return sha256_stream(f)
        return self.call("read for sha256", rel, run, not_found_ok=True)

    def sha256(self, rel: str) -> str:
        return self.digest(rel)[1]

    def matches(self, rel: str, size: int, sha256: str) -> bool:
        """True when rel exists with exactly this size and sha256 (size checked first, cheaply)."""
        try:
            if self.size(rel) != size:
                return False
            return self.digest(rel) == (size, sha256)
        except FileNotFoundError:
            return False

    def listdir(self, rel: str = "") -> list[str]:
        """Names (not paths) directly under rel; [] when it does not exist."""
        path = self.path(rel)
        invalidate(self.fs, path)
        try:
            entries = self.call("list", rel, self.fs.ls, path, detail=False, not_found_ok=True)
        except FileNotFoundError:
            return []
        return sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries if e.rstrip("/") != path.rstrip("/"))

    def walk_files(self, rel: str = "") -> dict[str, int]:
        """{relative path: size} of every file under rel."""
        path = self.path(rel)
        invalidate(self.fs)
        try:
            found = self.call("list", rel, self.fs.find, path, detail=True, not_found_ok=True)
        except FileNotFoundError:
            return {}
        base = self.root + "/"
        return {p[len(base):] if p.startswith(base) else p: int(i.get("size") or 0)
                for p, i in found.items() if i.get("type", "file") == "file"}

    # -- writes ----------------------------------------------------------------------------------------
    def makedirs(self, rel: str = "") -> None:
        """Make sure `rel` can be written before any work: a local folder is created and checked; a remote
        root is probed once per process (no such bucket, wrong credentials, unreachable -> one line)."""
        if self.local:
            try:
                os.makedirs(self.path(rel), exist_ok=True)
            except OSError as e:
                raise StorageError(f"cannot create output folder {self.url}: {e.strerror}; "
                                   "choose a writable --out", kind="not_writable", url=self.url) from None
            if not os.access(self.root, os.W_OK):
                raise StorageError(f"output folder {self.url} is not writable; choose another --out",
                                   kind="not_writable", url=self.url)
        elif self.url not in _PROBED:
            check_writable(self.url, self.storage_options)
            _PROBED.add(self.url)

    def put_bytes(self, rel: str, data: bytes) -> None:
        """Write a whole small file: readers see the old content or the new, never a part."""
        path = self.path(rel)
        if self.local:
            atomic_local_write(path, data)
            return
        self.call("write", rel, self.fs.pipe_file, path, data)
        invalidate(self.fs, path)

    def append_text(self, rel: str, text: str) -> None:
        """Append to a log (not part of a dataset's bytes; read-modify-write remotely)."""
        if self.local:
            with space_checked(self.path(rel)), open(self.path(rel), "a") as f:
                f.write(text)
            return
        try:
            old = self.read_bytes(rel)
        except FileNotFoundError:
            old = b""
        self.put_bytes(rel, old + text.encode())

    def remove(self, rel: str, missing_ok: bool = True, recursive: bool = False) -> None:
        path = self.path(rel)
        kwargs = {"recursive": True} if recursive else {}
        try:
            self.call("delete", rel, self.fs.rm if recursive else _rm_file(self.fs), path, not_found_ok=True, **kwargs)
        except FileNotFoundError:
            if not missing_ok:
                raise
        invalidate(self.fs, path)

    # -- commits ---------------------------------------------------------------------------------------
    def temp_path(self, name: str) -> str:
        """A local path to write `name` into before `commit_file`: in the root's `.tmp` when the root is
        local (so the commit is a rename on one filesystem), else in this user's private temp folder."""
        folder = self._temp_folder()
        private_folder(folder)
        return os.path.join(folder, owner.temp_name(name))

    def _temp_folder(self) -> str:
        return os.path.join(self.root, ".tmp") if self.local else _local_temp_folder()

    def commit_file(self, tmp_path: str, rel: str, size: int, sha256: str) -> None:
        """Move a finished local file into place; afterwards `rel` holds exactly (size, sha256). The local
        file is gone afterwards, committed or not."""
        try:
            if self.local:
                durable_rename(tmp_path, self.path(rel))
            else:
                self.upload_verified(tmp_path, rel, size=size, sha256=sha256)
        finally:
            if os.path.exists(tmp_path):
                os.remove(tmp_path)

    def upload_verified(self, local_path: str, rel: str, size: int | None = None, sha256: str | None = None,
                        tries: int = 2) -> tuple[int, str]:
        """Copy a local file to rel and check that the stored object has its size and sha256 (read back).
        A mismatch uploads again (up to `tries`), then raises StorageError(kind='integrity')."""
        if size is None or sha256 is None:
            size, sha256 = file_digest(local_path)
        path = self.path(rel)
        for attempt in range(1, tries + 1):
            if self.local:
                atomic_local_copy(local_path, path)
            else:
                self.call("upload", rel, self.fs.put_file, local_path, path)
                invalidate(self.fs, path)
            if self.matches(rel, size, sha256):
                return size, sha256
            log.warning("%s: the stored object differs from the uploaded file (attempt %d of %d)",
                        self.display(rel), attempt, tries)
        raise StorageError(f"{self.display(rel)}: the stored object does not match the uploaded file "
                           f"({size} bytes, sha256 {sha256[:12]}...) after {tries} uploads; the store or the "
                           "network corrupts data: check them, then rerun to resume", kind="integrity",
                           url=self.display(rel))

    def cleanup_temp(self) -> None:
        """Remove what interrupted commits left behind: temp files of dead processes of this host (and the
        local .tmp folder once empty); on object storage, orphaned multipart uploads under the root."""
        folder = self._temp_folder()
        if _ours(folder, directory=True):
            for entry in os.listdir(folder):
                path = os.path.join(folder, entry)
                if owner.dead_temp_file(entry) and _ours(path):
                    try:
                        os.remove(path)
                    except OSError:
                        pass
            if self.local and not os.listdir(folder):
                os.rmdir(folder)
        if not self.local:
            self.abort_incomplete_uploads()

    def abort_incomplete_uploads(self, rel: str = "") -> int:
        """Abort multipart uploads left under rel by a killed process (S3 only); returns how many."""
        if self.local or not hasattr(self.fs, "call_s3"):
            return 0
        bucket, _, prefix = self.path(rel).partition("/")
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        try:
            listing = self.call("list multipart uploads", rel, self.fs.call_s3, "list_multipart_uploads",
                                Bucket=bucket, Prefix=prefix)
        except StorageError as e:
            log.warning("%s", e)
            return 0
        n = 0
        for up in listing.get("Uploads", []) or []:
            try:
                self.call("abort multipart upload", rel, self.fs.call_s3, "abort_multipart_upload",
                          Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
                n += 1
            except (StorageError, FileNotFoundError) as e:
                log.warning("%s", e)
        return n


def _rm_file(fs):
    """The filesystem's delete-one-file call (older fsspec filesystems only have rm)."""
    return fs.rm_file if hasattr(fs, "rm_file") else fs.rm


def _local_temp_folder() -> str:
    """Where shards bound for object storage are written before their upload (checked by `private_folder`
    before use: the name is predictable, so another user of the machine could have made it first)."""
    return os.path.join(tempfile.gettempdir(), f"synthvid-{os.getuid() if hasattr(os, 'getuid') else 0}")


def private_folder(path: str) -> None:
    """Make `path` a folder only this user can enter (0700), or refuse one that someone else could have
    prepared: a symbolic link, not a folder, or another user's. A folder of ours that is too open is closed."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise storage_error(e, path, "create the temporary folder") from None
    st = os.lstat(path)
    problem = None
    if stat.S_ISLNK(st.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(st.st_mode):
        problem = "is not a folder"
    elif hasattr(os, "getuid") and st.st_uid != os.getuid():
        problem = f"belongs to another user (uid {st.st_uid})"
    if problem:
        raise StorageError(f"{path}: the temporary folder {problem}, so files written there could be read or "
                           "replaced by someone else; remove it if it is yours, or point TMPDIR (or --out) at a "
                           "folder of your own", kind="not_writable", url=path)
    if hasattr(os, "getuid") and stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)


def _ours(path: str, directory: bool = False) -> bool:
    """`path` is a real file (or folder) of this user, not a link: what clean-up may remove."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    kind = stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)
    return kind and (not hasattr(os, "getuid") or st.st_uid == os.getuid())


# --------------------------------------------------------------------------------- start-up check
def check_writable(url: str, storage_options: dict | None = None) -> None:
    """Write, read back and delete a small probe object under url; a one-line StorageError (no such
    bucket, access denied, no credentials, endpoint unreachable, not writable) when that fails."""
    url = str(url).rstrip("/")
    name = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    if is_local(url):
        _check_local_writable(url, name)
        return
    try:
        store = Store(url, storage_options, policy=PROBE_POLICY)
    except StorageError:
        raise
    except Exception as e:  # noqa: BLE001 - bad options or unknown protocol
        raise StorageError(f"{safe_url(url)}: cannot open this location ({redact(e)}); check the URL and "
                           "the --storage-option values", url=safe_url(url)) from None
    data = b"synthvid write probe\n"
    path, fs = store.path(name), store.fs
    store.call("write probe", "", fs.pipe_file, path, data)
    try:
        if store.call("read probe", "", fs.cat_file, path) != data:
            raise StorageError(f"{store.display()}: a probe object reads back different bytes; the store is "
                               "not consistent", kind="integrity", url=store.display())
    finally:
        store.call("delete probe", "", _rm_file(fs), path)


def _check_local_writable(url: str, name: str) -> None:
    path = url.removeprefix("file://")
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, name)
        with open(probe, "wb") as f:
            f.write(b"synthvid write probe\n")
        os.unlink(probe)
    except OSError as e:
        raise StorageError(f"{url}: cannot write there ({e.strerror or e}); choose another --out or fix its "
                           "permissions", kind="not_writable", url=url) from None
