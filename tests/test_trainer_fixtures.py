"""Helpers shared by the trainer's tests (no tests here): tiny variant builds made by the real factory,
in-process (`inline=True`, no Ray), cached per session under one temporary folder."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

TINY = {"size": 64, "frames_min": 20, "frames_max": 30}
# The build the learning test pretrains on (static-circles): 32 px, 4-8 frames, two circles of 4-16 px radius
# centred inside the frame. A masked patch that is not flat mostly holds an arc of a circle whose neighbouring
# patches are visible, so the model can beat the patch-mean baseline only by continuing those edges.
LEARN = {"size": 32, "frames_min": 4, "frames_max": 8, "objects": 2, "position_range": 1.0, "radius_min": 0.15,
         "radius_max": 0.5, "radius_sigma": 1.0}
_ROOT = None
_BUILT: dict = {}


def build(variant: str = "accelerating-shapes", videos: int = 24, seed: int = 3, per_shard: int = 6,
          payload: tuple = ("auto",), **overrides) -> str:
    """URL (local folder) of a tiny published variant; built once per argument set and session. `payload`
    is a factory PayloadRequest's arguments, e.g. ("svj", 95)."""
    global _ROOT
    from synthvid.factory.pipeline.build import BuildOptions, build_variants
    from synthvid.factory.pipeline.payloads import PayloadRequest
    from synthvid.factory.generate.recipe import from_variant

    params = {**TINY, **overrides}
    key = (variant, videos, seed, per_shard, tuple(payload), tuple(sorted(params.items())))
    if key not in _BUILT:
        if _ROOT is None:
            _ROOT = tempfile.mkdtemp(prefix="synthvid-trainer-tests-")
            atexit.register(shutil.rmtree, _ROOT, True)
        out = os.path.join(_ROOT, f"b{len(_BUILT)}")
        build_variants([from_variant(variant, params)],
                       BuildOptions(out, videos=videos, seed=seed, per_shard=per_shard, inline=True,
                                    progress=False, payload=PayloadRequest(*payload)))
        _BUILT[key] = os.path.join(out, variant)
    return _BUILT[key]


def tiny_config(out, data, **kw):
    """A TrainConfig for CPU tests: vit_tiny_test at 64 px, 16 frames at stride 1 (the tiny builds have 20-30
    frames), global batch 4, one thread."""
    from synthvid.trainer.engine import TrainConfig

    base = dict(data=[data] if isinstance(data, str) else data, out=str(out), model="vit_tiny_test", img_size=64,
                sampling_rate=1, batch_size=4, epochs=2, workers=0, base_lr=0.05, warmup_epochs=0.5,
                threads=1, progress=False, procedural_params=dict(TINY), record_indices=True)
    base.update(kw)
    return TrainConfig(**base)
