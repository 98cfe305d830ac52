"""Where datasets live: local paths and any fsspec URL (s3://, gs://, memory://, ...).

Credentials come from each store's standard chain (environment, config files, instance roles); for
S3-compatible endpoints AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3) or explicit storage options
(`--storage-option endpoint_url=https://...`). Nothing here ever prints them: every message goes through
`redact`, which also masks every credential value that passed through `url_to_fs`.

Errors. Transient ones (connection reset or refused, timeouts, HTTP 5xx, throttling) are retried with
exponential backoff and jitter (`with_retries`, budget from SYNTHVID_STORAGE_RETRY_SECONDS, default 120 s);
permanent ones (no such bucket, access denied or wrong credentials, no credentials, endpoint unreachable
after the budget) become a one-line `StorageError` naming the URL, bucket and key, and the fix.
`check_writable` writes and deletes a probe object so a build fails before any work is wasted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import random
import re
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import fsspec

log = logging.getLogger("synthvid.storage")

# Read and hash in chunks of this size (remote reads stream; nothing holds a whole shard twice).
CHUNK = 8 << 20


class StorageError(RuntimeError):
    """A storage operation failed; the message names the URL and what to do (never a credential).

    kind: "no_such_bucket", "access_denied", "no_credentials", "unreachable", "not_found", "integrity",
    "transient" (retries exhausted), "exists" (a conditional create lost), "not_writable" (local) or "other".
    """

    def __init__(self, message: str, *, kind: str = "other", url: str | None = None):
        super().__init__(redact(message))
        self.kind = kind
        self.url = url

    def __reduce__(self):  # keeps kind and url across pickling (Ray task errors)
        return _rebuild_storage_error, (str(self), self.kind, self.url)


def _rebuild_storage_error(message, kind, url):
    return StorageError(message, kind=kind, url=url)


# ----------------------------------------------------------------------------------------- URLs, fs
def is_local(url: str) -> bool:
    return "://" not in str(url) or str(url).startswith("file://")


_SECRET_OPTION = re.compile(r"(?i)(secret|token|password|passwd|key$|^key|key_id|access_key|credential|"
                            r"sas|signature|private)")
_SECRET_VALUES: set[str] = set()


def _remember_secrets(options) -> None:
    """Register credential values of storage options so that `redact` masks them everywhere."""
    if isinstance(options, dict):
        for k, v in options.items():
            if isinstance(v, (dict, list, tuple)):
                _remember_secrets(v)
            elif isinstance(v, str) and len(v) >= 4 and _SECRET_OPTION.search(str(k)) and k != "endpoint_url":
                _SECRET_VALUES.add(v)
    elif isinstance(options, (list, tuple)):
        for v in options:
            _remember_secrets(v)


def url_to_fs(url: str, storage_options: dict | None = None, *, quick_retries: bool = False):
    """(filesystem, path) for a URL or a local path.

    s3://: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL name an S3-compatible endpoint unless the options give
    one. botocore retries in its "standard" mode (5 attempts, throttling and 5xx included); with
    quick_retries (what `Store` asks for, since `with_retries` adds the long, logged backoff on top)
    botocore and s3fs try twice each. Options given explicitly always win.
    """
    url = str(url)
    options = dict(storage_options or {})
    _remember_secrets(options)
    if url.startswith(("s3://", "s3a://")):
        client_kwargs = options.get("client_kwargs") or {}
        if "endpoint_url" not in options and "endpoint_url" not in client_kwargs:
            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            if endpoint:
                options["endpoint_url"] = endpoint
        config = dict(options.get("config_kwargs") or {})
        config.setdefault("retries", {"max_attempts": 2 if quick_retries else 5, "mode": "standard"})
        config.setdefault("connect_timeout", 5)
        config.setdefault("read_timeout", 60)
        options["config_kwargs"] = config
    fs, path = fsspec.core.url_to_fs(url, **options)
    if quick_retries and hasattr(fs, "retries") and url.startswith(("s3://", "s3a://")):
        # s3fs's own retries (a class attribute, 5 by default); this instance is Store's own, since its
        # config_kwargs differ from a plain url_to_fs call's
        fs.retries = min(int(fs.retries), 2)
    return fs, path


def join(url: str, *parts: str) -> str:
    url = str(url).rstrip("/")
    return "/".join([url, *[p.strip("/") for p in parts if p]])


def safe_url(url: str) -> str:
    """The URL without user info or query (s3://KEY:SECRET@bucket/... is valid fsspec syntax)."""
    url = str(url)
    if "://" not in url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def bucket_and_key(url: str) -> tuple[str, str]:
    """('bucket', 'key/inside') of an object-store URL; ('', path) for a local path."""
    url = safe_url(url)
    if "://" not in url or url.startswith("file://"):
        return "", url.removeprefix("file://")
    rest = url.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    return bucket, key


def endpoint_of(fs) -> str:
    """Where requests of this filesystem go, for messages ('AWS S3' when the default endpoint)."""
    for candidate in (getattr(fs, "endpoint_url", None), (getattr(fs, "client_kwargs", None) or {}).get("endpoint_url")):
        if candidate:
            return str(candidate)
    protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    if protocol in ("s3", "s3a"):
        return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"
    return str(protocol)


def parse_storage_options(pairs) -> dict:
    """`--storage-option key=value` pairs -> fsspec storage options.

    Dotted keys nest (`client_kwargs.region_name=eu-west-1`); values parse as JSON where they can
    (`anon=true`, `config_kwargs={"read_timeout": 30}`), otherwise stay strings.
    """
    options: dict = {}
    for pair in pairs or ():
        if "=" not in pair:
            raise ValueError(f"--storage-option {pair.split('=')[0]!r}: expected key=value")
        key, value = pair.split("=", 1)
        key = key.strip()
        if not key:
            raise ValueError("--storage-option with an empty key: expected key=value")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        node = options
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"--storage-option {key}: {p} is not a mapping")
        node[leaf] = parsed
    _remember_secrets(options)
    return options


