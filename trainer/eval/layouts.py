"""Key layouts of VideoMAE weights: synthvid's and the official code's (MCG-NJU/VideoMAE), and the maps between.

synthvid (trainer/model.py's VideoMAE, timm Blocks):
    patch_embed.proj.*, blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}.*, norm.*,
    encoder_to_decoder.weight, mask_token, decoder_blocks.i.*, decoder_norm.*, head.*
    attn.qkv.bias is one (3D,) tensor whose key third is kept at 0.
official pretraining (`modeling_pretrain.PretrainVisionTransformer`, checkpoint['model']):
    encoder.patch_embed.proj.*, encoder.blocks.i.{..., attn.qkv.weight, attn.q_bias, attn.v_bias}, encoder.norm.*,
    encoder_to_decoder.weight, mask_token, decoder.blocks.i.*, decoder.norm.*, decoder.head.*
official fine-tuned (`modeling_finetune.VisionTransformer`): as synthvid's encoder without a prefix, with
    q_bias/v_bias, plus fc_norm.* and head.* (the classifier).
Neither side stores the sinusoid position tables (official: plain attributes; synthvid: non-persistent
buffers). So the maps rename prefixes one to one and turn one qkv.bias into q_bias + v_bias (and back, with a
zero key third); nothing else changes.
"""

from __future__ import annotations

import torch

SYNTHVID, OFFICIAL_PRETRAIN, OFFICIAL_FINETUNE = "synthvid", "videomae-pretrain", "videomae-finetune"

# (official prefix, synthvid prefix) of the pretraining model; order matters only for readability.
PRETRAIN_PREFIXES = (
    ("encoder.patch_embed.", "patch_embed."), ("encoder.blocks.", "blocks."), ("encoder.norm.", "norm."),
    ("encoder_to_decoder.", "encoder_to_decoder."), ("mask_token", "mask_token"),
    ("decoder.blocks.", "decoder_blocks."), ("decoder.norm.", "decoder_norm."), ("decoder.head.", "head."),
)


class LayoutError(ValueError):
    """Weights that fit none of the known layouts, or that a layout cannot represent."""


def strip_wrappers(sd: dict) -> dict:
    """Drop DDP's `module.` and torch.compile's `_orig_mod.` prefixes."""
    return {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in sd.items()}


def detect(sd: dict) -> str:
    keys = list(sd)
    if any(k.startswith("encoder.blocks.") for k in keys):
        return OFFICIAL_PRETRAIN
    if any(k.endswith(".attn.q_bias") for k in keys):
        return OFFICIAL_FINETUNE
    if any(k.endswith(".attn.qkv.bias") for k in keys) and any(k.startswith("patch_embed.") for k in keys):
        return SYNTHVID
    raise LayoutError(f"not a VideoMAE state dict (keys start {', '.join(keys[:4])})")


def _rename(key: str, pairs, reverse: bool) -> str:
    for official, ours in pairs:
        src, dst = (ours, official) if reverse else (official, ours)
        if key.startswith(src):
            return dst + key[len(src):]
    raise LayoutError(f"{key}: no place for this tensor in the {'official' if reverse else 'synthvid'} layout")


def merge_qv_bias(sd: dict) -> dict:
    """attn.q_bias + attn.v_bias -> attn.qkv.bias = [q, 0, v] (what the official attention computes)."""
    out = {}
    for key, value in sd.items():
        if key.endswith(".attn.v_bias"):
            continue
        if key.endswith(".attn.q_bias"):
            stem = key[:-len("q_bias")]
            if stem + "v_bias" not in sd:
                raise LayoutError(f"{key} has no matching {stem}v_bias")
            v = sd[stem + "v_bias"]
            out[stem + "qkv.bias"] = torch.cat([value, torch.zeros_like(value), v])
        else:
            out[key] = value
    orphans = [k for k in sd if k.endswith(".attn.v_bias") and k[:-6] + "q_bias" not in sd]
    if orphans:
        raise LayoutError(f"{orphans[0]} has no matching q_bias")
    return out


def split_qkv_bias(sd: dict, tolerance: float = 1e-6) -> dict:
    """attn.qkv.bias -> attn.q_bias, attn.v_bias; the key third must be 0 (VideoMAE has no key bias)."""
    out = {}
    for key, value in sd.items():
        if not key.endswith(".attn.qkv.bias"):
            out[key] = value
            continue
        d = value.shape[0] // 3
        if value[d:2 * d].abs().max() > tolerance:
            raise LayoutError(f"{key}: key bias is not zero ({value[d:2 * d].abs().max():.3g}); VideoMAE has none")
        stem = key[:-len("qkv.bias")]
        out[stem + "q_bias"], out[stem + "v_bias"] = value[:d], value[2 * d:]
    return out


def official_to_synthvid(sd: dict) -> dict:
    """Any official state dict (pretraining or fine-tuned) -> synthvid names with merged qkv biases.
    Fine-tuned keys (patch_embed., blocks., fc_norm., head.) keep their names."""
    sd = merge_qv_bias(strip_wrappers(sd))
    if any(k.startswith("encoder.") for k in sd):
        sd = {_rename(k, PRETRAIN_PREFIXES, reverse=False): v for k, v in sd.items()}
    return sd


def synthvid_to_official(sd: dict) -> dict:
    """A synthvid pretraining state dict -> the official pretraining layout, as its fine-tuning script
    (`--finetune`, key 'model') expects."""
    sd = split_qkv_bias(strip_wrappers(sd))
    return {_rename(k, PRETRAIN_PREFIXES, reverse=True): v.detach().clone() for k, v in sd.items()}
