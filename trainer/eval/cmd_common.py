"""What the evaluation subcommands share: the CLIPSxCROPS value parser and the one-line error exit."""

from __future__ import annotations

import argparse
import sys


def views_flag(text: str) -> tuple[int, int]:
    """'5x3' -> (5, 3): clips x crops per video."""
    clips, sep, crops = text.lower().partition("x")
    try:
        out = (int(clips), int(crops))
    except ValueError:
        out = (0, 0)
    if not sep or min(out) < 1:
        raise argparse.ArgumentTypeError(f"expected CLIPSxCROPS such as 5x3, got {text!r}")
    return out


def guarded(fn) -> int:
    """Run `fn`; a user-facing error (bad flags, data, checkpoint) becomes one redacted line and exit 2."""
    from synthvid.manifests.storage import redact

    from ..config import TrainError
    from ..data import DataError
    from .checkpoints import CheckpointError

    try:
        fn()
    except (TrainError, DataError, CheckpointError, ValueError) as e:
        print(f"synthvid-train: error: {redact(str(e))}", file=sys.stderr)
        return 2
    return 0
