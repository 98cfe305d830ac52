"""Load pretrained weights into the classifier, checked: every encoder tensor comes from the checkpoint with
the right shape, and every checkpoint tensor is either used or one that fine-tuning drops by design (the
decoder, the pretrained final norm, the mask token). Anything else is an error naming the keys, never a
"loaded with warnings".

Accepted: a synthvid pretraining checkpoint (`checkpoint-last.pt`: {'format': 1, 'model', 'model_config'}),
an official VideoMAE pretraining checkpoint ({'model': encoder./decoder. keys}), an official fine-tuned
checkpoint ({'module' or 'model': patch_embed./blocks./fc_norm./head.}), a synthvid classifier's state dict
(under 'model' or bare), or a bare state dict of any of these. `with_head` also loads fc_norm and the head
(of a fine-tuned classifier, for testing it).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import torch

from ..model import PRESETS, ModelConfig, model_config
from .classifier import VideoClassifier
from .layouts import SYNTHVID, LayoutError, detect, official_to_synthvid, strip_wrappers

# Pretraining tensors that a classifier does not use (VideoMAE's fine-tuning drops them too).
PRETRAIN_ONLY = ("norm.", "encoder_to_decoder.", "mask_token", "decoder_blocks.", "decoder_norm.", "head.")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded as asked; the message names the file and the keys."""


@dataclass(frozen=True)
class PretrainedWeights:
    state: dict                      # synthvid names, qkv biases merged
    layout: str                      # layouts.SYNTHVID / OFFICIAL_PRETRAIN / OFFICIAL_FINETUNE
    source: str                      # the file, for messages
    model_config: dict | None = None  # synthvid checkpoints record their model
    run_config: dict | None = None    # and their run's resolved configuration (config.json: classes, recipe)

    @property
    def has_classifier(self) -> bool:
        """A fine-tuned (or probed) classifier: fc_norm and a head, no decoder. The layout alone cannot say
        it: synthvid's pretraining and fine-tuning checkpoints share one naming."""
        return "fc_norm.weight" in self.state


@dataclass(frozen=True)
class LoadReport:
    loaded: tuple[str, ...]          # classifier keys set from the checkpoint
    dropped: tuple[str, ...]         # checkpoint keys left out by design
    layout: str


def read_weights(path: str) -> PretrainedWeights:
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no checkpoint file there")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)   # a checkpoint is data, never code
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: not a checkpoint (a {type(raw).__name__})")
    cfg = raw.get("model_config") if raw.get("format") == 1 else None
    run_config = raw.get("config") if raw.get("format") == 1 and isinstance(raw.get("config"), dict) else None
    state = next((raw[k] for k in ("model", "module") if isinstance(raw.get(k), dict)), raw)
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: holds no state dict of tensors (keys {', '.join(list(raw)[:6])})")
    try:
        state = strip_wrappers(state)
        layout = detect(state)
        state = state if layout == SYNTHVID else official_to_synthvid(state)
    except LayoutError as e:
        raise CheckpointError(f"{path}: {e}") from None
    return PretrainedWeights(state=state, layout=layout, source=path, model_config=cfg, run_config=run_config)


def infer_model_config(weights: PretrainedWeights, **overrides) -> ModelConfig:
    """The encoder's config: recorded by synthvid checkpoints; for official ones read from the tensor shapes
    (width, depth, tubelet, patch) with the head count of the preset of that width and depth.
    `overrides` (img_size, num_frames, drop_path, ...) apply on top: the sinusoid table follows the size."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if weights.model_config is not None:
        return dataclasses.replace(ModelConfig(**weights.model_config), **overrides)
    proj = weights.state.get("patch_embed.proj.weight")
    if proj is None:
        raise CheckpointError(f"{weights.source}: no patch_embed.proj.weight, so the model cannot be inferred")
    width, _, tubelet, patch, _ = proj.shape
    depth = 1 + max(int(k.split(".")[1]) for k in weights.state if k.startswith("blocks."))
    name = next((n for n, p in PRESETS.items() if p["embed_dim"] == width and p["depth"] == depth), None)
    if name is None:
        raise CheckpointError(f"{weights.source}: no preset has width {width} and depth {depth}; name the model")
    return model_config(name, patch_size=patch, tubelet=tubelet, **overrides)


def _check_position_table(model: VideoClassifier, state: dict, source: str) -> None:
    for key in ("pos_embed",):
        if key in state and not (state[key].shape == model.pos_embed.shape
                                 and torch.allclose(state[key].float(), model.pos_embed, atol=1e-5)):
            raise CheckpointError(f"{source}: its {key} is not the fixed sinusoid table of this model "
                                  f"(learned or another size); VideoMAE's sinusoid layout is required")


def _split_keys(model: VideoClassifier, weights: PretrainedWeights, with_head: bool) -> tuple[list, list]:
    """(keys to load, keys dropped by design); any other difference is an error."""
    wanted = set(model.encoder_state_dict())
    if with_head:
        if not weights.has_classifier:
            raise CheckpointError(f"{weights.source}: holds no classifier (fc_norm, head) to load; a pretraining "
                                  f"checkpoint has only the encoder and decoder")
        wanted |= {k for k in model.state_dict() if k.startswith(("fc_norm.", "head."))}
    use, dropped, unexpected = [], [], []
    for key in weights.state:
        if key in wanted:
            use.append(key)
        elif key == "pos_embed" or key.startswith(PRETRAIN_ONLY + ("fc_norm.",)):
            dropped.append(key)
        else:
            unexpected.append(key)
    missing = sorted(wanted - set(use))
    if missing or unexpected:
        raise CheckpointError(f"{weights.source}: does not match the classifier: missing {_few(missing)}; "
                              f"unexpected {_few(unexpected)}")
    return use, dropped


def load_pretrained(model: VideoClassifier, weights: PretrainedWeights, *, with_head: bool = False) -> LoadReport:
    """Set the classifier's encoder (with `with_head`, also fc_norm and the head of a fine-tuned
    classifier's weights) from `weights`; everything else stays as initialised."""
    _check_position_table(model, weights.state, weights.source)
    use, dropped = _split_keys(model, weights, with_head)
    current = model.state_dict()
    wrong = [f"{k} {tuple(weights.state[k].shape)} vs {tuple(current[k].shape)}" for k in use
             if weights.state[k].shape != current[k].shape]
    if wrong:
        raise CheckpointError(f"{weights.source}: shapes differ from the classifier's (checkpoint vs model): "
                              f"{_few(wrong)}")
    current.update({k: weights.state[k].to(current[k].dtype) for k in use})
    model.load_state_dict(current, strict=True)
    return LoadReport(loaded=tuple(sorted(use)), dropped=tuple(sorted(dropped)), layout=weights.layout)


def _few(items: list[str], n: int = 6) -> str:
    if not items:
        return "none"
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")
