"""The synthvid-train command. Each subcommand is a module with `add_parser(subparsers)` and `run(args)`
(a module may add several, like finetune and probe); adding one is one line in COMMANDS.

    synthvid-train pretrain --data ./out/accelerating-shapes --model vit_base --out runs/x
    torchrun --nproc-per-node 8 --no-python synthvid-train pretrain ...      # --batch-size stays global
    synthvid-train pretrain ... --resume runs/x                               # continue where it stopped
    synthvid-train finetune --checkpoint runs/x/checkpoint-last.pt --data ucf-train --val ucf-test --out runs/x-ucf
    synthvid-train probe    --checkpoint runs/x/checkpoint-last.pt --data ucf-train --val ucf-test --out runs/x-lp
    synthvid-train test     --checkpoint runs/x-ucf/best.pt runs/y-ucf/best.pt --data ucf-test ucf-p --out report/
    synthvid-train features --checkpoint runs/x/checkpoint-last.pt --data ucf-train --class ApplyEyeMakeup --out k.mp4
    synthvid-train export   --checkpoint runs/x/checkpoint-last.pt --format hf --out x-hf/
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import pretrain
from .analysis import cli as analyze
from .eval import cmd_export, cmd_features, cmd_finetune, cmd_test

COMMANDS = [pretrain, cmd_finetune, cmd_test, cmd_features, cmd_export, analyze]


def version() -> str:
    from synthvid.manifests.versions import code_version

    return code_version()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synthvid-train",
                                description="VideoMAE pretraining from published shards or procedural sources, "
                                            "its evaluation (fine-tuning, linear probing, multi-view testing, "
                                            "feature maps, export) and dataset analysis.")
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}", help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        before = set(sub.choices)
        command.add_parser(sub)
        for name in set(sub.choices) - before:
            sub.choices[name].set_defaults(_run=command.run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return args._run(args)


if __name__ == "__main__":
    sys.exit(main())
