"""Retrying transient storage faults: exponential backoff with jitter under an attempt and time budget.

The budget comes from SYNTHVID_STORAGE_RETRY_SECONDS (default 120 s) and SYNTHVID_STORAGE_RETRIES
(default 10 attempts). `Store.call` is the way every storage operation of the project is retried; this
module's `with_retries` is what it is built on, for callers without a `Store`.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass

from .errors import StorageError, classify, short_detail, storage_error
from .urls import safe_url

log = logging.getLogger("synthvid.storage")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter in the upper half: delay_n = cap_n * U(0.5, 1) where
    cap_n = min(max_delay, base_delay * 2**n), so a delay never falls below half its cap (retries keep
    backing off) while clients that failed together spread out; at most `attempts` tries and `deadline`
    seconds in all (whichever comes first)."""

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
                    safe_url(url), what, fault.code, short_detail(fault), attempt, delay)
            if fs is not None:
                invalidate(fs)
            time.sleep(delay)


def invalidate(fs, path: str | None = None) -> None:
    """Drop fsspec's listing cache (for `path`, or all of it), so the next call asks the store."""
    try:
        fs.invalidate_cache(path)
    except Exception:  # noqa: BLE001 - best effort
        pass


