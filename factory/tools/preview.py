"""Pictures and clips for people: GIF, MP4 (H.264, for playing, not for training) and PNG contact sheets.

Pool variants preview from small pools built once into a cache folder (`factory.pools.cache`; default
`$SYNTHVID_POOLS_CACHE`, `$XDG_CACHE_HOME/synthvid/pools` or `~/.cache/synthvid/pools`): 8 items, StyleGAN images at 64 px and
latent-walk clips at 32 px (2 clips of 24 frames; the whole-frame clip variant previews 24 frames), so a
fresh `preview --all` costs about a minute of CPU and later ones reuse the pools.
"""

from __future__ import annotations

import dataclasses
import os

import cv2
import numpy as np

from ..generate.latents import sample_latents
from ..generate.params import resolve
from ..generate.recipe import Recipe
from ..generate.render import Renderer
from ..pools.attach import PoolOptions
from ..pools.cache import attach_cached


STYLEGAN_PREVIEW_PX = 64                      # StyleGAN costs ~1 CPU-s per 64 px image, ~3 s at 256 px
CLIP_PREVIEW = {"item_px": 32, "pool_size": 2, "clip_frames": 24}
PREVIEW_ITEMS = 8                             # items of each automatically sized preview pool


def preview_overrides(params, keep_frames: bool = False) -> dict:
    """Small-pool settings for a preview of a pool variant (none for flat variants). `keep_frames` (for
    `build --dry-run` estimates): whole-frame clip variants keep their frame count, with one full-length clip."""
    needed = params.pools_needed()
    if not needed:
        return {}
    extra = {}        # pool_size auto: PREVIEW_ITEMS (fewer when an image folder holds fewer)
    if any(s.startswith("stylegan") for s in needed):
        extra["item_px"] = STYLEGAN_PREVIEW_PX
    if "stylegan-clips" in needed:
        extra.update(CLIP_PREVIEW)
        if params.background_mode == "pool-clip" and keep_frames:
            extra.update(clip_frames=params.frames_max, pool_size=1)
        elif params.background_mode == "pool-clip":
            extra.update(frames_min=CLIP_PREVIEW["clip_frames"], frames_max=CLIP_PREVIEW["clip_frames"])
    return extra


def with_preview_pools(recipes: list, cache: str | None = None, images: str | None = None,
                       pool_urls: dict | None = None, progress: bool = False, keep_frames: bool = False,
                       storage_options: dict | None = None) -> list:
    """Recipes with small pools attached (built into `cache` once, in this process); settings the recipe
    overrides itself are kept. Flat recipes pass through unchanged."""
    out = [_with_preview_settings(r, keep_frames) for r in recipes]
    return attach_cached(out, cache, PoolOptions(videos=1, images=images, given=dict(pool_urls or {}), device="cpu",
                                                 storage_options=dict(storage_options or {}),
                                                 fixed_items=PREVIEW_ITEMS), progress=progress)


def _with_preview_settings(recipe, keep_frames: bool):
    if not recipe.params.pools_needed():
        return recipe
    mine = dict(recipe.overrides)
    extra = {k: v for k, v in preview_overrides(recipe.params, keep_frames).items() if k not in mine}
    if "frames_min" in mine or "frames_max" in mine:
        extra.pop("frames_min", None)
        extra.pop("frames_max", None)
    return dataclasses.replace(recipe, params=resolve(recipe.params, extra))


def render_preview_frames(recipe: Recipe, seed: int = 0, index: int = 0, max_frames: int | None = None) -> np.ndarray:
    lat = sample_latents(recipe.params, seed, index)
    n = lat.frames if max_frames is None else min(max_frames, lat.frames)
    renderer = Renderer(lat, recipe.params, pools=recipe.open_pools())
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


def write_png(path: str, image: np.ndarray, palette: bool = False) -> None:
    """RGB PNG; `palette=True` quantises to 256 colours (median cut, no dither): a third of the bytes, for docs."""
    if palette:
        from PIL import Image

        Image.fromarray(image).quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                        dither=Image.Dither.NONE).save(path, optimize=True)
        return
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
