"""Fine-tuning micro-batches: the pretraining ClipStream (epoch plan over ranks x workers, equal batch counts,
resume by micro-batch, bad samples made up) over a labelled set, each video giving `num_sample` augmented
clips (VideoMAE's repeated augmentation).

One video -> one temporal window (eval/clips.train_indices, from the clip's own draw), only those frames
decoded, then `num_sample` independent augmentations of them (eval/augment.augment_repeats), keyed by (seed,
epoch, video, repeat). Where the augmentation runs is a choice with the same result: in the loader worker
(`on_device` False: VideoMAE's way, and the fast one on a CPU), or on the training device from the uint8
window the worker decoded (`device_clips`): RandAugment, the crop and erasing of one clip cost ~0.1-0.5
CPU-s at 224 px (benchmarks/train_throughput.py --mode finetune), so a GPU step of hundreds of clips would
otherwise wait on dozens of cores.

A micro-batch of B videos gives B x num_sample clips, video-major ([v0a, v0b, v1a, v1b, ...], as VideoMAE's
collate).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from synthvid.manifests.payload import PayloadError

from .. import draws
from ..data import ClipStream, Plan, collate_frames
from ..data.errors import ErrorPolicy
from .augment import AugmentOptions, augment_repeats
from .clips import train_indices
from .labelled import LabelledSource


@dataclass(frozen=True)
class TrainClips:
    num_frames: int
    sampling_rate: int
    num_sample: int
    augment: AugmentOptions
    on_device: bool = False      # the worker sends the decoded window; the step augments it on the device


class LabelledClips(ClipStream):
    """Micro-batches of one rank: {clips (B x num_sample, 3, T, S, S) float, label (B x num_sample,)}, or with
    `on_device` {frames (B, T, H, W, 3) uint8 padded, sizes (B, 2), label (B,), epoch}; both with index (B,),
    source, micro and stats."""

    def __init__(self, source: LabelledSource, plan: Plan, spec: TrainClips, seed: int, rank: int):
        super().__init__([source], None, plan, spec, seed, rank)
        self.source = source

    def source_items(self, si: int, items, stats, first_repeat: int = 0):
        """One labelled item per readable video (`num_sample` clips of one window: `load_item`)."""
        policy = ErrorPolicy(self.source.skip_bad_shards, stats)
        for index, loader, pass_ in items:
            try:
                item, short = self.load_item(loader, si, index, pass_)
            except PayloadError as e:   # a frame block that does not decode
                policy.bad_sample(getattr(loader, "where", self.source.name), e)
                continue
            stats.short += short
            yield item

    def load_item(self, loader, si: int, index: int, pass_: int):
        spec: TrainClips = self.spec
        idx = train_indices(loader.num_frames, spec.num_frames, spec.sampling_rate,
                            draws.clip(self.seed, self.epoch, si, index, pass_))
        frames = loader.frames(idx)
        if not spec.on_device:
            frames = augment_repeats(frames, seed=self.seed, index=index, epoch=self.epoch,
                                     num_sample=spec.num_sample, options=spec.augment)
        short = loader.num_frames <= spec.num_frames * spec.sampling_rate
        return (frames, self.source.label_of(index), index), short

    def collate(self, items: list[tuple]) -> dict:
        index = torch.tensor([item[2] for item in items])
        if self.spec.on_device:
            return {"frames": collate_frames([item[0] for item in items]), "index": index, "epoch": self.epoch,
                    "sizes": torch.tensor([item[0].shape[1:3] for item in items]),
                    "label": torch.tensor([item[1] for item in items], dtype=torch.long)}
        clips = torch.stack([c for item in items for c in item[0]])
        labels = torch.tensor([item[1] for item in items for _ in item[0]], dtype=torch.long)
        return {"clips": clips, "label": labels, "index": index}


def device_clips(batch: dict, spec: TrainClips, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """An `on_device` micro-batch augmented where the model runs: the clips and labels the worker would have
    made (the same draws)."""
    frames = batch["frames"].to(device, non_blocking=True)
    clips = []
    for b, (h, w) in enumerate(batch["sizes"].tolist()):
        clips += augment_repeats(frames[b, :, :h, :w], seed=seed, index=int(batch["index"][b]), epoch=batch["epoch"],
                                 num_sample=spec.num_sample, options=spec.augment)
    return torch.stack(clips), batch["label"].repeat_interleave(spec.num_sample).to(device)
