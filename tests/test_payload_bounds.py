"""The payload reader's boundaries, each at its exact edge (the hostile-input properties check that bad bytes
raise a PayloadError; these check which one, and that what is just inside a limit is accepted)."""

from __future__ import annotations

import numpy as np
import pytest

from synthvid.manifests.payload import FramesPayload, Limits, PayloadError, encode_frames, parse_head
from synthvid.manifests.payload.container import crc_block, head_size_needed, pack

from .test_payload_hostile import _v2


def _frames(n: int = 3) -> np.ndarray:
    return (np.arange(n * 4 * 6 * 3) % 251).astype(np.uint8).reshape(n, 4, 6, 3)


def test_frame_count_limit_is_inclusive():
    data = encode_frames(_frames(3), fps=25)
    assert FramesPayload(data, limits=Limits(max_frames=3)).num_frames == 3
    with pytest.raises(PayloadError, match="declares 3 frames .limit 1..2."):
        FramesPayload(data, limits=Limits(max_frames=2))


def test_side_and_decode_limits_are_inclusive_and_count_rgb_bytes():
    """A side of exactly max_side, and a decode of exactly max_decoded_bytes (frames x H x W x 3), pass."""
    tall = np.ascontiguousarray(_frames(3).transpose(0, 2, 1, 3))         # 3 frames, 6 high, 4 wide
    for frames in (_frames(3), tall):
        data = encode_frames(frames, fps=25)
        assert FramesPayload(data, limits=Limits(max_side=6)).num_frames == 3
        with pytest.raises(PayloadError, match="limit 5 px a side"):
            FramesPayload(data, limits=Limits(max_side=5))
    data = encode_frames(_frames(3), fps=25)
    assert np.array_equal(FramesPayload(data, limits=Limits(max_decoded_bytes=3 * 4 * 6 * 3)).frames(), _frames(3))
    with pytest.raises(PayloadError, match="needs 216 bytes .limit 215."):
        FramesPayload(data, limits=Limits(max_decoded_bytes=215)).frames()


def test_adjacent_frames_are_one_range():
    """Blocks that touch (one ends where the next starts) are one read, even with no gap allowed."""
    head = parse_head(encode_frames(_frames(3), fps=25))
    (a0, b0), (a1, b1), (a2, b2) = (head.frame_ranges([t])[0] for t in range(3))
    assert (b0, b1) == (a1, a2)                                  # the blocks are laid out back to back
    assert head.frame_ranges([0, 1, 2]) == [(a0, b2)]
    assert head.frame_ranges([0, 2]) == [(a0, b0), (a2, b2)]     # a hole between them: two reads
    assert head.frame_ranges([0, 2], max_gap=b1 - a1) == [(a0, b2)]


def test_truncated_head_is_named_as_such():
    data = encode_frames(_frames(3), fps=25)
    need = head_size_needed(data, Limits())
    with pytest.raises(PayloadError, match=f"truncated payload head: {need - 1} bytes, the head needs {need}"):
        parse_head(data[:need - 1])


def test_a_version_2_index_entry_of_a_checksum_alone_is_refused():
    """Every version-2 block is a 4-byte CRC and at least one byte of frame: an index entry of 4 bytes (a
    forger's, with valid head checksums) cannot hold a frame and is refused while the head is parsed."""
    header = parse_head(encode_frames(_frames(1), fps=25)).header     # a valid header, as written
    data = _v2(header, [b""])                                           # the entry: 0 + 4 bytes
    with pytest.raises(PayloadError, match=r"frame index entry \(\d+, 4\) out of bounds"):
        parse_head(data)


def test_an_index_entry_may_end_at_the_payload_ceiling_not_past_it():
    """Offsets are bounded while the head is parsed (before any range is planned from them): an entry ending
    exactly at max_payload_bytes passes, one byte further is refused."""
    header = parse_head(encode_frames(_frames(1), fps=25)).header
    block = [crc_block(b"x" * 12)]                                     # 16 bytes with its CRC
    head = parse_head(pack(header, [(0, 16)], block)).size
    ceiling = head + 1000
    at_ceiling = parse_head(pack(header, [(1000 - 16, 16)], block), Limits(max_payload_bytes=ceiling))
    assert at_ceiling.index == ((ceiling - 16, 16),)
    with pytest.raises(PayloadError, match=rf"frame index entry \({ceiling - 15}, 16\) out of bounds"):
        parse_head(pack(header, [(1000 - 15, 16)], block), Limits(max_payload_bytes=ceiling))
