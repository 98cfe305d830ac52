"""Builds straight to object storage (a real SeaweedFS server on loopback): build, verify, read back with
webdataset, SIGKILL mid-upload and resume, server stopped mid-build, injected faults, wrong credentials and a
missing bucket. Every resumed build must end byte-identical to a local build of the same recipe."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from synthvid.factory.generate.recipe import from_variant
from synthvid.factory.pipeline.build import BuildOptions, build_variants
from synthvid.factory.pipeline.payloads import PayloadRequest
from synthvid.manifests import layout
from synthvid.manifests.payload import FramesPayload
from synthvid.manifests.reader import IncompleteDatasetError, open_dataset
from synthvid.manifests.verify import verify_dataset

from .fixtures_s3 import FaultProxy
from .helpers import TINY, ray_tasks_running, tree_digest, wait_for

VARIANT = "moving-shapes"
VIDEOS, PER_SHARD, SEED = 12, 2, 7
SHARDS = VIDEOS // PER_SHARD
ARGS = ["--videos", str(VIDEOS), "--videos-per-shard", str(PER_SHARD), "--seed", str(SEED), "--size", "64",
        "--frames", "20-30", "--no-progress"]
SKIP = {layout.BUILD_LOG}

# Figures collected by the fault tests, printed at the end of the module (and read by the closing note).
FIGURES: list[dict] = []


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    """The same recipe built on local disk, in this process: {relative path: sha256}."""
    out = str(tmp_path_factory.mktemp("s3ref"))
    build_variants([from_variant(VARIANT, TINY)], BuildOptions(out, videos=VIDEOS, seed=SEED, per_shard=PER_SHARD,
                   inline=True, progress=False))
    digest = {k.split("/", 1)[1]: v for k, v in tree_digest(out).items()}
    assert sum(k.endswith(".tar") for k in digest) == SHARDS
    return digest


@pytest.fixture(scope="module", autouse=True)
def _print_figures():
    yield
    if FIGURES:
        print("\nS3 fault figures:")
        for f in FIGURES:
            print("  " + json.dumps(f, sort_keys=True))
        path = os.environ.get("SYNTHVID_FAULT_FIGURES")
        if path:
            with open(path, "a") as fh:
                for f in FIGURES:
                    fh.write(json.dumps(f, sort_keys=True) + "\n")


def remote_digest(server, prefix: str) -> dict[str, str]:
    """{path relative to prefix: sha256} of every object under prefix, straight from the S3 API."""
    client = server.client()
    out = {}
    for key in server.list_keys(prefix.rstrip("/") + "/"):
        rel = key[len(prefix.rstrip("/")) + 1:]
        if rel in SKIP:
            continue
        body = client.get_object(Bucket=server.bucket, Key=key)["Body"].read()
        out[rel] = hashlib.sha256(body).hexdigest()
    return out


def _prefix(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1]


def _cli(args, env, **kw):
    return subprocess.run([sys.executable, "-m", "synthvid.factory.cli", *args], env=env, capture_output=True,
                          text=True, **kw)


def _session(ray_runtime) -> list[str]:
    """CLI arguments joining the test session's Ray runtime (no Ray start-up per build)."""
    return ["--workers", "2", "--ray-address", ray_runtime.address_info["gcs_address"]]


def _option_args(options: dict, prefix: str = "") -> list[str]:
    """`--storage-option KEY=VALUE` arguments for storage options; nested ones as dotted keys."""
    out = []
    for k, v in options.items():
        if isinstance(v, dict):
            out += _option_args(v, f"{prefix}{k}.")
        else:
            out += ["--storage-option", f"{prefix}{k}={v}"]
    return out


def _no_secret(text: str, server) -> None:
    assert server.secret_key not in text, "a credential leaked into output"


def _assert_clean(server, url: str, reference: dict) -> None:
    """Byte-identical to the local build, nothing else there: no lock, no probe, no multipart upload (an
    upload orphaned by a kill at a real multipart size: tests/test_store_commit.py)."""
    prefix = _prefix(url)
    got = remote_digest(server, f"{prefix}/{VARIANT}")
    assert got == reference
    keys = server.list_keys(prefix + "/")
    assert not [k for k in keys if layout.LOCK in k or ".synthvid-probe" in k or ".tmp" in k]
    uploads = server.client().list_multipart_uploads(Bucket=server.bucket, Prefix=prefix + "/").get("Uploads")
    assert not uploads


