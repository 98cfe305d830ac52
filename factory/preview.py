"""Pictures and clips for people: GIF, MP4 (H.264, for playing, not for training) and PNG contact sheets."""

from __future__ import annotations

import os

import cv2
import numpy as np

from .latents import sample_latents
from .recipe import Recipe
from .render import Renderer


def render_preview_frames(recipe: Recipe, seed: int = 0, index: int = 0, max_frames: int | None = None) -> np.ndarray:
    lat = sample_latents(recipe.params, seed, index)
    n = lat.frames if max_frames is None else min(max_frames, lat.frames)
    renderer = Renderer(lat, recipe.params)
    return np.stack([renderer.frame(t).copy() for t in range(n)])


def contact_sheet(rows: list[tuple[str, np.ndarray]], columns: int = 8, tile: int = 128) -> np.ndarray:
    """One labelled row per entry: `columns` evenly spaced frames of each video."""
    label_w = 300
    sheet = np.full((len(rows) * (tile + 4) + 4, label_w + columns * (tile + 4) + 4, 3), 24, np.uint8)
    for r, (label, frames) in enumerate(rows):
        y = 4 + r * (tile + 4)
        cv2.putText(sheet, label, (6, y + tile // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1,
                    cv2.LINE_AA)
        picks = np.linspace(0, len(frames) - 1, columns).round().astype(int)
        for c, t in enumerate(picks):
            x = label_w + 4 + c * (tile + 4)
            sheet[y:y + tile, x:x + tile] = cv2.resize(frames[t], (tile, tile), interpolation=cv2.INTER_AREA)
    return sheet


def write_png(path: str, image: np.ndarray) -> None:
    if not cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")


def write_gif(path: str, frames: np.ndarray, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0,
                   optimize=False)


def write_mp4(path: str, frames: np.ndarray, fps: float, crf: int = 18) -> None:
    """H.264 yuv420p through PyAV (frames stay in memory): plays everywhere, lossy on coloured edges."""
    import av

    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=int(round(fps)))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf)}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_preview(path: str, recipe: Recipe, seed: int = 0, index: int = 0) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".png":
        frames = render_preview_frames(recipe, seed, index)
        write_png(path, contact_sheet([(recipe.name, frames)]))
    elif ext == ".gif":
        write_gif(path, render_preview_frames(recipe, seed, index, max_frames=100), recipe.params.fps)
    elif ext == ".mp4":
        write_mp4(path, render_preview_frames(recipe, seed, index), recipe.params.fps)
    else:
        raise ValueError(f"preview output must end in .png, .gif or .mp4, got {path!r}")
    return path
