"""Checkpoint loading into the classifier (checked, not 'loaded with warnings') and export to the official
VideoMAE layout and to Hugging Face's VideoMAEForPreTraining: strict loads, equal outputs."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from synthvid.trainer import masking
from synthvid.trainer.eval.checkpoints import CheckpointError, infer_model_config, load_pretrained, read_weights
from synthvid.trainer.eval.classifier import HeadConfig, VideoClassifier
from synthvid.trainer.eval.export import export_hf, export_videomae
from synthvid.trainer.eval.layouts import official_to_synthvid, split_qkv_bias, synthvid_to_official
from synthvid.trainer.model import VideoMAE, model_config, sincos_table

TINY = dict(img_size=32, num_frames=4)


def trained_like(cfg) -> VideoMAE:
    """A pretraining model with non-trivial biases and norms, so every tensor's mapping is exercised."""
    torch.manual_seed(0)
    model = VideoMAE(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("qkv.bias"):
                d = p.shape[0] // 3
                p[:d].normal_()
                p[2 * d:].normal_()
            elif "bias" in name or "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


@pytest.fixture
def checkpoint(tmp_path):
    """A synthvid pretraining checkpoint as the trainer writes it (format 1, model, model_config)."""
    cfg = model_config("vit_tiny_test", **TINY)
    model = trained_like(cfg)
    path = str(tmp_path / "checkpoint-last.pt")
    torch.save({"format": 1, "model": model.state_dict(), "model_config": cfg.to_dict(), "optimizer": {}}, path)
    return path, model


def masks(cfg, ratio=0.75, seed=1):
    t, h, w = cfg.grid
    return masking.tube_mask(2, t, h * w, ratio, generator=torch.Generator().manual_seed(seed))


# --- The official layout, written from modeling_pretrain.py's structure (key names and the q/v-only bias) ---

class OfficialAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias, self.v_bias = nn.Parameter(torch.zeros(dim)), nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        q, k, v = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attn = ((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class OfficialBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = OfficialAttention(dim, heads)
        self.mlp = nn.Module()
        self.mlp.fc1, self.mlp.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class OfficialPretrain(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.encoder, self.decoder = nn.Module(), nn.Module()
        self.encoder.patch_embed = nn.Module()
        k = (cfg.tubelet, cfg.patch_size, cfg.patch_size)
        self.encoder.patch_embed.proj = nn.Conv3d(3, cfg.embed_dim, k, k)
        self.encoder.blocks = nn.ModuleList(OfficialBlock(cfg.embed_dim, cfg.num_heads) for _ in range(cfg.depth))
        self.encoder.norm = nn.LayerNorm(cfg.embed_dim, eps=1e-6)
        self.encoder_to_decoder = nn.Linear(cfg.embed_dim, cfg.decoder_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_dim))
        self.decoder.blocks = nn.ModuleList(OfficialBlock(cfg.decoder_dim, cfg.decoder_heads)
                                            for _ in range(cfg.decoder_depth))
        self.decoder.norm = nn.LayerNorm(cfg.decoder_dim, eps=1e-6)
        self.decoder.head = nn.Linear(cfg.decoder_dim, cfg.patch_dim)

    def forward(self, x, mask):          # mask: (B, N) bool, True = masked, as the official forward takes it
        c = self.cfg
        tokens = self.encoder.patch_embed.proj(x).flatten(2).transpose(1, 2) + sincos_table(c.num_tokens, c.embed_dim)
        vis = tokens[~mask].reshape(x.shape[0], -1, c.embed_dim)
        for blk in self.encoder.blocks:
            vis = blk(vis)
        vis = self.encoder_to_decoder(self.encoder.norm(vis))
        pos = sincos_table(c.num_tokens, c.decoder_dim).expand(x.shape[0], -1, -1)
        d = c.decoder_dim
        full = torch.cat([vis + pos[~mask].reshape(x.shape[0], -1, d),
                          self.mask_token + pos[mask].reshape(x.shape[0], -1, d)], dim=1)
        for blk in self.decoder.blocks:
            full = blk(full)
        n_mask = int(mask[0].sum())
        return self.decoder.head(self.decoder.norm(full[:, -n_mask:]))


# --- Loading -------------------------------------------------------------------------------------------------

def test_synthvid_checkpoint_loads_every_encoder_tensor(checkpoint):
    path, model = checkpoint
    weights = read_weights(path)
    cfg = infer_model_config(weights, drop_path=0.2)
    assert (cfg.embed_dim, cfg.depth, cfg.drop_path) == (64, 2, 0.2)
    clf = VideoClassifier(cfg, HeadConfig(num_classes=5))
    report = load_pretrained(clf, weights)
    assert set(report.loaded) == set(clf.encoder_state_dict())
    assert {"norm.weight", "mask_token", "decoder_blocks.0.attn.qkv.weight"} <= set(report.dropped)
    for k, v in clf.encoder_state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k
    # same encoder computation: the classifier's tokens are the pretraining encoder's with every token visible
    x = torch.randn(2, 3, 4, 32, 32)
    clf.eval()
    ids = torch.arange(cfg.num_tokens).expand(2, -1)
    with torch.no_grad():
        assert torch.allclose(model.norm(clf.forward_tokens(x)), model.forward_encoder(x, ids), atol=1e-5)


def test_bad_checkpoints_are_errors_naming_the_keys(checkpoint, tmp_path):
    path, model = checkpoint
    cfg = model_config("vit_tiny_test", **TINY)
    clf = VideoClassifier(cfg, HeadConfig(num_classes=3))
    state = model.state_dict()
    del state["blocks.1.mlp.fc2.weight"]
    state["blocks.1.attn.extra"] = torch.zeros(1)
    bad = str(tmp_path / "bad.pt")
    torch.save({"model": state}, bad)
    mismatch = r"bad\.pt: does not match the classifier: missing blocks\.1\.mlp\.fc2\.weight; unexpected blocks\.1\.attn\.extra"
    with pytest.raises(CheckpointError, match=mismatch):
        load_pretrained(clf, read_weights(bad))
    small = VideoClassifier(model_config("vit_tiny_test", patch_size=8, **TINY), HeadConfig(num_classes=3))
    shapes = r"shapes differ .*patch_embed\.proj\.weight \(64, 3, 2, 16, 16\) vs \(64, 3, 2, 8, 8\)"
    with pytest.raises(CheckpointError, match=shapes):
        load_pretrained(small, read_weights(path))
    learned = {**model.state_dict(), "pos_embed": torch.randn(1, cfg.num_tokens, 64)}
    torch.save(learned, bad)
    with pytest.raises(CheckpointError, match="pos_embed is not the fixed sinusoid table"):
        load_pretrained(clf, read_weights(bad))
    with pytest.raises(CheckpointError, match=r"holds no classifier \(fc_norm, head\) to load"):
        load_pretrained(clf, read_weights(path), with_head=True)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pt: not a readable checkpoint"):
        read_weights(str(tmp_path / "junk.pt"))
    with pytest.raises(CheckpointError, match=r"nothing\.pt: no checkpoint file there"):
        read_weights(str(tmp_path / "nothing.pt"))
    torch.save({"model": {"fc.weight": torch.zeros(2)}}, bad)
    with pytest.raises(CheckpointError, match="not a VideoMAE state dict"):
        read_weights(bad)


# --- Export --------------------------------------------------------------------------------------------------

def test_official_export_loads_strictly_into_the_official_model_with_equal_outputs(checkpoint, tmp_path):
    path, model = checkpoint
    out = str(tmp_path / "videomae.pth")
    export_videomae(read_weights(path), out)
    saved = torch.load(out, map_location="cpu", weights_only=True)
    keys = set(saved["model"])
    assert "encoder.blocks.0.attn.q_bias" in keys and "encoder.blocks.0.attn.v_bias" in keys
    assert not any("qkv.bias" in k for k in keys) and "decoder.head.weight" in keys and "encoder.norm.weight" in keys
    official = OfficialPretrain(model.cfg).eval()
    official.load_state_dict(saved["model"], strict=True)
    ids_keep, ids_mask = masks(model.cfg)
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        ours = model(x, ids_keep, ids_mask)
        theirs = official(x, masking.to_bool(ids_mask, model.cfg.num_tokens))
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()
    # round trip: the exported file is read as an official checkpoint and gives back the same tensors
    back = read_weights(out)
    assert back.layout == "videomae-pretrain"
    assert set(back.state) == set(model.state_dict())
    assert all(torch.equal(back.state[k], v) for k, v in model.state_dict().items())
    cfg = infer_model_config(back, **TINY)
    a, b = VideoClassifier(cfg, HeadConfig(3)), VideoClassifier(cfg, HeadConfig(3))
    load_pretrained(a, back)
    load_pretrained(b, read_weights(path))
    head = {k: v for k, v in a.state_dict().items() if k.startswith(("fc_norm", "head"))}
    b.load_state_dict({**b.state_dict(), **head})
    with torch.no_grad():
        assert torch.equal(a.eval()(x), b.eval()(x))


def test_finetuned_checkpoints_load_with_their_head(tmp_path):
    torch.manual_seed(3)
    cfg = model_config("vit_tiny_test", **TINY)
    clf = VideoClassifier(cfg, HeadConfig(num_classes=4)).eval()
    with torch.no_grad():
        clf.head.weight.normal_()
    official = split_qkv_bias(clf.state_dict())     # modeling_finetune's keys: q_bias/v_bias, fc_norm, head
    assert "blocks.0.attn.q_bias" in official
    path = str(tmp_path / "ucf101-finetuned.pth")
    torch.save({"module": official}, path)
    weights = read_weights(path)
    assert weights.layout == "videomae-finetune"
    other = VideoClassifier(infer_model_config(weights, **TINY), HeadConfig(num_classes=4)).eval()
    load_pretrained(other, weights, with_head=True)
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(other(x), clf(x), atol=1e-6)
    # a synthvid classifier's own weights (what a fine-tuning run saves) load back the same way
    torch.save({"model": clf.state_dict()}, path)
    again = read_weights(path)
    assert again.layout == "synthvid"
    mine = VideoClassifier(cfg, HeadConfig(num_classes=4)).eval()
    load_pretrained(mine, again, with_head=True)
    with torch.no_grad():
        assert torch.equal(mine(x), clf(x))


def test_hf_export_loads_strictly_into_transformers_with_equal_outputs(checkpoint, tmp_path):
    from transformers import VideoMAEForPreTraining, VideoMAEModel

    path, model = checkpoint
    folder = str(tmp_path / "hf")
    export_hf(read_weights(path), folder)
    hf, info = VideoMAEForPreTraining.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    ids_keep, ids_mask = masks(model.cfg, 0.5)          # 2 of the 4 spatial tokens per slot
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        ours = model(x, ids_keep, ids_mask)
        out = hf.eval()(x.permute(0, 2, 1, 3, 4), bool_masked_pos=masking.to_bool(ids_mask, model.cfg.num_tokens))
    # HF's decoder LayerNorm has eps 1e-5 where VideoMAE's has 1e-6: the only difference
    assert torch.allclose(ours, out.logits, atol=1e-4), (ours - out.logits).abs().max()
    encoder = VideoMAEModel.from_pretrained(folder).eval()
    with torch.no_grad():
        hidden = encoder(x.permute(0, 2, 1, 3, 4)).last_hidden_state
        ids = torch.arange(model.cfg.num_tokens).expand(2, -1)
        assert torch.allclose(hidden, model.forward_encoder(x, ids), atol=1e-5)


def test_exports_refuse_a_key_bias_and_layouts_round_trip(checkpoint, tmp_path):
    path, model = checkpoint
    state = model.state_dict()
    assert all(torch.equal(official_to_synthvid(synthvid_to_official(state))[k], v) for k, v in state.items())
    d = model.cfg.embed_dim
    state["blocks.0.attn.qkv.bias"][d] = 0.5
    bad = str(tmp_path / "kbias.pt")
    torch.save({"format": 1, "model": state, "model_config": model.cfg.to_dict()}, bad)
    with pytest.raises(CheckpointError, match=r"blocks\.0\.attn\.qkv\.bias: key bias is not zero"):
        export_videomae(read_weights(bad), str(tmp_path / "x.pth"))
    with pytest.raises(CheckpointError, match="key bias is not zero"):
        export_hf(read_weights(bad), str(tmp_path / "hf"))
    assert not (tmp_path / "x.pth").exists()
    wrong = dataclasses.replace(model.cfg, decoder_depth=2).to_dict()
    torch.save({"format": 1, "model": model.state_dict(), "model_config": wrong}, bad)
    with pytest.raises(CheckpointError, match="does not load into the pretraining model"):
        export_videomae(read_weights(bad), str(tmp_path / "x.pth"))