# ------------------------------------------------------------------------------------------- redact
# name=value / 'name': 'value' where the name is a credential setting in snake or upper case (not an
# error code such as ExpiredToken or SignatureDoesNotMatch, whose text is harmless and useful)
_SECRET_TEXT = re.compile(
    r"\b([\w.-]*(?:secret|token|password|passwd|key_id|access_key|credential|"
    r"SECRET|TOKEN|PASSWORD|PASSWD|KEY_ID|ACCESS_KEY|CREDENTIAL)[\w.-]*)"
    r"(['\"]?\s*[=:]\s*)(['\"]?)[^'\"\s,;}&]+")
_AUTH_HEADER = re.compile(r"(?i)(Credential=)[^,\s/]+|(Signature=)[0-9a-f]+|(X-Amz-Security-Token=)[^&\s]+")
_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")


def redact(text: str) -> str:
    """Mask anything that looks like a credential in a message before it reaches a log or an error."""
    text = str(text)
    values = set(_SECRET_VALUES)
    for var in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "GOOGLE_APPLICATION_CREDENTIALS",
                "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"):
        value = os.environ.get(var)
        if value and len(value) >= 4:
            values.add(value)
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "***")
    text = _SECRET_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}***", text)
    text = _AUTH_HEADER.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + "***", text)
    return _USERINFO.sub(r"\1***@", text)


# -------------------------------------------------------------------------------- classifying errors
_THROTTLE_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
                   "TooManyRequestsException", "RequestThrottled", "ProvisionedThroughputExceededException",
                   "EC2ThrottledException", "BandwidthLimitExceeded"}
_TRANSIENT_CODES = _THROTTLE_CODES | {"InternalError", "ServiceUnavailable", "RequestTimeout", "RequestTimeTooSkewed",
                                      "OperationAborted", "XAmzContentSHA256Mismatch", "IncompleteBody",
                                      "500", "502", "503", "504"}
_DENIED_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                 "AllAccessDisabled", "AccountProblem", "InvalidSecurity", "TokenRefreshRequired", "403",
                 "AuthorizationHeaderMalformed", "Forbidden", "Unauthorized", "401"}
