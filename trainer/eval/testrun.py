"""`synthvid-train test`: multi-view testing of fine-tuned checkpoints on labelled sets, UCF101-P included.

For every checkpoint x set: every video of the set scored with num_clips x num_crops views (by default the
dataset's protocol from the card's `split`: UCF101 5 x 3, HMDB51 10 x 3; spec paper.md C.2), on every rank
(scoring.py), then top-1 / top-5 and per-class accuracy. A --data URL may be one set or a folder of sets
(a UCF101-P output: one set per corruption and severity). Rank 0 writes the report (testreport.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from synthvid.manifests import layout
from synthvid.manifests.storage import Store, StorageError, join, safe_url

from .. import runtime
from ..config import TrainError
from ..data import DataError
from .checkpoints import CheckpointError, infer_model_config, load_pretrained, read_weights
from .classifier import HeadConfig, VideoClassifier
from .clips import ViewPlan
from .labelled import LabelledSource
from .metrics import Accuracy
from .scoring import ScoreOptions, read_plan, score

DATASET_VIEWS = {"ucf101": (5, 3), "hmdb51": (10, 3)}   # clips x crops (spec C.2; videomae.md 2.2)
DEFAULT_VIEWS = (5, 3)                                    # VideoMAE's default for other sets
DEFAULT_RATE = 4                                          # when a checkpoint does not record its recipe


@dataclass(frozen=True)
class TestOptions:
    checkpoints: tuple[str, ...]
    data: tuple[str, ...]
    out: str
    names: tuple[str, ...] | None = None      # one per checkpoint (default: run folder/file stem)
    views: tuple[int, int] | None = None      # clips x crops (default: by dataset)
    sampling_rate: int | None = None          # default: the checkpoint's fine-tuning recipe, else 4
    batch: int = 16                           # views per forward pass
    workers: int = 4
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    storage_options: dict | None = None
    skip_bad_shards: bool = False
    verify_shards: bool = False


@dataclass
class Tested:
    """A fine-tuned classifier to test, with what its checkpoint says about itself."""
    name: str
    path: str
    model: VideoClassifier
    classes: tuple[str, ...] | None     # synthvid checkpoints record them
    sampling_rate: int | None
    layout: str


@dataclass(frozen=True)
class Result:
    checkpoint: str
    data: str
    dataset: str | None
    part: str | None
    corruption: str | None
    severity: int | None
    accuracy: Accuracy
    views_per_video: int
    sampling_rate: int      # stride of the test read (1 for a UCF101-P set: stored at its stride)
    skipped: int

    def row(self) -> dict:
        return {"checkpoint": self.checkpoint, "data": self.data, "dataset": self.dataset, "part": self.part,
                "corruption": self.corruption, "severity": self.severity, "top1": self.accuracy.top1,
                "top5": self.accuracy.top5, "videos": self.accuracy.videos, "views_per_video": self.views_per_video,
                "sampling_rate": self.sampling_rate, "skipped_videos": self.skipped}


def expand_data(urls, storage_options: dict | None) -> list[str]:
    """Each URL that holds a card.json, or else every sub-folder of it that does (sorted)."""
    out = []
    for url in urls:
        store = Store(url, storage_options)
        try:
            if store.exists(layout.CARD):
                out.append(url)
                continue
            found = [join(url, name) for name in store.listdir() if store.exists(f"{name}/{layout.CARD}")]
        except StorageError as e:
            raise TrainError(str(e)) from None
        if not found:
            raise TrainError(f"--data {safe_url(url)}: no labelled set there (no {layout.CARD} in it or in its "
                             "sub-folders)")
        out += found
    return out


def default_name(path: str) -> str:
    folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
    stem = os.path.splitext(os.path.basename(path))[0]
    return f"{folder}/{stem}" if folder else stem


def load_tested(path: str, name: str) -> Tested:
    """A fine-tuned classifier (synthvid finetune/probe checkpoint or official fine-tuned VideoMAE), strictly."""
    weights = read_weights(path)
    state = weights.state
    if not weights.has_classifier:
        raise CheckpointError(f"{path}: a pretraining checkpoint has no classifier; test what `synthvid-train "
                              "finetune` or `probe` wrote (best.pt, checkpoint-last.pt)")
    probe = "head.1.weight" in state
    kind, head = ("bn_linear", state["head.1.weight"]) if probe else ("linear", state.get("head.weight"))
    if head is None:
        raise CheckpointError(f"{path}: has fc_norm but no head weight")
    model = VideoClassifier(infer_model_config(weights), HeadConfig(head.shape[0], kind))
    load_pretrained(model, weights, with_head=True)
    rc = weights.run_config or {}
    recipe = (rc.get("config") or {}).get("recipe") or {}
    return Tested(name, path, model.eval(), tuple(rc["classes"]) if rc.get("classes") else None,
                  recipe.get("sampling_rate"), weights.layout)


def check_classes(t: Tested, s: LabelledSource) -> None:
    n = t.model.head_cfg.num_classes
    if t.classes is not None and t.classes != s.classes:
        raise TrainError(f"{t.path} was fine-tuned on {len(t.classes)} classes ({', '.join(t.classes[:3])}, ...) "
                         f"that differ from {s.name}'s ({', '.join(s.classes[:3])}, ...) in names or order")
    if n != len(s.classes):
        raise TrainError(f"{t.path} has {n} outputs; {s.name} has {len(s.classes)} classes")


def views_for(t: Tested, s: LabelledSource, options: TestOptions) -> ViewPlan:
    clips, crops = options.views or DATASET_VIEWS.get(s.split.dataset, DEFAULT_VIEWS)
    rate = options.sampling_rate or t.sampling_rate or DEFAULT_RATE
    cfg = t.model.cfg
    return ViewPlan(cfg.num_frames, rate, clips, crops, cfg.img_size)


def open_sets(options: TestOptions) -> list[LabelledSource]:
    try:
        return [LabelledSource(u, options.storage_options, skip_bad_shards=options.skip_bad_shards,
                               verify_shards=options.verify_shards)
                for u in expand_data(options.data, options.storage_options)]
    except DataError as e:
        raise TrainError(str(e)) from None


def run_test(options: TestOptions) -> list[Result]:
    """Test every checkpoint on every set; rank 0 writes the report into options.out."""
    from .testreport import write_report

    device, ctx = runtime.start(options.device, 0, options.threads)
    precision, autocast = runtime.autocast_for(device, options.precision)
    sets = open_sets(options)
    names = options.names or tuple(default_name(p) for p in options.checkpoints)
    if len(names) != len(options.checkpoints):
        raise TrainError(f"{len(names)} --names for {len(options.checkpoints)} checkpoints")
    tested = [load_tested(p, n) for p, n in zip(options.checkpoints, names)]
    for t in tested:
        for s in sets:
            check_classes(t, s)
    results = []
    for t in tested:
        t.model.to(device)
        for s in sets:
            plan = read_plan(s, views_for(t, s, options))
            sc = score(t.model, s, plan, ctx, ScoreOptions(options.batch, options.workers, device, autocast))
            c = s.corruption
            results.append(Result(t.name, safe_url(s.name), s.split.dataset, s.split.part, c and c.name,
                                  c and c.severity, sc.accuracy(s.classes), sc.views_per_video, plan.views.rate,
                                  sc.skipped))
            if ctx.main:
                print(f"synthvid-train: {t.name} on {safe_url(s.name)}: top-1 {results[-1].accuracy.top1:.4f}, "
                      f"top-5 {results[-1].accuracy.top5:.4f} ({sc.views_per_video} views per video)", flush=True)
        t.model.cpu()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if ctx.main:
        write_report(options.out, results, tested, {"world_size": ctx.world, "precision": precision,
                                                    "device": str(device)})
    runtime.barrier(ctx)
    return results
