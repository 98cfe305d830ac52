"""The machine a build runs on: the shared temp folder is private and checked, clean-up removes only files it
can prove are its own, a full disk is one line naming the path and the space left (and is not retried),
and `code_version` only reads git when synthvid runs from its own checkout."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap

import pytest

from synthvid.manifests.storage import StorageError, Store, TransientStorageError
from synthvid.manifests.storage.store import _local_temp_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def own_tmpdir(tmp_path, monkeypatch):
    """The system temp directory pointed at a fresh folder for this test."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_the_upload_temp_folder_is_private(own_tmpdir):
    store = Store("memory://bucket/v")
    folder = _local_temp_folder()
    assert os.path.dirname(folder) == str(own_tmpdir)
    path = store.temp_path("v-000000.tar")
    assert os.path.dirname(path) == folder
    assert stat.S_IMODE(os.lstat(folder).st_mode) == 0o700
    os.chmod(folder, 0o777)                        # ours but open (an older synthvid, a umask): closed again
    store.temp_path("v-000000.tar")
    assert stat.S_IMODE(os.lstat(folder).st_mode) == 0o700


def test_a_planted_temp_folder_is_refused(own_tmpdir):
    folder = _local_temp_folder()
    elsewhere = own_tmpdir / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, folder)                   # another user made the predictable name a link first
    with pytest.raises(StorageError, match=r"synthvid-\d+: the temporary folder is a symbolic link.*TMPDIR"):
        Store("memory://bucket/v").temp_path("v-000000.tar")
    os.unlink(folder)
    open(folder, "w").close()
    with pytest.raises(StorageError, match="is not a folder"):
        Store("memory://bucket/v").temp_path("v-000000.tar")
    os.unlink(folder)
    if os.geteuid() == 0:                           # only root can give a folder to another user
        os.mkdir(folder, 0o700)
        os.chown(folder, 4242, 4242)
        with pytest.raises(StorageError, match=r"belongs to another user \(uid 4242\)"):
            Store("memory://bucket/v").temp_path("v-000000.tar")
    assert os.listdir(elsewhere) == []


def test_clean_up_removes_only_files_it_can_prove_are_its_own(own_tmpdir):
    store = Store("memory://bucket/v")
    folder = os.path.dirname(store.temp_path("x"))
    host = socket.gethostname()
    dead = f"v-000000.tar.{host}.999999999.abcd1234"
    live = f"v-000001.tar.{host}.{os.getpid()}.abcd1234"
    victim = own_tmpdir / "victim"
    victim.write_text("someone else's file")
    open(os.path.join(folder, dead), "w").close()
    open(os.path.join(folder, live), "w").close()
    os.symlink(victim, os.path.join(folder, f"v-000002.tar.{host}.999999998.abcd1234"))
    os.mkdir(os.path.join(folder, f"v-000003.tar.{host}.999999997.abcd1234"))
    store.cleanup_temp()
    left = sorted(os.listdir(folder))
    assert dead not in left and live in left and len(left) == 3
    assert victim.read_text() == "someone else's file"