_CONNECTION_NAMES = {"EndpointConnectionError", "ConnectionClosedError", "ConnectTimeoutError", "ReadTimeoutError",
                     "ConnectionError", "ProxyConnectionError", "ClientConnectorError", "ServerDisconnectedError",
                     "ClientOSError", "ClientPayloadError", "IncompleteRead", "ResponseStreamingError",
                     "ServerTimeoutError", "FSTimeoutError", "HTTPClientError", "ResponseParserError",
                     "ClientConnectionResetError", "RemoteDisconnected", "TransportError"}


@dataclass(frozen=True)
class Fault:
    kind: str          # see StorageError.kind; "transient" for retryable faults
    transient: bool
    code: str          # the store's error code or the exception class
    detail: str        # the store's message, redacted


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def classify(exc: BaseException) -> Fault:
    """Transient or permanent, and which permanent case, for an exception from fsspec/s3fs/botocore/gcsfs."""
    detail = redact(str(exc) or type(exc).__name__)
    for e in _chain(exc):
        name = type(e).__name__
        response = getattr(e, "response", None)
        if isinstance(response, dict) and "Error" in response:
            code = str(response["Error"].get("Code") or "")
            status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
            msg = redact(response["Error"].get("Message") or detail)
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status == 412:
                return Fault("exists", False, code or "412", msg)
            if code == "NoSuchBucket":
                return Fault("no_such_bucket", False, code, msg)
            if code in ("NoSuchKey", "404", "NotFound"):
                return Fault("not_found", False, code, msg)
            if code in _DENIED_CODES or status in (401, 403):
                return Fault("access_denied", False, code or str(status), msg)
            if code in _TRANSIENT_CODES or status >= 500 or status == 429:
                return Fault("transient", True, code or str(status), msg)
            return Fault("other", False, code or str(status), msg)
        if name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError",
                    "DefaultCredentialsError", "RefreshError"):
            return Fault("no_credentials", False, name, detail)
        if name in _CONNECTION_NAMES:
            return Fault("unreachable", True, name, detail)
        code = getattr(e, "code", None)  # gcsfs HttpError, aiohttp ClientResponseError
        status = getattr(e, "status", None)
        for value in (code, status):
            if isinstance(value, int) and (value >= 500 or value == 429):
                return Fault("transient", True, str(value), detail)
            if isinstance(value, int) and value in (401, 403):
                return Fault("access_denied", False, str(value), detail)
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return Fault("unreachable", True, type(exc).__name__, detail)
    if isinstance(exc, PermissionError):
        return Fault("access_denied", False, "PermissionError", detail)
    if isinstance(exc, FileNotFoundError):
        if "bucket" in detail.lower():
            return Fault("no_such_bucket", False, "NoSuchBucket", detail)
        return Fault("not_found", False, "FileNotFoundError", detail)
    if isinstance(exc, OSError) and exc.errno in (errno.EIO, errno.EBUSY, getattr(errno, "EREMOTEIO", errno.EIO),
                                                  errno.ECONNRESET, errno.ECONNREFUSED, errno.ETIMEDOUT,
                                                  errno.EPIPE, errno.ECONNABORTED):
        return Fault("transient", True, errno.errorcode.get(exc.errno, "EIO"), detail)
    return Fault("other", False, type(exc).__name__, detail)


def _short(fault: Fault) -> str:
    """The store's message, first line, without the URL that connection errors repeat."""
    if fault.kind == "unreachable":
        return fault.code
    return fault.detail.splitlines()[0][:300] if fault.detail else fault.code


