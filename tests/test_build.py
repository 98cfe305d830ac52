"""End-to-end builds on a real Ray runtime: determinism across worker counts, kill and resume, verify,
read-back with webdataset and tarfile, and the errors a user meets."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from synthvid.factory.pipeline.build import BuildError, BuildOptions, build_variants
from synthvid.factory.pipeline.payloads import PayloadRequest
from synthvid.factory.cli import main as cli_main
from synthvid.factory.generate.latents import sample_latents
from synthvid.factory.generate.recipe import from_variant, load_recipe
from synthvid.factory.generate.render import Renderer
from synthvid.manifests import layout
from synthvid.manifests.latents import decode_latents
from synthvid.manifests.payload import FramesPayload
from synthvid.manifests.reader import IncompleteDatasetError, open_dataset
from synthvid.manifests.storage import BuildLock, StorageError, Store
from synthvid.manifests.verify import verify_dataset

from .helpers import TINY, ray_tasks_running, tree_digest, wait_for

pytestmark = pytest.mark.usefixtures("ray_runtime")


@pytest.fixture(scope="module")
def reference_build(tmp_path_factory):
    """accelerating-shapes, 10 videos in 4 shards, built with one worker."""
    out = str(tmp_path_factory.mktemp("ref"))
    build_variants([from_variant("accelerating-shapes", TINY)],
                   BuildOptions(out, videos=10, seed=3, per_shard=3, workers=1, progress=False))
    return out


@pytest.fixture(scope="module")
def svj_reference_build(tmp_path_factory):
    """The same videos stored as JPEG (svj), built with one worker."""
    out = str(tmp_path_factory.mktemp("ref-svj"))
    build_variants([from_variant("accelerating-shapes", TINY)],
                   BuildOptions(out, videos=10, seed=3, per_shard=3, workers=1, progress=False,
                                payload=PayloadRequest("svj", 90)))
    return out


@pytest.mark.parametrize("payload", ["svf", "svj"])
def test_one_vs_two_workers_identical_bytes(payload, reference_build, svj_reference_build, tmp_path):
    reference = {"svf": reference_build, "svj": svj_reference_build}[payload]
    request = PayloadRequest("svj", 90) if payload == "svj" else PayloadRequest()     # auto keeps flat shapes svf
    build_variants([from_variant("accelerating-shapes", TINY)],
                   BuildOptions(str(tmp_path), videos=10, seed=3, per_shard=3, workers=2, progress=False,
                                payload=request))
    a, b = tree_digest(reference), tree_digest(str(tmp_path))
    assert a == b
    assert sum(k.endswith(".tar") for k in a) == 4 and "accelerating-shapes/card.json" in a
    card = json.loads(open(os.path.join(reference, "accelerating-shapes", "card.json")).read())
    assert card["payload"]["kind"] == payload and card["sample_members"] == [payload, "json", "latents.npz"]
    rows = open_dataset(os.path.join(reference, "accelerating-shapes")).samples.to_pylist()
    assert {r["payload_kind"] for r in rows} == {payload}
    assert all(r["members"][0] == f"{r['key']}.{payload}" for r in rows)


def test_inline_build_matches_ray_build(reference_build, tmp_path):
    build_variants([from_variant("accelerating-shapes", TINY)],
                   BuildOptions(str(tmp_path), videos=10, seed=3, per_shard=3, inline=True, progress=False))
    assert tree_digest(reference_build) == tree_digest(str(tmp_path))


def test_other_seed_differs(reference_build, tmp_path):
    build_variants([from_variant("accelerating-shapes", TINY)],
                   BuildOptions(str(tmp_path), videos=10, seed=4, per_shard=3, inline=True, progress=False))
    a, b = tree_digest(reference_build), tree_digest(str(tmp_path))
    assert a.keys() == b.keys() and all(a[k] != b[k] for k in a if k.endswith(".tar"))


def test_readback_webdataset_and_tarfile_bit_exact(reference_build):
    import webdataset as wds

    ds = open_dataset(os.path.join(reference_build, "accelerating-shapes"))
    assert ds.num_samples == 10 and len(ds.shards) == 4
    params = from_variant("accelerating-shapes", TINY).params
    rows = {r["key"]: r for r in ds.samples.to_pylist()}
    seen = []
    for sample in wds.WebDataset(ds.shard_urls(), shardshuffle=False, empty_check=True):
        meta = json.loads(sample["json"])
        payload = FramesPayload(sample["svf"])
        frames = payload.frames()
        assert frames.shape == (meta["frames"], 64, 64, 3) == (rows[sample["__key__"]]["frames"], 64, 64, 3)
        lat = sample_latents(params, 3, meta["index"])
        expected = Renderer(lat, params).frames()
        assert all(np.array_equal(f, e) for f, e in zip(frames, expected))   # lossless: bit-exact
        records = decode_latents(sample[layout.LATENTS_EXT])
        assert np.array_equal(records["speed"], lat.speed)
        seen.append(sample["__key__"])
    assert seen == sorted(rows)
    with tarfile.open(os.path.join(reference_build, "accelerating-shapes", ds.shards[0].name)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [n for k in sorted(rows)[:3] for n in layout.member_names(k)]
        assert all(m.mtime == 0 and m.uid == 0 and m.mode == 0o444 and m.uname == "" for m in members)


def test_verify_catches_flipped_truncated_missing(reference_build, tmp_path):
    import shutil

    src = os.path.join(reference_build, "accelerating-shapes")
    dst = str(tmp_path / "v")
    shutil.copytree(src, dst)
    assert verify_dataset(dst).ok
    shards = sorted(f for f in os.listdir(dst) if f.endswith(".tar"))
    with open(os.path.join(dst, shards[0]), "r+b") as f:      # flip one byte inside a payload
        f.seek(3000)
        b = f.read(1)
        f.seek(3000)
        f.write(bytes([b[0] ^ 0xFF]))
    with open(os.path.join(dst, shards[1]), "r+b") as f:
        f.truncate(os.path.getsize(os.path.join(dst, shards[1])) // 2)
    os.remove(os.path.join(dst, shards[2]))
    report = verify_dataset(dst)
    problems = dict(report.problems)
    assert not report.ok
    assert "mismatch" in problems[shards[0]]
    assert "truncated" in problems[shards[1]]
    assert problems[shards[2]] == "missing"
    assert shards[3] not in problems
    assert cli_main(["verify", dst]) == 1
    assert cli_main(["verify", src]) == 0


def test_incomplete_variant_is_refused(tmp_path):
    out = str(tmp_path)
    build_variants([from_variant("moving-circles", TINY)],
                   BuildOptions(out, videos=4, per_shard=2, inline=True, progress=False))
    os.remove(os.path.join(out, "moving-circles", layout.CARD))
    with pytest.raises(IncompleteDatasetError, match="resume"):
        open_dataset(os.path.join(out, "moving-circles"))
    # resuming finishes it without rebuilding any shard
    res = build_variants([from_variant("moving-circles", TINY)], BuildOptions(out, videos=4, per_shard=2, inline=True,
                         progress=False))
    assert res[0].shards_built == 0 and res[0].shards_kept == 2
    assert open_dataset(os.path.join(out, "moving-circles")).num_samples == 4


def committed_markers(commit_dir: str) -> list[str]:
    """Finished shard markers only: a marker being written shows up first under a temporary sibling name."""
    if not os.path.isdir(commit_dir):
        return []
    return [m for m in os.listdir(commit_dir) if re.fullmatch(r".+-\d{6}\.json", m)]


@pytest.mark.parametrize("payload", ["svf", "svj"])
def test_kill_and_resume_ends_identical(payload, tmp_path, ray_runtime):
    """SIGKILL the whole build while one shard is committed and another in flight; the resumed build keeps
    the committed shards untouched and ends identical to an uninterrupted build, for either payload kind."""
    variant = "transforming-shapes"
    args = ["--videos", "12", "--videos-per-shard", "2", "--size", "128", "--frames", "150-200", "--seed", "5",
            "--payload", payload]
    killed = str(tmp_path / "killed")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "synthvid.factory.cli", "build", variant, "--out", killed,
                             "--workers", "2", "--ray-address", ray_runtime.address_info["gcs_address"],
                             "--no-progress", *args], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    vdir = os.path.join(killed, variant)
    commit_dir, tmp_dir = os.path.join(vdir, layout.COMMIT_DIR), os.path.join(vdir, ".tmp")

    def committed_and_in_flight():
        markers = committed_markers(commit_dir)
        in_flight = os.listdir(tmp_dir) if os.path.isdir(tmp_dir) else []
        assert proc.poll() is None, proc.stderr.read().decode()
        return markers and in_flight and len(markers) < 6

    try:
        wait_for(committed_and_in_flight, 120, "a committed and an in-flight shard at once")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)     # the build's own process group, by its handle
        proc.wait()
    # Ray ends a dead driver's tasks lazily: orphaned tasks of the killed job may still write (a growing temp
    # file, a sibling rename). Wait until no worker of this session's runtime runs a shard task.
    wait_for(lambda: ray_tasks_running(ray_runtime, "build_shard") == 0, 120, "the killed build's Ray tasks to end")
    assert not os.path.exists(os.path.join(vdir, layout.CARD))
    with pytest.raises(IncompleteDatasetError):
        open_dataset(vdir)
    committed = {}
    for m in committed_markers(commit_dir):
        shard = m.replace(".json", ".tar")
        st = os.stat(os.path.join(vdir, shard))
        committed[shard] = (st.st_mtime_ns, st.st_size)
    assert 1 <= len(committed) < 6

    assert cli_main(["build", variant, "--out", killed, "--workers", "2", "--no-progress", *args]) == 0
    for shard, stamp in committed.items():
        st = os.stat(os.path.join(vdir, shard))
        assert (st.st_mtime_ns, st.st_size) == stamp, f"{shard} was rewritten"
    clean = str(tmp_path / "clean")
    assert cli_main(["build", variant, "--out", clean, "--workers", "1", "--no-progress", *args]) == 0
    assert tree_digest(killed) == tree_digest(clean)
    assert not os.path.exists(tmp_dir) or not os.listdir(tmp_dir)
    assert open_dataset(vdir).payload_kinds() == [payload]


def test_failing_shards_are_named_and_nothing_looks_complete(tmp_path):
    vdir = tmp_path / "moving-shapes"
    vdir.mkdir()
    (vdir / ".tmp").write_text("a file where the temp folder goes: every shard fails")
    with pytest.raises(BuildError) as err:
        build_variants([from_variant("moving-shapes", TINY)],
                       BuildOptions(str(tmp_path), videos=4, per_shard=2, workers=2, progress=False, max_retries=1))
    assert "moving-shapes-000000.tar" in str(err.value) and "moving-shapes-000001.tar" in str(err.value)
    assert not (vdir / layout.CARD).exists() and not (vdir / layout.LOCK).exists()
    (vdir / ".tmp").unlink()
    res = build_variants([from_variant("moving-shapes", TINY)],
                         BuildOptions(str(tmp_path), videos=4, per_shard=2, workers=2, progress=False))
    assert res[0].shards_built == 2 and verify_dataset(str(vdir)).ok


def test_second_build_racing_on_the_same_output_is_refused(tmp_path):
    out = Store(str(tmp_path / "moving-circles"))
    out.makedirs()
    with BuildLock(out):
        with pytest.raises(StorageError, match="another build is writing"):
            build_variants([from_variant("moving-circles", TINY)], BuildOptions(str(tmp_path), videos=2, per_shard=1,
                           inline=True, progress=False))
    build_variants([from_variant("moving-circles", TINY)],
                   BuildOptions(str(tmp_path), videos=2, per_shard=1, inline=True, progress=False))


def test_different_build_in_the_way_needs_overwrite(tmp_path):
    build_variants([from_variant("moving-circles", TINY)],
                   BuildOptions(str(tmp_path), videos=2, per_shard=1, inline=True, progress=False))
    with pytest.raises(BuildError, match="--overwrite"):
        build_variants([from_variant("moving-circles", TINY)],
                       BuildOptions(str(tmp_path), videos=2, seed=9, per_shard=1, inline=True, progress=False))
    res = build_variants([from_variant("moving-circles", TINY)],
                         BuildOptions(str(tmp_path), videos=2, seed=9, per_shard=1, inline=True, progress=False,
                                      overwrite=True))
    assert res[0].card["seed"] == 9 and res[0].shards_built == 2


def test_recipe_file(tmp_path):
    recipe = tmp_path / "fast-shapes.toml"
    recipe.write_text('base = "accelerating-shapes"\ndescription = "twice as fast"\n'
                      '[params]\nspeed_min = 2.4\nspeed_max = 6.0\nsize = 64\nframes_min = 20\nframes_max = 25\n')
    r = load_recipe(recipe)
    assert r.name == "fast-shapes" and r.params.speed_max == 6.0 and r.params.affine
    assert cli_main(["build", "--recipe", str(recipe), "--out", str(tmp_path / "o"), "--videos", "2",
                     "--workers", "1", "--no-progress"]) == 0
    card = json.loads((tmp_path / "o" / "fast-shapes" / "card.json").read_text())
    assert card["recipe"]["base"] == "accelerating-shapes" and card["recipe"]["overrides"]["speed_min"] == 2.4
    bad = tmp_path / "bad.toml"
    bad.write_text('base = "accelerating-shapes"\n[params]\nspeed_maxx = 3\n')
    with pytest.raises(ValueError, match="speed_maxx"):
        load_recipe(bad)
    bad.write_text('base = "accelerating-shapes"\n[params]\nobjects = "many"\n')
    with pytest.raises(ValueError, match="'objects'"):
        load_recipe(bad)
    bad.write_text('base = "accelerating-shapes"\ncolour = 1\n')
    with pytest.raises(ValueError, match="'colour'"):
        load_recipe(bad)


@pytest.mark.parametrize("argv, message", [
    (["build", "no-such-variant"], "unknown variant 'no-such-variant'"),
    (["build", "moving-shapes", "--param", "speed_min=-1", "--videos", "1"], "'speed_min'"),
    (["build", "moving-shapes", "--param", "shapes=[\"hexagon\"]", "--videos", "1"], "'shapes'"),
    (["build", "moving-shapes", "--out", "/proc/forbidden", "--videos", "1"], "choose a writable --out"),
    (["verify", "/nonexistent/variant"], "no such dataset"),
])
def test_cli_errors_are_one_clear_line(argv, message, capsys):
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_list_shows_all_28(capsys):
    assert cli_main(["list"]) == 0
    lines = [l for l in capsys.readouterr().out.splitlines() if " build:" in l]
    assert len(lines) == 28
    assert sum("build:yes" in l for l in lines) >= 9


def test_dry_run_writes_nothing(tmp_path, capsys):
    assert cli_main(["build", "moving-shapes", "static-circles", "--videos", "9537", "--dry-run", "--out",
                     str(tmp_path), "--sample", "1", "--size", "64"]) == 0
    out = capsys.readouterr().out
    assert "moving-shapes" in out and "CPU-hours" in out and "150" in out
    assert os.listdir(tmp_path) == []


def test_every_flag_has_help_one_spelling_and_version(capsys):
    import argparse
    import subprocess as sp

    from synthvid.factory.cli import parser

    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(commands) == {"list", "build", "build-pool", "verify", "preview", "publish", "ingest", "corrupt"}
    for name, p in commands.items():
        for action in p._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    for name in ("build", "build-pool", "verify", "preview", "publish", "ingest", "corrupt"):
        assert "--storage-option" in commands[name]._option_string_actions, name
    for name in ("build", "build-pool"):
        assert "--pool-device" in commands[name]._option_string_actions and \
            "--device" not in commands[name]._option_string_actions, name
    with pytest.raises(SystemExit) as done:
        cli_main(["--version"])
    assert done.value.code == 0
    commit = sp.run(["git", "-C", os.path.dirname(__file__), "rev-parse", "--short=12", "HEAD"],
                    capture_output=True, text=True).stdout.strip()
    import synthvid
    assert capsys.readouterr().out.strip() == f"synthvid-factory {synthvid.__version__}+g{commit}"


def test_reprs_never_show_storage_options():
    from synthvid.factory.pipeline.jobs import DatasetJob, ShardJob

    secret = "s3cr3t-value-in-a-repr"
    options = BuildOptions("s3://bucket/out", storage_options={"secret": secret},
                           pool_urls={"textures": f"s3://key:{secret}@bucket/pools/textures"})
    job = DatasetJob(from_variant("moving-circles", TINY), 0, 2, 1, "s3://bucket/out/moving-circles")
    shard_job = ShardJob.of(job, "f" * 64, options.storage_options)
    assert shard_job.storage_options == {"secret": secret}       # it travels to the workers ...
    for obj in (options, shard_job, Store("memory://x", {"secret": secret})):
        assert secret not in repr(obj)                          # ... but never shows


def test_worker_with_other_versions_refuses_to_write(tmp_path, ray_runtime):
    """A Ray worker compares its library versions with the driver's before writing a byte: a job whose
    driver had another numpy is refused on the worker, naming both versions, and leaves nothing behind; the
    same job with the driver's real versions writes its shard."""
    import dataclasses

    import ray

    from synthvid.factory.pipeline.distribute import RayDistributor, ShardTask
    from synthvid.factory.pipeline.jobs import DatasetJob, ShardJob
    from synthvid.factory.pipeline.versions import software_versions

    url = str(tmp_path / "moving-circles")
    job = ShardJob.of(DatasetJob(from_variant("moving-circles", TINY), 0, 2, 1, url), "f" * 64)
    other = dataclasses.replace(job, software={**job.software, "numpy": "0.0.1"})
    [(_, outcome)] = RayDistributor(ray, 1, max_retries=0).run([ShardTask(other, 0)])
    assert isinstance(outcome, BuildError), outcome
    assert f"numpy {np.__version__} here vs 0.0.1 on the driver" in str(outcome)
    assert "identical versions on every node" in str(outcome)
    assert not os.path.exists(url)
    assert job.software == software_versions()
    [(_, marker)] = RayDistributor(ray, 1, max_retries=0).run([ShardTask(job, 0)])
    assert marker["shard"]["name"] == layout.shard_name("moving-circles", 0)
    assert os.path.exists(os.path.join(url, marker["shard"]["name"]))
