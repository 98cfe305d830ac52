"""Which code wrote something: the synthvid release plus the git commit of the checkout it runs from.
Cards record it (`code_version`), and both commands print it (`--version`)."""

from __future__ import annotations

import functools
import os
import subprocess

import synthvid


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus the git commit of the checkout it runs from, when there is one."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        sha = subprocess.run(["git", "-C", here, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{synthvid.__version__}+g{sha}" if sha else synthvid.__version__
