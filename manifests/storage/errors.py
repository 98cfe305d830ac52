"""Storage errors: every failure becomes transient (retry it) or one permanent `StorageError` line naming
the URL, bucket and key and the fix, never a credential."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from dataclasses import dataclass

from .redaction import redact
from .urls import bucket_and_key, endpoint_of, is_local, safe_url


class StorageError(RuntimeError):
    """A storage operation failed; the message names the URL and what to do (never a credential).

    kind: "no_such_bucket", "access_denied", "no_credentials", "unreachable", "not_found", "integrity",
    "transient" (retries exhausted), "exists" (a conditional write lost), "not_writable" (local), "locked"
    (another build holds the lock), "lock_lost" (a lease taken over), "no_space" (the disk is full) or "other".
    """

    def __init__(self, message: str, *, kind: str = "other", url: str | None = None):
        super().__init__(redact(message))
        self.kind = kind
        self.url = url

    def __reduce__(self):  # keeps class, kind and url across pickling (Ray task errors)
        return _rebuild_storage_error, (type(self), str(self), self.kind, self.url)


class TransientStorageError(StorageError):
    """A transient fault that outlasted the retries (store down, throttling, network): worth a later try."""


def _rebuild_storage_error(cls, message, kind, url):
    return cls(message, kind=kind, url=url)


# What a retry of a whole task (a Ray shard task) may cure; anything else fails at once.
TRANSIENT_ERRORS = (TransientStorageError, ConnectionError, TimeoutError)
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})

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
    if isinstance(exc, FileExistsError):      # an exclusive create found the object there
        return Fault("exists", False, "FileExistsError", detail)
    if isinstance(exc, FileNotFoundError):
        if "bucket" in detail.lower():
            return Fault("no_such_bucket", False, "NoSuchBucket", detail)
        return Fault("not_found", False, "FileNotFoundError", detail)
    if isinstance(exc, OSError) and exc.errno in NO_SPACE:
        return Fault("no_space", False, errno.errorcode.get(exc.errno, "ENOSPC"), detail)
    if isinstance(exc, OSError) and exc.errno in (errno.EIO, errno.EBUSY, getattr(errno, "EREMOTEIO", errno.EIO),
                                                  errno.ECONNRESET, errno.ECONNREFUSED, errno.ETIMEDOUT,
                                                  errno.EPIPE, errno.ECONNABORTED):
        return Fault("transient", True, errno.errorcode.get(exc.errno, "EIO"), detail)
    return Fault("other", False, type(exc).__name__, detail)


def short_detail(fault: Fault) -> str:
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
    detail = short_detail(fault)
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
    elif fault.kind == "no_space":
        return disk_full(url, what)
    elif fault.kind == "not_found":
        msg = f"{url}: no such object (bucket '{bucket}', key '{key}') at {where} ({what})"
    else:
        msg = f"{url}: {what} failed at {where} ({fault.code}: {detail})"
    cls = TransientStorageError if fault.transient else StorageError
    return cls(msg.replace("\n", " "), kind=fault.kind, url=url)


def disk_full(path: str, what: str = "write") -> StorageError:
    """One line for a full disk (or quota): the path, the space left on its filesystem, the fix."""
    folder = os.path.dirname(os.path.abspath(path)) if is_local(path) else None
    while folder and not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    free = f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB free there" if folder else "the store is full"
    return StorageError(f"{path}: no space left on the device ({what}; {free}); free some space or choose "
                        "another location (--out, TMPDIR), then rerun the same command: finished work is kept",
                        kind="no_space", url=path)


@contextlib.contextmanager
def space_checked(path: str, what: str = "write"):
    """Inside the block, a full disk becomes `disk_full(path)`, also when a library turned the OSError into
    an error of its own (torch.save raises RuntimeError with the OSError as its context)."""
    try:
        yield
    except StorageError:
        raise
    except Exception as e:   # noqa: BLE001 - re-raised unless a full disk is behind it
        if any(isinstance(c, OSError) and c.errno in NO_SPACE for c in _chain(e)):
            raise disk_full(path, what) from None
        raise