def storage_error(exc: BaseException, url: str, what: str, fs=None, fault: Fault | None = None) -> StorageError:
    """A one-line StorageError for exc, naming URL, bucket, key and the fix."""
    fault = fault or classify(exc)
    url = safe_url(url)
    bucket, key = bucket_and_key(url)
    where = endpoint_of(fs) if fs is not None else ("local disk" if is_local(url) else "the store")
    detail = _short(fault)
    if fault.kind == "no_such_bucket":
        msg = (f"{url}: bucket '{bucket}' does not exist at {where} ({what}); create it first "
               f"(e.g. `aws s3 mb s3://{bucket}`) or fix the bucket name in the URL")
    elif fault.kind == "access_denied":
        msg = (f"{url}: access denied to bucket '{bucket}' key '{key}' at {where} ({what}: {fault.code}: {detail}); "
               "check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the instance "
               "role) and that they may read and write this bucket")
    elif fault.kind == "no_credentials":
        msg = (f"{url}: no credentials found for {where} ({what}); set AWS_ACCESS_KEY_ID and "
               "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an instance/pod role")
    elif fault.kind == "unreachable":
        msg = (f"{url}: cannot reach the storage endpoint {where} ({what}: {detail}); check "
               "AWS_ENDPOINT_URL / --storage-option endpoint_url=... and the network, then rerun the same "
               "command (finished shards are kept)")
    elif fault.kind == "transient":
        msg = (f"{url}: {what} kept failing at {where} ({fault.code}: {detail}); the store is overloaded or "
               "down: rerun the same command later to resume (finished shards are kept)")
    elif fault.kind == "not_found":
        msg = f"{url}: no such object (bucket '{bucket}', key '{key}') at {where} ({what})"
    else:
        msg = f"{url}: {what} failed at {where} ({fault.code}: {detail})"
    return StorageError(msg.replace("\n", " "), kind=fault.kind, url=url)


