"""Dataset analysis, feature networks: a tiny random VideoMAE (the self-contained features), a saved
synthvid checkpoint, torchvision's Inception-v3 from a weights file, a TorchScript I3D, and FID with them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthvid.trainer.analysis.errors import AnalysisError
from synthvid.trainer.analysis.features import FeatureSpec, VideoMAEFeatures, build_net, parse_feature_spec
from synthvid.trainer.analysis.gaussians import frechet_distance, mean_cov
from synthvid.trainer.analysis.options import AnalysisOptions
from synthvid.trainer.model import VideoMAE, model_config

CPU = torch.device("cpu")
TINY = FeatureSpec("random", "vit_tiny_test:32")


def _textured(n: int, seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    """n frames of smooth random colour fields (natural-ish)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(n, h // 8, w // 8, 3)).astype(np.float32)
    big = np.repeat(np.repeat(small, 8, axis=1), 8, axis=2)
    return np.clip(big + rng.normal(0, 12, big.shape), 0, 255).astype(np.uint8)


def _shapes(n: int, seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    """n frames of saturated rectangles on black (dead-leaves-like)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, h, w, 3), np.uint8)
    for frame in out:
        for _ in range(6):
            y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
            frame[y:y + rng.integers(4, 16), x:x + rng.integers(4, 16)] = rng.integers(0, 256, 3)
    return out


@pytest.fixture(scope="module")
def tiny_net():
    return build_net(TINY, CPU, batch=8, num_frames=8, seed=0)


def test_fid_with_a_tiny_random_videomae_is_zero_against_itself_and_larger_against_another_set(tiny_net):
    a = mean_cov(tiny_net.frame_features(_textured(48, 0)))
    a2 = mean_cov(tiny_net.frame_features(_textured(48, 1)))     # another draw of the same kind of frames
    b = mean_cov(tiny_net.frame_features(_shapes(48, 2)))
    self_fid = frechet_distance(*a, *a)
    assert self_fid == pytest.approx(0.0, abs=1e-8 * np.trace(a[1]))
    same_kind, other_kind = frechet_distance(*a, *a2), frechet_distance(*a, *b)
    assert other_kind > 3 * same_kind > 0, (same_kind, other_kind)


def test_random_features_are_seeded_and_labelled_as_untrained(tiny_net):
    frames = _textured(4, 0)
    again = build_net(TINY, CPU, batch=3, num_frames=8, seed=0)
    other = build_net(TINY, CPU, batch=8, num_frames=8, seed=1)
    assert np.array_equal(tiny_net.frame_features(frames), again.frame_features(frames))   # batch size too
    assert not np.allclose(tiny_net.frame_features(frames), other.frame_features(frames))
    assert tiny_net.frame_features(frames).shape == (4, 64)
    assert "NOT a trained network" in tiny_net.description and tiny_net.label == "videomae-random:vit_tiny_test:32"


def test_videomae_frame_features_are_static_clip_features_and_clips_are_resampled(tiny_net):
    frames = _textured(3, 4)
    static_clips = np.repeat(frames[:, None], 8, axis=1)
    assert np.allclose(tiny_net.frame_features(frames), tiny_net.clip_features(static_clips), atol=1e-6)
    clips16 = np.stack([_textured(16, s) for s in range(2)])
    assert tiny_net.clip_features(clips16).shape == (2, 64)      # 16 frames resampled to the model's 8


def test_checkpoint_features_load_a_synthvid_train_checkpoint(tmp_path):
    cfg = model_config("vit_tiny_test", img_size=32, num_frames=4)
    torch.manual_seed(5)
    model = VideoMAE(cfg)
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"format": 1, "model": model.state_dict(), "model_config": cfg.to_dict()}, run / "checkpoint-last.pt")
    net = build_net(parse_feature_spec(f"checkpoint:{run}"), CPU, batch=4, num_frames=16, seed=0)
    direct = VideoMAEFeatures(model, "x", "x", CPU, 4)
    clips = np.stack([_textured(16, s) for s in range(3)])
    assert np.array_equal(net.clip_features(clips), direct.clip_features(clips))
    assert net.label.startswith("videomae:checkpoint-last.pt@") and str(run) in net.description
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(AnalysisError, match="not a synthvid-train checkpoint"):
        build_net(parse_feature_spec(f"checkpoint:{tmp_path / 'junk.pt'}"), CPU, 4, 16, 0)
    with pytest.raises(AnalysisError, match="no such file"):
        build_net(parse_feature_spec(f"checkpoint:{tmp_path / 'absent'}"), CPU, 4, 16, 0)


def test_inception_features_from_a_torchvision_weights_file(tmp_path):
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    path = tmp_path / "inception.pth"
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), path)
    net = build_net(parse_feature_spec(f"inception:{path}"), CPU, batch=2, num_frames=16, seed=0)
    feats = net.frame_features(np.concatenate([_textured(2, 0), _shapes(1, 1)]))
    assert feats.shape == (3, 2048) and np.isfinite(feats).all()
    assert not np.allclose(feats[0], feats[2])
    assert net.label.startswith("inception-v3:inception.pth@")
    with pytest.raises(AnalysisError, match="frame features only"):
        net.clip_features(np.stack([_textured(16, 0)]))


class _TinyI3D(torch.nn.Module):
    """Stands in for StyleGAN-V's i3d_torchscript.pt: same call contract; its features report the input's
    range and shape so the test can check what the adapter feeds it."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Conv3d(3, 4, kernel_size=(2, 16, 16), stride=(2, 16, 16))

    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True,
                return_features: bool = False) -> torch.Tensor:
        if rescale or resize or not return_features:
            raise RuntimeError("called outside the FVD contract")
        b = x.shape[0]
        shape = torch.tensor(x.shape[1:], dtype=x.dtype).expand(b, 4)
        rng = torch.stack([x.flatten(1).amin(1), x.flatten(1).amax(1)], dim=1)
        return torch.cat([self.proj(x).mean(dim=(2, 3, 4)), rng, shape], dim=1)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_i3d_features_follow_the_fvd_detector_contract(tmp_path):
    path = tmp_path / "i3d.pt"
    torch.jit.script(_TinyI3D()).save(str(path))
    net = build_net(parse_feature_spec(f"i3d:{path}"), CPU, batch=2, num_frames=16, seed=0)
    black, white = np.zeros((1, 20, 40, 48, 3), np.uint8), np.full((1, 20, 40, 48, 3), 255, np.uint8)
    feats = net.clip_features(np.concatenate([black, white, np.stack([_textured(20, 3, 40, 48)])]))
    assert feats.shape == (3, 10)
    assert feats[0, 4] == pytest.approx(-1.0) and feats[1, 5] == pytest.approx(1.0)   # inputs in [-1, 1]
    assert feats[0, 6:].tolist() == [3, 16, 224, 224]                                 # 16 frames at 224 px
    with pytest.raises(AnalysisError, match="clip features only"):
        net.frame_features(_textured(1, 0))
    (tmp_path / "plain.pt").write_bytes(b"nope")
    with pytest.raises(AnalysisError, match="not a TorchScript file"):
        build_net(parse_feature_spec(f"i3d:{tmp_path / 'plain.pt'}"), CPU, 2, 16, 0)


def test_feature_specs_and_their_roles():
    assert parse_feature_spec("inception:/w/x.pth") == FeatureSpec("inception", "/w/x.pth")
    for bad in ("inception", "foo:bar", "checkpoint:", ""):
        with pytest.raises(AnalysisError, match="--features"):
            parse_feature_spec(bad)

    def roles(*features):
        return AnalysisOptions(datasets=("d",), out="o", features=features).feature_roles()

    assert roles() == (None, None)
    assert roles("random:vit_tiny_test") == (TINY.__class__("random", "vit_tiny_test"),) * 2
    frames, clips = roles("inception:a", "checkpoint:b")
    assert (frames.kind, clips.kind) == ("inception", "checkpoint")
    frames, clips = roles("i3d:a")
    assert frames is None and clips.kind == "i3d"
    with pytest.raises(AnalysisError, match="would be unused"):
        roles("inception:a", "i3d:b", "checkpoint:c")
    with pytest.raises(AnalysisError, match="keep one"):
        roles("checkpoint:a", "random:vit_tiny_test")
