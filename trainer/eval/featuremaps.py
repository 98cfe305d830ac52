"""`synthvid-train features`: the paper's Fig 5 for one class of a labelled set (spec paper.md F).

The attention keys of the last encoder layer of a pretrained model over `frames` frames (read at `stride`,
centred in time, short side resized to the model's input, centre crop) of up to `videos` videos of the class
(70 x 32 by default, as the paper), PCA over that whole pool (eval/features.KeyPCA), the first three
components as R, G, B, one map per tubelet. The first `show` videos are drawn: a PNG grid (each tubelet's
first frame above its map, one row pair per video) and an MP4 of the frames beside their maps.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import torch

from .. import runtime
from ..config import TrainError
from ..data import DataError, Stats, unnormalize
from .checkpoints import read_weights
from .clips import ViewPlan
from .export import pretraining_model
from .features import KeyPCA, encoder_keys, map_grid, to_rgb, write_mp4, write_png
from .labelled import LabelledSource
from .scoring import ReadPlan, video_views


@dataclass(frozen=True)
class FeatureOptions:
    checkpoint: str
    data: str
    class_name: str
    out: str                    # the MP4; the PNG and a JSON of facts go beside it with the same stem
    videos: int = 70
    frames: int = 32
    stride: int = 4             # the pretraining clips' sampling rate
    show: int = 1
    fps: float = 8.0
    device: str = "auto"
    threads: int | None = None
    storage_options: dict | None = None


def class_videos(source: LabelledSource, name: str, count: int) -> list[int]:
    if name not in source.classes:
        near = [c for c in source.classes if name.lower() in c.lower()] or list(source.classes[:5])
        raise TrainError(f"--class {name}: not a class of {source.name} (e.g. {', '.join(near[:5])})")
    label = source.classes.index(name)
    return [i for i in source.indices if source.label_of(i) == label][:count]


def read_window(payload, options: FeatureOptions) -> np.ndarray:
    """`frames` frames at `stride`, centred in the video (the last frame repeats in a short one)."""
    span = options.frames * options.stride
    start = max(0, (payload.num_frames - span) // 2)
    idx = np.minimum(start + options.stride * np.arange(options.frames), payload.num_frames - 1)
    return payload.frames(idx)


def run_features(options: FeatureOptions) -> dict:
    device, _ = runtime.start(options.device, 0, options.threads)
    model = pretraining_model(read_weights(options.checkpoint)).to(device)   # the paper maps pretrained models
    cfg = model.cfg
    if options.frames < cfg.num_frames or options.frames % cfg.num_frames:
        raise TrainError(f"--frames {options.frames}: a multiple of the model's {cfg.num_frames}-frame clip")
    try:
        source = LabelledSource(options.data, options.storage_options)
    except DataError as e:
        raise TrainError(str(e)) from None
    plan = ReadPlan(ViewPlan(cfg.num_frames, 1, options.frames // cfg.num_frames, 1, cfg.img_size))
    pca, shown, used = KeyPCA(cfg.embed_dim), [], 0
    indices = class_videos(source, options.class_name, options.videos)
    for _, payload, _ in source.read([source.ref(i) for i in indices], Stats()):
        clips = video_views(torch.from_numpy(read_window(payload, options)).to(device), plan)
        keys = encoder_keys(model, clips)
        pca.add(keys)
        used += 1
        if len(shown) < options.show:
            shown.append((clips, keys))
    projection = pca.fit(3)
    return write_outputs(options, model, shown, projection, {"videos": used, "key_vectors": pca.count})


def write_outputs(options: FeatureOptions, model, shown: list, projection, facts: dict) -> dict:
    """The PNG grid and the MP4 of the shown videos; colours scaled over all of them together."""
    t, h, w = model.cfg.grid
    rgb = to_rgb(torch.cat([projection.project(keys) for _, keys in shown]))
    maps = rgb.reshape(len(shown), -1, t, h, w, 3).flatten(1, 2).numpy()     # (videos, maps, h, w, 3)
    frames = [(unnormalize(clips) * 255).round().byte().permute(0, 2, 3, 4, 1).flatten(0, 1).cpu().numpy()
              for clips, _ in shown]                                          # (frames, S, S, 3) each
    stem = os.path.splitext(options.out)[0]
    os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    tub = model.cfg.tubelet
    write_png(stem + ".png", np.concatenate([map_grid(f, m, tub) for f, m in zip(frames, maps)], axis=0))
    write_mp4(stem + ".mp4", np.concatenate(frames), np.concatenate(maps), tub, fps=options.fps)
    facts = {**facts, "class": options.class_name, "data": options.data, "checkpoint": options.checkpoint,
             "frames_per_video": options.frames, "stride": options.stride, "maps_per_video": int(maps.shape[1]),
             "shown_videos": len(shown), "outputs": [stem + ".png", stem + ".mp4"]}
    with open(stem + ".json", "w") as f:
        json.dump(facts, f, indent=1)
    return facts
