"""`synthvid-train test`: multi-view test of fine-tuned checkpoints, UCF101-P robustness included.

    synthvid-train test --checkpoint runs/x-ucf/best.pt --data s3://b/ucf101-test --out report/
    synthvid-train test --checkpoint runs/x-ucf/best.pt runs/scratch-ucf/best.pt \\
        --data s3://b/ucf101-test s3://b/ucf101-p --out report/          # the paper's Fig 3 from your runs
"""

from __future__ import annotations

from ..cli_format import HelpFormatter, add_shard_flags, storage_options
from .cmd_common import guarded, views_flag

DESCRIPTION = """Multi-view test (every rate-th frame of each video, evenly spaced clips x crops along the long
side, softmax averaged per video) of fine-tuned checkpoints on labelled sets: top-1, top-5 and per-class
accuracy; for UCF101-P sets (a `corruption` in their card) accuracy per corruption and severity with each
checkpoint's mean relative robustness against the clean set tested beside them, and the paper's Fig 3 as a PNG.
Writes results.csv, per_class.csv, robustness.csv/.png, summary.md/.html and config.json into --out."""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("test", help="multi-view test of fine-tuned checkpoints (UCF101, HMDB51, UCF101-P)",
                              description=DESCRIPTION, formatter_class=HelpFormatter)
    p.add_argument("--checkpoint", nargs="+", required=True, metavar="CKPT",
                   help="fine-tuned checkpoints (best.pt / checkpoint-last.pt of finetune or probe, or an official "
                        "fine-tuned VideoMAE .pth)")
    p.add_argument("--names", nargs="+", default=None, metavar="NAME",
                   help="a label per checkpoint for tables and plots (default: run folder/file stem)")
    p.add_argument("--data", nargs="+", required=True, metavar="URL",
                   help="labelled sets, or folders of them (a UCF101-P output); give the clean test set too for "
                        "relative robustness")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--views", type=views_flag, default=None, metavar="CLIPSxCROPS",
                   help="views per video (default by the set's dataset: ucf101 5x3, hmdb51 10x3)")
    p.add_argument("--sampling-rate", type=int, default=None,
                   help="stride of the test read (default: the checkpoint's fine-tuning recipe, else 4)")
    p.add_argument("--batch-size", type=int, default=16, help="views per forward pass")
    add_shard_flags(p)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="auto: bf16 on a GPU, fp32 on a CPU")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def options_from_args(args):
    from .testrun import TestOptions

    return TestOptions(checkpoints=tuple(args.checkpoint), data=tuple(args.data), out=args.out,
                       names=tuple(args.names) if args.names else None, views=args.views,
                       sampling_rate=args.sampling_rate, batch=args.batch_size, workers=args.workers,
                       device=args.device, precision=args.precision, threads=args.threads,
                       storage_options=storage_options(args),
                       skip_bad_shards=args.skip_bad_shards, verify_shards=args.verify_shards)


def run(args) -> int:
    from .testrun import run_test

    def go():
        run_test(options_from_args(args))
        print(f"synthvid-train: report in {args.out} (summary.md, results.csv, per_class.csv)")

    return guarded(go)
