"""`synthvid-factory publish`: a finished local build to object storage, resumable, verified, card last."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from synthvid.factory.pipeline import publish as pub
from synthvid.factory.pipeline.build import BuildOptions, build_variants
from synthvid.factory.generate.recipe import from_variant
from synthvid.manifests import layout
from synthvid.manifests.reader import IncompleteDatasetError, open_dataset
from synthvid.manifests.storage import Store

from .fixtures_s3 import FaultProxy
from .helpers import TINY, tree_digest
from .test_storage_build import _prefix, remote_digest

VARIANTS = ("moving-shapes", "static-circles")


@pytest.fixture(scope="module")
def local_build(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("pubsrc"))
    build_variants([from_variant(v, TINY) for v in VARIANTS],
                   BuildOptions(out, videos=8, seed=2, per_shard=2, inline=True, progress=False))
    return out


def _local(out: str, variant: str) -> dict:
    return {k.split("/", 1)[1]: v for k, v in tree_digest(out).items() if k.startswith(variant + "/")}


def test_publish_all_then_again_skips_everything(s3_server, s3_url, local_build):
    options = s3_server.storage_options()
    summary = pub.publish(local_build, s3_url, storage_options=options, progress=False)
    assert set(summary["variants"]) == set(VARIANTS)
    assert summary["skipped"] == 0 and summary["uploaded"] == summary["files"]
    for v in VARIANTS:
        assert remote_digest(s3_server, f"{_prefix(s3_url)}/{v}") == _local(local_build, v)
        assert open_dataset(f"{s3_url}/{v}", options).num_samples == 8
    again = pub.publish(local_build, s3_url, storage_options=options, progress=False)
    assert again["uploaded"] == 0 and again["skipped"] == summary["files"]
    assert not [k for k in s3_server.list_keys(_prefix(s3_url)) if ".synthvid-probe" in k]


def test_publish_one_variant_repairs_and_orders_card_last(s3_server, s3_url, local_build, monkeypatch):
    options = s3_server.storage_options()
    v = "moving-shapes"
    pub.publish(os.path.join(local_build, v), s3_url, storage_options=options, progress=False)
    assert set(k.split("/")[1] for k in s3_server.list_keys(_prefix(s3_url))) == {v}
    # damage the published copy: one shard flipped, one marker gone, the card gone
    client = s3_server.client()
    base = f"{_prefix(s3_url)}/{v}"
    key = f"{base}/{layout.shard_name(v, 2)}"
    body = bytearray(client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read())
    body[600] ^= 1
    client.put_object(Bucket=s3_server.bucket, Key=key, Body=bytes(body))
    client.delete_object(Bucket=s3_server.bucket, Key=f"{base}/{layout.marker_name(layout.shard_name(v, 1))}")
    client.delete_object(Bucket=s3_server.bucket, Key=f"{base}/{layout.CARD}")

    order = []
    real = Store.upload_verified

    def spy(self, local_path, rel, *a, **kw):
        order.append(rel)
        return real(self, local_path, rel, *a, **kw)

    monkeypatch.setattr(Store, "upload_verified", spy)
    summary = pub.publish(local_build, s3_url, storage_options=options, progress=False, variants=[v])
    assert order == [layout.shard_name(v, 2), layout.marker_name(layout.shard_name(v, 1)), layout.CARD]
    assert summary["uploaded"] == 3
    assert remote_digest(s3_server, base) == _local(local_build, v)


def test_publish_refuses_incomplete_or_corrupt_local_builds(s3_server, s3_url, local_build, tmp_path):
    import shutil

    src = tmp_path / "src"
    shutil.copytree(local_build, src)
    os.remove(src / "static-circles" / layout.CARD)
    with pytest.raises(pub.PublishError, match="static-circles.*incomplete|incomplete.*static-circles"):
        pub.publish(str(src), s3_url, storage_options=s3_server.storage_options(), progress=False)
    shard = src / "moving-shapes" / layout.shard_name("moving-shapes", 0)
    data = bytearray(shard.read_bytes())
    data[1000] ^= 1
    shard.write_bytes(bytes(data))
    with pytest.raises(pub.PublishError, match="does not match its manifest"):
        pub.publish(str(src), s3_url, storage_options=s3_server.storage_options(), progress=False,
                    variants=["moving-shapes"])
    with pytest.raises(pub.PublishError, match="not found"):
        pub.publish(str(src), s3_url, storage_options=s3_server.storage_options(), progress=False,
                    variants=["no-such"])
    assert s3_server.list_keys(_prefix(s3_url)) == {}


def test_publish_cli_killed_then_resumed(s3_server, s3_url, local_build):
    """SIGKILL a throttled publish mid-upload: no card is visible (the variant reads as incomplete); the
    rerun uploads only what is missing and ends identical."""
    v = "moving-shapes"
    proxy = FaultProxy(s3_server.ports["s3"])
    proxy.set_mode("throttle", rate=150_000)
    env = s3_server.subprocess_env(AWS_ENDPOINT_URL=proxy.endpoint_url)
    base = f"{_prefix(s3_url)}/{v}/"
    proc = subprocess.Popen([sys.executable, "-m", "synthvid.factory.cli", "publish", local_build, s3_url,
                             "--variant", v, "--threads", "2", "--no-progress"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sum(k.endswith(".tar") for k in s3_server.list_keys(base)) >= 1:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        proxy.close()        # the killed publish's connections with it: no upload is left in flight
    keys = s3_server.list_keys(base)
    assert base + layout.CARD not in keys
    with pytest.raises(IncompleteDatasetError):
        open_dataset(f"{s3_url}/{v}", s3_server.storage_options())
    r = subprocess.run([sys.executable, "-m", "synthvid.factory.cli", "publish", local_build, s3_url,
                        "--variant", v, "--no-progress", "--json"], env=s3_server.subprocess_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["skipped"] >= 1 and summary["uploaded"] >= 1
    assert remote_digest(s3_server, base.rstrip("/")) == _local(local_build, v)
    assert s3_server.secret_key not in r.stdout + r.stderr


def test_publish_cli_errors_are_one_line(s3_server, local_build):
    env = s3_server.subprocess_env(AWS_SECRET_ACCESS_KEY="bad-secret-value-0000")
    r = subprocess.run([sys.executable, "-m", "synthvid.factory.cli", "publish", local_build,
                        s3_server.url("p"), "--no-progress"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "access denied" in lines[0] and "bad-secret" not in r.stderr, r.stderr
