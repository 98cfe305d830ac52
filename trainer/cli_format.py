"""Help formatting and value parsers shared by the synthvid-train subcommands."""

from __future__ import annotations

import argparse
import json


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default once, and only when there is one to show (not None, False or a list)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, argparse.SUPPRESS) or isinstance(action.default, list):
            return text
        return super()._get_help_string(action)


def key_value(text: str) -> tuple[str, object]:
    """KEY=VALUE with a JSON value where it parses as one (`size=128`, `shapes=["circle"]`), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_shard_flags(group) -> None:
    """How a command reads shard sets: loader workers, the bad-shard policy, hash checks, storage options."""
    group.add_argument("--workers", type=int, default=4, help="DataLoader workers per rank")
    group.add_argument("--skip-bad-shards", action="store_true",
                       help="skip and count bad shards and samples (a size or hash differing from the manifest, a "
                            "truncated or corrupt tar, a payload that does not decode) instead of stopping")
    group.add_argument("--verify-shards", action="store_true",
                       help="check each shard's sha256 against the manifest before first reading it (an extra read "
                            "of each shard by each loader process that opens it); sizes are always checked")
    add_storage_flag(group)


def add_storage_flag(group) -> None:
    """--storage-option KEY=VALUE, spelled as in every synthvid command (manifests.storage.parse_storage_options)."""
    group.add_argument("--storage-option", action="append", default=None, metavar="KEY=VALUE",
                       help="an fsspec storage option for shard URLs, repeatable; dotted keys nest and values parse "
                            "as JSON, e.g. --storage-option endpoint_url=http://host:9000 "
                            "--storage-option client_kwargs.region_name=eu-west-1")


def add_runtime_flags(group, out_help: str) -> None:
    """Where and how a training run executes, saves, logs, stops and resumes."""
    group.add_argument("--out", required=True, help=out_help)
    group.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    group.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                       help="auto: bf16 on a GPU, fp32 on a CPU")
    group.add_argument("--compile", action="store_true", help="torch.compile the model")
    group.add_argument("--compile-backend", default="inductor", help="torch.compile backend")
    group.add_argument("--grad-checkpointing", action="store_true", help="recompute block activations in backward")
    group.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps (0: at epoch ends only)")
    group.add_argument("--log-every", type=int, default=1, help="write a log.csv row every N steps")
    group.add_argument("--max-steps", type=int, default=None, help="stop after N optimiser steps in total")
    group.add_argument("--resume", default=None, metavar="RUN",
                       help="run folder (or checkpoint file) to continue; 'auto': continue --out if it holds a "
                            "checkpoint, else start there (for launchers that restart failed workers)")
    group.add_argument("--resume-anyway", action="store_true",
                       help="resume although settings that change the run (epochs, learning rates, seeds, data, "
                            "weights...) differ from the checkpoint's (workers, threads, device, precision, "
                            "cadences, --max-steps and storage settings may always change)")
    group.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    group.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="progress bar (default: when stderr is a terminal)")


def storage_options(args) -> dict | None:
    """The parsed --storage-option flags of add_storage_flag (None when none were given)."""
    from synthvid.manifests.storage import parse_storage_options

    return parse_storage_options(args.storage_option) or None


def runtime_kwargs(args) -> dict:
    """The config fields of add_shard_flags and add_runtime_flags, from parsed arguments."""
    return dict(out=args.out, workers=args.workers, skip_bad_shards=args.skip_bad_shards,
                verify_shards=args.verify_shards, storage_options=storage_options(args),
                device=args.device, precision=args.precision, compile=args.compile,
                compile_backend=args.compile_backend, grad_checkpointing=args.grad_checkpointing,
                save_every=args.save_every, log_every=args.log_every, max_steps=args.max_steps, resume=args.resume,
                resume_anyway=args.resume_anyway, threads=args.threads, progress=args.progress)
