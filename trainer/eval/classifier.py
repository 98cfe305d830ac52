"""The video classifier of VideoMAE fine-tuning and linear probing over the pretraining encoder.

Layout of `modeling_finetune.VisionTransformer` with mean pooling (spec videomae.md 2.1): tubelet embed + the
fixed sinusoid table, the encoder blocks on all tokens, mean over tokens, a fresh LayerNorm (`fc_norm`; the
pretrained final `norm` is not used), dropout, and a Linear head whose initial weights are scaled by 0.001.
The linear probe (spec paper.md C.3) puts BatchNorm1d without affine in front of the Linear, as the
reference does (`head.0`, `head.1`), and freezes everything else.

The encoder is built by trainer/model.py's VideoMAE (same TubeletEmbed, the same timm Blocks with the
drop-path schedule of its config, the same zero-gradient hook that keeps the key bias at 0), so parameter
names match a pretraining checkpoint's encoder one to one; only the decoder is left out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn as nn
from timm.layers import trunc_normal_

from ..model import ModelConfig, VideoMAE

ENCODER_MODES = ("train", "frozen_eval", "frozen_train")
HEAD_KINDS = ("linear", "bn_linear")


@dataclass(frozen=True)
class HeadConfig:
    num_classes: int
    kind: str = "linear"            # "linear" (fine-tune) | "bn_linear" (probe: BatchNorm1d(affine=False) + Linear)
    dropout: float = 0.0            # before the head (VideoMAE's fc_drop_rate)
    init_scale: float = 0.001       # head weight and bias multiplied by this after trunc_normal(.02) init
    # "train": all weights learn. "frozen_eval": only the head learns, the encoder stays in eval mode (no drop
    # path): the paper's probe. "frozen_train": only the head learns but the encoder follows train() (drop path
    # active): what the reference probe ran.
    encoder: str = "train"

    def __post_init__(self):
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"head kind {self.kind!r}: choose from {HEAD_KINDS}")
        if self.encoder not in ENCODER_MODES:
            raise ValueError(f"encoder mode {self.encoder!r}: choose from {ENCODER_MODES}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes {self.num_classes}: must be >= 1")


def _finetune_init(m: nn.Module) -> None:
    # modeling_finetune's init (differs from pretraining's xavier): trunc_normal(.02) Linear, zero bias,
    # LayerNorm 1/0; Conv3d keeps PyTorch's default. Loaded weights overwrite it; scratch runs keep it.
    if isinstance(m, nn.Linear):
        trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class VideoClassifier(nn.Module):
    def __init__(self, model_cfg: ModelConfig, head: HeadConfig):
        super().__init__()
        self.cfg, self.head_cfg = model_cfg, head
        base = VideoMAE(dataclasses.replace(model_cfg, decoder_depth=0))
        self.patch_embed, self.blocks = base.patch_embed, base.blocks
        self.register_buffer("pos_embed", base.pos_embed.clone(), persistent=False)
        dim = model_cfg.embed_dim
        self.fc_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head_drop = nn.Dropout(head.dropout)
        linear = nn.Linear(dim, head.num_classes)
        if head.kind == "linear":
            self.head = linear
        else:
            self.head = nn.Sequential(nn.BatchNorm1d(dim, affine=False, eps=1e-6), linear)
        self.blocks.apply(_finetune_init)
        self.fc_norm.apply(_finetune_init)
        trunc_normal_(linear.weight, std=0.02)
        with torch.no_grad():
            linear.weight.mul_(head.init_scale)
            linear.bias.zero_()
        self.grad_checkpointing = False
        if head.encoder != "train":
            for name, p in self.named_parameters():
                p.requires_grad_(name.startswith("head."))

    @property
    def encoder_frozen(self) -> bool:
        return self.head_cfg.encoder != "train"

    def train(self, mode: bool = True):
        super().train(mode)
        if self.head_cfg.encoder == "frozen_eval":
            for m in (self.patch_embed, self.blocks, self.fc_norm):
                m.train(False)
        return self

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed"}

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) ImageNet-normalised -> last-block tokens (B, N, D), raster (t, h, w) order."""
        tokens = self.patch_embed(x) + self.pos_embed.to(x.dtype)
        for blk in self.blocks:
            if self.grad_checkpointing and self.training and not self.encoder_frozen:
                tokens = torch.utils.checkpoint.checkpoint(blk, tokens, use_reentrant=False)
            else:
                tokens = blk(tokens)
        return tokens

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Mean-pooled, fc_norm-ed features (B, D): what the head sees (before dropout)."""
        if self.encoder_frozen:
            with torch.no_grad():   # nothing below the head learns: keep no activations for backward
                return self.fc_norm(self.forward_tokens(x).mean(dim=1))
        return self.fc_norm(self.forward_tokens(x).mean(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(self.forward_features(x)))

    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """The tensors a pretraining checkpoint provides: tubelet embed and blocks."""
        return {k: v for k, v in self.state_dict().items() if k.startswith(("patch_embed.", "blocks."))}
