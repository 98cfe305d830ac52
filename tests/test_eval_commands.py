"""`synthvid-train features` and `export` from the command line: the feature maps decode (PyAV, PIL) with one
map per tubelet; the exported checkpoints load strictly into the official layout and Hugging Face's model."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
import torch
from PIL import Image

from synthvid.trainer.cli import main
from synthvid.trainer.eval.layouts import synthvid_to_official
from synthvid.trainer.hf_export import to_hf_state_dict
from synthvid.trainer.model import VideoMAE, model_config
from tests.labelled import natural_sets


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    return natural_sets(str(tmp_path_factory.mktemp("labelled")), train_per_class=3, test_per_class=0)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    cfg = model_config("vit_tiny_test", img_size=32, num_frames=4)
    torch.manual_seed(0)
    model = VideoMAE(cfg).eval()
    path = str(tmp_path_factory.mktemp("pre") / "checkpoint-last.pt")
    torch.save({"format": 1, "model": model.state_dict(), "model_config": cfg.to_dict()}, path)
    return path, model


def test_features_writes_png_and_mp4_with_a_map_per_tubelet(sets, pretrained, tmp_path, one_thread):
    """2 of the class's 3 videos shown, 8 frames each at stride 2: 4 maps per video (tubelet 2) in a PNG grid
    of frames over maps, and an MP4 of 16 frames, each an input frame beside its map."""
    out = tmp_path / "maps" / "keys.mp4"
    rc = main(["features", "--checkpoint", pretrained[0], "--data", sets["train"], "--class", "WatchCartoon",
               "--out", str(out), "--frames", "8", "--stride", "2", "--show", "2", "--threads", "1"])
    assert rc == 0
    facts = json.loads((tmp_path / "maps" / "keys.json").read_text())
    assert facts["videos"] == 3 and facts["maps_per_video"] == 4
    assert facts["key_vectors"] == 3 * 2 * 8               # videos x clips x tokens (grid 2 x 2 x 2)
    grid = np.asarray(Image.open(tmp_path / "maps" / "keys.png"))
    assert grid.shape == (2 * 2 * 32, 4 * 32, 3)
    maps = grid[32:64].reshape(32, 4, 32, 3)
    assert len({m.tobytes() for m in maps.transpose(1, 0, 2, 3)}) == 4      # four different maps
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 16 and frames[0].shape == (32, 64, 3)


def test_features_refuses_an_unknown_class(sets, pretrained, tmp_path, capsys):
    rc = main(["features", "--checkpoint", pretrained[0], "--data", sets["train"], "--class", "Cartoon",
               "--out", str(tmp_path / "k.mp4"), "--frames", "8"])
    err = capsys.readouterr().err
    assert rc == 2 and "WatchCartoon" in err and len(err.strip().splitlines()) == 1


def test_export_cli_official_and_hf(pretrained, tmp_path):
    from transformers import VideoMAEForPreTraining

    path, model = pretrained
    pth, folder = tmp_path / "x.pth", tmp_path / "x-hf"
    assert main(["export", "--checkpoint", path, "--format", "videomae", "--out", str(pth)]) == 0
    saved = torch.load(pth, weights_only=True)["model"]
    expected = synthvid_to_official(model.state_dict())
    assert saved.keys() == expected.keys() and all(torch.equal(saved[k], expected[k]) for k in saved)
    assert "encoder.blocks.0.attn.q_bias" in saved and not any(k.endswith("qkv.bias") for k in saved)
    assert main(["export", "--checkpoint", path, "--format", "hf", "--out", str(folder)]) == 0
    hf = VideoMAEForPreTraining.from_pretrained(str(folder))
    state = hf.state_dict()
    for k, v in to_hf_state_dict(model.state_dict(), model.cfg).items():
        assert torch.equal(state[k], v), k
