"""Frames payloads: one member per video holding its frames, each frame decodable alone.

Why a container of our own: training reads 16 frames of a 100-200 frame video, so every frame must be
decodable alone (no GOP to walk) and reachable by byte range; the factory must write it in about a
millisecond per frame; a reader must be able to bound every allocation before it makes it.

    container.py  the checksummed head (header + per-frame index) and the block area, versions 1 and 2
    codecs.py     per-frame codecs (zstd raw RGB, baseline JPEG 4:4:4), bounded decodes
    kinds.py      the registry: member extension -> kind (svf, svj, avi); PayloadSpec; whole and range reads
    avi.py        real videos kept as their source AVI bytes: header probe, bounded PyAV decoding
    encoder.py    the streaming encoder
    limits.py     ceilings and the manifest's expectations; PayloadError
    choose.py     `--payload auto`: kind and settings per variant, from sample frames

Measurements behind the choices: benchmarks/payload_formats.py and ARCHITECTURE.md.
"""

from .choose import Choice, Targets, choose_payload, psnr
from .container import FORMAT_V2, PayloadHead, head_size_needed, parse_head
from .encoder import FramesEncoder, decode_frames, encode_frame_list, encode_frames
from .kinds import (AVI, DEFAULT_LEVEL, DEFAULT_QUALITY, SVF, SVJ, FramesPayload, PayloadKind, PayloadSpec,
                    decode_ranges, encoded_ranges, encoder_versions, open_payload, payload_extensions,
                    payload_for_extension, payload_member, read_head)
from .limits import DEFAULT_LIMITS, Limits, PayloadError, UnknownPayloadKind

EXTENSION = SVF.extension

__all__ = [
    "Choice", "Targets", "choose_payload", "psnr", "FORMAT_V2", "PayloadHead", "head_size_needed",
    "parse_head", "FramesEncoder", "decode_frames", "encode_frame_list", "encode_frames", "DEFAULT_LEVEL",
    "DEFAULT_QUALITY", "AVI", "SVF", "SVJ", "FramesPayload", "PayloadKind", "PayloadSpec", "decode_ranges",
    "encoded_ranges", "encoder_versions", "open_payload", "payload_extensions", "payload_for_extension",
    "payload_member", "read_head", "DEFAULT_LIMITS", "Limits", "PayloadError", "UnknownPayloadKind", "EXTENSION",
]
