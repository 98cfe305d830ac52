"""What a reader is willing to decode: hard ceilings plus the caller's expectations (the manifest row).

Shards are untrusted. Every size a payload declares (header length, frame count, height, width, each
block's length and decoded size) is checked against these before anything of that size is allocated or
decoded, and every way a payload can be malformed surfaces as PayloadError, the one exception a reader
(and `--skip-bad-shards`) has to catch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


class PayloadError(ValueError):
    """The bytes are not a complete, valid synthvid frames payload (or not one the caller expects)."""


class UnknownPayloadKind(PayloadError):
    """A member extension no registered payload kind claims (a dataset from a newer synthvid, or not ours)."""


@dataclass(frozen=True)
class Limits:
    """Ceilings for one payload, and what the manifest says it holds (None: not known to the caller).

    The defaults fit every dataset synthvid writes (256-320 px, at most a few hundred frames) with a wide
    margin, and keep one decode call far below a DataLoader worker's memory.
    """

    max_side: int = 4096                 # pixels, height and width
    max_frames: int = 100_000
    max_header_bytes: int = 64 * 1024
    max_payload_bytes: int = 1 << 34     # 16 GiB: offsets in the index beyond this are refused
    max_decoded_bytes: int = 1 << 29     # one frames() call: (len(indices), H, W, 3) uint8
    max_seconds: float = 24 * 3600.0     # a source video's declared duration (the avi kind)
    frames: int | None = None            # expected frame count (manifest `frames`)
    height: int | None = None            # expected height (manifest `height`)
    width: int | None = None             # expected width (manifest `width`)

    def expecting(self, frames: int | None = None, height: int | None = None,
                  width: int | None = None) -> "Limits":
        """These ceilings, plus the shape a manifest row promises."""
        return dataclasses.replace(self, frames=frames, height=height, width=width)

    @classmethod
    def for_row(cls, row: dict, **ceilings) -> "Limits":
        """Limits for a sample-manifest row (its `frames`, `height`, `width`)."""
        return cls(**ceilings).expecting(_int_or_none(row.get("frames")), _int_or_none(row.get("height")),
                                         _int_or_none(row.get("width")))

    def check_shape(self, frames: int, height: int, width: int) -> None:
        if not 1 <= frames <= self.max_frames:
            raise PayloadError(f"payload declares {frames} frames (limit 1..{self.max_frames})")
        if not (1 <= height <= self.max_side and 1 <= width <= self.max_side):
            raise PayloadError(f"payload declares {width}x{height} frames (limit {self.max_side} px a side)")
        for name, got, want in (("frames", frames, self.frames), ("height", height, self.height),
                                ("width", width, self.width)):
            if want is not None and got != want:
                raise PayloadError(f"payload declares {name}={got}, the manifest says {want}")

    def check_member_size(self, size: int) -> None:
        """Refuse to read a payload member of `size` bytes into memory when it is larger than any payload of
        the expected shape could be: encoded frames never take more than twice their raw RGB bytes (zstd and
        baseline JPEG 4:4:4 stay far below that even on noise), plus the head."""
        cap, what = self.max_payload_bytes, "the ceiling"
        if None not in (self.frames, self.height, self.width):
            raw = self.frames * self.height * self.width * 3
            cap = min(cap, 2 * raw + 16 * self.frames + self.max_header_bytes + (1 << 20))
            what = f"what {self.frames} frames of {self.width}x{self.height} may take"
        if not 0 <= size <= cap:
            raise PayloadError(f"the payload member is {size} bytes, more than {what} ({cap} bytes)")

    def check_decode(self, count: int, height: int, width: int) -> None:
        need = count * height * width * 3
        if need > self.max_decoded_bytes:
            raise PayloadError(f"decoding {count} frames of {width}x{height} needs {need} bytes "
                               f"(limit {self.max_decoded_bytes})")


def _int_or_none(v):
    return None if v is None else int(v)


DEFAULT_LIMITS = Limits()
