"""Export a synthvid pretraining checkpoint for other code bases.

- `videomae`: a .pth in the official pretraining layout ({'model': encoder./decoder. keys, q_bias/v_bias}),
  which the official `run_class_finetuning.py --finetune` reads (key 'model', `encoder.` prefix stripped).
- `hf`: a Hugging Face `VideoMAEForPreTraining` folder (config.json + model.safetensors), through
  trainer/hf_export.py's weight map.
Both refuse a checkpoint whose key bias is not 0 (neither layout has a key bias).
"""

from __future__ import annotations

import os

import torch

from synthvid.manifests.storage import open_atomic

from ..hf_export import to_hf_model
from ..model import VideoMAE
from .checkpoints import CheckpointError, PretrainedWeights, infer_model_config
from .layouts import OFFICIAL_FINETUNE, LayoutError, synthvid_to_official

FORMATS = ("videomae", "hf")


def pretraining_model(weights: PretrainedWeights) -> VideoMAE:
    """The full pretraining model (decoder included) of synthvid or official pretraining weights, loaded
    strictly."""
    if weights.layout == OFFICIAL_FINETUNE or weights.has_classifier:
        raise CheckpointError(f"{weights.source}: a fine-tuned classifier (no decoder); export and the feature "
                              "maps take a pretraining checkpoint")
    model = VideoMAE(infer_model_config(weights))
    try:
        model.load_state_dict(weights.state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{weights.source}: does not load into the pretraining model: {str(e)[:400]}") from None
    return model.eval()


def export_videomae(weights: PretrainedWeights, path: str) -> None:
    model = pretraining_model(weights)
    try:
        state = synthvid_to_official(model.state_dict())
    except LayoutError as e:
        raise CheckpointError(f"{weights.source}: {e}") from None
    # 'model' is what the official scripts read; the config rides along for humans (they ignore it).
    with open_atomic(path) as f:
        torch.save({"model": state, "synthvid_model_config": model.cfg.to_dict(),
                    "synthvid_source_layout": weights.layout}, f)


def export_hf(weights: PretrainedWeights, folder: str) -> None:
    model = pretraining_model(weights)
    try:
        hf = to_hf_model(model)
    except ValueError as e:           # a non-zero key bias
        raise CheckpointError(f"{weights.source}: {e}") from None
    os.makedirs(folder, exist_ok=True)
    hf.save_pretrained(folder, safe_serialization=True)


def export(weights: PretrainedWeights, fmt: str, out: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"export format {fmt!r}: choose from {', '.join(FORMATS)}")
    (export_videomae if fmt == "videomae" else export_hf)(weights, out)

