"""manifests/storage.py against a real S3-compatible server on loopback (SeaweedFS, tests/fixtures_s3.py):
credentials, missing bucket, unreachable endpoint, retries across a server restart, verified uploads,
and that no message ever carries a credential."""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from synthvid.manifests import storage
from synthvid.manifests.storage import RetryPolicy, StorageError, Store, check_writable

FAST = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2, deadline=2.0)


def _assert_no_secret(text: str, server) -> None:
    assert server.secret_key not in text
    assert server.access_key not in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_check_writable_leaves_nothing(s3_server, s3_url):
    check_writable(s3_url, s3_server.storage_options())
    _, prefix = storage.bucket_and_key(s3_url)
    assert s3_server.list_keys(prefix) == {}


def test_endpoint_and_credentials_from_environment(s3_server, s3_env, s3_url):
    """The standard chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL, no options."""
    check_writable(s3_url)
    store = Store(s3_url)
    store.put_bytes("a/b.bin", b"hello")
    assert store.read_bytes("a/b.bin") == b"hello"
    assert store.listdir("a") == ["b.bin"]
    assert store.walk_files() == {"a/b.bin": 5}
    store.remove("a/b.bin")
    assert not store.exists("a/b.bin")
    with pytest.raises(FileNotFoundError):
        store.read_bytes("a/b.bin")


def test_storage_option_endpoint(s3_server, s3_url, monkeypatch):
    """`--storage-option key=value` pairs carry an S3-compatible endpoint and credentials."""
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    options = storage.parse_storage_options([
        f"endpoint_url={s3_server.endpoint_url}", f"key={s3_server.access_key}",
        f"secret={s3_server.secret_key}", "client_kwargs.region_name=us-east-1"])
    assert options["client_kwargs"] == {"region_name": "us-east-1"}
    check_writable(s3_url, options)
    # every credential that went through parse_storage_options is masked from then on
    assert storage.redact(f"oops {s3_server.secret_key}") == "oops ***"


def test_wrong_credentials_is_one_clear_line(s3_server, s3_url):
    options = s3_server.storage_options(secret="not-the-secret-" + "x" * 20)
    with pytest.raises(StorageError) as err:
        check_writable(s3_url, options)
    msg = str(err.value)
    assert err.value.kind == "access_denied"
    assert "\n" not in msg and s3_server.bucket in msg and "credentials" in msg
    assert "not-the-secret" not in msg
    _assert_no_secret(msg, s3_server)


def test_unknown_access_key(s3_server, s3_url):
    with pytest.raises(StorageError) as err:
        check_writable(s3_url, s3_server.storage_options(key="AKNOSUCHKEY0000"))
    assert err.value.kind == "access_denied"
    _assert_no_secret(str(err.value), s3_server)


def test_missing_bucket(s3_server):
    url = s3_server.url("prefix", bucket="no-such-bucket-synthvid")
    with pytest.raises(StorageError) as err:
        check_writable(url, s3_server.storage_options())
    msg = str(err.value)
    assert err.value.kind == "no_such_bucket"
    assert "no-such-bucket-synthvid" in msg and "create it" in msg and "\n" not in msg
    _assert_no_secret(msg, s3_server)


def test_unreachable_endpoint_fails_fast(s3_server):
    port = _free_port()
    options = s3_server.storage_options(endpoint_url=f"http://127.0.0.1:{port}")
    with pytest.raises(StorageError) as err:
        check_writable(s3_server.url("x"), options)
    msg = str(err.value)
    # "fast" is the classification: a permanent fault is never retried (test_classify_and_backoff), so no
    # clock is read here
    assert err.value.kind == "unreachable", msg
    assert f"127.0.0.1:{port}" in msg and "AWS_ENDPOINT_URL" in msg
    _assert_no_secret(msg, s3_server)


