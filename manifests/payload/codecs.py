"""Frame codecs: how one (H, W, 3) uint8 frame becomes one block and back, each decode bounded by the
header's frame size before anything is allocated.

- zstd: raw RGB compressed with zstd (lossless). zstandard's `decompress` trusts a frame's declared
  content size over `max_output_size`, so the declared size is checked against H*W*3 first.
- jpeg: baseline JPEG, 4:4:4 (hard coloured edges smear under chroma subsampling), Huffman tables
  optimised, encoded by Pillow's libjpeg-turbo and decoded by simplejpeg's. Before decoding, the marker
  segments up to the first scan are walked: exactly one baseline frame header of HxW with 3 components,
  none subsampled; progressive, lossless and arithmetic-coded JPEGs are refused (unbounded decode work,
  and not what nvJPEG's fast path takes).
"""

from __future__ import annotations

import functools
import io
import struct

import numpy as np
import zstandard

from .limits import PayloadError

ZSTD, JPEG = "zstd", "jpeg"
# Codec settings as they appear in the payload header (name -> type); checked by container._header.
SETTINGS = {ZSTD: {"level": int}, JPEG: {"quality": int}}


def encode(codec: str, frame: np.ndarray, settings: dict) -> bytes:
    if codec == ZSTD:
        return _zstd_compressor(settings["level"]).compress(frame.data)
    if codec == JPEG:
        return _jpeg_encode(frame, settings["quality"])
    raise ValueError(f"unknown codec {codec!r}")


def decode_into(codec: str, block, out: np.ndarray, t: int) -> None:
    """Decode frame t's block into `out` ((H, W, 3) uint8, C-contiguous)."""
    h, w, _ = out.shape
    if codec == ZSTD:
        out[...] = _zstd_decode(block, h * w * 3, t).reshape(h, w, 3)
    elif codec == JPEG:
        check_jpeg(block, h, w, t)
        _jpeg_decode(block, out, t)
    else:
        raise PayloadError(f"unknown codec {codec!r}")


@functools.lru_cache(maxsize=8)
def _zstd_compressor(level: int) -> zstandard.ZstdCompressor:
    # threads=0: single-threaded, so the bytes depend only on the libzstd version and the level.
    return zstandard.ZstdCompressor(level=level, threads=0, write_checksum=True, write_content_size=True)


def _zstd_decode(block, size: int, t: int) -> np.ndarray:
    try:
        declared = zstandard.get_frame_parameters(block).content_size
        if declared != size:
            raise PayloadError(f"frame {t}: block declares {declared} bytes, the header {size}")
        raw = zstandard.ZstdDecompressor().decompress(block, max_output_size=size)
    except zstandard.ZstdError as e:
        raise PayloadError(f"corrupt frame {t}: {e}") from None
    if len(raw) != size:
        raise PayloadError(f"frame {t} decodes to {len(raw)} bytes, expected {size}")
    return np.frombuffer(raw, np.uint8)


def _jpeg_encode(frame: np.ndarray, quality: int) -> bytes:
    from PIL import Image, ImageFile    # the factory's dependency; readers decode with simplejpeg

    # With optimize=True Pillow gives libjpeg an output buffer of max(MAXBLOCK, W*H) bytes (2*W*H from
    # quality 95), and a larger JPEG fails ("Suspension not allowed here"): a high-entropy 256 px frame at
    # q94 does. Twice the raw frame always suffices; the buffer size does not change the bytes written.
    need = 2 * frame.size + 65536
    if ImageFile.MAXBLOCK < need:
        ImageFile.MAXBLOCK = need
    buf = io.BytesIO()
    Image.fromarray(frame, "RGB").save(buf, "JPEG", quality=quality, subsampling=0, optimize=True)
    return buf.getvalue()


def _jpeg_decode(block, out: np.ndarray, t: int) -> None:
    import simplejpeg

    try:
        got = simplejpeg.decode_jpeg(block, colorspace="RGB", buffer=out, strict=True)
    except (ValueError, RuntimeError, TypeError) as e:
        raise PayloadError(f"corrupt frame {t}: {e}") from None
    if got.shape != out.shape:
        raise PayloadError(f"frame {t} decodes to {got.shape}, expected {out.shape}")


# Markers without a length field, and frame headers (SOFn) other than baseline/extended sequential Huffman.
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_REFUSED_SOF = {0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def check_jpeg(block, height: int, width: int, t: int = 0) -> None:
    """Refuse a JPEG block that is not baseline 8-bit 4:4:4 RGB of exactly height x width. Reads only the
    marker segments before the first scan, each bounded by the block's length."""
    data = bytes(block[:65536])    # our encoder writes ~1 KB of segments before the scan
    if data[:2] != b"\xff\xd8":
        raise PayloadError(f"frame {t}: not a JPEG (no SOI marker)")
    pos, sof = 2, None
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise PayloadError(f"frame {t}: JPEG marker segments end before the first scan")
        marker = data[pos + 1]
        if marker == 0xFF:                      # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2 or pos + 2 + length > len(data):
            raise PayloadError(f"frame {t}: JPEG segment 0x{marker:02X} overruns the block")
        if marker in _REFUSED_SOF:
            raise PayloadError(f"frame {t}: JPEG process 0x{marker:02X} refused (baseline only)")
        if marker in (0xC0, 0xC1):
            if sof is not None:
                raise PayloadError(f"frame {t}: two JPEG frame headers")
            sof = data[pos + 4:pos + 2 + length]
            _check_sof(sof, height, width, t)
        if marker == 0xDA:                      # start of scan: the header part is over
            if sof is None:
                raise PayloadError(f"frame {t}: JPEG scan before any frame header")
            return
        pos += 2 + length


def _check_sof(sof: bytes, height: int, width: int, t: int) -> None:
    if len(sof) < 6:
        raise PayloadError(f"frame {t}: short JPEG frame header")
    precision, h, w, ncomp = struct.unpack_from(">BHHB", sof)
    if (precision, h, w, ncomp) != (8, height, width, 3) or len(sof) != 6 + 3 * ncomp:
        raise PayloadError(f"frame {t}: JPEG of {w}x{h}, {ncomp} components, {precision} bit; "
                           f"the header says {width}x{height} RGB 8 bit")
    if any(sof[6 + 3 * i + 1] != 0x11 for i in range(3)):
        raise PayloadError(f"frame {t}: JPEG with chroma subsampling (4:4:4 only)")