# ---------------------------------------------------------------------------------------- a full disk
def _in_small_filesystem(script: str, size: str = "256k", timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `script` (bash) with a tmpfs of `size` mounted at $SMALL, in a private user and mount namespace
    (the real ENOSPC of a full disk, for an unprivileged user too)."""
    if shutil.which("unshare") is None:
        raise AssertionError("util-linux `unshare` is needed to give this test a small filesystem")
    small = tempfile.mkdtemp(prefix="synthvid-small-")
    wrapper = f'mount -t tmpfs -o size={size} tmpfs "$SMALL" && cd "$ROOT" && {script}'
    env = {**os.environ, "SMALL": small, "ROOT": ROOT, "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1",
           "BIN": os.path.dirname(sys.executable)}
    try:
        r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "bash", "-c", wrapper], env=env,
                           capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(small, ignore_errors=True)
    assert "mount:" not in r.stderr[:500] and "unshare:" not in r.stderr[:500], \
        f"could not mount a small filesystem (user namespaces disabled?): {r.stderr[:500]}"
    return r


def test_a_full_disk_is_one_line_naming_the_path_and_the_free_space():
    script = textwrap.dedent("""
        head -c 200000 /dev/zero > "$SMALL/filler"
        "$BIN/synthvid-factory" build moving-shapes --out "$SMALL/out" --videos 2 --videos-per-shard 1 \\
            --workers 1 --size 64 --frames 20-30 --no-progress
        echo "factory rc=$?"
        "$BIN/python" -m synthvid.trainer.cli pretrain --data procedural:moving-shapes --procedural-param size=32 \\
            --procedural-param frames_min=4 --procedural-param frames_max=6 --epoch-size 4 --model vit_tiny_test \\
            --img-size 32 --sampling-rate 1 --batch-size 2 --epochs 1 --max-steps 1 --workers 0 --threads 1 \\
            --no-progress --out "$SMALL/run"
        echo "trainer rc=$?"
    """)
    r = _in_small_filesystem(script)
    assert "factory rc=2" in r.stdout and "trainer rc=2" in r.stdout, r.stdout + r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    factory = [line for line in r.stderr.splitlines() if "moving-shapes-00000" in line]
    assert factory and all("no space left on the device" in line and "MiB free there" in line and "/out/" in line
                           for line in factory), r.stderr[-3000:]
    trainer = [line for line in r.stderr.splitlines() if line.startswith("synthvid-train: error:")]
    assert len(trainer) == 1 and "/run/" in trainer[0] and "no space left on the device" in trainer[0], r.stderr
    assert "will be retried" not in r.stderr          # Ray's note on a retried task: a full disk is not


class CountingSource:
    """A shard source whose every render counts an attempt in a file and then fails with `error`."""
    name = "counting"
    description = "counts render attempts"
    num_gpus = 0

    def __init__(self, attempts: str, error: BaseException):
        self.attempts, self.error = attempts, error

    def to_dict(self) -> dict:
        return {"name": self.name}

    def card_extra(self) -> dict:
        return {}

    def render_sample(self, seed: int, index: int):
        with open(self.attempts, "a") as f:
            f.write("attempt\n")
        raise self.error


@pytest.mark.parametrize("error, attempts", [(OSError(errno.ENOSPC, "No space left on device"), 1),
                                             (TransientStorageError("store down", kind="transient"), 3)])
def test_ray_retries_only_transient_faults(tmp_path, ray_runtime, error, attempts):
    import ray

    from synthvid.factory.pipeline.distribute import RayDistributor, ShardTask
    from synthvid.factory.pipeline.jobs import DatasetJob, ShardJob

    counter = tmp_path / "attempts"
    source = CountingSource(str(counter), error)
    job = ShardJob.of(DatasetJob(source, 0, 1, 1, str(tmp_path / "out")), "f" * 64)
    [(_, outcome)] = list(RayDistributor(ray, workers=1, max_retries=2).run([ShardTask(job, 0)]))
    assert isinstance(outcome, StorageError)
    assert counter.read_text().count("attempt") == attempts
    if attempts == 1:
        assert outcome.kind == "no_space" and "no space left on the device" in str(outcome)


# ------------------------------------------------------------------------------------- code version
def test_code_version_reads_git_only_in_its_own_checkout(tmp_path):
    """An installed copy (no editable install) inside some other repository records the release only."""
    import synthvid
    from synthvid.manifests.versions import code_version

    assert code_version().startswith(f"{synthvid.__version__}+g")           # this checkout
    other = tmp_path / "project"
    site = other / "venv" / "site-packages" / "synthvid"
    shutil.copytree(os.path.join(ROOT, "synthvid"), site)
    shutil.copytree(os.path.join(ROOT, "manifests"), site / "manifests")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(other)]
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    (other / "pyproject.toml").write_text('[project]\nname = "someone-elses"\n')
    subprocess.run([*git, "add", "pyproject.toml"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    probe = "import synthvid.manifests.versions as v; print(v.__file__); print(v.code_version())"
    r = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONPATH": str(site.parent)})
    where, version = r.stdout.split()
    assert where.startswith(str(site)) and version == synthvid.__version__
