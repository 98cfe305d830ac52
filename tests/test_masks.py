"""Tube masks: their structure for any token grid (hypothesis), and that training draws a fresh mask for every
micro-batch, step and rank, reproducibly (a run whose masks stopped depending on the step still lowers its
loss, so only these tests notice)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthvid.trainer import draws, masking
from synthvid.trainer.runtime import Dist
from synthvid.trainer.step import Stepper

from .test_trainer_parts import MCFG, _batches, _state

pytestmark = pytest.mark.usefixtures("one_thread")


@settings(max_examples=80, deadline=None)
@given(batch=st.integers(1, 4), t=st.integers(1, 6), spatial=st.integers(2, 60), ratio=st.floats(0.0, 0.97),
       seed=st.integers(0, 2**31))
def test_tube_mask_structure(batch, t, spatial, ratio, seed):
    n_mask = int(ratio * spatial)
    if n_mask >= spatial:
        return
    keep, mask = masking.tube_mask(batch, t, spatial, ratio, generator=torch.Generator().manual_seed(seed))
    assert keep.shape == (batch, t * (spatial - n_mask)) and mask.shape == (batch, t * n_mask)
    for b in range(batch):
        k, m = keep[b].tolist(), mask[b].tolist()
        assert sorted(k + m) == list(range(t * spatial))              # every token once: kept or masked
        assert k == sorted(k) and m == sorted(m)                      # raster order for the encoder
        # a tube: the same spatial positions are masked in every time slot
        per_slot = [sorted(i - s * spatial for i in m if s * spatial <= i < (s + 1) * spatial) for s in range(t)]
        assert all(p == per_slot[0] for p in per_slot) and len(per_slot[0]) == n_mask
    assert torch.equal(masking.to_bool(mask, t * spatial).sum(1), torch.full((batch,), t * n_mask))


def test_mask_ratio_truncates_like_videomae_and_refuses_no_visible_token():
    assert masking.num_masked_per_slot(196, 0.9) == 176
    assert masking.num_masked_per_slot(49, 0.75) == 36
    with pytest.raises(ValueError, match="leaves no visible token"):
        masking.tube_mask(1, 2, 10, 1.0)


def test_masks_of_one_batch_differ_between_clips():
    keep, mask = masking.tube_mask(8, 2, 16, 0.75, generator=torch.Generator().manual_seed(0))
    assert len({tuple(r) for r in mask.tolist()}) == 8


def _mask_of(step: int, rank: int = 0, seed: int = 3) -> torch.Tensor:
    state = _state()
    stepper = Stepper(state.model, state.optimizer, state.schedule, MCFG, 0.75, seed=seed, dist=Dist(rank=rank))   # world 1: no all-reduce
    return stepper.step(iter(_batches(1)), micro_offset=step).last[2]


def test_training_masks_differ_across_steps_and_ranks_and_repeat_per_key():
    """The step's own mask (what the model was trained on) for the same clips: other steps and other ranks
    mask other tokens; the same (seed, rank, step) masks the same ones, so a resumed run repeats them."""
    by_step = [_mask_of(s) for s in range(4)]
    assert len({tuple(m.flatten().tolist()) for m in by_step}) == 4
    assert not torch.equal(_mask_of(2, rank=1), by_step[2])
    assert torch.equal(_mask_of(2, rank=0), by_step[2])
    assert not torch.equal(_mask_of(2, seed=4), by_step[2])
    # the masks come from the named stream of (seed, rank, micro-batch), nothing else
    g = draws.mask_generator(3, 0, 2)
    assert torch.equal(masking.masks_for(MCFG, 0.75, 2, g, "cpu")[1], by_step[2])


def test_every_micro_batch_of_a_run_gets_its_own_mask_key(tmp_path, monkeypatch):
    """Over a whole run (2 epochs, gradient accumulation 2) the engine asks for one mask stream per micro-batch
    and never the same one twice; a resumed run would ask for the same keys (they are positions, not time)."""
    from synthvid.trainer.engine import train
    from tests.test_trainer_fixtures import build, tiny_config

    keys = []
    real = draws.mask_generator

    def recording(seed, rank, step, device="cpu"):
        keys.append((seed, rank, step))
        return real(seed, rank, step, device)

    monkeypatch.setattr(draws, "mask_generator", recording)
    url = build(videos=8, per_shard=4)
    train(tiny_config(tmp_path / "run", url, epochs=2, batch_size=4, accum_steps=2))
    micro_per_epoch = 8 // 4 * 2
    assert [k[2] for k in keys] == list(range(2 * micro_per_epoch))
    assert {k[:2] for k in keys} == {(0, 0)}


@pytest.mark.parametrize("img, frames, patch", [(32, 4, 8), (48, 4, 8), (16, 8, 4)])
def test_masks_cover_the_whole_token_grid_of_a_config(img, frames, patch):
    """masks_for spans the config's grid (T' x H' x W' tokens), whatever its shape."""
    from synthvid.trainer.model import model_config

    cfg = model_config("vit_tiny_test", img_size=img, num_frames=frames, patch_size=patch)
    keep, mask = masking.masks_for(cfg, 0.75, 3, draws.mask_generator(1, 0, 0), "cpu")
    t, h, w = cfg.grid
    assert keep.shape[1] + mask.shape[1] == cfg.num_tokens == t * h * w
    assert mask.shape[1] == t * int(0.75 * h * w)
    assert torch.equal(torch.sort(torch.cat([keep, mask], 1), 1).values, torch.arange(t * h * w).expand(3, -1))


def test_pinned_masks():
    """The masks of two keys, pinned: a change of the mask derivation (seed to generator, noise to tokens)
    between commits would silently change what a resumed run trains on, so it must show here first."""
    pinned = {(0, 0, 0): [0, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 18, 19, 22, 23, 24, 25, 26, 27, 28, 29, 30],
              (7, 3, 12345): [1, 3, 4, 5, 7, 8, 10, 11, 12, 13, 14, 15, 17, 19, 20, 21, 23, 24, 26, 27, 28, 29, 30, 31]}
    for (seed, rank, step), want in pinned.items():
        _, mask = masking.masks_for(MCFG, 0.75, 1, draws.mask_generator(seed, rank, step), "cpu")
        assert mask.tolist() == [want], (seed, rank, step)


def test_clip_stream_key_of_a_first_pass():
    """A clip's window and crop come from the named stream of (seed, video, epoch, source, pass); a first
    pass is pass 0 whether or not the caller names it (the procedural source and the shard reader must
    meet on the same key)."""
    from synthvid.manifests.seeds import substream

    want = substream(5, 13, "trainer.clip/epoch=2/source=0/pass_=0").integers(1 << 40)
    assert draws.clip(5, 2, 0, 13).integers(1 << 40) == want == draws.clip(5, 2, 0, 13, 0).integers(1 << 40)
