"""Versions that decide the bytes of a dataset. They go into the card and the build fingerprint; a Ray
worker whose versions differ from the driver's refuses to write (its bytes would differ)."""

from __future__ import annotations

import functools
import os
import platform
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


@functools.lru_cache(maxsize=1)
def software_versions() -> dict:
    import cv2
    import numpy
    import pyarrow
    import xxhash
    import zstandard

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "opencv": cv2.__version__,
        "zstandard": zstandard.__version__,
        "libzstd": ".".join(map(str, zstandard.ZSTD_VERSION)),
        "pyarrow": pyarrow.__version__,
        "xxhash": xxhash.VERSION,
    }
