"""Map this VideoMAE onto Hugging Face transformers' `VideoMAEForPreTraining` (Apache-2.0).

Used by the equivalence test and for sharing checkpoints. transformers >= 5 keeps q/k/v as three Linear
layers with no key bias, and (mteb#5094) does not map the official `q_bias`/`v_bias` itself, so the split is
done here; our k-bias must be 0 (it stays 0 in training, see model.py) and is dropped.
"""

from __future__ import annotations

import torch

from .model import ModelConfig


def hf_config(cfg: ModelConfig):
    from transformers import VideoMAEConfig

    return VideoMAEConfig(
        image_size=cfg.img_size, patch_size=cfg.patch_size, num_channels=3, num_frames=cfg.num_frames,
        tubelet_size=cfg.tubelet, hidden_size=cfg.embed_dim, num_hidden_layers=cfg.depth,
        num_attention_heads=cfg.num_heads, intermediate_size=int(cfg.embed_dim * cfg.mlp_ratio),
        hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, layer_norm_eps=1e-6,
        qkv_bias=True, use_mean_pooling=False, decoder_num_attention_heads=cfg.decoder_heads,
        decoder_hidden_size=cfg.decoder_dim, decoder_num_hidden_layers=cfg.decoder_depth,
        decoder_intermediate_size=int(cfg.decoder_dim * cfg.mlp_ratio), norm_pix_loss=True)


def _block(sd: dict, src: str, dst: str, dim: int, out: dict) -> None:
    w, b = sd[f"{src}.attn.qkv.weight"], sd[f"{src}.attn.qkv.bias"]
    kb = b[dim:2 * dim]
    if kb.abs().max() > 1e-6:
        raise ValueError(f"{src}: key bias is not zero ({kb.abs().max():.3g}); VideoMAE has none")
    a = f"{dst}.attention.attention"
    out[f"{a}.query.weight"], out[f"{a}.key.weight"], out[f"{a}.value.weight"] = w[:dim], w[dim:2 * dim], w[2 * dim:]
    out[f"{a}.query.bias"], out[f"{a}.value.bias"] = b[:dim], b[2 * dim:]
    pairs = {"attn.proj": "attention.output.dense", "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense",
             "norm1": "layernorm_before", "norm2": "layernorm_after"}
    for s, d in pairs.items():
        for p in ("weight", "bias"):
            out[f"{dst}.{d}.{p}"] = sd[f"{src}.{s}.{p}"]


def to_hf_state_dict(state_dict: dict, cfg: ModelConfig) -> dict:
    sd = {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in state_dict.items()}
    out = {
        "videomae.embeddings.patch_embeddings.projection.weight": sd["patch_embed.proj.weight"],
        "videomae.embeddings.patch_embeddings.projection.bias": sd["patch_embed.proj.bias"],
        "videomae.layernorm.weight": sd["norm.weight"], "videomae.layernorm.bias": sd["norm.bias"],
        "encoder_to_decoder.weight": sd["encoder_to_decoder.weight"], "mask_token": sd["mask_token"],
        "decoder.norm.weight": sd["decoder_norm.weight"], "decoder.norm.bias": sd["decoder_norm.bias"],
        "decoder.head.weight": sd["head.weight"], "decoder.head.bias": sd["head.bias"],
    }
    for i in range(cfg.depth):
        _block(sd, f"blocks.{i}", f"videomae.encoder.layer.{i}", cfg.embed_dim, out)
    for i in range(cfg.decoder_depth):
        _block(sd, f"decoder_blocks.{i}", f"decoder.decoder_layers.{i}", cfg.decoder_dim, out)
    return {k: v.detach().clone() for k, v in out.items()}


def to_hf_model(model) -> torch.nn.Module:
    from transformers import VideoMAEForPreTraining

    cfg = model.cfg
    hf = VideoMAEForPreTraining(hf_config(cfg))
    missing, unexpected = hf.load_state_dict(to_hf_state_dict(model.state_dict(), cfg), strict=False)
    # Position tables are buffers on both sides; anything else missing is a mapping bug.
    missing = [k for k in missing if "position_embeddings" not in k]
    if missing or unexpected:
        raise RuntimeError(f"HF mapping incomplete: missing {missing}, unexpected {unexpected}")
    return hf.eval()
