"""`synthvid-train export`: a pretraining checkpoint in the official VideoMAE layout or as a Hugging Face
`VideoMAEForPreTraining` folder (eval/export.py; both loaded strictly, outputs compared, in the tests).

    synthvid-train export --checkpoint runs/x/checkpoint-last.pt --format videomae --out x.pth
    synthvid-train export --checkpoint runs/x/checkpoint-last.pt --format hf --out x-hf/
"""

from __future__ import annotations

from ..cli_format import HelpFormatter
from .cmd_common import guarded

DESCRIPTION = """Write a pretraining checkpoint for other code: --format videomae gives a .pth in the official
layout ({'model': encoder./decoder. keys, q_bias/v_bias}) that the official run_class_finetuning.py --finetune
reads; --format hf gives a folder (config.json + model.safetensors) for transformers' VideoMAEForPreTraining."""


def add_parser(subparsers) -> None:
    from .export import FORMATS

    p = subparsers.add_parser("export", help="export a pretraining checkpoint (official VideoMAE or Hugging Face)",
                              description=DESCRIPTION, formatter_class=HelpFormatter)
    p.add_argument("--checkpoint", required=True, help="synthvid (or official) pretraining checkpoint")
    p.add_argument("--format", required=True, choices=FORMATS, help="videomae: a .pth file; hf: a folder")
    p.add_argument("--out", required=True, help="the .pth file (videomae) or the folder (hf)")


def run(args) -> int:
    from .checkpoints import read_weights
    from .export import export

    def go():
        weights = read_weights(args.checkpoint)
        export(weights, args.format, args.out)
        print(f"synthvid-train: {args.checkpoint} ({weights.layout}) written as {args.format} to {args.out}")

    return guarded(go)
