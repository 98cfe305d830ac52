"""The preview writers, read back by a real decoder (PyAV): a GIF holds every frame exactly (a few flat
colours fit its palette), an MP4 holds every frame at the recipe's rate and close to the rendered pixels
(H.264 4:2:0 is lossy on coloured edges), and `preview NAME.gif|.mp4` writes the video it names."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from synthvid.factory.cli import main as cli_main
from synthvid.factory.generate.recipe import from_variant
from synthvid.factory.tools.preview import write_gif, write_mp4


def _pattern(n: int = 12, h: int = 48, w: int = 64) -> np.ndarray:
    """A red square moving right over a flat blue background, one step per frame (no renderer involved)."""
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[..., 2] = 160
    for t in range(n):
        frames[t, 16:32, 2 * t:2 * t + 16] = (230, 20, 20)
    return frames


def _luma(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _decode(path) -> tuple[np.ndarray, object]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames, stream


def test_gif_holds_every_frame_exactly(tmp_path):
    frames = _pattern()
    path = tmp_path / "p.gif"
    write_gif(str(path), frames, fps=20)
    got, stream = _decode(path)
    assert got.shape == frames.shape
    assert np.array_equal(got, frames)
    with av.open(str(path)) as container:      # 50 ms per frame: the GIF's own frame duration
        durations = [p.duration * p.time_base for p in container.demux(video=0) if p.size]
    assert all(d == Fraction(1, 20) for d in durations[:-1]), durations


def test_mp4_holds_every_frame_at_the_rate_close_to_the_pixels(tmp_path):
    frames = _pattern()
    path = tmp_path / "p.mp4"
    write_mp4(str(path), frames, fps=25)
    got, stream = _decode(path)
    assert stream.codec_context.name == "h264" and stream.average_rate == 25
    assert got.shape == frames.shape
    err = np.abs(got.astype(int) - frames.astype(int))
    assert err.mean() < 3                                   # crf 18: near-transparent on flat areas
    # the square is where it was drawn in every frame (motion kept, frames in order)
    centre = got[:, 24, :, 0].astype(int)                   # red channel along the square's middle row
    assert [int(np.argmax(row > 128)) for row in centre] == [2 * t for t in range(len(frames))]


@pytest.mark.parametrize("ext", ["gif", "mp4"])
def test_preview_command_writes_the_named_video(tmp_path, ext, capsys):
    path = tmp_path / f"shapes.{ext}"
    assert cli_main(["preview", "moving-shapes", "--out", str(path), "--size", "64", "--frames", "20-24"]) == 0
    assert f"wrote {path}" in capsys.readouterr().out
    got, _ = _decode(path)
    recipe = from_variant("moving-shapes", {"size": 64, "frames_min": 20, "frames_max": 24})
    frames, _info = recipe.render_sample(0, 0)
    want = np.stack([f.copy() for f in frames])
    assert got.shape == want.shape
    if ext == "gif":                                        # a 256-colour palette of a few flat colours
        err = np.abs(got.astype(int) - want.astype(int)).mean()
    else:       # H.264 4:2:0 halves chroma resolution (saturated 64 px edges bleed), luma stays full size
        err = np.abs(_luma(got) - _luma(want)).mean()
    assert err < 4, err                                     # measured: GIF 0.0, MP4 luma 2.5
    assert not np.array_equal(got[0], got[-1])              # the shapes move


def test_preview_refuses_other_extensions(tmp_path, capsys):
    assert cli_main(["preview", "moving-shapes", "--out", str(tmp_path / "x.avi")]) == 2
    assert "must end in .png, .gif or .mp4" in capsys.readouterr().err
