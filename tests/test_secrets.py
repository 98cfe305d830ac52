"""No secret reaches an output: every URL-taking flag of both CLIs is fed credentials (storage options, URL
user info, pre-signed query strings, in the list file of an image source too), every command runs, and
every file it wrote (cards, manifests, shards, commit markers, build logs, config.json, logs, reports, every
object in the bucket) and everything it printed or logged is searched for each secret."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

from synthvid.factory.cli import main as factory
from synthvid.trainer.cli import main as trainer

PASSWORD = "pw-Z7qLmV3xK9"               # URL user info of the image source
SIGNATURES = ["sig-4f8e2a91c7d3", "sig-0b6d5e7a2c11"]   # pre-signed query strings
CREDENTIAL = "cred-AKIA3XY7Q2"
WRONG_SECRET = "wrong-secret-HU8d2k"     # in a URL that fails: the error must not show it
TINY = ["--size", "32", "--frames", "4-6", "--videos", "2", "--videos-per-shard", "1", "--param", "item_px=16",
        "--param", "objects=20", "--no-progress"]


@pytest.fixture
def image_server(tmp_path):
    """A local HTTP server (it ignores credentials and query strings, as a pre-signed URL's server checks
    them) serving 4 images and a list file naming them by pre-signed URLs."""
    root = tmp_path / "www"
    root.mkdir()
    rng = np.random.default_rng(0)
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    host = f"127.0.0.1:{server.server_address[1]}"
    lines = []
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(root / f"img{i}.png")
        lines.append(f"http://{host}/img{i}.png?X-Amz-Credential={CREDENTIAL}&X-Amz-Signature={SIGNATURES[i % 2]}")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://reader:{PASSWORD}@{host}/list.txt?X-Amz-Signature={SIGNATURES[0]}"
    server.shutdown()
    server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _files(root) -> dict[str, bytes]:
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            out[path] = open(path, "rb").read()
    return out


def _copy_to_memory(local: str, url: str) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    for path, data in _files(local).items():
        fs.pipe_file(url.removeprefix("memory://") + "/" + os.path.relpath(path, local), data)


def test_no_secret_reaches_any_output(s3_server, s3_url, image_server, tmp_path, ray_runtime, capsys, caplog):
    secrets = [s3_server.secret_key, s3_server.access_key, PASSWORD, *SIGNATURES, CREDENTIAL, WRONG_SECRET]
    opts = ["--storage-option", f"key={s3_server.access_key}", "--storage-option", f"secret={s3_server.secret_key}",
            "--storage-option", f"endpoint_url={s3_server.endpoint_url}"]
    local, pools = str(tmp_path / "out"), f"{s3_url}/pools"
    caplog.set_level("INFO")

    # factory: every URL-taking flag
    assert factory(["build-pool", "images", "--images", image_server, "--item-px", "16", "--out", pools, *opts,
                    "--no-progress"]) == 0
    assert factory(["build", "accelerating-image-crops", "--out", f"{s3_url}/v", "--pool", f"images={pools}/images",
                    *opts, *TINY]) == 0
    assert factory(["build", "accelerating-image-crops", "--out", local, "--images", image_server, *TINY]) == 0
    assert factory(["verify", f"{s3_url}/v", *opts]) == 0
    assert factory(["preview", "accelerating-image-crops", "--images", image_server, "--pool", f"images={pools}/images",
                    "--out", str(tmp_path / "p.png"), "--pools-cache", str(tmp_path / "cache"), *opts,
                    "--size", "32", "--frames", "4"]) == 0
    assert factory(["publish", local, f"{s3_url}/pub", *opts, "--no-progress"]) == 0
    wrong = f"s3://{s3_server.access_key}:{WRONG_SECRET}@{s3_url.removeprefix('s3://')}/v"
    assert factory(["verify", wrong]) != 0

    # trainer: --data (with user info too), --eval-data, --out, --storage-option; analyze
    variant = f"{s3_url}/v/accelerating-image-crops"
    common = ["--model", "vit_tiny_test", "--img-size", "32", "--sampling-rate", "1", "--batch-size", "2",
              "--epochs", "1", "--max-steps", "1", "--workers", "0", "--threads", "1", "--no-progress"]
    assert trainer(["pretrain", "--data", variant, *opts, "--out", str(tmp_path / "run1"), *common]) == 0
    in_memory = f"memory://reader:{PASSWORD}@datasets/v?X-Amz-Signature={SIGNATURES[1]}"
    _copy_to_memory(os.path.join(local, "accelerating-image-crops"), in_memory.split("?")[0])
    assert trainer(["pretrain", "--data", in_memory.split("?")[0], "--eval-data", in_memory.split("?")[0],
                    "--eval-clips", "2", "--out", str(tmp_path / "run2"), *common]) == 0
    assert trainer(["pretrain", "--data", wrong, "--out", str(tmp_path / "run3"), *common]) != 0
    storage = [f"key={s3_server.access_key}", f"secret={s3_server.secret_key}",
               f"endpoint_url={s3_server.endpoint_url}"]
    assert trainer(["analyze", variant, *[a for kv in storage for a in ("--storage-option", kv)],
                    "--out", str(tmp_path / "report"),
                    "--reference", "none", "--accuracy", "none", "--videos", "2", "--frames", "4", "--stride", "1",
                    "--flow-pairs", "1", "--no-progress"]) == 0

    printed = capsys.readouterr()
    outputs = {"stdout": printed.out.encode(), "stderr": printed.err.encode(), "log": caplog.text.encode()}
    outputs.update(_files(tmp_path / "out"))
    for folder in ("run1", "run2", "run3", "report", "cache"):
        outputs.update(_files(tmp_path / folder))
    client = s3_server.client()
    prefix = s3_url.split("/", 3)[3]
    for key in s3_server.list_keys(prefix):
        outputs[f"s3://{key}"] = client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
    assert any(name.endswith("config.json") for name in outputs) and any("card.json" in n for n in outputs)
    assert sum("card.json" in n for n in outputs) >= 5            # pools and variants, local and published
    for name, data in outputs.items():
        for secret in secrets:
            assert secret.encode() not in data, f"{secret} in {name}"
    # the image source is still named, without its credentials
    card = json.load(open(os.path.join(local, "_pools", os.listdir(os.path.join(local, "_pools"))[0], "card.json")))
    host = image_server.split("@")[1].split("/")[0]
    assert card["pool"]["source"]["source"] == f"http://{host}/list.txt"
    config = json.load(open(tmp_path / "run2" / "config.json"))["config"]
    assert config["data"] == ["memory://datasets/v"] and config["eval_data"] == "memory://datasets/v"
    shutil.rmtree(tmp_path / "www", ignore_errors=True)


def test_a_shard_job_shows_no_secret(image_server, s3_server):
    """What Ray logs or an error quotes of a task's arguments: its ShardJob's repr."""
    from synthvid.factory.pipeline.jobs import DatasetJob, ShardJob
    from synthvid.factory.pools.natural import NaturalImageSource
    from synthvid.factory.pools.recipe import PoolRecipe

    source = NaturalImageSource.from_spec(image_server, 0, 4)
    recipe = PoolRecipe("images", 4, 16, 0, source=source, description=f"natural images from {source.root}")
    job = ShardJob.of(DatasetJob(recipe, 0, 4, 64, "memory://pools/images"), "f" * 64, s3_server.storage_options())
    shown = repr(job)
    assert "127.0.0.1" in shown and "images" in shown
    for secret in (PASSWORD, *SIGNATURES, CREDENTIAL, s3_server.secret_key, s3_server.access_key):
        assert secret not in shown