def test_no_credentials(s3_server, s3_url, monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    # fsspec caches filesystems by their arguments: one built from earlier environment credentials must go
    import s3fs
    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(StorageError) as err:
        check_writable(s3_url)
    # s3fs falls back to anonymous access when no credentials exist: the server refuses it
    assert err.value.kind in ("no_credentials", "access_denied"), str(err.value)


def test_upload_verified_and_matches(s3_server, s3_url, tmp_path):
    local = tmp_path / "blob.bin"
    local.write_bytes(bytes(range(256)) * 1000)
    store = Store(s3_url, s3_server.storage_options())
    size, sha = store.upload_verified(str(local), "x/blob.bin")
    assert size == 256000
    assert store.matches("x/blob.bin", size, sha)
    assert not store.matches("x/blob.bin", size, "0" * 64)
    assert not store.matches("x/missing.bin", size, sha)
    assert store.digest("x/blob.bin") == (size, sha)


def test_abort_incomplete_uploads(s3_server, s3_url):
    store = Store(s3_url, s3_server.storage_options())
    bucket, prefix = storage.bucket_and_key(s3_url)
    client = s3_server.client()
    client.create_multipart_upload(Bucket=bucket, Key=f"{prefix}/part.tar")
    assert store.abort_incomplete_uploads() == 1
    assert not client.list_multipart_uploads(Bucket=bucket, Prefix=prefix + "/").get("Uploads")


def test_retries_bridge_a_server_restart(s3_server_factory, tmp_path, caplog):
    """The server goes down for ~3 s while an upload runs: retries with backoff carry it through."""
    server = s3_server_factory()
    store = Store(server.url("retry"), server.storage_options(),
                  policy=RetryPolicy(attempts=20, base_delay=0.2, max_delay=1.0, deadline=60))
    local = tmp_path / "blob.bin"
    local.write_bytes(b"z" * 100_000)
    server.stop(hard=True)
    threading.Timer(3.0, server.start).start()
    caplog.set_level(logging.WARNING, logger="synthvid.storage")
    size, sha = store.upload_verified(str(local), "blob.bin")
    assert server.starts == 2 and server.running             # it finished against the restarted server
    assert store.matches("blob.bin", size, sha)
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert retries, "expected logged retries"
    for r in caplog.records:
        _assert_no_secret(r.getMessage(), server)


def test_retries_exhausted_is_clear(s3_server_factory):
    server = s3_server_factory()
    store = Store(server.url("down"), server.storage_options(), policy=FAST)
    server.stop(hard=True)
    with pytest.raises(StorageError) as err:
        store.put_bytes("x", b"1")
    msg = str(err.value)
    assert err.value.kind == "unreachable" and "rerun" in msg and "\n" not in msg
    _assert_no_secret(msg, server)


class _FakeClientError(Exception):
    def __init__(self, code, status):
        super().__init__(f"An error occurred ({code})")
        self.response = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}


@pytest.mark.parametrize("code,status,transient", [
    ("SlowDown", 503, True), ("InternalError", 500, True), ("Throttling", 400, True), ("", 502, True),
    ("AccessDenied", 403, False), ("NoSuchBucket", 404, False), ("InvalidAccessKeyId", 403, False),
])
def test_classify_and_backoff(code, status, transient):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OSError("wrapped") from _FakeClientError(code, status)
        return "ok"

    if transient:
        assert storage.with_retries(flaky, url="s3://b/k", what="test", policy=FAST) == "ok"
        assert len(calls) == 3
    else:
        with pytest.raises(StorageError):
            storage.with_retries(flaky, url="s3://b/k", what="test", policy=FAST)
        assert len(calls) == 1


def test_connection_reset_is_transient():
    assert storage.classify(ConnectionResetError(104, "reset")).transient
    assert storage.classify(TimeoutError()).transient
    assert not storage.classify(PermissionError("denied")).transient


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(attempts=10, base_delay=0.5, max_delay=4.0, deadline=100)
    delays = [policy.delay(n) for n in range(8)]
    assert all(0 < d <= 4.0 for d in delays)
    assert policy.delay(0) <= 0.5 < policy.delay(4)


def test_safe_url_and_redact(monkeypatch):
    assert storage.safe_url("s3://AKIA:SECRET@bucket/k?x=1") == "s3://bucket/k"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sekrit-value-123")
    assert "sekrit" not in storage.redact("failed with sekrit-value-123 and secret_key=abc")
    assert "abc" not in storage.redact("secret_key=abc")
    assert repr(Store("memory://x", {"key": "AKIAAAAAAA"})) == "Store('memory://x')"


def test_local_not_writable(tmp_path):
    # a path below a regular file cannot be written by anyone, root included (tests run as root in CI)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StorageError) as err:
        check_writable(str(blocker / "out"))
    assert err.value.kind == "not_writable" and "choose another --out" in str(err.value)


def test_storage_error_survives_pickling():
    import pickle

    e = pickle.loads(pickle.dumps(StorageError("s3://b/k: no", kind="no_such_bucket", url="s3://b/k")))
    assert isinstance(e, StorageError) and e.kind == "no_such_bucket" and e.url == "s3://b/k" and str(e) == "s3://b/k: no"


def test_readers_keep_robust_inner_retries(s3_server):
    """Only Store (which adds its own backoff) shortens botocore/s3fs retries; plain readers keep them."""
    fs, _ = storage.url_to_fs(s3_server.url("x"), s3_server.storage_options())
    quick = Store(s3_server.url("x"), s3_server.storage_options()).fs
    assert fs is not quick
    assert fs.retries >= 5 and quick.retries == 2
