"""The storage commit against a real S3 server on loopback: a verified upload reads the stored object back
(a damaged upload is uploaded again, a store that keeps damaging it is an integrity error), and a multipart
upload orphaned by a SIGKILLed process at a real shard size is aborted by the cleanup a build runs."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from synthvid.manifests.hashing import file_digest
from synthvid.manifests.storage import StorageError, Store

from .fixtures_s3 import FaultProxy
from .helpers import wait_for

# Flexible checksums make botocore send a CRC with every PUT, and a damaged body is then refused by the
# server; without them, damage in flight lands in the store, which is what the read-back is for.
NO_BODY_CHECKSUM = {"config_kwargs": {"request_checksum_calculation": "when_required",
                                      "response_checksum_validation": "when_required"}}


@pytest.fixture
def damaging_store(s3_server, s3_url):
    proxy = FaultProxy(s3_server.ports["s3"])
    store = Store(s3_url, s3_server.storage_options(endpoint_url=proxy.endpoint_url, **NO_BODY_CHECKSUM))
    store.makedirs()
    yield store, proxy
    proxy.close()


def _payload(tmp_path, size: int = 300_000):
    path = tmp_path / "shard.tar"
    path.write_bytes(os.urandom(size))
    return str(path)


def _stored(s3_server, store: Store, rel: str) -> bytes:
    key = store.path(rel).split("/", 1)[1]
    return s3_server.client().get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()


def test_upload_damaged_in_flight_is_read_back_and_uploaded_again(damaging_store, s3_server, tmp_path, caplog):
    store, proxy = damaging_store
    local = _payload(tmp_path)
    data = open(local, "rb").read()
    proxy.fail_next(1, "corrupt")
    with caplog.at_level(logging.WARNING, logger="synthvid.storage"):
        assert store.upload_verified(local, "a.tar") == file_digest(local)
    assert proxy.injected == {"corrupt": 1}
    assert "differs from the uploaded file (attempt 1 of 2)" in caplog.text
    assert _stored(s3_server, store, "a.tar") == data


def test_store_that_keeps_damaging_uploads_is_an_integrity_error(damaging_store, s3_server, tmp_path, caplog):
    store, proxy = damaging_store
    local = _payload(tmp_path)
    data = open(local, "rb").read()
    size, sha = file_digest(local)
    proxy.set_mode("corrupt-all")
    with caplog.at_level(logging.WARNING, logger="synthvid.storage"):
        with pytest.raises(StorageError, match="does not match the uploaded file .* after 2 uploads") as err:
            store.commit_file(local, "b.tar", size, sha)
    assert err.value.kind == "integrity"
    assert caplog.text.count("differs from the uploaded file") == 2            # two uploads, each read back
    assert not os.path.exists(local)          # the temp file goes, committed or not
    stored = _stored(s3_server, store, "b.tar")  # an object is there, damaged: no marker will ever name it
    assert len(stored) == size and stored != data


def test_matches_compares_size_and_sha256(s3_server, s3_url, tmp_path):
    store = Store(s3_url, s3_server.storage_options())
    store.makedirs()
    local = _payload(tmp_path, 5000)
    size, sha = file_digest(local)
    store.commit_file(local, "c.tar", size, sha)
    assert store.matches("c.tar", size, sha)
    assert not store.matches("c.tar", size, "0" * 64)
    assert not store.matches("c.tar", size + 1, sha)
    assert not store.matches("missing.tar", size, sha)
    assert store.digest("c.tar") == (size, sha)
    with pytest.raises(FileNotFoundError):
        store.digest("missing.tar")


def test_abort_incomplete_uploads_counts_only_its_own_prefix(s3_server, s3_url, tmp_path):
    """Uploads started and never completed under the store's root are aborted and counted; another
    prefix's upload is left alone; a second call finds nothing."""
    client, bucket = s3_server.client(), s3_server.bucket
    prefix = s3_url.split("/", 3)[3]
    started = [client.create_multipart_upload(Bucket=bucket, Key=f"{prefix}/{k}")["UploadId"]
               for k in ("a.tar", "sub/b.tar")]
    other = client.create_multipart_upload(Bucket=bucket, Key=f"{prefix}-other/c.tar")["UploadId"]
    client.upload_part(Bucket=bucket, Key=f"{prefix}/a.tar", UploadId=started[0], PartNumber=1, Body=b"x" * 1000)
    store = Store(s3_url, s3_server.storage_options())
    assert store.abort_incomplete_uploads() == 2
    assert store.abort_incomplete_uploads() == 0
    left = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads") or []
    assert [u["UploadId"] for u in left] == [other]
    client.abort_multipart_upload(Bucket=bucket, Key=f"{prefix}-other/c.tar", UploadId=other)
    assert Store(str(tmp_path)).abort_incomplete_uploads() == 0                 # a local store has none
    assert Store("memory://synthvid-abort/x").abort_incomplete_uploads() == 0     # nor a store without S3 calls
    missing = Store(s3_server.url("x", bucket="synthvid-no-such-bucket"), s3_server.storage_options())
    assert missing.abort_incomplete_uploads() == 0                              # a listing that fails: a warning


