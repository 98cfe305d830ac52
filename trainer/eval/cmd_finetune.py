"""`synthvid-train finetune` and `synthvid-train probe`: flags to a FinetuneConfig, the run, one-line errors.

    synthvid-train finetune --checkpoint runs/x/checkpoint-last.pt --data s3://b/ucf101-train \\
        --val s3://b/ucf101-test --out runs/x-ucf
    synthvid-train finetune --checkpoint none --data ... --out runs/scratch-ucf          # the paper's first row
    synthvid-train probe --checkpoint runs/x/checkpoint-last.pt --data ... --val ... --out runs/x-lp
    torchrun --nproc-per-node 8 --no-python synthvid-train finetune ...                 # --batch-size stays global

Every recipe value (eval/recipes.py, each with its source in the spec) can be overridden by a flag; the
resolved recipe, the optimiser as built and the weights loaded go to config.json next to log.csv,
checkpoint-last.pt and best.pt.
"""

from __future__ import annotations

import argparse

from ..cli_format import HelpFormatter, add_runtime_flags, add_shard_flags, floats, runtime_kwargs
from ..model import PRESETS
from .cmd_common import guarded, views_flag

COMMANDS = {
    "finetune": ("fine-tune a pretrained encoder on a labelled set (UCF101, HMDB51)", "finetune-ucf101",
                 ("finetune-ucf101", "finetune-hmdb51")),
    "probe": ("linear probe of a frozen pretrained encoder", "probe", ("probe", "probe-reference")),
}

DESCRIPTION = """{what}. --data and --val are labelled shard sets (`synthvid-factory ingest`); --checkpoint is a
synthvid pretraining checkpoint, an official VideoMAE one, or 'none' (from scratch). Writes config.json, log.csv,
checkpoint-last.pt and (with --val) best.pt, the checkpoint of the best validation top-1, into --out."""

# recipe field (and flag) -> (type, help) of the plain numeric overrides
OVERRIDES = {"epochs": (int, "epochs over the training set"),
             "batch_size": (int, "videos per optimiser step over all ranks (each gives --num-sample clips)"),
             "base_lr": (float, "lr = base-lr x batch-size / 256"),
             "min_lr": (float, "end of the cosine, scaled like --base-lr"),
             "warmup_epochs": (int, "linear warmup from 0"),
             "weight_decay": (float, "AdamW weight decay (none on norms, biases, position table)"),
             "layer_decay": (float, "layer-wise lr decay: block i gets decay^(depth + 1 - (i + 1))"),
             "drop_path": (float, "stochastic depth of the encoder (largest in the last block)"),
             "head_dropout": (float, "dropout before the head"),
             "num_sample": (int, "repeated augmentation: clips per video and step"),
             "num_frames": (int, "frames per clip"), "sampling_rate": (int, "stride between a clip's frames"),
             "img_size": (int, "input side in px"), "erase_prob": (float, "random erasing probability")}


def _add_recipe_flags(p, default: str, names: tuple) -> None:
    from .recipes import recipe

    base = recipe(default)
    g = p.add_argument_group("recipe (each value defaults to --recipe's; config.json records them all)")
    g.add_argument("--recipe", default=default, choices=names, help="the recipe every value below starts from")
    for name, (kind, text) in OVERRIDES.items():
        g.add_argument("--" + name.replace("_", "-"), type=kind, default=None, metavar="N",
                       help=f"{text} ({default}: {getattr(base, name)})")
    g.add_argument("--betas", type=floats, default=None, metavar="B1,B2", help="AdamW betas")
    g.add_argument("--mixup", type=float, default=None, metavar="ALPHA", help="mixup alpha (0: off)")
    g.add_argument("--cutmix", type=float, default=None, metavar="ALPHA", help="cutmix alpha (0: off)")
    g.add_argument("--label-smoothing", type=float, default=None, metavar="EPS")
    g.add_argument("--randaug", action=argparse.BooleanOptionalAction, default=None,
                   help="RandAugment m7-n4-mstd0.5, the same ops on every frame")


def add_parser(subparsers) -> None:
    for command, (what, default, names) in COMMANDS.items():
        p = subparsers.add_parser(command, help=what, description=DESCRIPTION.format(what=what[0].upper() + what[1:]),
                                  formatter_class=HelpFormatter)
        d = p.add_argument_group("data")
        d.add_argument("--checkpoint", required=True,
                       help="pretraining checkpoint (synthvid checkpoint-last.pt or an official VideoMAE .pth), "
                            "or 'none' to start from scratch")
        d.add_argument("--data", required=True, metavar="URL", help="labelled training set (folder or fsspec URL)")
        d.add_argument("--val", default=None, metavar="URL", help="labelled set scored at epoch ends (best.pt)")
        d.add_argument("--val-every", type=int, default=5, help="epochs between validations (and the last epoch)")
        d.add_argument("--val-views", type=views_flag, default="1x1", metavar="CLIPSxCROPS",
                       help="views per video in validation (the full test: `synthvid-train test`)")
        d.add_argument("--eval-batch", type=int, default=16, help="views per forward pass in validation")
        add_shard_flags(d)
        m = p.add_argument_group("model")
        m.add_argument("--model", default="vit_base", choices=sorted(PRESETS), help="encoder of --checkpoint none")
        _add_recipe_flags(p, default, names)
        r = p.add_argument_group("runtime")
        r.add_argument("--accum-steps", type=int, default=1, help="gradient accumulation steps")
        r.add_argument("--seed", type=int, default=0, help="seed of the head, data order, augmentation and mixup")
        r.add_argument("--augment-on", default="auto", choices=["auto", "worker", "device"],
                       help="where clips are augmented (same draws either way): in loader workers, or on the "
                            "training device from the decoded frames; auto: the device when it is a GPU")
        add_runtime_flags(r, "run folder: config.json, log.csv, checkpoint-last.pt, best.pt")


def config_from_args(args):
    import dataclasses

    from .config import FinetuneConfig
    from .randaugment import RandAugmentOptions
    from .recipes import recipe

    base = recipe(args.recipe)
    over = {k: getattr(args, k) for k in OVERRIDES if getattr(args, k) is not None}
    if args.betas is not None:
        over["betas"] = tuple(args.betas)
    mix = {k: v for k, v in (("mixup_alpha", args.mixup), ("cutmix_alpha", args.cutmix),
                             ("label_smoothing", args.label_smoothing)) if v is not None}
    if mix:
        over["mixup"] = dataclasses.replace(base.mixup, **mix)
    if args.randaug is not None:
        over["randaug"] = RandAugmentOptions() if args.randaug else None
    return FinetuneConfig(checkpoint=args.checkpoint, data=args.data, recipe=recipe(args.recipe, **over),
                          val=args.val, model=args.model, accum_steps=args.accum_steps, val_every=args.val_every,
                          val_clips=args.val_views[0], val_crops=args.val_views[1], eval_batch=args.eval_batch,
                          augment_on=args.augment_on, seed=args.seed, **runtime_kwargs(args))


def run(args) -> int:
    from .finetune import finetune

    def go():
        s = finetune(config_from_args(args))
        best = s["best"]
        shown = f"best val top-1 {best['top1']:.4f} (epoch {best['epoch']})" if best else "no validation"
        print(f"synthvid-train: {s['step']} steps, epoch {s['epoch']}, last loss "
              f"{s['losses'][-1] if s['losses'] else float('nan'):.4f}; {shown}; skipped samples "
              f"{s['skipped_samples']}; outputs in {args.out}")

    return guarded(go)

