"""The synthvid-train command. Each subcommand is a module with `add_parser(subparsers)` and `run(args)`;
adding one (finetune, probe, test, features, export, analyze) is one line in COMMANDS.

    synthvid-train pretrain --data ./out/accelerating-shapes --model vit_base --out runs/x
    torchrun --nproc-per-node 8 --no-python synthvid-train pretrain ...      # --batch-size stays global
    synthvid-train pretrain ... --resume runs/x                               # continue where it stopped
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import pretrain
from .analysis import cli as analyze

COMMANDS = [pretrain, analyze]


def version() -> str:
    from synthvid.manifests.versions import code_version

    return code_version()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="synthvid-train",
                                description="VideoMAE pretraining from published shards or procedural sources, and dataset analysis.")
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