# ---------------------------------------------------------------------------------- multipart + SIGKILL
# s3fs uploads a file in 50 MiB parts once it holds at least two of them: a real shard of textured 256 px
# video (17-28 MB per video, 64 videos per shard) always does.
MULTIPART_MIB = 101

_UPLOADER = textwrap.dedent("""
    import json, os, sys
    from synthvid.manifests.storage import Store
    from synthvid.manifests.hashing import file_digest
    url, options = sys.argv[1], json.loads(sys.argv[2])
    store = Store(url, options)
    tmp = store.temp_path("big.tar")
    with open(tmp, "wb") as f:
        for _ in range(int(sys.argv[3])):
            f.write(os.urandom(2**20))
    print(tmp, flush=True)
    size, sha = file_digest(tmp)
    store.commit_file(tmp, "big.tar", size, sha)
""")


def test_sigkill_mid_multipart_upload_leaves_an_upload_that_cleanup_aborts(s3_server, s3_url):
    """SIGKILL a process while it uploads a 101 MiB shard in parts (throttled so it is really in flight): an
    incomplete multipart upload and a dead process's temp file are left; `cleanup_temp` (what a build runs
    at its end) aborts the one and removes the other, and no object ever appeared under the final key."""
    import json

    proxy = FaultProxy(s3_server.ports["s3"])
    proxy.set_mode("throttle", rate=16 * 2**20)
    options = s3_server.storage_options(endpoint_url=proxy.endpoint_url)
    client = s3_server.client()
    prefix = s3_url.split("/", 3)[3] + "/"
    proc = subprocess.Popen([sys.executable, "-c", _UPLOADER, s3_url, json.dumps(options), str(MULTIPART_MIB)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        tmp = proc.stdout.readline().strip()
        assert tmp, proc.stderr.read()

        def parts_in_flight():
            uploads = client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=prefix).get("Uploads") or []
            for up in uploads:
                parts = client.list_parts(Bucket=s3_server.bucket, Key=up["Key"], UploadId=up["UploadId"])
                if parts.get("Parts"):
                    return up
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            return None

        upload = wait_for(parts_in_flight, 120, "a multipart upload with a stored part of 5 MiB or more")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        proxy.close()
    assert upload["Key"] == prefix + "big.tar"
    assert os.path.exists(tmp)                                        # the killed process's temp file
    assert prefix + "big.tar" not in s3_server.list_keys(prefix)      # never visible as a whole object

    store = Store(s3_url, s3_server.storage_options())
    store.cleanup_temp()
    assert not client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=prefix).get("Uploads")
    assert not os.path.exists(tmp)
