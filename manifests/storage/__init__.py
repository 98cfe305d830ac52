"""The storage layer both sides use: where datasets live (local paths and any fsspec URL: s3://, gs://,
memory://, ...) and every operation on them.

| module | job |
|---|---|
| `urls` | URL -> fsspec filesystem, joining, `--storage-option KEY=VALUE` parsing |
| `redaction` | the one redaction path: `safe_url` for every URL stored or printed, `redact` for every message |
| `errors` | classifying failures: transient, or one `StorageError` line naming URL, bucket, key and the fix; a full disk as one line |
| `retry` | backoff with jitter under a time budget (`RetryPolicy`, `with_retries`) |
| `atomic` | local files readers see whole or not at all (`open_atomic`, `durable_rename`) |
| `store` | `Store`: retrying reads and writes, the verified commit of a file, temp files, the write probe |
| `lock` | `BuildLock`: one build per dataset folder (a kernel-held lock file, or a lease of conditional writes) |
| `conditional` | create / replace / delete one object only if it is absent or still the version read (S3 ETags) |
| `completeness` | whether a shard is committed for a build, and whether a dataset is complete |
| `owner` | host/pid tokens of temp files and locks, and whether their process lives |

Credentials come from each store's standard chain (environment, config files, instance roles); for
S3-compatible endpoints AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3) or explicit storage options. Nothing here
ever prints them: every message goes through `redact`.
"""

from .atomic import atomic_local_write, durable_rename, open_atomic
from .completeness import ABSENT, COMPLETE, INCOMPLETE, committed_marker, dataset_state, datasets_under
from .errors import (NO_SPACE, TRANSIENT_ERRORS, Fault, StorageError, TransientStorageError, classify, disk_full,
                     space_checked, storage_error)
from .lock import LOCK_TTL_S, BuildLock
from .redaction import redact
from .retry import PROBE_POLICY, RetryPolicy, with_retries
from .store import PROBE_PREFIX, Store, check_writable
from .urls import bucket_and_key, endpoint_of, is_local, join, parse_storage_options, safe_url, url_to_fs

__all__ = [
    "url_to_fs", "join", "is_local", "safe_url", "bucket_and_key", "endpoint_of", "parse_storage_options",
    "redact", "StorageError", "TransientStorageError", "TRANSIENT_ERRORS", "Fault", "classify", "storage_error",
    "disk_full", "space_checked", "NO_SPACE", "RetryPolicy", "PROBE_POLICY",
    "with_retries", "open_atomic", "atomic_local_write", "durable_rename", "Store", "check_writable",
    "PROBE_PREFIX", "BuildLock", "LOCK_TTL_S", "committed_marker", "dataset_state", "datasets_under",
    "COMPLETE", "INCOMPLETE", "ABSENT",
]
