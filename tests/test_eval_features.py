"""Attention-key feature maps: the hooked keys are LN1(x) W_k of the last block, the PCA is deterministic and
streaming, one colour map per tubelet, written as PNG and MP4."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch
from PIL import Image

from synthvid.trainer.eval.features import KeyPCA, encoder_keys, key_maps, map_grid, to_rgb, write_mp4, write_png
from synthvid.trainer.model import VideoMAE, model_config

CFG = model_config("vit_tiny_test", img_size=64, num_frames=8)    # 4 tubelets of 4 x 4 tokens


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return VideoMAE(CFG).eval()


def clips(n=3, seed=0):
    return torch.randn(n, 3, 8, 64, 64, generator=torch.Generator().manual_seed(seed))


def test_keys_are_the_last_blocks_key_projection(model):
    x = clips()
    keys = encoder_keys(model, x)
    assert keys.shape == (3, CFG.num_tokens, CFG.embed_dim)
    with torch.no_grad():
        tokens = model.patch_embed(x) + model.pos_embed
        for blk in model.blocks[:-1]:
            tokens = blk(tokens)
        last = model.blocks[-1]
        d = CFG.embed_dim
        expect = last.norm1(tokens) @ last.attn.qkv.weight[d:2 * d].T + last.attn.qkv.bias[d:2 * d]
    assert torch.allclose(keys, expect, atol=1e-5)
    assert not last.attn.qkv._forward_hooks                       # the hook is removed afterwards


def test_pca_is_deterministic_streaming_and_matches_svd(model):
    keys = encoder_keys(model, clips(4))
    one = KeyPCA(CFG.embed_dim)
    one.add(keys)
    streamed = KeyPCA(CFG.embed_dim)
    for k in keys:                                                 # one clip at a time: same fit
        streamed.add(k)
    a, b = one.fit(), streamed.fit()
    assert torch.allclose(a.components, b.components, atol=1e-9) and torch.allclose(a.mean, b.mean, atol=1e-12)
    again = KeyPCA(CFG.embed_dim)
    again.add(keys)
    assert torch.equal(again.fit().components, a.components)
    flat = keys.reshape(-1, CFG.embed_dim).double()
    _, _, vt = torch.linalg.svd(flat - flat.mean(0), full_matrices=False)
    for i in range(3):                                             # the top 3 directions, up to sign
        assert abs(float(vt[i] @ a.components[i])) == pytest.approx(1.0, abs=1e-6)
        assert a.components[i, a.components[i].abs().argmax()] > 0  # the sign convention
    assert torch.allclose(a.components @ a.components.T, torch.eye(3, dtype=torch.float64), atol=1e-9)


def test_maps_one_per_tubelet_and_writers(model, tmp_path):
    pca = KeyPCA(CFG.embed_dim)
    pca.add(encoder_keys(model, clips(4)))
    maps = key_maps(model, clips(1, seed=5), pca.fit())
    assert maps.shape == (1, 4, 4, 4, 3) and maps.min() >= 0 and maps.max() <= 1
    assert to_rgb(torch.tensor([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]])).tolist() == [[0, 0, 0], [1, 1, 1]]
    frames = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    grid = map_grid(frames, maps[0].numpy(), tubelet=2)
    assert grid.shape == (128, 256, 3) and grid.dtype == np.uint8
    assert np.array_equal(grid[:64, 64:128], frames[2])            # tubelet 1 starts at frame 2
    assert np.all(grid[64:80, 64:80] == np.rint(maps[0, 1, 0, 0].numpy() * 255))   # token (0, 0) as a block
    write_png(str(tmp_path / "maps.png"), grid)
    assert Image.open(tmp_path / "maps.png").size == (256, 128)
    write_mp4(str(tmp_path / "maps.mp4"), frames, maps[0].numpy(), tubelet=2)
    with av.open(str(tmp_path / "maps.mp4")) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]
    assert len(decoded) == 8 and decoded[0].shape == (64, 128, 3)
