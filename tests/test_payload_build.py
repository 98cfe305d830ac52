"""The factory's payload choice (`--payload auto|svf|svj`): what `auto` picks for flat and textured variants
and why (in the card), per-video PSNR in the manifest, the payload in the fingerprint, pools kept
lossless, latents as `.npz`, and the flags' errors. Built in-process at tiny size."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest

from synthvid.factory.cli import main as cli_main
from synthvid.factory.generate.recipe import from_variant
from synthvid.factory.pipeline.build import BuildError, BuildOptions, build_variants
from synthvid.factory.pipeline.payloads import PayloadRequest, resolve_payload
from synthvid.manifests import layout
from synthvid.manifests.latents import decode_latents, encode_latents
from synthvid.factory.pools.attach import PoolOptions, attach_pools, plan_pools
from synthvid.manifests.payload import open_payload, psnr
from synthvid.manifests.reader import open_dataset

from .helpers import TINY, TINY_POOLS

TEXTURED = "accelerating-textures"


@pytest.fixture(scope="module")
def textured_build(tmp_path_factory) -> str:
    """accelerating-textures at 64 px with a 6-item texture pool, `auto` payload: 4 videos, 2 shards."""
    out = str(tmp_path_factory.mktemp("textured"))
    build_variants([from_variant(TEXTURED, TINY_POOLS)],
                   BuildOptions(out, videos=4, seed=1, per_shard=2, inline=True, progress=False))
    return out


def _card(root: str, name: str) -> dict:
    return json.loads(open(os.path.join(root, name, layout.CARD)).read())


def test_auto_picks_jpeg_for_textures_and_says_why(textured_build):
    card = _card(textured_build, TEXTURED)
    payload, choice = card["payload"], card["payload_choice"]
    assert payload["kind"] == "svj" and payload["codec"] == "jpeg" and not payload["lossless"]
    assert payload["settings"]["subsampling"] == "4:4:4" and 80 <= payload["settings"]["quality"] <= 97
    assert set(payload["encoder_versions"]) == {"pillow", "libjpeg_turbo"}
    assert card["software"]["pillow"] == payload["encoder_versions"]["pillow"]
    assert choice["requested"] == "auto" and f"q{payload['settings']['quality']}" in choice["reason"]
    # the measured frontier: lossless first, then JPEG qualities up to the one chosen, which is the first to hold
    kinds = [c["kind"] for c in choice["candidates"]]
    assert kinds[0] == "svf" and set(kinds[1:]) == {"svj"}
    assert choice["candidates"][-1]["quality"] == payload["settings"]["quality"]
    assert all(c["psnr_db"] < 36.0 for c in choice["candidates"][1:-1])
    assert choice["candidates"][-1]["bytes_per_frame"] < choice["candidates"][0]["bytes_per_frame"] / 2
    sampled = choice["sampled"]
    assert sampled["psnr_db_worst_video"] >= 36.0 and 0.9 < sampled["ssim_mean"] <= 1.0
    assert sampled["frames"] == 48 and sampled["videos"] == [0, 1, 2, 3]
    quality = card["quality"]
    assert quality["videos"] == 4 and quality["psnr_db_min"] >= 35.0 and not quality["lossless"]
    assert card["sample_members"] == ["svj", "json", "latents.npz"]


def test_every_video_psnr_in_the_manifest_is_its_real_psnr(textured_build):
    """psnr_db of each row equals the PSNR of the stored payload against the frames rendered again."""
    ds = open_dataset(os.path.join(textured_build, TEXTURED))
    plan = plan_pools([from_variant(TEXTURED, TINY_POOLS)], PoolOptions(videos=4))
    recipe = attach_pools(plan, os.path.join(textured_build, "_pools"))[0]
    rows = {r["key"]: r for r in ds.samples.to_pylist()}
    seen = 0
    for sample in ds.iter_samples():
        row = rows[sample["__key__"]]
        stored = open_payload("svj", sample["svj"]).frames()
        frames, _ = recipe.render_sample(1, row["index"])
        rendered = np.stack([np.array(f) for f in frames])
        assert row["psnr_db"] == pytest.approx(psnr(stored, rendered), abs=1e-3)
        seen += 1
    assert seen == 4


def test_auto_keeps_flat_variants_lossless_and_is_deterministic(tmp_path):
    recipe = from_variant("accelerating-shapes", TINY)
    spec, choice = resolve_payload(recipe, 0, PayloadRequest())
    assert spec.kind == "svf" and "no larger than JPEG" in choice["reason"]
    assert choice["sampled"] == resolve_payload(recipe, 0, PayloadRequest())[1]["sampled"]
    assert resolve_payload(recipe, 0, PayloadRequest("svf"))[0] == spec


def test_payload_is_part_of_the_fingerprint(tmp_path):
    recipe = from_variant("moving-circles", TINY)
    build_variants([recipe], BuildOptions(str(tmp_path), videos=2, per_shard=1, inline=True, progress=False))
    with pytest.raises(BuildError, match="payload"):
        build_variants([recipe], BuildOptions(str(tmp_path), videos=2, per_shard=1, inline=True, progress=False,
                                              payload=PayloadRequest("svj")))
    res = build_variants([recipe], BuildOptions(str(tmp_path), videos=2, per_shard=1, inline=True, progress=False,
                                                payload=PayloadRequest("svj", 85), overwrite=True))
    assert res[0].card["payload"]["settings"]["quality"] == 85 and res[0].shards_built == 2
    assert open_dataset(str(tmp_path / "moving-circles")).payload_kinds() == ["svj"]


def test_pools_stay_lossless(textured_build):
    pools = os.path.join(textured_build, "_pools")
    [pool] = os.listdir(pools)
    card = _card(pools, pool)
    assert card["payload"]["kind"] == "svf" and card["payload_choice"]["requested"] == "svf"
    assert card["quality"] == {"lossless": True} and card["sample_members"] == ["svf", "json"]


def test_latents_npz_round_trip_deterministic_and_v1_still_read():
    rec = np.zeros(3, dtype=[("radius", "<i4"), ("colour", "u1", (3,)), ("speed", "<f8")])
    rec["radius"], rec["colour"][1], rec["speed"] = [4, 5, 6], [1, 2, 3], [0.5, 1.5, 2.5]
    data = encode_latents(rec)
    assert data == encode_latents(rec.copy())
    back = decode_latents(data)
    assert list(back) == ["radius", "colour", "speed"]
    assert back["colour"].shape == (3, 3) and np.array_equal(back["speed"], rec["speed"])
    old = io.BytesIO()
    np.save(old, rec, allow_pickle=False)
    assert np.array_equal(decode_latents(old.getvalue(), layout.LATENTS_V1_EXT)["radius"], rec["radius"])
    with pytest.raises(ValueError, match="structured"):
        encode_latents(np.arange(3))


@pytest.mark.parametrize("argv, message", [
    (["--payload", "avi2"], "invalid choice"),
    (["--payload", "auto", "--jpeg-quality", "90"], "--jpeg-quality is for --payload svj"),
    (["--payload", "svj", "--jpeg-quality", "101"], "outside 1..100"),
])
def test_payload_flag_errors_are_one_line(argv, message, tmp_path, capsys):
    argv = ["build", "moving-circles", "--out", str(tmp_path), "--videos", "1", *argv]
    if message == "invalid choice":                 # argparse's own usage error
        with pytest.raises(SystemExit):
            cli_main(argv)
    else:
        assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and os.listdir(tmp_path) == []


def test_dry_run_shows_the_payload_it_would_use(tmp_path, capsys):
    assert cli_main(["build", "moving-shapes", "--videos", "9537", "--dry-run", "--out", str(tmp_path),
                     "--sample", "1", "--size", "64", "--frames", "20-30", "--payload", "svj"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("moving-shapes"))
    assert "svj q93" in row and "PSNR" in out and os.listdir(tmp_path) == []


def test_verify_checks_jpeg_payloads(textured_build, tmp_path):
    import shutil

    from synthvid.manifests.verify import verify_dataset

    src = os.path.join(textured_build, TEXTURED)
    assert verify_dataset(src).ok
    dst = str(tmp_path / "v")
    shutil.copytree(src, dst)
    row = open_dataset(dst).samples.to_pylist()[0]
    with open(os.path.join(dst, row["shard"]), "r+b") as f:         # one byte inside the first JPEG payload
        f.seek(row["payload_offset"] + row["payload_bytes"] // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    problems = dict(verify_dataset(dst).problems)
    assert problems == {row["shard"]: f"sample {row['key']}: payload sha256 mismatch"}
