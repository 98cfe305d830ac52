"""The build lock: builds racing for a stale lock leave exactly one holder (local folder and the S3 server),
whatever the stale lock holds (a dead process, nothing, garbage); the lease on object storage is renewed
by conditional writes, and a holder that lost it notices and never deletes its successor's lock."""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import time

import pytest

from synthvid.manifests import layout
from synthvid.manifests.storage import BuildLock, StorageError, Store

DEAD = f"{socket.gethostname()} 999999999 deadbeef".encode()   # a build of this host that was SIGKILLed
STALE = [DEAD, b"", b"garbage", f"{socket.gethostname()} notapid cafe".encode()]


def _racer(url: str, options: dict, rounds: int, barrier, results) -> None:
    """One build process: every round, take the lock at the same moment as the others, report, release."""
    store = Store(url, options)
    for r in range(rounds):
        barrier.wait()                          # the stale lock is in place
        lock = BuildLock(store)
        try:
            lock.acquire()
            results.put((r, os.getpid(), "held"))
        except StorageError as e:
            results.put((r, os.getpid(), str(e)))
        barrier.wait()                          # every racer has tried
        lock.release()
        barrier.wait()                          # every holder has released


def _race(url: str, options: dict, stale: list[bytes], racers: int, put) -> list[list[str]]:
    """Outcomes per round of `racers` processes taking a lock whose stale content cycles through `stale`."""
    ctx = mp.get_context("spawn")               # no fork of a process that may run threads
    barrier, results = ctx.Barrier(racers + 1), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(url, options, len(stale), barrier, results)) for _ in range(racers)]
    for p in procs:
        p.start()
    outcomes = []
    try:
        for content in stale:
            put(content)
            barrier.wait(timeout=120)
            barrier.wait(timeout=120)
            got = [results.get(timeout=60) for _ in range(racers)]
            barrier.wait(timeout=120)
            outcomes.append((content, [g[2] for g in got]))
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    assert all(p.exitcode == 0 for p in procs)
    return outcomes


def _exactly_one_holder(outcomes) -> None:
    for content, got in outcomes:
        assert got.count("held") == 1, (content, got)
        for other in got:
            assert other == "held" or "another build is writing" in other, (content, other)


def test_racing_for_a_stale_local_lock_leaves_exactly_one_holder(tmp_path):
    store = Store(str(tmp_path / "v"))
    store.makedirs()
    path = os.path.join(store.root, layout.LOCK)

    def put(content: bytes) -> None:
        assert not os.path.exists(path), "the last holder's release left its lock behind"
        with open(path, "wb") as f:
            f.write(content)

    outcomes = _race(store.url, {}, STALE * 10, racers=3, put=put)
    _exactly_one_holder(outcomes)
    assert not os.path.exists(path)


def test_racing_for_a_stale_lock_on_object_storage_leaves_exactly_one_holder(s3_server, s3_url):
    options = s3_server.storage_options()
    store = Store(f"{s3_url}/v", options)
    key = f"{s3_url.split('/', 3)[3]}/v/{layout.LOCK}"

    def put(content: bytes) -> None:
        assert key not in s3_server.list_keys(key), "the last holder's release left its lock behind"
        s3_server.client().put_object(Bucket=s3_server.bucket, Key=key, Body=DEAD)

    outcomes = _race(store.url, options, [DEAD] * 12, racers=3, put=put)
    _exactly_one_holder(outcomes)
    assert key not in s3_server.list_keys(key)


