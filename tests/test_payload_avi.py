"""The `avi` payload kind: a real video's source bytes, read like the other kinds, bounded before decoding."""

from __future__ import annotations

import io
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthvid.factory.realvideo.decode import decode_video
from synthvid.manifests.payload import (Limits, PayloadError, PayloadSpec, open_payload, payload_for_extension,
                                        read_head)
from synthvid.manifests.payload.avi import AviPayload, count_slack
from tests.videodata import TinySpec, make_clip, write_avi

SPEC = TinySpec(frames=20, width=80, height=60)


@pytest.fixture(scope="module")
def avi_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("avi") / "v.avi"
    write_avi(str(path), make_clip(1, 2, SPEC), SPEC.fps)
    return path.read_bytes()


def _patch(data: bytes, chunk: bytes, offset: int, fmt: str, *values) -> bytes:
    """`data` with `values` packed at `offset` inside the body of the first `chunk` (b'avih', b'strh', b'strf')."""
    out = bytearray(data)
    struct.pack_into(fmt, out, data.index(chunk) + 8 + offset, *values)
    return bytes(out)


def test_reads_the_frames_pyav_decodes_with_the_common_interface(avi_bytes):
    video = open_payload("avi", avi_bytes)
    assert payload_for_extension("00000007.avi").extension == "avi" and not payload_for_extension("avi").random_access
    assert (video.height, video.width, video.fps) == (60, 80, 25.0)
    assert video.header["codec"] == "mpeg4" and video.header["fourcc"] == "XVID"
    reference = decode_video(avi_bytes).frames
    assert video.num_frames == len(video) == 20                  # no manifest row: counted by decoding once
    assert np.array_equal(video.frames(), reference)
    assert np.array_equal(video.frames([19, 3, 3, 0]), reference[[19, 3, 3, 0]])
    assert np.array_equal(video.frame(7), reference[7])
    with pytest.raises(PayloadError, match="frame 20 asked of a video of 20 frames"):
        video.frames([20])
    with pytest.raises(PayloadError, match="no separately encoded frames"):
        video.encoded_frames([0])
    with pytest.raises(PayloadError, match="read the whole member"):
        read_head("avi", lambda a, b: avi_bytes[a:b])
    with pytest.raises(ValueError, match="never encoded by synthvid"):
        PayloadSpec("avi")


def test_the_manifest_row_gives_the_frame_count_and_the_shape(avi_bytes):
    # The row's count is trusted (no decode to count): one frame under the header's is within the slack.
    video = open_payload("avi", avi_bytes, Limits.for_row({"frames": 19, "height": 60, "width": 80}))
    assert video.num_frames == 19 and video.frames([18]).shape == (1, 60, 80, 3)
    far = 20 + count_slack(20) + 1
    with pytest.raises(PayloadError, match=f"AVI declares 20 frames, the manifest says {far}"):
        AviPayload(avi_bytes, Limits.for_row({"frames": far, "height": 60, "width": 80}))
    with pytest.raises(PayloadError, match="payload declares width=80, the manifest says 96"):
        AviPayload(avi_bytes, Limits.for_row({"frames": 20, "height": 60, "width": 96}))
    # a row promising more frames than decode: named when asked for, not a short array
    short = open_payload("avi", avi_bytes[:len(avi_bytes) * 2 // 3], Limits.for_row({"frames": 20, "height": 60,
                                                                                     "width": 80}))
    with pytest.raises(PayloadError, match="decodes fewer frames than the 20 the manifest states"):
        short.frames([19])


def _size_of(data: bytes, chunk: bytes, value: int) -> bytes:
    """`data` with the size field of the first `chunk` set to `value`."""
    out = bytearray(data)
    struct.pack_into("<I", out, data.index(chunk) + 4, value)
    return bytes(out)


