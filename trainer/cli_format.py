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