class _PausingStore(Store):
    """A store whose first read of the lock pauses, after the read, until `resume` is set: the taker has
    judged the stale lock and is held there while another build takes the lock (the race made exact)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        import threading

        self.judged, self.resume = threading.Event(), threading.Event()

    def read_bytes(self, rel: str) -> bytes:
        data = super().read_bytes(rel)
        if rel == layout.LOCK and not self.judged.is_set():
            self.judged.set()
            assert self.resume.wait(60)
        return data


def test_a_taker_that_judged_a_stale_lock_late_never_displaces_the_new_holder(s3_server, s3_url):
    """Taker A reads the dead build's lock; before A acts, B takes the lock over; then A acts on what it
    read. A must find B's lock and stand back: B is the one holder, and B's lock stays."""
    import threading

    options = s3_server.storage_options()
    slow, fast = _PausingStore(f"{s3_url}/v", options), Store(f"{s3_url}/v", options)
    fast.makedirs()
    fast.put_bytes(layout.LOCK, DEAD)
    a, b, outcome = BuildLock(slow), BuildLock(fast), {}

    def take_a():
        try:
            a.acquire()
            outcome["a"] = "held"
        except StorageError as e:
            outcome["a"] = str(e)

    thread = threading.Thread(target=take_a)
    thread.start()
    assert slow.judged.wait(60)
    b.acquire()                                     # B takes the stale lock while A is between read and act
    slow.resume.set()
    thread.join(60)
    assert "another build is writing" in outcome["a"], outcome
    assert fast.read_bytes(layout.LOCK).decode() == b.token
    a.release()
    assert fast.read_bytes(layout.LOCK).decode() == b.token
    b.release()
    assert not fast.exists(layout.LOCK)


def test_a_live_local_lock_is_named_and_an_empty_or_garbled_one_is_free(tmp_path):
    store = Store(str(tmp_path / "v"))
    store.makedirs()
    with BuildLock(store):
        with pytest.raises(StorageError, match=rf"another build is writing .* \(held by host \S+, pid {os.getpid()}\)"):
            BuildLock(store).acquire()
    for content in (b"", b"\x00garbage"):
        with open(os.path.join(store.root, layout.LOCK), "wb") as f:
            f.write(content)
        with BuildLock(store) as lock:
            assert open(os.path.join(store.root, layout.LOCK)).read() == lock.token
        assert not os.path.exists(os.path.join(store.root, layout.LOCK))


@pytest.mark.parametrize("content, shown", [(b"", r"no holder record \(empty\)"),
                                            (b"garbage", r"no valid holder record \('garbage'\)")])
def test_an_empty_or_garbled_remote_lock_is_named_and_expires(s3_server, s3_url, content, shown):
    store = Store(f"{s3_url}/v", s3_server.storage_options())
    store.makedirs()
    store.put_bytes(layout.LOCK, content)
    busy = rf"another build is writing .* \(its lock holds {shown}\); .*expires after 900s"
    with pytest.raises(StorageError, match=busy):
        BuildLock(store).acquire()
    lock = BuildLock(store, ttl=1.0)
    deadline = time.monotonic() + 60
    while True:                                   # until the store's clock says it is older than the TTL
        try:
            lock.acquire()
            break
        except StorageError as e:
            assert "another build is writing" in str(e) and time.monotonic() < deadline, e
    assert store.read_bytes(layout.LOCK).decode() == lock.token
    lock.release()
    assert not store.exists(layout.LOCK)


def test_the_lease_is_renewed_and_a_lost_lease_is_noticed(s3_server, s3_url):
    store = Store(f"{s3_url}/v", s3_server.storage_options())
    store.makedirs()
    lock = BuildLock(store, ttl=2.0)               # renewed every 0.5 s
    lock.acquire()
    first = store.info(layout.LOCK)["LastModified"]
    deadline = time.monotonic() + 60
    while store.info(layout.LOCK)["LastModified"] <= first:     # one-second resolution on the server
        assert time.monotonic() < deadline, "the lease was never renewed"
    lock.ensure_held()
    successor = b"another-host 4242 0123abcd"      # a build that took the lock over while this one stalled
    store.put_bytes(layout.LOCK, successor)
    while lock.lost is None:
        assert time.monotonic() < deadline, "the holder never noticed it lost its lease"
    with pytest.raises(StorageError, match="lost its lock .*taken over"):
        lock.ensure_held()
    lock.release()
    assert store.read_bytes(layout.LOCK) == successor   # the successor's lock stays


def test_conditional_writes_have_exactly_one_winner(s3_server, s3_url):
    """What the lease relies on: of writers racing from one version, the store lets exactly one through."""
    import threading

    from synthvid.manifests.storage import conditional

    store = Store(f"{s3_url}/v", s3_server.storage_options())
    store.makedirs()
    assert conditional.exact(store)
    for round_ in range(4):
        store.remove(layout.LOCK)
        for op in ("create", "replace"):
            if op == "replace":
                store.put_bytes(layout.LOCK, b"stale")
                _, version, _ = conditional.read(store, layout.LOCK)
            barrier, wins = threading.Barrier(6), []

            def write(i, op=op):
                barrier.wait()
                data = f"writer {i} round {round_}".encode()
                got = (conditional.create(store, layout.LOCK, data) if op == "create"
                       else conditional.replace(store, layout.LOCK, data, version))
                if got is not None:
                    wins.append(data)

            threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert len(wins) == 1, (op, round_, wins)
            assert store.read_bytes(layout.LOCK) == wins[0]
