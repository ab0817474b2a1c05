"""core.metrics.features: loading a world's classifier as a torchmetrics feature extractor."""

import pytest
import torch

from core.classifier.model import ConvClassifier
from core.engine import CheckpointError
from core.metrics import load_feature_extractor


@pytest.fixture
def fake_checkpoints(tmp_path, monkeypatch):
    """A checkpoints/ folder holding an untrained 'digits' classifier (the loader is what is tested)."""
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path))
    torch.manual_seed(0)
    net = ConvClassifier(in_channels=1, image_size=28, channels=(4, 8), num_features=12)
    net.save_pretrained(tmp_path / "classifier" / "digits")
    return net


def test_features_shape_dtype_and_uint8_input(fake_checkpoints):
    fx = load_feature_extractor("digits")
    assert fx.num_features == 12
    x = torch.rand(5, 1, 28, 28)
    u8 = (x * 255).round().to(torch.uint8)
    f = fx(u8)
    assert f.shape == (5, 12) and f.dtype == torch.float32
    assert torch.allclose(f, fx(u8.float() / 255), atol=1e-6)  # uint8 in [0, 255] == float in [0, 1]
    assert torch.allclose(f, fake_checkpoints.features(u8.float() / 255), atol=1e-6)  # the penultimate layer
    assert fx(torch.randint(0, 256, (3, 3, 64, 64), dtype=torch.uint8)).shape == (3, 12)  # RGB, other size
    assert not f.requires_grad
    fx.train()
    assert not fx.training and not fx.classifier.training


def test_torchmetrics_accepts_it(fake_checkpoints):
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=load_feature_extractor("digits"))
    fid.update(torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8), real=True)
    fid.update(torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8), real=False)
    assert torch.isfinite(fid.compute())


def test_missing_world_says_how_to_train_it(fake_checkpoints):
    with pytest.raises(CheckpointError, match="python -m core.train classifier --dataset shapes"):
        load_feature_extractor("shapes")
    with pytest.raises(CheckpointError, match="not allowed"):
        load_feature_extractor("../digits")