def _avi_with(timestamps: list[int], b_frames: int) -> bytes:
    """An XviD AVI with B-frames, its frames at `timestamps` (a gap becomes an empty chunk: a dropped frame)."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="avi") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 80, 60, "yuv420p"
        s.codec_context.codec_tag, s.codec_context.thread_count = "XVID", 1
        s.codec_context.gop_size, s.codec_context.max_b_frames = 6, b_frames
        for f, pts in zip(make_clip(0, 1, TinySpec(frames=len(timestamps))), timestamps):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts = pts
            c.mux(s.encode(frame))
        c.mux(s.encode())
    return buf.getvalue()


def test_frames_are_the_decoders_output_order_with_b_frames_and_dropped_frames():
    """AVI has no timestamps for B-frames and empty chunks output nothing: frame t is the t-th frame out."""
    for timestamps, b_frames in ((list(range(24)), 2), ([0, 1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13], 0)):
        data = _avi_with(timestamps, b_frames)
        video = open_payload("avi", data)
        assert video.header["declared_frames"] == timestamps[-1] + 1
        assert video.num_frames == len(timestamps)
        every = decode_video(data).frames
        assert np.array_equal(video.frames(), every)
        assert np.array_equal(video.frames([len(timestamps) - 1, 5]), every[[len(timestamps) - 1, 5]])


HEADER_CASES = {
    "huge dimensions": (lambda d: _patch(d, b"strf", 4, "<ii", 60000, 60000), None,
                        r"60000x60000 frames \(limit 4096 px a side\)"),
    "huge frame count": (lambda d: _patch(d, b"strh", 32, "<I", 10 ** 9), None,
                         r"declares 1000000000 frames \(limit 1..100000\)"),
    "no frame rate": (lambda d: _patch(d, b"strh", 20, "<II", 1, 0), None, "frame rate of 0/1"),
    "codec not accepted": (lambda d: _patch(d, b"strf", 16, "4s", b"HFYU"), None, "codec 'HFYU' is not accepted"),
    "too long": (lambda d: d, Limits(max_seconds=0.5), r"lasts 1 s \(limit 0 s\)"),
    "header list past the end": (lambda d: _size_of(d, b"LIST", 10 ** 6), None, "AVI header list of 1000000 bytes"),
    "stream header past its list": (lambda d: _size_of(d, b"strh", 5000), None, "'strh' at byte .* runs past its parent"),
}


@pytest.mark.parametrize("case", HEADER_CASES)
def test_declared_header_is_checked_before_ffmpeg_sees_the_file(avi_bytes, case):
    edit, limits, message = HEADER_CASES[case]
    with pytest.raises(PayloadError, match=message):
        AviPayload(edit(avi_bytes), limits)   # the constructor parses the header only; FFmpeg opens on frames()


@pytest.mark.parametrize("data, message", [(b"", "not an AVI file"), (b"RIFF\0\0\0\0WAVEfmt " + bytes(64), "not an AVI"),
                                           (b"RIFF\0\0\0\0AVI JUNK" + bytes(64), "without its header list")])
def test_other_files_are_refused(data, message):
    with pytest.raises(PayloadError, match=message):
        open_payload("avi", data)


_RUN = """
import os, pickle, resource, sys
from synthvid.manifests.payload import PayloadError, open_payload
import av, numpy                                  # imported before the limit: what is measured is the decode
cases = pickle.load(open(sys.argv[1], "rb"))
with open("/proc/self/statm") as f:
    vm = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
resource.setrlimit(resource.RLIMIT_AS, (vm + (64 << 20), resource.RLIM_INFINITY))
for name, data in cases.items():
    try:
        print(name, "DECODED", open_payload("avi", data).frames().shape)
    except PayloadError as e:
        print(name, "PayloadError:", e)
"""


def test_hostile_files_fail_cleanly_inside_a_memory_limit(tmp_path, avi_bytes):
    """A header claiming 60000x60000, and an honest-looking 80x60 header over a 4096x4096 bitstream (FFmpeg
    itself would need over 128 MiB to decode it: measured, the limit here is 64 MiB)."""
    write_avi(str(tmp_path / "big.avi"), np.zeros((2, 4096, 4096, 3), np.uint8), 25)
    liar = (tmp_path / "big.avi").read_bytes()
    liar = _patch(_patch(liar, b"avih", 32, "<II", 80, 60), b"strf", 4, "<ii", 80, 60)
    cases = {"claims-huge": _patch(avi_bytes, b"strf", 4, "<ii", 60000, 60000), "liar": liar, "honest": avi_bytes}
    (tmp_path / "cases.pkl").write_bytes(pickle.dumps(cases))
    r = subprocess.run([sys.executable, "-c", _RUN, str(tmp_path / "cases.pkl")], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert lines["claims-huge"] == "PayloadError: payload declares 60000x60000 frames (limit 4096 px a side)"
    assert lines["liar"] == "PayloadError: the stream's frames are not the declared 80x60"
    assert lines["honest"] == "DECODED (20, 60, 80, 3)"


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(1, 255)), min_size=1, max_size=4),
       in_header=st.booleans(), cut=st.integers(0, 10 ** 6))
def test_mutated_files_decode_or_raise_only_payload_error(avi_bytes, flips, in_header, cut):
    data = bytearray(avi_bytes)
    span = 600 if in_header else len(data)
    for pos, x in flips:
        data[pos % span] ^= x
    data = bytes(data[:len(data) - cut % len(data)]) if cut % 4 == 0 else bytes(data)
    try:
        frames = open_payload("avi", data).frames()
    except PayloadError:
        return
    assert frames.dtype == np.uint8 and frames.shape[1:] == (60, 80, 3)   # damaged video data may decode