# --------------------------------------------------------------------------------------------- builds
@pytest.fixture(scope="module")
def s3_build(s3_server, local_reference, ray_runtime):
    """The recipe built into s3:// on the session's Ray runtime; explicit storage options travel to the
    workers with each task. (The standard environment chain on workers: tests/test_ray_cluster.py.)"""
    url = s3_server.unique_url("build")
    [res] = build_variants([from_variant(VARIANT, TINY)],
                           BuildOptions(url, videos=VIDEOS, seed=SEED, per_shard=PER_SHARD, workers=2,
                                        progress=False, storage_options=s3_server.storage_options()))
    assert res.shards_built == SHARDS
    return url


def test_build_verify_and_read_back_with_webdataset(s3_server, s3_build, local_reference):
    s3_url = s3_build
    _assert_clean(s3_server, s3_url, local_reference)
    # verify through the CLI with the standard chain: AWS_* variables and AWS_ENDPOINT_URL, no options
    env = {**s3_server.subprocess_env(), "RAY_AUTH_MODE": "disabled"}
    r = _cli(["verify", f"{s3_url}/{VARIANT}"], env, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("OK"), r.stdout + r.stderr
    # and with explicit options only, nested ones spelled as dotted keys (client_kwargs.region_name=...)
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    args = _option_args(s3_server.storage_options())
    assert "client_kwargs.region_name=" + s3_server.storage_options()["client_kwargs"]["region_name"] in args
    r = _cli(["verify", f"{s3_url}/{VARIANT}", *args], {**bare, "AWS_EC2_METADATA_DISABLED": "true"}, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("OK"), r.stdout + r.stderr
    _no_secret(r.stdout + r.stderr, s3_server)

    # the reader both sides use
    options = s3_server.storage_options()
    ds = open_dataset(f"{s3_url}/{VARIANT}", options)
    assert ds.num_samples == VIDEOS and len(ds.shards) == SHARDS
    report = verify_dataset(f"{s3_url}/{VARIANT}", options)
    assert report.ok, report.problems

    # webdataset's own tar iterator over the dataset's fsspec streams (its gopen has no s3 handler)
    from webdataset.tariterators import group_by_keys, tar_file_expander

    streams = ({"url": s.url, "stream": ds.open_shard(s)} for s in ds.shards)
    samples = list(group_by_keys(tar_file_expander(streams)))
    assert [s["__key__"] for s in samples] == [layout.sample_key(i) for i in range(VIDEOS)]
    assert [s["__key__"] for s in ds.iter_samples()] == [s["__key__"] for s in samples]
    rows = {r["key"]: r for r in ds.samples.to_pylist()}
    for s in samples:
        payload = s[layout.FRAMES_EXT]
        assert hashlib.sha256(payload).hexdigest() == rows[s["__key__"]]["payload_sha256"]
        frames = FramesPayload(payload).frames()
        assert frames.shape[1:] == (64, 64, 3) and 20 <= len(frames) <= 30
        meta = json.loads(s[layout.META_EXT])
        assert meta["index"] == int(s["__key__"])


def test_readme_reading_recipe_works_on_s3(s3_server, s3_env, s3_url):
    """The README's reading example, run as written against s3:// with the standard credential chain, and
    webdataset's global openers left alone."""
    import re

    from webdataset.gopen import gopen_schemes

    readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")).read()
    block = re.search(r"### Reading a dataset\n```python\n(.*?)```", readme, re.S).group(1)
    placeholder = "s3://bucket/synthvid/v1/accelerating-textures"
    assert placeholder in block
    small = {"size": 32, "frames_min": 64, "frames_max": 64, "objects": 30}
    build_variants([from_variant("accelerating-shapes", small)],       # stored as a textured set is (svj)
                   BuildOptions(s3_url, videos=3, per_shard=2, inline=True, progress=False,
                                payload=PayloadRequest("svj")))
    openers = dict(gopen_schemes)
    namespace: dict = {}
    exec(compile(block.replace(placeholder, f"{s3_url}/accelerating-shapes"), "README.md", "exec"), namespace)
    assert dict(gopen_schemes) == openers
    assert namespace["sample"]["__key__"] == layout.sample_key(2)        # every sample was read
    clip = namespace["clip"]
    assert clip.shape == (16, 32, 32, 3) and clip.dtype.name == "uint8" and clip.std() > 0


def test_rebuild_keeps_every_committed_shard(s3_server, s3_build, local_reference, ray_runtime):
    """A second run over a complete build keeps every shard and rewrites none of them."""
    s3_url = s3_build
    options = s3_server.storage_options()
    recipe = from_variant(VARIANT, TINY)
    client = s3_server.client()
    shards = [k for k in s3_server.list_keys(_prefix(s3_url)) if k.endswith(".tar")]
    stamps = {k: client.head_object(Bucket=s3_server.bucket, Key=k)["LastModified"] for k in shards}
    [res] = build_variants([recipe], BuildOptions(s3_url, videos=VIDEOS, seed=SEED, per_shard=PER_SHARD, workers=2,
                           progress=False, storage_options=options))
    assert res.shards_kept == SHARDS and res.shards_built == 0
    assert {k: client.head_object(Bucket=s3_server.bucket, Key=k)["LastModified"] for k in shards} == stamps
    _assert_clean(s3_server, s3_url, local_reference)


def test_resume_rebuilds_a_shard_whose_stored_bytes_changed(s3_server, s3_url, local_reference, ray_runtime):
    """A marker alone is not enough: a shard whose stored bytes no longer match it is rebuilt."""
    options = s3_server.storage_options()
    recipe = from_variant(VARIANT, TINY)
    build_variants([recipe],
                   BuildOptions(s3_url, videos=VIDEOS, seed=SEED, per_shard=PER_SHARD, workers=2, progress=False,
                                storage_options=options))
    client = s3_server.client()
    prefix = _prefix(s3_url)
    bad = f"{prefix}/{VARIANT}/{layout.shard_name(VARIANT, 1)}"
    body = bytearray(client.get_object(Bucket=s3_server.bucket, Key=bad)["Body"].read())
    body[700] ^= 0xFF  # same size, one flipped byte
    client.put_object(Bucket=s3_server.bucket, Key=bad, Body=bytes(body))
    client.delete_object(Bucket=s3_server.bucket, Key=f"{prefix}/{VARIANT}/{layout.shard_name(VARIANT, 3)}")
    [res] = build_variants([recipe], BuildOptions(s3_url, videos=VIDEOS, seed=SEED, per_shard=PER_SHARD, workers=2,
                           progress=False, storage_options=options))
    assert res.shards_built == 2 and res.shards_kept == SHARDS - 2
    _assert_clean(s3_server, s3_url, local_reference)


# ----------------------------------------------------------------------------------- kill and resume
def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the build's own process group, by its handle
    except ProcessLookupError:
        pass
    proc.wait(30)


KILL_POINTS = {
    # name: predicate over (markers committed, shard objects stored, card present)
    "first-marker": lambda m, t, c: m >= 1,
    "half-committed": lambda m, t, c: m >= SHARDS // 2,
    "upload-without-marker": lambda m, t, c: t > m >= 1,
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_mid_upload_then_resume_is_identical(point, s3_server, s3_url, local_reference, ray_runtime):
    """Throttled uploads (150 KB/s through a proxy) so shards are really in flight; SIGKILL the whole build
    at the kill point; the resume keeps committed shards (same objects, same stamps) and ends identical."""
    proxy = FaultProxy(s3_server.ports["s3"])
    proxy.set_mode("throttle", rate=150_000)
    options = s3_server.storage_options(endpoint_url=proxy.endpoint_url)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    prefix = _prefix(s3_url)
    vprefix = f"{prefix}/{VARIANT}/"
    proc = subprocess.Popen([sys.executable, "-m", "synthvid.factory.cli", "build", VARIANT, "--out", s3_url,
                             "--workers", "2", "--ray-address", ray_runtime.address_info["gcs_address"],
                             *ARGS, *_option_args(options)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            keys = s3_server.list_keys(vprefix)
            markers = sum(k.startswith(vprefix + layout.COMMIT_DIR + "/") and not k.endswith("build.json")
                          for k in keys)
            tars = sum(k.endswith(".tar") for k in keys)
            card = (vprefix + layout.CARD) in keys
            if card:
                break
            if KILL_POINTS[point](markers, tars, card):
                seen = (markers, tars)
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.02)
    finally:
        _kill_group(proc)
        # tasks of the killed driver may still run on the shared Ray runtime: let them reach the store
        # at full speed (their shards are the same bytes) instead of retrying against a closed port
        proxy.set_mode("pass")
    try:
        assert seen is not None, f"the build finished before the kill point {point}"
        wait_for(lambda: ray_tasks_running(ray_runtime, "build_shard") == 0, 180,
                 "the killed build's Ray tasks to end")
        _resume_after_kill(point, seen, s3_server, s3_url, local_reference, ray_runtime, env)
    finally:
        proxy.close()


def _resume_after_kill(point, seen, s3_server, s3_url, local_reference, ray_runtime, env):
    prefix = _prefix(s3_url)
    vprefix = f"{prefix}/{VARIANT}/"
    keys = s3_server.list_keys(vprefix)
    assert vprefix + layout.CARD not in keys
    with pytest.raises(IncompleteDatasetError):
        open_dataset(f"{s3_url}/{VARIANT}", s3_server.storage_options())
    markers = {k for k in keys if k.startswith(vprefix + layout.COMMIT_DIR + "/") and not k.endswith("build.json")}
    committed = {m.replace(layout.COMMIT_DIR + "/", "").replace(".json", ".tar") for m in markers}
    client = s3_server.client()
    stamps = {k: client.head_object(Bucket=s3_server.bucket, Key=k)["LastModified"] for k in committed}
    # (tasks of the killed driver that were still running may have committed more shards before they ended)
    assert 1 <= len(committed) <= SHARDS

    r = _cli(["build", VARIANT, "--out", s3_url, "--workers", "2", "--ray-address",
              ray_runtime.address_info["gcs_address"], *ARGS, *_option_args(s3_server.storage_options())],
             env, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"({SHARDS - len(committed)} built, {len(committed)} kept)" in r.stdout, r.stdout
    for k, stamp in stamps.items():
        assert client.head_object(Bucket=s3_server.bucket, Key=k)["LastModified"] == stamp, f"{k} was rewritten"
    _assert_clean(s3_server, s3_url, local_reference)
    FIGURES.append({"fault": f"SIGKILL of the build at {point}",
                    "state_at_kill": {"markers": seen[0], "shard_objects": seen[1]},
                    "kept_on_resume": len(committed), "rebuilt_on_resume": SHARDS - len(committed),
                    "byte_identical": True})   # asserted by _assert_clean


# ------------------------------------------------------------------------------- server down mid-build
def _run_build_with_outage(server, url, ray_runtime, env_extra, down_for, after_markers=1):
    """Start a CLI build, stop the server (SIGKILL) once a marker is committed, start it again after
    `down_for` seconds (same ports and data). Returns (exit status, stdout, stderr).

    ray_runtime None: the build starts its own Ray runtime, whose workers inherit env_extra (the workers of
    the session runtime keep the environment this test process had when it started)."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1", **env_extra}
    vprefix = f"{_prefix(url)}/{VARIANT}/"
    proxy = FaultProxy(server.ports["s3"])
    proxy.set_mode("throttle", rate=200_000)  # keep shards in flight when the server goes away
    options = server.storage_options(endpoint_url=proxy.endpoint_url)
    ray_args = ["--ray-address", ray_runtime.address_info["gcs_address"]] if ray_runtime is not None else []
    proc = subprocess.Popen([sys.executable, "-m", "synthvid.factory.cli", "build", VARIANT, "--out", url,
                             "--workers", "2", *ray_args, *ARGS, *_option_args(options)], env=env,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            keys = server.list_keys(vprefix)
            if sum(k.startswith(vprefix + layout.COMMIT_DIR + "/") and not k.endswith("build.json")
                   for k in keys) >= after_markers:
                break
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            time.sleep(0.02)
        server.stop(hard=True)
        proxy.reset_all()
        t_down = time.monotonic()
        if down_for is None:  # down until the build gives up
            out, err = proc.communicate(timeout=240)
            outage = round(time.monotonic() - t_down, 1)
            server.start()
        else:
            time.sleep(down_for)
            server.start()
            outage = round(time.monotonic() - t_down, 1)
            out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            _kill_group(proc)
        proxy.close()
    return proc.returncode, out, err, outage, proxy.endpoint_url.split("://", 1)[1]


def test_server_restart_mid_build_is_bridged_by_retries(s3_server_factory, local_reference, ray_runtime):
    server = s3_server_factory()
    url = server.unique_url()
    rc, out, err, outage, _ = _run_build_with_outage(server, url, ray_runtime, {}, down_for=3.0)
    assert rc == 0, err[-3000:]
    _no_secret(out + err, server)
    _assert_clean(server, url, local_reference)
    FIGURES.append({"fault": "server SIGKILLed after the first marker, restarted 3 s later",   # byte identity:
                    "outage_s": outage, "result": "build retried and finished", "byte_identical": True})  # asserted


def test_server_down_too_long_fails_clearly_then_resume_is_identical(s3_server_factory, local_reference,
                                                                      ray_runtime):
    server = s3_server_factory()
    url = server.unique_url()
    # a short retry budget so the outage outlasts it (the default is 120 s)
    rc, out, err, outage, endpoint = _run_build_with_outage(server, url, None, {"SYNTHVID_STORAGE_RETRY_SECONDS": "1",
                                                             "SYNTHVID_STORAGE_RETRIES": "1"}, down_for=None,
                                          after_markers=SHARDS // 2)
    assert rc != 0
    last = " | ".join(l.strip() for l in err.strip().splitlines() if "error:" in l or ".tar:" in l)
    _no_secret(out + err, server)
    assert "synthvid-factory: error:" in err and "the same command" in err, err[-3000:]
    assert "shard(s) failed:" in last and endpoint in last, err[-3000:]   # the shards, the store
    # (the build ran on a Ray runtime of its own, ended with it: no task of it is left to wait for)
    r = _cli(["build", VARIANT, "--out", url, "--workers", "2", "--ray-address",
              ray_runtime.address_info["gcs_address"], *ARGS, *_option_args(server.storage_options())],
             {**os.environ, "RAY_AUTH_MODE": "disabled"}, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    _assert_clean(server, url, local_reference)
    FIGURES.append({"fault": "server SIGKILLed after half the markers and kept down until the build gave up "
                             "(retry budget 1 s per operation, Ray task retries 2)",
                    "outage_s": outage, "result": "build exited non-zero: " + last[:400],
                    "byte_identical_after_resume": True})   # asserted above


def test_injected_resets_and_slowdowns_are_retried(s3_server, s3_url, local_reference, ray_runtime):
    """Connection resets and HTTP 503 SlowDown on new connections while the build runs."""
    proxy = FaultProxy(s3_server.ports["s3"])
    options = s3_server.storage_options(endpoint_url=proxy.endpoint_url)
    vprefix = f"{_prefix(s3_url)}/{VARIANT}/{layout.COMMIT_DIR}/"
    stop = threading.Event()

    def inject():
        # once shards are being committed: alternate bursts of resets and 503s, cutting pooled connections
        while not stop.is_set() and not any(not k.endswith("build.json") for k in s3_server.list_keys(vprefix)):
            time.sleep(0.02)
        for mode in ("reset", "slowdown", "reset", "slowdown"):
            if stop.is_set():
                return
            proxy.fail_next(4, mode)
            time.sleep(0.3)

    t = threading.Thread(target=inject, daemon=True)
    t.start()
    try:
        build_variants([from_variant(VARIANT, TINY)],
                       BuildOptions(s3_url, videos=VIDEOS, seed=SEED, per_shard=PER_SHARD, workers=2, progress=False,
                                    storage_options=options))
    finally:
        stop.set()
        t.join(5)
        proxy.close()
    _assert_clean(s3_server, s3_url, local_reference)
    FIGURES.append({"fault": "connection resets + HTTP 503 SlowDown on new connections mid-build",
                    "injected": dict(proxy.injected), "result": "build finished",
                    "byte_identical": True})   # asserted by _assert_clean


# ---------------------------------------------------------------------------------- permanent errors
def test_wrong_credentials_fail_before_any_work(s3_server, s3_url, ray_runtime):
    env = {**s3_server.subprocess_env(AWS_SECRET_ACCESS_KEY="wrong-secret-" + "y" * 24), "RAY_AUTH_MODE": "disabled"}
    t0 = time.monotonic()
    r = _cli(["build", VARIANT, "--out", s3_url, *_session(ray_runtime), *ARGS], env, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "access denied" in lines[0] and s3_server.bucket in lines[0], r.stderr
    assert "wrong-secret" not in r.stderr
    _no_secret(r.stdout + r.stderr, s3_server)
    assert s3_server.list_keys(_prefix(s3_url)) == {}
    FIGURES.append({"fault": "wrong secret key", "result": lines[0][:300],
                    "seconds": round(time.monotonic() - t0, 1)})


def test_missing_bucket_fails_before_any_work(s3_server, ray_runtime):
    env = {**s3_server.subprocess_env(), "RAY_AUTH_MODE": "disabled"}
    url = s3_server.url("x", bucket="synthvid-missing-bucket")
    r = _cli(["build", VARIANT, "--out", url, *_session(ray_runtime), *ARGS], env, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "synthvid-missing-bucket" in lines[0] and "does not exist" in lines[0], r.stderr
    _no_secret(r.stdout + r.stderr, s3_server)
    FIGURES.append({"fault": "missing bucket", "result": lines[0][:300]})


def test_unreachable_endpoint_fails_fast(s3_server, s3_url, ray_runtime):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # a retry budget far beyond the timeout: treated as transient, the fault would outlast it (no clock here)
    env = {**s3_server.subprocess_env(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}"), "RAY_AUTH_MODE": "disabled",
           "SYNTHVID_STORAGE_RETRY_SECONDS": "3600", "SYNTHVID_STORAGE_RETRIES": "1000"}
    t0 = time.monotonic()
    r = _cli(["build", VARIANT, "--out", s3_url, *_session(ray_runtime), *ARGS], env, timeout=120)
    elapsed = time.monotonic() - t0
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach" in lines[0] and f"127.0.0.1:{port}" in lines[0], r.stderr
    FIGURES.append({"fault": "endpoint unreachable", "result": lines[0][:300], "seconds": round(elapsed, 1)})


def test_credentials_never_reach_dataset_files(s3_server, s3_build):
    client = s3_server.client()
    keys = s3_server.list_keys(_prefix(s3_build))
    assert any(k.endswith(layout.CARD) for k in keys)
    for key in keys:
        body = client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
        assert s3_server.secret_key.encode() not in body, key
        assert s3_server.access_key.encode() not in body, key


# ------------------------------------------------------------------------------------- build lock
def test_remote_build_lock(s3_server, s3_url):
    """One build per output on object storage: a live lock refuses a second build; a lock of a dead
    process of this host, or one nobody renewed for the TTL, is taken over."""
    import socket

    from synthvid.manifests.storage import BuildLock, StorageError, Store

    out = Store(f"{s3_url}/{VARIANT}", s3_server.storage_options())
    out.makedirs()
    first = BuildLock(out)
    first.acquire()
    with pytest.raises(StorageError, match="another build is writing"):
        BuildLock(out).acquire()
    first.release()
    assert not out.exists(layout.LOCK)

    out.put_bytes(layout.LOCK, f"{socket.gethostname()} 999999999 deadbeef".encode())   # a SIGKILLed build
    lock = BuildLock(out)
    lock.acquire()
    assert out.read_bytes(layout.LOCK).decode() == lock.token
    lock.release()

    out.put_bytes(layout.LOCK, b"some-other-host 1 cafe")                                # silent for a TTL
    with pytest.raises(StorageError, match="another build is writing"):
        BuildLock(out).acquire()
    stale_since = out.info(layout.LOCK)["LastModified"]

    def store_clock_past_ttl():         # the store's own clock (LastModified of a fresh object), not ours
        out.put_bytes("clock-probe", b"")
        now = out.info("clock-probe")["LastModified"]
        out.remove("clock-probe")
        return (now - stale_since).total_seconds() > 0.5

    wait_for(store_clock_past_ttl, 60, "the store's clock to pass the lock's TTL", every=0.2)
    lock = BuildLock(out, ttl=0.5)
    lock.acquire()
    lock.release()
    assert not out.exists(layout.LOCK)


def test_overwrite_on_object_storage(s3_server, s3_url, ray_runtime):
    """A different build in the way needs --overwrite; with it, nothing of the old build remains."""
    from synthvid.factory.pipeline.build import BuildError, BuildOptions

    options = s3_server.storage_options()
    recipe = from_variant(VARIANT, TINY)
    build_variants([recipe], BuildOptions(s3_url, videos=4, seed=1, per_shard=1, workers=2, progress=False,
                   storage_options=options))
    with pytest.raises(BuildError, match="overwrite"):
        build_variants([recipe], BuildOptions(s3_url, videos=2, seed=2, per_shard=1, workers=2, progress=False,
                       storage_options=options))
    build_variants([recipe], BuildOptions(s3_url, videos=2, seed=2, per_shard=1, workers=2, progress=False,
                   storage_options=options, overwrite=True))
    keys = {k.split(f"{VARIANT}/", 1)[1] for k in s3_server.list_keys(_prefix(s3_url))}
    assert sorted(k for k in keys if k.endswith(".tar")) == [layout.shard_name(VARIANT, i) for i in range(2)]
    assert open_dataset(f"{s3_url}/{VARIANT}", options).card["seed"] == 2
    assert not [k for k in keys if layout.LOCK in k]
