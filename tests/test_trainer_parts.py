"""The engine's parts on their own: one optimiser step, checkpoints (round trip, compatibility), and the named
random streams every draw comes from."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from synthvid.trainer import checkpoint, draws, masking
from synthvid.trainer.config import TrainError
from synthvid.trainer.data import Plan, augment
from synthvid.trainer.model import VideoMAE, masked_mse, model_config
from synthvid.trainer.optim import WarmupCosine, make_optimizer
from synthvid.trainer.step import Stepper

pytestmark = pytest.mark.usefixtures("one_thread")
MCFG = model_config("vit_tiny_test", img_size=32, num_frames=4, patch_size=8)


def _batches(n: int, batch: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [{"frames": torch.randint(0, 256, (batch, 4, 40, 40, 3), dtype=torch.uint8, generator=g),
             "box": torch.tensor([[0, 0, 36, 36]] * batch), "source": torch.zeros(batch, dtype=torch.long),
             "index": torch.arange(batch) + 10 * m, "micro": m, "stats": torch.tensor([1, 0, 0])}
            for m in range(n)]


def _state(seed: int = 0):
    torch.manual_seed(seed)
    model = VideoMAE(MCFG)
    opt = make_optimizer(model, 1e-2, 0.05)
    schedule = WarmupCosine(opt, 1e-2, 1e-4, 2, 10)
    return checkpoint.TrainState(model, opt, schedule, None, Plan(8, 4, 1, 2, 0))


def _expected_loss(model, batch, micro_index, seed=3):
    with torch.no_grad():
        x = augment(batch["frames"], batch["box"], MCFG.img_size)
        ids_keep, ids_mask = masking.masks_for(MCFG, 0.75, x.shape[0], draws.mask_generator(seed, 0, micro_index), "cpu")
        return masked_mse(model(x, ids_keep, ids_mask), x, ids_mask, MCFG).item()


def test_step_accumulates_updates_weights_and_returns_mean_loss():
    state = _state()
    batches = _batches(2)
    offset = 100
    expected = np.mean([_expected_loss(state.model, b, offset + b["micro"]) for b in batches])
    before = {k: v.clone() for k, v in state.model.state_dict().items()}
    stepper = Stepper(state.model, state.optimizer, state.schedule, MCFG, 0.75, seed=3, accum=2, record_indices=True)
    state.schedule.step_count = 1                      # warmup: lr 5e-3 for this step
    result = stepper.step(iter(batches), micro_offset=offset)
    assert result.loss == pytest.approx(expected, rel=1e-5)    # mean of both micro-batches, before the update
    assert result.lr == pytest.approx(5e-3) and state.schedule.step_count == 2
    assert result.counts.tolist() == [2, 0, 0]                 # both micro-batches' stats summed
    assert result.indices == [[(0, 0), (0, 1)], [(0, 10), (0, 11)]]
    changed = [k for k, v in state.model.state_dict().items() if not torch.equal(v, before[k])]
    assert "blocks.0.attn.qkv.weight" in changed and "head.weight" in changed
    assert _expected_loss(state.model, batches[0], offset) != pytest.approx(result.loss, rel=1e-6)


def test_step_masks_depend_on_the_micro_batch_key():
    a, b = _state(), _state()
    batch = _batches(1)
    ra = Stepper(a.model, a.optimizer, a.schedule, MCFG, 0.75, seed=3).step(iter(batch), micro_offset=0)
    rb = Stepper(b.model, b.optimizer, b.schedule, MCFG, 0.75, seed=3).step(iter(batch), micro_offset=7)
    assert ra.loss != rb.loss                                  # same weights and clips, other masks
    assert not torch.equal(ra.last[2], rb.last[2])


def test_checkpoint_round_trip(tmp_path):
    state = _state()
    Stepper(state.model, state.optimizer, state.schedule, MCFG, 0.75, seed=3).step(iter(_batches(1)), 0)
    state.position = checkpoint.Position(epoch=1, micro=2, step=5)
    state.resolved = {"config": {"seed": 3}, "path": tmp_path}        # not JSON: stored as text
    path = str(tmp_path / checkpoint.CHECKPOINT)
    checkpoint.save(path, state)
    assert os.listdir(tmp_path) == [checkpoint.CHECKPOINT]           # no temporary sibling left behind
    saved = checkpoint.load(str(tmp_path))                            # a run folder names its checkpoint
    fresh = _state(seed=1)
    fresh.restore(saved)
    for k, v in state.model.state_dict().items():
        assert torch.equal(v, fresh.model.state_dict()[k]), k
    assert fresh.schedule.step_count == 1 and fresh.position == checkpoint.Position(1, 2, 5)
    assert torch.equal(fresh.optimizer.state_dict()["state"][0]["exp_avg"], state.optimizer.state_dict()["state"][0]["exp_avg"])
    assert saved["config"] == {"config": {"seed": 3}, "path": str(tmp_path)}
    assert saved["model_config"]["img_size"] == 32


def test_compatibility_check_names_every_key(tmp_path):
    state = _state()
    checkpoint.save(str(tmp_path / "c.pt"), state)
    saved = checkpoint.load(str(tmp_path / "c.pt"))
    other = model_config("vit_tiny_test", img_size=64, num_frames=4, patch_size=8).to_dict()
    with pytest.raises(TrainError) as e:
        checkpoint.check_compatible(saved, other, Plan(8, 8, 1, 2, 0), "runs/x")
    assert "img_size 32 (checkpoint) vs 64" in str(e.value) and "global_batch 4 (checkpoint) vs 8" in str(e.value)
    checkpoint.check_compatible(saved, MCFG.to_dict(), Plan(8, 4, 1, 2, 3), "runs/x")   # workers may change


def test_load_refuses_what_is_not_a_checkpoint(tmp_path):
    with pytest.raises(TrainError, match="no checkpoint there"):
        checkpoint.load(str(tmp_path))
    torch.save({"format": 99, "model": {}}, tmp_path / "other.pt")
    with pytest.raises(TrainError, match="not a synthvid-train checkpoint .format 99"):
        checkpoint.load(str(tmp_path / "other.pt"))


def test_named_streams_are_pure_and_distinct():
    from synthvid.manifests.seeds import substream

    g1, g2 = draws.mask_generator(5, 1, 9), draws.mask_generator(5, 1, 9)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))
    assert not torch.equal(torch.rand(4, generator=draws.mask_generator(5, 0, 9)),
                           torch.rand(4, generator=draws.mask_generator(5, 1, 9)))   # ranks differ
    # every draw is the project's substream of (seed, index, name)
    assert draws.clip(5, 2, 0, 13, 1).integers(1 << 30) == substream(5, 13, "trainer.clip/epoch=2/source=0/pass_=1").integers(1 << 30)
    firsts = {f(7, 1, 2).integers(1 << 40) for f in (draws.shard_order, draws.procedural_order, draws.mixture_picks)}
    assert len(firsts) == 3                                      # streams of the same key are independent
    # dropout seeds: pure per (seed, rank, step), distinct across both, drawn from the whole 63-bit range
    seeds = [draws.dropout_seed(7, rank, step) for rank in range(2) for step in range(32)]
    assert seeds == [draws.dropout_seed(7, rank, step) for rank in range(2) for step in range(32)]
    assert len(set(seeds)) == len(seeds) and all(0 <= s < 2**63 - 1 for s in seeds)
    assert max(seeds) > 2**62                                    # 64 draws all below 2**62: p = 2**-64
    with pytest.raises(ValueError, match="non-negative"):
        draws.clip(-1, 0, 0, 0)
