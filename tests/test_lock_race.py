"""Two or more drivers racing for one dataset's build lock, locally and on object storage: exactly one holds
it, the others are refused with the one-line "another build is writing" error; and a remote lock is a lease
its holder keeps renewing, so it is never taken over while its build runs.

Written against the public behaviour of `BuildLock` (acquire / release / the error), so it holds for any
implementation of the lock."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from synthvid.manifests import layout
from synthvid.manifests.storage import BuildLock, StorageError, Store

CONTENDERS = 4

# Each contender: open the store, wait for the start line on stdin (all start together), try the lock,
# print "held" or "busy: <error>", and if it holds the lock keep it until stdin closes.
_CONTENDER = textwrap.dedent("""
    import json, sys
    from synthvid.manifests.storage import BuildLock, StorageError, Store
    store = Store(sys.argv[1], json.loads(sys.argv[2]))
    lock = BuildLock(store)
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        lock.acquire()
    except StorageError as e:
        print("busy: " + str(e), flush=True)
        sys.exit(0)
    print("held", flush=True)
    sys.stdin.read()
    lock.release()
""")


def _race(url: str, options: dict) -> list[str]:
    procs = [subprocess.Popen([sys.executable, "-c", _CONTENDER, url, json.dumps(options)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(CONTENDERS)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:                       # the start line, to every contender back to back
            p.stdin.write("go\n")
            p.stdin.flush()
        answers = [p.stdout.readline().strip() for p in procs]
    finally:
        for p in procs:
            p.stdin.close()
        for p in procs:
            p.wait(60)
    assert all(p.returncode == 0 for p in procs), [p.stderr.read()[-2000:] for p in procs]
    return answers


def _check_one_holder(answers: list[str]) -> None:
    assert answers.count("held") == 1, answers
    busy = [a for a in answers if a != "held"]
    assert len(busy) == CONTENDERS - 1
    assert all(a.startswith("busy: another build is writing") and "\n" not in a for a in busy), busy


def test_local_drivers_racing_for_the_lock(tmp_path):
    store = Store(str(tmp_path / "variant"))
    store.makedirs()
    for _ in range(2):
        _check_one_holder(_race(store.url, {}))
        assert not store.exists(layout.LOCK)          # the holder released it; the refused left it alone


def test_remote_drivers_racing_for_the_lock(s3_server, s3_url):
    store = Store(f"{s3_url}/variant", s3_server.storage_options())
    store.makedirs()
    for _ in range(2):
        _check_one_holder(_race(store.url, s3_server.storage_options()))
        assert not store.exists(layout.LOCK)


def _modified(store: Store):
    return store.info(layout.LOCK)["LastModified"]


def test_remote_lock_is_renewed_while_held(s3_server, s3_url):
    """A 2 s lease held for well over its TTL is renewed (the stored lock's time moves on), so another
    driver is still refused; once released it is gone and stays gone (renewal stopped)."""
    store = Store(f"{s3_url}/variant", s3_server.storage_options())
    store.makedirs()
    lock = BuildLock(store, ttl=2)
    lock.acquire()
    try:
        first = _modified(store)
        deadline = time.monotonic() + 60
        while (_modified(store) - first).total_seconds() < 3:       # renewed past one TTL after creation
            assert time.monotonic() < deadline, "the lock was never renewed"
            time.sleep(0.1)
        with pytest.raises(StorageError, match="another build is writing"):
            BuildLock(store, ttl=2).acquire()
        assert store.read_bytes(layout.LOCK).decode() == lock.token
    finally:
        lock.release()
    assert not store.exists(layout.LOCK)
    # no renewal thread writes it back after the release: the next driver gets it at once
    other = BuildLock(store, ttl=2)
    other.acquire()
    other.release()
    assert not store.exists(layout.LOCK)