# ------------------------------------------------------------------------------------------ retries
@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: delay_n = uniform(0, min(max_delay, base * 2**n)), at most
    `attempts` tries and `deadline` seconds in all (whichever comes first)."""

    attempts: int = 10
    base_delay: float = 0.5
    max_delay: float = 15.0
    deadline: float = 120.0
    quiet: bool = False    # log retries at DEBUG instead of WARNING

    @classmethod
    def from_env(cls) -> "RetryPolicy":
        seconds = float(os.environ.get("SYNTHVID_STORAGE_RETRY_SECONDS", cls.deadline))
        attempts = int(os.environ.get("SYNTHVID_STORAGE_RETRIES", cls.attempts))
        return cls(attempts=max(1, attempts), deadline=max(0.0, seconds))

    def delay(self, attempt: int, rng=random) -> float:
        return rng.uniform(0.5, 1.0) * min(self.max_delay, self.base_delay * (2 ** attempt))


# Short policy for the start-up probe: an unreachable endpoint is reported in seconds, not minutes.
PROBE_POLICY = RetryPolicy(attempts=3, base_delay=0.3, max_delay=2.0, deadline=8.0, quiet=True)


def with_retries(fn, *args, url: str, what: str, fs=None, policy: RetryPolicy | None = None,
                 not_found_ok: bool = False, **kwargs):
    """fn(*args, **kwargs), retrying transient storage faults with backoff; permanent faults and exhausted
    retries raise StorageError. A missing object re-raises FileNotFoundError when not_found_ok."""
    policy = policy or RetryPolicy.from_env()
    start = time.monotonic()
    attempt = 0
    while True:
        try:
            return fn(*args, **kwargs)
        except StorageError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised as StorageError
            fault = classify(exc)
            if fault.kind == "not_found" and not_found_ok:
                raise FileNotFoundError(safe_url(url)) from None
            attempt += 1
            elapsed = time.monotonic() - start
            delay = policy.delay(attempt - 1)
            if not fault.transient or attempt >= policy.attempts or elapsed + delay > policy.deadline:
                if fault.transient and attempt > 1:
                    what = f"{what}, {attempt} attempts over {elapsed:.0f}s"
                raise storage_error(exc, url, what, fs=fs, fault=fault) from None
            log.log(logging.DEBUG if policy.quiet else logging.WARNING, "%s: %s failed (%s: %s); retry %d in %.1fs",
                    safe_url(url), what, fault.code, _short(fault), attempt, delay)
            if fs is not None:
                _invalidate(fs)
            time.sleep(delay)


def _invalidate(fs, path: str | None = None) -> None:
    try:
        fs.invalidate_cache(path)
    except Exception:  # noqa: BLE001 - best effort
        pass


# ------------------------------------------------------------------------- operations with retries
def sha256_stream(fileobj) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    while True:
        chunk = fileobj.read(CHUNK)
        if not chunk:
            return n, h.hexdigest()
        n += len(chunk)
        h.update(chunk)


def file_digest(local_path: str) -> tuple[int, str]:
    with open(local_path, "rb") as f:
        return sha256_stream(f)


class Store:
    """One root (local folder or any fsspec URL) with retrying, verified operations on relative paths.

    Remote reads bypass fsspec's listing cache, so what they report is what the store holds now.
    """

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

    def _call(self, what: str, rel: str, fn, *args, not_found_ok: bool = False, **kwargs):
        return with_retries(fn, *args, url=self.display(rel), what=what, fs=self.fs, policy=self.policy,
                            not_found_ok=not_found_ok, **kwargs)

    # reads
    def exists(self, rel: str) -> bool:
        path = self.path(rel)
        _invalidate(self.fs, path)
        return bool(self._call("exists", rel, self.fs.exists, path))

    def info(self, rel: str) -> dict:
        path = self.path(rel)
        _invalidate(self.fs, path)
        return self._call("stat", rel, self.fs.info, path, not_found_ok=True)

    def size(self, rel: str) -> int:
        return int(self.info(rel)["size"])

    def read_bytes(self, rel: str) -> bytes:
        return self._call("read", rel, self.fs.cat_file, self.path(rel), not_found_ok=True)

    def digest(self, rel: str) -> tuple[int, str]:
        """(size, sha256) of the stored object, streamed."""
        def run():
            with self.fs.open(self.path(rel), "rb", block_size=CHUNK, cache_type="none") as f:
                return sha256_stream(f)
        return self._call("read for sha256", rel, run, not_found_ok=True)

    def sha256(self, rel: str) -> str:
        return self.digest(rel)[1]

    def listdir(self, rel: str = "") -> list[str]:
        """Names (not paths) directly under rel; [] when it does not exist."""
        path = self.path(rel)
        _invalidate(self.fs, path)
        try:
            entries = self._call("list", rel, self.fs.ls, path, detail=False, not_found_ok=True)
        except FileNotFoundError:
            return []
        return sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries if e.rstrip("/") != path.rstrip("/"))

    def walk_files(self, rel: str = "") -> dict[str, int]:
        """{relative path: size} of every file under rel."""
        path = self.path(rel)
        _invalidate(self.fs)
        try:
            found = self._call("list", rel, self.fs.find, path, detail=True, not_found_ok=True)
        except FileNotFoundError:
            return {}
        base = self.root + "/"
        return {p[len(base):] if p.startswith(base) else p: int(i.get("size") or 0)
                for p, i in found.items() if i.get("type", "file") == "file"}

    # writes
    def put_bytes(self, rel: str, data: bytes) -> None:
        path = self.path(rel)
        if self.local:
            atomic_local_write(path, data)
            return
        self._call("write", rel, self.fs.pipe_file, path, data)
        _invalidate(self.fs, path)

    def remove(self, rel: str, missing_ok: bool = True) -> None:
        path = self.path(rel)
        try:
            self._call("delete", rel, self.fs.rm_file if hasattr(self.fs, "rm_file") else self.fs.rm, path,
                       not_found_ok=True)
        except FileNotFoundError:
            if not missing_ok:
                raise
        _invalidate(self.fs, path)

    def upload_verified(self, local_path: str, rel: str, size: int | None = None, sha256: str | None = None,
                        tries: int = 2) -> tuple[int, str]:
        """Upload a local file to rel and check that the stored object has its size and sha256 (read back).
        A mismatch uploads again (up to `tries`), then raises StorageError(kind='integrity')."""
        if size is None or sha256 is None:
            size, sha256 = file_digest(local_path)
        path = self.path(rel)
        for attempt in range(1, tries + 1):
            if self.local:
                _atomic_local_copy(local_path, path)
            else:
                self._call("upload", rel, self.fs.put_file, local_path, path)
                _invalidate(self.fs, path)
            stored = self.size(rel)
            if stored == size:
                got_size, got_sha = self.digest(rel)
                if got_size == size and got_sha == sha256:
                    return size, sha256
                stored = got_size
            log.warning("%s: stored object differs from the upload (size %s vs %s, attempt %d)",
                        self.display(rel), stored, size, attempt)
        raise StorageError(f"{self.display(rel)}: the stored object does not match the uploaded file "
                           f"({size} bytes, sha256 {sha256[:12]}...) after {tries} uploads; the store or the "
                           "network corrupts data: check them, then rerun to resume", kind="integrity",
                           url=self.display(rel))

    def matches(self, rel: str, size: int, sha256: str) -> bool:
        """True when rel exists with exactly this size and sha256 (size checked first, cheaply)."""
        try:
            if self.size(rel) != size:
                return False
            return self.digest(rel) == (size, sha256)
        except FileNotFoundError:
            return False

    def abort_incomplete_uploads(self, rel: str = "") -> int:
        """Abort multipart uploads left under rel by a killed process (S3 only); returns how many."""
        if self.local or not hasattr(self.fs, "call_s3"):
            return 0
        bucket, _, prefix = self.path(rel).partition("/")
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        try:
            listing = self._call("list multipart uploads", rel, self.fs.call_s3, "list_multipart_uploads",
                                 Bucket=bucket, Prefix=prefix)
        except StorageError as e:
            log.warning("%s", e)
            return 0
        n = 0
        for up in listing.get("Uploads", []) or []:
            try:
                self._call("abort multipart upload", rel, self.fs.call_s3, "abort_multipart_upload",
                           Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
                n += 1
            except (StorageError, FileNotFoundError) as e:
                log.warning("%s", e)
        return n


@contextlib.contextmanager
def open_atomic(path: str, mode: str = "wb"):
    """A local file that readers see whole or not at all: written to a temporary sibling, flushed and
    fsync'd, renamed over `path`, and the folder fsync'd so the rename survives a power cut. An exception
    inside the block leaves `path` as it was."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(folder)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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


