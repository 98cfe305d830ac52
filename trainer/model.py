"""VideoMAE pretraining model (encoder on visible tokens, narrow decoder) from timm's ViT `Block`s.

timm has the transformer block but no 3-D patch embed and no 1-D video position table; those two, the
masked-token plumbing and the target are written here; spec/videomae.md sections 1 and 6 give the reasons.

The structure is the official VideoMAE's (`modeling_pretrain.py`): the same tensors with the same shapes and
meaning, so weights convert both ways without loss. The names are not the same: patch_embed / blocks / norm
here are encoder.patch_embed / encoder.blocks / encoder.norm there, decoder_blocks / decoder_norm / head are
decoder.blocks / decoder.norm / decoder.head, and each block's one attn.qkv.bias (its key third held at 0)
is attn.q_bias + attn.v_bias there. Neither side stores the position tables. trainer/eval/layouts.py is the
map (and trainer/hf_export.py the one onto Hugging Face's VideoMAEForPreTraining).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import trunc_normal_
from timm.models.vision_transformer import Block

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelConfig:
    img_size: int = 224
    num_frames: int = 16
    patch_size: int = 16
    tubelet: int = 2
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    decoder_dim: int = 384
    decoder_depth: int = 4
    decoder_heads: int = 6
    mlp_ratio: float = 4.0
    drop_path: float = 0.0

    @property
    def grid(self) -> tuple[int, int, int]:
        return self.num_frames // self.tubelet, self.img_size // self.patch_size, self.img_size // self.patch_size

    @property
    def num_tokens(self) -> int:
        t, h, w = self.grid
        return t * h * w

    @property
    def patch_dim(self) -> int:
        return 3 * self.tubelet * self.patch_size ** 2

    def to_dict(self) -> dict:
        return asdict(self)


# Encoder widths from ViT; decoders from the VideoMAE pretraining scripts (spec/videomae.md 1.5): depth 4 for
# ViT-S/B, and the deeper decoder of the official ViT-L pretraining (512 wide, depth 12, 8 heads).
PRESETS = {
    "vit_small": dict(embed_dim=384, depth=12, num_heads=6, decoder_dim=192, decoder_depth=4, decoder_heads=3),
    "vit_base": dict(embed_dim=768, depth=12, num_heads=12, decoder_dim=384, decoder_depth=4, decoder_heads=6),
    "vit_large": dict(embed_dim=1024, depth=24, num_heads=16, decoder_dim=512, decoder_depth=12, decoder_heads=8),
    # For tests and smoke runs on a CPU: same code path, a few hundred thousand parameters.
    "vit_tiny_test": dict(embed_dim=64, depth=2, num_heads=2, decoder_dim=32, decoder_depth=1, decoder_heads=2),
    # For the CPU test that pretraining learns (held-out masked loss clearly below the patch-mean baseline):
    # in that test's 1,200 steps vit_tiny_test's single 32-wide decoder block ends at 0.95x of the baseline,
    # two 64-wide decoder blocks at 0.86x (they learn to continue edges from the visible neighbours).
    "vit_tiny_learn": dict(embed_dim=64, depth=2, num_heads=2, decoder_dim=64, decoder_depth=2, decoder_heads=4),
}


def model_config(name: str, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(PRESETS)}")
    return ModelConfig(**{**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}})


def sincos_table(num_positions: int, dim: int) -> torch.Tensor:
    """The 'Attention is all you need' table over the flattened token index: sin on even channels, cos on odd
    ones, interleaved (not two concatenated halves), exactly as VideoMAE's get_sinusoid_encoding_table."""
    pos = np.arange(num_positions, dtype=np.float64)[:, None]
    j = np.arange(dim)[None, :]
    angle = pos / np.power(10000, 2 * (j // 2) / dim)
    table = np.empty_like(angle)
    table[:, 0::2] = np.sin(angle[:, 0::2])
    table[:, 1::2] = np.cos(angle[:, 1::2])
    return torch.from_numpy(table).float().unsqueeze(0)   # (1, N, dim)


class TubeletEmbed(nn.Module):
    """Conv3d with kernel = stride = (tubelet, patch, patch): a linear map of each 2x16x16x3 cube. Tokens come
    out in raster (t, h, w) order, t slowest. Default (PyTorch) init, as in VideoMAE."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        k = (cfg.tubelet, cfg.patch_size, cfg.patch_size)
        self.proj = nn.Conv3d(3, cfg.embed_dim, kernel_size=k, stride=k)
        self.cfg = cfg

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # (B, 3, T, H, W) -> (B, N, D)
        c = self.cfg
        if x.shape[2:] != (c.num_frames, c.img_size, c.img_size):
            raise ValueError(f"clip of shape {tuple(x.shape[1:])}, model expects (3, {c.num_frames}, {c.img_size}, {c.img_size})")
        return self.proj(x).flatten(2).transpose(1, 2)


def _gather(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    return torch.gather(x, 1, ids.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class VideoMAE(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = TubeletEmbed(cfg)
        # Fixed tables, non-persistent: they are a function of the config, so checkpoints stay free of them
        # (the official model keeps its tables as plain attributes, outside its state dict as well).
        self.register_buffer("pos_embed", sincos_table(cfg.num_tokens, cfg.embed_dim), persistent=False)
        self.register_buffer("decoder_pos_embed", sincos_table(cfg.num_tokens, cfg.decoder_dim), persistent=False)
        dpr = [x.item() for x in torch.linspace(0, cfg.drop_path, cfg.depth)]
        # qkv_bias=True gives q, k and v a bias where VideoMAE has q and v only. A k bias adds the same amount
        # to every logit of a softmax row, so it has zero gradient and stays at its initial 0 (and is exempt
        # from weight decay): the function is the official one. The HF export drops it after checking it is 0.
        self.blocks = nn.ModuleList([
            Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio, qkv_bias=True, drop_path=dpr[i]) for i in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=1e-6)
        self.encoder_to_decoder = nn.Linear(cfg.embed_dim, cfg.decoder_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_dim))
        self.decoder_blocks = nn.ModuleList([
            Block(cfg.decoder_dim, cfg.decoder_heads, cfg.mlp_ratio, qkv_bias=True) for _ in range(cfg.decoder_depth)])
        self.decoder_norm = nn.LayerNorm(cfg.decoder_dim, eps=1e-6)
        self.head = nn.Linear(cfg.decoder_dim, cfg.patch_dim)
        self.apply(self._init_weights)
        trunc_normal_(self.mask_token, std=0.02, a=-0.02, b=0.02)   # VideoMAE's wrapper cuts at +-std
        self.grad_checkpointing = False
        # The k bias's true gradient is 0 but its float gradient is rounding noise, which Adam would turn
        # into lr-sized steps. Zeroing that slice keeps it exactly 0, i.e. exactly VideoMAE's q/v-only bias.
        for blk in [*self.blocks, *self.decoder_blocks]:
            bias = blk.attn.qkv.bias
            d = bias.shape[0] // 3
            bias.register_hook(lambda g, d=d: torch.cat([g[:d], torch.zeros_like(g[d:2 * d]), g[2 * d:]]))

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        # VideoMAE pretraining: xavier_uniform Linear, zero bias, LayerNorm 1/0. Conv3d keeps PyTorch's default.
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def no_weight_decay(self) -> set[str]:
        return {"mask_token", "pos_embed", "decoder_pos_embed"}

    def _run(self, blocks: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        for blk in blocks:
            if self.grad_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(blk, x, use_reentrant=False)
            else:
                x = blk(x)
        return x

    def forward_encoder(self, x: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        # Patch embed runs on the whole clip and visible tokens are picked afterwards, as in VideoMAE.
        tokens = self.patch_embed(x) + self.pos_embed.to(x.dtype)
        tokens = _gather(tokens, ids_keep)
        return self.norm(self._run(self.blocks, tokens))

    def forward(self, x: torch.Tensor, ids_keep: torch.Tensor, ids_mask: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, T, H, W) ImageNet-normalised. Returns (B, N_masked, 3*t*p*p) predictions for the tokens
        `ids_mask`, in that order, channel fastest (the order of `normalized_target`)."""
        vis = self.encoder_to_decoder(self.forward_encoder(x, ids_keep))
        b = vis.shape[0]
        pos = self.decoder_pos_embed.to(vis.dtype).expand(b, -1, -1)
        # [visible..., masked...] with positions shuffled along; the original order is never restored.
        dec = torch.cat([vis + _gather(pos, ids_keep), self.mask_token.to(vis.dtype) + _gather(pos, ids_mask)], dim=1)
        dec = self._run(self.decoder_blocks, dec)
        return self.head(self.decoder_norm(dec[:, -ids_mask.shape[1]:]))


def patchify(video01: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B, N, t*p*p, 3): `b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c`."""
    b, c, t, h, w = video01.shape
    v = video01.reshape(b, c, t // tubelet, tubelet, h // patch, patch, w // patch, patch)
    v = v.permute(0, 2, 4, 6, 3, 5, 7, 1)
    return v.reshape(b, (t // tubelet) * (h // patch) * (w // patch), tubelet * patch * patch, c)


@torch.no_grad()
def normalized_target(x: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """Per-cube, per-channel normalised pixels, (B, N, t*p*p*3), fp32 whatever the autocast state.
    Undo ImageNet normalisation, then (v - mean) / (unbiased std + 1e-6) over each channel's t*p*p pixels
    (epsilon on the std, not inside the sqrt; image MAE differs)."""
    x = x.float()
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    v = patchify(x * std + mean, tubelet, patch)
    v = (v - v.mean(dim=-2, keepdim=True)) / (v.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6)
    return v.flatten(2)


def masked_mse(pred: torch.Tensor, x: torch.Tensor, ids_mask: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """MSE mean over B x N_masked x 1536 on masked tokens, computed in fp32."""
    target = _gather(normalized_target(x, cfg.tubelet, cfg.patch_size), ids_mask)
    return F.mse_loss(pred.float(), target)


def unpatchify(tokens: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """(B, N, t*p*p*3) -> (B, 3, T, H, W), the inverse of patchify+flatten (for pictures)."""
    b = tokens.shape[0]
    t, h, w = cfg.grid
    p, pt = cfg.patch_size, cfg.tubelet
    v = tokens.reshape(b, t, h, w, pt, p, p, 3).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return v.reshape(b, 3, t * pt, h * p, w * p)


def encoder_flops(cfg: ModelConfig, n_tokens: int) -> float:
    """Analytic forward FLOPs (1 MAC = 2 FLOP) of the patch embed on the whole clip and the encoder blocks on
    `n_tokens` tokens: with every token, one fine-tuning or test view (ViT-B 16x224: 360.7 GFLOP, spec 5.2)."""
    d, r = cfg.embed_dim, cfg.mlp_ratio
    macs = cfg.num_tokens * cfg.patch_dim * d
    macs += cfg.depth * ((4 + 2 * r) * n_tokens * d * d + 2 * n_tokens * n_tokens * d)
    return 2.0 * macs


def flops_per_clip(cfg: ModelConfig, n_visible: int) -> float:
    """Analytic forward FLOPs (1 MAC = 2 FLOP) of one pretraining clip: patch embed on the whole clip,
    encoder on visible tokens, decoder on all tokens, head on masked ones. Matches spec section 5.2."""
    n = cfg.num_tokens
    d, dd = cfg.embed_dim, cfg.decoder_dim
    r = cfg.mlp_ratio
    macs = encoder_flops(cfg, n_visible) / 2
    macs += n_visible * d * dd
    macs += cfg.decoder_depth * ((4 + 2 * r) * n * dd * dd + 2 * n * n * dd)
    macs += (n - n_visible) * dd * cfg.patch_dim
    return 2.0 * macs
