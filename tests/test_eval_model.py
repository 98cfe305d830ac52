"""The fine-tuning classifier, layer-wise lr decay and the linear-probe variants at tiny size on CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthvid.manifests.seeds import substream
from synthvid.trainer.eval.classifier import HeadConfig, VideoClassifier
from synthvid.trainer.eval.mixup import mix_batch, soft_target_cross_entropy
from synthvid.trainer.eval.optim import layer_decay_groups, make_optimizer, set_lr
from synthvid.trainer.eval.recipes import FINETUNE_HMDB51, PROBE, PROBE_REFERENCE, RECIPES, recipe
from synthvid.trainer.model import model_config

TINY = dict(img_size=32, num_frames=4)
CFG = model_config("vit_tiny_test", **TINY)


def batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 4, 32, 32, generator=g), torch.arange(n) % 3


def train_steps(model, recipe_, steps=3, seed=0):
    opt = make_optimizer(model, lr=recipe_.lr(), weight_decay=recipe_.weight_decay, layer_decay=recipe_.layer_decay,
                         betas=recipe_.betas)
    model.train()
    for step in range(steps):
        x, y = batch(seed=seed + step)
        x, targets, _ = mix_batch(x, y, 3, recipe_.mixup, substream(seed, step, "mixup"))
        soft_target_cross_entropy(model(x), targets).backward()
        opt.step()
        opt.zero_grad()
    return opt


def test_classifier_layout_init_and_drop_path():
    model = recipe("finetune-ucf101", **TINY).build(CFG, num_classes=3)
    assert model(batch()[0]).shape == (4, 3)
    names = set(model.state_dict())
    assert {"fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias", "patch_embed.proj.weight"} <= names
    assert not any(k.startswith(("norm.", "decoder", "encoder_to_decoder", "mask_token")) for k in names)
    # drop path 0.2 spread linearly over the blocks, as VideoMAE's dpr
    rates = [getattr(b.drop_path1, "drop_prob", 0.0) for b in model.blocks]
    assert rates == pytest.approx(list(np.linspace(0, 0.2, CFG.depth)))
    # head: trunc_normal(.02) x 0.001, zero bias; other Linear layers trunc_normal(.02) (fine-tune init)
    assert model.head.weight.abs().max() <= 0.002 * 2 + 1e-9 and model.head.weight.std() < 1e-4
    assert torch.equal(model.head.bias, torch.zeros(3))
    assert 0.015 < model.blocks[0].mlp.fc1.weight.std() < 0.025
    assert torch.equal(model.fc_norm.weight, torch.ones(CFG.embed_dim))


def test_layer_decay_groups_follow_videomae():
    model = VideoClassifier(CFG, HeadConfig(num_classes=3))
    groups = layer_decay_groups(model, weight_decay=0.05, layer_decay=0.7)
    depth = CFG.depth
    seen = [n for g in groups for n in g["names"]]
    assert sorted(seen) == sorted(n for n, _ in model.named_parameters()) and len(seen) == len(set(seen))
    for g in groups:
        for name in g["names"]:
            if name.startswith("patch_embed."):
                lid = 0
            else:
                lid = int(name.split(".")[1]) + 1 if name.startswith("blocks.") else depth + 1
            assert g["lr_scale"] == pytest.approx(0.7 ** (depth + 1 - lid)), name
            p = dict(model.named_parameters())[name]
            assert g["weight_decay"] == (0.0 if p.ndim == 1 else 0.05), name
    opt = make_optimizer(model, lr=1e-3, weight_decay=0.05, layer_decay=0.7, betas=(0.9, 0.95))
    set_lr(opt, 2e-3)
    lrs = {g["layer_id"]: g["lr"] for g in opt.param_groups}
    assert lrs[0] == pytest.approx(2e-3 * 0.7 ** 3) and lrs[depth + 1] == pytest.approx(2e-3)
    assert opt.defaults["betas"] == (0.9, 0.95)


def test_finetuning_updates_everything_and_keeps_the_key_bias_zero():
    torch.manual_seed(0)
    r = recipe("finetune-ucf101", **TINY)
    model = r.build(CFG, 3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_steps(model, r)
    after = model.state_dict()
    for k in ("patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "head.weight"):
        assert not torch.equal(before[k], after[k]), k
    for blk in model.blocks:
        b = blk.attn.qkv.bias
        d = b.shape[0] // 3
        assert torch.equal(b[d:2 * d], torch.zeros(d))


def test_paper_probe_trains_only_the_head_with_the_encoder_in_eval_mode():
    torch.manual_seed(0)
    probe = recipe("probe", **TINY, drop_path=0.5)     # drop path in the config, yet inactive in eval mode
    model = probe.build(CFG, 3)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["head.1.weight", "head.1.bias"]
    assert isinstance(model.head[0], torch.nn.BatchNorm1d) and model.head[0].weight is None   # no affine
    encoder = {k: v.clone() for k, v in model.encoder_state_dict().items()}
    model.train()
    assert not model.blocks.training and model.head.training
    x, _ = batch()
    assert torch.equal(model.forward_features(x), model.forward_features(x))   # no drop path in eval mode
    opt = train_steps(model, probe)
    assert len(opt.param_groups) == 2 and all(g["weight_decay"] == 0.0 for g in opt.param_groups)
    assert all(torch.equal(encoder[k], v) for k, v in model.encoder_state_dict().items())
    bn = model.head[0]
    assert bn.num_batches_tracked == 3 and bn.running_var.ne(1).any()
    model.eval()   # BatchNorm uses its running statistics: a clip's score does not depend on its batch
    with torch.no_grad():
        assert torch.allclose(model(x)[:1], model(x[:1]), atol=1e-5)


def test_reference_probe_keeps_drop_path_and_mixup_on():
    torch.manual_seed(0)
    reference = recipe("probe-reference", **TINY)
    model = reference.build(CFG, 3)
    model.train()
    assert model.blocks.training and model.head_drop.p == 0.5
    x, _ = batch()
    assert not torch.equal(model.forward_features(x), model.forward_features(x))   # drop path active
    encoder = {k: v.clone() for k, v in model.encoder_state_dict().items()}
    train_steps(model, reference)
    assert all(torch.equal(encoder[k], v) for k, v in model.encoder_state_dict().items())


def test_recipes_record_the_paper_and_the_code():
    ucf = RECIPES["finetune-ucf101"]
    assert (ucf.base_lr, ucf.betas, ucf.weight_decay, ucf.layer_decay, ucf.drop_path, ucf.epochs) == \
        (1e-3, (0.9, 0.95), 0.05, 0.7, 0.2, 100)
    assert (ucf.mixup.mixup_alpha, ucf.mixup.cutmix_alpha, ucf.mixup.label_smoothing) == (0.8, 1.0, 0.1)
    assert (ucf.test_clips, ucf.test_crops, ucf.sampling_rate, ucf.num_sample, ucf.erase_prob) == (5, 3, 4, 2, 0.25)
    assert (FINETUNE_HMDB51.test_clips, FINETUNE_HMDB51.sampling_rate, FINETUNE_HMDB51.head_dropout) == (10, 2, 0.5)
    assert (PROBE.base_lr, PROBE.weight_decay, PROBE.encoder, PROBE.head, PROBE.mixup.enabled) == \
        (1e-2, 0.0, "frozen_eval", "bn_linear", False)
    ref = PROBE_REFERENCE
    assert (ref.base_lr, ref.betas, ref.encoder, ref.head_dropout, ref.mixup.enabled) == \
        (0.1, (0.9, 0.999), "frozen_train", 0.5, True)
    assert recipe("finetune-ucf101", batch_size=64).lr() == pytest.approx(2.5e-4)
    with pytest.raises(ValueError, match="unknown recipe 'fast'"):
        recipe("fast")
