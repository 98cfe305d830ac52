"""Multi-view scoring of a classifier over a labelled set, on every rank (spec videomae.md 2.3).

Each rank scores its share of the videos (every world-th, so shares differ by at most one video), decoding
in DataLoader workers: every `rate`-th frame of the whole video is read, padded to a clip, resized on the
device so its short side is the model's input size, then `num_clips` x `num_crops` views are cut
(eval/clips.multi_views). Each view's logits go to a softmax, the softmax is averaged per video, argmax.
The ranks then exchange their per-view logits with one all_gather_object: no rank waits inside a collective
for longer than the others take to finish their last video, so a long test cannot run into the process
group's timeout the way a rank-0-only evaluation behind a barrier could.

A UCF101-P set (card `corruption`) stores frames already read at the test stride and resized: they are read
whole (rate 1); with `crops` 3 each stored frame holds the three test crops side by side along the width
(crop j in columns [j·h, (j+1)·h) of a 3h x h frame), and each is one crop position of its own.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import IterableDataset, get_worker_info

from ..data import Stats
from ..runtime import Dist
from ..step import next_batch
from .augment import normalize
from .clips import ViewPlan, multi_views
from .labelled import LabelledSource
from .metrics import Accuracy, accuracy, average_views


@dataclass(frozen=True)
class ReadPlan:
    views: ViewPlan          # clip length, read stride, clips and crops per video, input size
    stored_crops: int = 1    # 3: each frame holds 3 square crops side by side along the width (UCF101-P)


def read_plan(source: LabelledSource, views: ViewPlan) -> ReadPlan:
    """The views of `source`: as asked for a clean set; for a UCF101-P set, its frames read whole and the
    crops it stores."""
    c = source.corruption
    if c is None:
        return ReadPlan(views)
    if c.crops == 3:
        return ReadPlan(ViewPlan(views.clip_len, 1, views.num_clips, 1, views.size), stored_crops=3)
    return ReadPlan(ViewPlan(views.clip_len, 1, views.num_clips, views.num_crops, views.size))


class EvalVideos(IterableDataset):
    """(index, label, frames read at the plan's stride, (T', H, W, 3) uint8) for a list of videos, split over
    the DataLoader's workers."""

    def __init__(self, source: LabelledSource, indices: list[int], rate: int):
        self.source, self.indices, self.rate = source, list(indices), rate
        self.stats = Stats()

    def __iter__(self):
        info = get_worker_info()
        mine = self.indices if info is None else self.indices[info.id::info.num_workers]
        if info is not None:
            torch.set_num_threads(1)
        refs = [self.source.ref(i) for i in mine]
        for index, payload, _ in self.source.read(refs, self.stats):
            frames = payload.frames(np.arange(0, payload.num_frames, self.rate))
            yield {"index": index, "label": self.source.label_of(index), "frames": torch.from_numpy(frames)}


def _pad(x: torch.Tensor, length: int) -> torch.Tensor:
    """Repeat the last frame up to `length` frames (VideoMAE pads short test reads so)."""
    return x if x.shape[0] >= length else torch.cat([x, x[-1:].expand(length - x.shape[0], *x.shape[1:])])


def video_views(frames: torch.Tensor, plan: ReadPlan) -> torch.Tensor:
    """uint8 (T', H, W, 3) read frames -> (views, 3, clip_len, size, size) normalised, on the frames' device.
    Square frames have one crop position, so they give one crop per clip."""
    x = normalize(frames.permute(0, 3, 1, 2))
    v = plan.views
    if plan.stored_crops > 1 and x.shape[-1] != plan.stored_crops * x.shape[-2]:
        raise ValueError(f"a UCF101-P video with {plan.stored_crops} crops holds them side by side along the width "
                         f"({plan.stored_crops}h x h frames): got frames of {x.shape[-1]}x{x.shape[-2]}")
    segments = x.chunk(plan.stored_crops, dim=-1) if plan.stored_crops > 1 else (x,)
    crops = 1 if segments[0].shape[-1] == segments[0].shape[-2] else v.num_crops
    plan_v = ViewPlan(v.clip_len, v.rate, v.num_clips, crops, v.size)
    return torch.cat([multi_views(_pad(s, v.clip_len), plan_v) for s in segments])


@dataclass
class Scores:
    videos: np.ndarray       # video indices, sorted
    probs: np.ndarray        # (videos, classes) mean softmax over views
    labels: np.ndarray
    views_per_video: int
    skipped: int             # videos that could not be read (with --skip-bad-shards)

    def accuracy(self, classes) -> Accuracy:
        return accuracy(self.probs, self.labels, classes)


@dataclass(frozen=True)
class ScoreOptions:
    batch: int = 16                                # views per forward pass
    workers: int = 0
    device: torch.device = torch.device("cpu")
    autocast: object = contextlib.nullcontext      # a context factory (runtime.autocast_for)


def _forward_views(model, views: torch.Tensor, options: ScoreOptions) -> torch.Tensor:
    out = []
    for chunk in views.split(options.batch):
        with options.autocast():
            out.append(model(chunk).float())
    return torch.cat(out).cpu()


def _gather(part: dict, ctx: Dist) -> list[dict]:
    if ctx.world == 1:
        return [part]
    parts: list = [None] * ctx.world
    dist.all_gather_object(parts, part)
    return parts


@torch.no_grad()
def score(model: torch.nn.Module, source: LabelledSource, plan: ReadPlan, ctx: Dist,
          options: ScoreOptions = ScoreOptions()) -> Scores:
    """Every video of `source` scored by `model` (the plain module, not a DDP wrapper), on every rank;
    every rank returns the same Scores."""
    was_training = model.training
    model.eval()
    videos = EvalVideos(source, source.indices[ctx.rank::ctx.world], plan.views.rate)
    loader = torch.utils.data.DataLoader(videos, batch_size=None, num_workers=options.workers)
    logits, vids, view_ids = [], [], []
    items = iter(loader)
    while (item := next_batch(items, None)) is not None:
        views = video_views(item["frames"].to(options.device), plan)
        logits.append(_forward_views(model, views, options))
        vids += [item["index"]] * len(views)
        view_ids += list(range(len(views)))
    model.train(was_training)
    n_classes = len(source.classes)
    part = {"logits": torch.cat(logits).numpy() if logits else np.zeros((0, n_classes), np.float32),
            "videos": vids, "views": view_ids, "read": len(set(vids))}
    parts = _gather(part, ctx)
    all_logits = torch.from_numpy(np.concatenate([p["logits"] for p in parts]))
    ids, probs = average_views(all_logits, sum((p["videos"] for p in parts), []), sum((p["views"] for p in parts), []))
    return Scores(ids, probs, np.array([source.label_of(int(i)) for i in ids], np.int64),
                  views_per_video=1 + max((max(p["views"], default=-1) for p in parts), default=-1),
                  skipped=len(source.indices) - sum(p["read"] for p in parts))


def sync_buffers(model: torch.nn.Module, ctx: Dist) -> None:
    """Rank 0's buffers (a probe's BatchNorm statistics) on every rank before scoring: DDP broadcasts them
    before each training forward, so after the last one each rank's copy has moved on its own batch."""
    if ctx.world > 1:
        for b in model.buffers():
            dist.broadcast(b, 0)