def atomic_local_write(path: str, data: bytes) -> None:
    """Write a whole small file so that readers see the old file or the new one, never a part."""
    with open_atomic(path) as f:
        f.write(data)


def _atomic_local_copy(src: str, path: str) -> None:
    import shutil

    with open_atomic(path) as f, open(src, "rb") as s:
        shutil.copyfileobj(s, f, CHUNK)


# --------------------------------------------------------------------------------- start-up check
PROBE_PREFIX = ".synthvid-probe-"


def check_writable(url: str, storage_options: dict | None = None) -> None:
    """Write, read back and delete a small probe object under url; a one-line StorageError (no such
    bucket, access denied, no credentials, endpoint unreachable, not writable) when that fails."""
    url = str(url).rstrip("/")
    name = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    if is_local(url):
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
        return
    try:
        store = Store(url, storage_options, policy=PROBE_POLICY)
    except StorageError:
        raise
    except Exception as e:  # noqa: BLE001 - bad options or unknown protocol
        raise StorageError(f"{safe_url(url)}: cannot open this location ({redact(e)}); check the URL and "
                           "the --storage-option values", url=safe_url(url)) from None
    data = b"synthvid write probe\n"
    path, shown, fs = store.path(name), store.display(), store.fs

    def call(what, fn, *args, **kwargs):
        return with_retries(fn, *args, url=shown, what=what, fs=fs, policy=PROBE_POLICY, **kwargs)

    call("write probe", fs.pipe_file, path, data)
    try:
        if call("read probe", fs.cat_file, path) != data:
            raise StorageError(f"{shown}: a probe object reads back different bytes; the store is not "
                               "consistent", kind="integrity", url=shown)
    finally:
        call("delete probe", fs.rm_file if hasattr(fs, "rm_file") else fs.rm, path)
