"""Video mixup/cutmix over H and W, RandAugment identical across frames, the training-clip augmentation, and
the frame selection of training clips and test views."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F

from synthvid.trainer.eval.augment import AugmentOptions, augment_clip, augment_repeats, crop_box
from synthvid.trainer.eval.clips import ViewPlan, evenly_spaced, full_read_indices, multi_views, train_indices
from synthvid.trainer.eval.mixup import MixupOptions, draw, mix_batch, soft_target_cross_entropy, soft_targets
from synthvid.trainer.eval.randaugment import OPS, RandAugmentOptions, apply_ops, sample_ops

CUTMIX = MixupOptions(mixup_alpha=0.0, cutmix_alpha=1.0)


def test_cutmix_box_spans_height_and_width_only_and_is_the_same_in_every_frame():
    x = torch.randn(4, 3, 8, 24, 32)
    labels = torch.tensor([0, 1, 2, 1])
    for seed in range(20):
        out, targets, d = mix_batch(x, labels, 3, CUTMIX, np.random.default_rng(seed))
        if d.box is None or d.lam == 1.0:
            continue
        top, bottom, left, right = d.box
        changed = (out != x).any(dim=(0, 1))                    # (T, H, W)
        region = torch.zeros(24, 32, dtype=torch.bool)
        region[top:bottom, left:right] = True
        assert torch.equal(changed, region.expand(8, -1, -1)), seed   # every frame, the same box, nothing else
        assert torch.equal(out[..., top:bottom, left:right], x.flip(0)[..., top:bottom, left:right])
        assert d.lam == pytest.approx(1 - region.sum().item() / (24 * 32))
        assert torch.allclose(targets.sum(1), torch.ones(4))
        return
    pytest.fail("no cutmix box was drawn in 20 tries")


def test_mixup_blends_with_the_reversed_batch_and_smooths_labels():
    x, labels = torch.randn(4, 3, 2, 8, 8), torch.tensor([0, 1, 2, 2])
    out, targets, d = mix_batch(x, labels, 3, MixupOptions(mixup_alpha=0.8, cutmix_alpha=0.0), np.random.default_rng(5))
    assert d.box is None and 0 < d.lam < 1
    assert torch.allclose(out, d.lam * x + (1 - d.lam) * x.flip(0))
    one = soft_targets(labels, 3, 1.0, 0.1)
    assert torch.allclose(one[0], torch.tensor([0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3]))
    assert torch.allclose(targets, d.lam * one + (1 - d.lam) * one.flip(0))
    logits = torch.randn(4, 3)
    smoothed = F.cross_entropy(logits, labels, label_smoothing=0.1).item()
    assert soft_target_cross_entropy(logits, one) == pytest.approx(smoothed, abs=1e-6)
    same = [draw(MixupOptions(), 8, 8, np.random.default_rng(9)) for _ in range(2)]
    assert same[0] == same[1]                                   # a function of the generator's key
    kinds = {draw(MixupOptions(), 8, 8, np.random.default_rng(s)).box is None for s in range(40)}
    assert kinds == {True, False}                               # switch prob 0.5: both happen


def test_randaugment_applies_the_same_ops_to_every_frame():
    # a low-contrast natural picture, panning: autocontrast and equalize have work to do on every frame
    img = torch.from_numpy(skimage.data.astronaut()[::16, ::16].copy()).permute(2, 0, 1)      # (3, 32, 32)
    frames = torch.stack([torch.roll(img, 3 * t, dims=2) for t in range(5)])[..., 4:28, :]
    frames = (60 + frames.float() * 0.45).round().to(torch.uint8)
    args = {"Rotate": 17.0, "PosterizeIncreasing": 2, "SolarizeIncreasing": 100, "SolarizeAdd": 60,
            "ColorIncreasing": 1.6, "ContrastIncreasing": 0.4, "BrightnessIncreasing": 1.5,
            "SharpnessIncreasing": 1.8, "ShearX": 0.2, "ShearY": -0.2, "TranslateXRel": 0.3, "TranslateYRel": -0.3}
    for op in OPS:
        ops = [(op, args.get(op))]
        out = apply_ops(frames, ops)
        assert out.shape == frames.shape and out.dtype == torch.uint8
        assert not torch.equal(out, frames), op
        for t in range(5):   # frame t through the op alone = frame t of the stack
            assert torch.equal(apply_ops(frames[t:t + 1], ops)[0], out[t]), op
    rng = np.random.default_rng(3)
    for _ in range(30):
        ops = sample_ops(rng)
        same = apply_ops(frames[:1].expand(4, -1, -1, -1).contiguous(), ops)
        assert all(torch.equal(same[0], same[t]) for t in range(4)), ops


def test_randaugment_sampling_follows_m7_n4_mstd05():
    rng = np.random.default_rng(0)
    draws = [sample_ops(rng) for _ in range(2000)]
    counts = [len(d) for d in draws]
    assert np.mean(counts) == pytest.approx(4 * 0.5, abs=0.1)          # 4 ops, each applied with p 0.5
    rotations = [abs(a) for d in draws for op, a in d if op == "Rotate"]
    assert np.mean(rotations) == pytest.approx(30 * 0.7, abs=0.5)      # magnitude 7 of 10 -> 21 degrees
    assert 0.04 < np.std(rotations) / 30 < 0.06                        # std 0.5 of 10 levels
    assert sample_ops(np.random.default_rng(1)) == sample_ops(np.random.default_rng(1))
    assert all(sample_ops(np.random.default_rng(s), RandAugmentOptions(prob=1.0)) for s in range(5))


def test_training_clip_uses_one_crop_and_one_erase_box_for_all_frames():
    frame = np.random.default_rng(0).integers(0, 256, (1, 40, 50, 3), dtype=np.uint8)
    frames = np.repeat(frame, 6, axis=0)
    options = AugmentOptions(size=32, erase_prob=0.0)
    clip = augment_clip(frames, np.random.default_rng(1), options)
    assert clip.shape == (3, 6, 32, 32) and clip.dtype == torch.float32
    assert all(torch.equal(clip[:, 0], clip[:, t]) for t in range(6))   # same RandAugment, crop and flip
    erased = augment_clip(frames, np.random.default_rng(1), AugmentOptions(size=32, erase_prob=1.0))
    differs = (erased != clip).any(dim=0)                                 # (T, H, W)
    assert differs.any() and torch.equal(differs, differs[:1].expand(6, -1, -1))
    rows, cols = torch.nonzero(differs[0], as_tuple=True)
    box = torch.zeros(32, 32, dtype=torch.bool)
    box[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
    assert torch.equal(differs[0], box)                                  # one rectangle
    a = augment_repeats(frames, seed=7, index=3, epoch=0, num_sample=2, options=options)
    b = augment_repeats(frames, seed=7, index=3, epoch=0, num_sample=2, options=options)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], a[1])
    assert not torch.equal(a[0], augment_repeats(frames, seed=7, index=3, epoch=1, options=options)[0])


def test_crop_box_stays_inside_and_follows_scale_and_ratio():
    rng = np.random.default_rng(0)
    for _ in range(200):
        top, left, h, w = crop_box(240, 320, (0.08, 1.0), (0.75, 1.3333), rng)
        assert 0 <= top <= 240 - h and 0 <= left <= 320 - w
        assert 0.08 * 0.9 <= h * w / (240 * 320) <= 1.0 and 0.7 <= w / h <= 1.4


def test_training_and_test_frame_indices():
    rng = np.random.default_rng(0)
    for n in (300, 65):
        idx = train_indices(n, 16, 4, rng)
        assert len(idx) == 16 and (np.diff(idx) >= 0).all() and idx[-1] - idx[0] <= 63 and idx.max() < n
    short = train_indices(20, 16, 4, rng)
    assert short.tolist() == [0, 5, 10, 15, 19] + [19] * 11           # spread over the video, padded with the last
    assert full_read_indices(10, 16, 4).tolist() == [0, 4, 8] + [8] * 13
    assert evenly_spaced(40, 16, 5) == [0, 6, 12, 18, 24] and evenly_spaced(10, 16, 3) == [0, 0, 0]
    assert evenly_spaced(298, 224, 3) == [0, 37, 74] and evenly_spaced(40, 16, 1) == [12]


def test_test_views_are_clips_times_crops_along_the_long_side():
    read = torch.arange(12, dtype=torch.float32).view(12, 1, 1, 1).expand(12, 3, 24, 40).clone()
    read[..., 30:] += 100                                                # mark the right end of the long side
    views = multi_views(read, ViewPlan(clip_len=4, rate=1, num_clips=3, num_crops=3, size=24))
    assert views.shape == (9, 3, 4, 24, 24)
    starts = [int(views[k, 0, 0, 0, 0]) for k in range(0, 9, 3)]
    assert starts == [0, 4, 8]                                           # evenly spaced clips
    assert views[0, 0, 0, 0].max() < 100 and views[2, 0, 0, 0, -1] >= 100   # first crop left, last crop right
    resized = multi_views(read, ViewPlan(clip_len=4, rate=1, num_clips=1, num_crops=3, size=12))
    assert resized.shape == (3, 3, 4, 12, 12)                           # short side resized to the crop size
