"""Versions that decide the bytes of a dataset. They go into the card and the build fingerprint; a Ray
worker whose versions differ from the driver's refuses to write (its bytes would differ)."""

from __future__ import annotations

import functools
import platform

from synthvid.manifests.payload import encoder_versions
from synthvid.manifests.payload.codecs import JPEG, ZSTD
from synthvid.manifests.versions import code_version

__all__ = ["code_version", "software_versions"]


@functools.lru_cache(maxsize=1)
def software_versions() -> dict:
    import cv2
    import numpy
    import pyarrow
    import simplejpeg
    import xxhash

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "opencv": cv2.__version__,
        **encoder_versions(ZSTD),          # zstandard, libzstd: the svf payload
        **encoder_versions(JPEG),          # pillow, libjpeg_turbo: the svj payload's encoder
        "simplejpeg": simplejpeg.__version__,   # decodes svj for the PSNR in the manifest and `auto`'s choice
        "pyarrow": pyarrow.__version__,
        "xxhash": xxhash.VERSION,
    }
