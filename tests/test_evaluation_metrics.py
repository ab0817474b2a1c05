"""The Evaluate tab's metrics: each against its formula or torchmetrics on fixed features, the properties the issue
names (a set against itself, dropped modes), the feature extractors (Inception-v3, CLIP) and the error bars."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.evaluation.measure import frechet_from_features, kid_from_features
from core.metrics import density_coverage, precision_recall


def _clusters(num: int, modes: int = 10, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(10, 8, generator=torch.Generator().manual_seed(99)) * 10
    return centres[:modes].repeat_interleave(num // modes, 0) + torch.randn(num, 8, generator=g)


class _Identity(nn.Module):
    num_features = 8

    def forward(self, x):
        return x


def test_frechet_and_kid_match_torchmetrics_on_the_same_features():
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 8, generator=g, dtype=torch.float64)
    b = torch.randn(300, 8, generator=g, dtype=torch.float64) * 1.5 + 0.3
    fid = FrechetInceptionDistance(feature=_Identity())
    fid.update(a, real=True)
    fid.update(b, real=False)
    assert frechet_from_features(a, b) == pytest.approx(float(fid.compute()), rel=1e-6)
    assert abs(frechet_from_features(a, a)) < 1e-6  # a set against itself
    kid = KernelInceptionDistance(feature=_Identity(), subsets=50, subset_size=100)
    kid.update(a, real=True)
    kid.update(b, real=False)
    ours, _ = kid_from_features(a, b, subsets=50, size=100)
    assert ours == pytest.approx(float(kid.compute()[0]), rel=0.15)  # the same estimator on other random subsets


def test_precision_and_recall_of_a_set_against_itself_are_one_and_recall_falls_with_dropped_modes():
    real = _clusters(1000)
    assert precision_recall(real, real) == (1.0, 1.0)
    full = precision_recall(real, _clusters(1000, seed=1))
    half = precision_recall(real, _clusters(1000, modes=5, seed=2))  # half the modes, as many samples
    assert full[1] > 0.8 and half[1] < 0.55 * full[1]
    assert half[0] > 0.8  # what it draws still lies on the data: precision keeps up
    density, coverage = density_coverage(real, _clusters(1000, modes=5, seed=2))
    assert coverage < 0.55 and density > 0.8


def test_density_and_coverage_match_their_formulas_on_a_small_example():
    real = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    fake = torch.tensor([[0.5], [9.0], [20.0]])
    # k = 1: radii 1, 1, 1, 8; fake 0.5 is inside the balls of 0 and 1, fake 9 inside the ball of 10 only
    density, coverage = density_coverage(real, fake, k=1)
    assert density == pytest.approx((2 + 1 + 0) / (1 * 3))
    assert coverage == pytest.approx(3 / 4)  # real 0, 1 and 10 have a fake in their ball; real 2 has none


def test_the_lpips_style_distance_is_zero_for_a_copy_and_grows_with_the_damage():
    from core.metrics import load_classifier
    from core.metrics.perceptual import feature_distance, paired_scores
    from torchmetrics.functional.image import peak_signal_noise_ratio

    from core.evaluation.measure import real_images

    faces = real_images("faces", 6)["image"]
    net = load_classifier("faces")
    g = torch.Generator().manual_seed(0)
    noisy = [(faces + s * torch.randn(faces.shape, generator=g)).clamp(0, 1) for s in (0.05, 0.2, 0.5)]
    d = [float(feature_distance(x, faces, net).mean()) for x in noisy]
    assert float(feature_distance(faces, faces, net).abs().max()) < 1e-6
    assert 0 < d[0] < d[1] < d[2] <= 4
    scores = paired_scores(noisy[1], faces, classifier=net)
    assert all(v.shape == (6,) for v in scores.values())
    one = peak_signal_noise_ratio(noisy[1][:1], faces[:1], data_range=1.0)  # per image: torchmetrics on that image
    assert float(scores["psnr"][0]) == pytest.approx(float(one), rel=1e-5)
    exact = paired_scores(faces, faces, classifier=net)
    assert torch.equal(exact["psnr"], torch.full((6,), 100.0)) and torch.allclose(exact["ssim"], torch.ones(6), atol=1e-3)


def test_the_fid_inception_has_the_published_layout_and_tensorflows_resize():
    from core.metrics.inception import InceptionFeatures, resize_like_tensorflow1

    shapes = {k: tuple(v.shape) for k, v in InceptionFeatures().state_dict().items()}
    # the parameter names and shapes of pt_inception-2015-12-05-6726825d.pth (checked once against torch-fidelity's
    # network with the same random weights: features equal to 6e-8)
    assert len(shapes) == 566 and shapes["fc.weight"] == (1008, 2048)
    assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3) and shapes["Conv2d_1a_3x3.bn.running_var"] == (32,)
    assert shapes["Mixed_6b.branch7x7dbl_5.conv.weight"] == (192, 128, 1, 7)
    assert shapes["Mixed_7c.branch3x3dbl_3b.conv.weight"] == (384, 384, 3, 1)
    assert shapes["Mixed_7c.branch_pool.conv.weight"] == (192, 2048, 1, 1) and "Mixed_6a.branch_pool.conv.weight" not in shapes
    # TF 1.x samples output pixel i at i * in / out, with no half-pixel offset: [a, b] -> [a, (a+b)/2, b, b]
    row = resize_like_tensorflow1(torch.tensor([[[[0.0, 8.0]]]]).repeat(1, 1, 2, 1), side=4)[0, 0, 0]
    assert row.tolist() == [0.0, 4.0, 8.0, 8.0]


def test_inception_features_are_used_only_when_their_weights_are_on_disk(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    from core.evaluation.measure import WorldJudge
    from core.evaluation.service import check_features
    from core.metrics.inception import InceptionFeatures, find_weights

    bundled = Path(__file__).resolve().parents[1] / "checkpoints"
    shutil.copytree(bundled / "classifier/digits", tmp_path / "checkpoints/classifier/digits")
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert find_weights() is None
    with pytest.raises(ValueError, match="Inception-v3 weights are not on this machine"):
        check_features("inception")
    (tmp_path / "checkpoints/metrics").mkdir()
    torch.manual_seed(0)
    torch.save(InceptionFeatures().state_dict(), tmp_path / "checkpoints/metrics/pt_inception-2015-12-05-6726825d.pth")
    assert check_features("inception") == "inception"
    shutil.copytree(bundled / "text2image/clip-shapes", tmp_path / "checkpoints/text2image/clip-shapes")
    assert check_features("clip", "shapes") == "clip"                 # GenLab's CLIP: its own world only
    with pytest.raises(ValueError, match="features 'clip' on the digits world needs OpenAI's CLIP"):
        check_features("clip", "digits")
    judge = WorldJudge("digits", 12, features="inception")  # random weights: the wiring, not the values
    assert judge.real["features"].shape == (12, 2048) and judge.real["logits"].shape == (12, 1008)
    assert judge.real["classes"].max() < 10  # classes still come from the digits classifier
    from core.evaluation.measure import real_images

    result = judge.measure(real_images("digits", 12, first=100)["image"], repeats=2)
    assert set(result["values"]) >= {"fid", "precision", "score", "class_tv"}


def test_openai_clip_is_used_when_it_is_on_disk_and_clip_features_plug_in(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    from core.evaluation.conditional import condition_floor, per_image_scores
    from core.evaluation.measure import WorldJudge, real_images
    from core.metrics import clip as clip_module

    bundled = Path(__file__).resolve().parents[1] / "checkpoints"
    for folder in ("classifier/shapes", "text2image/clip-shapes"):
        shutil.copytree(bundled / folder, tmp_path / "checkpoints" / folder)
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setattr(clip_module, "_LOADED", {})
    assert clip_module.load_clip("openai") is None  # not in checkpoints/metrics/, not in the (offline) cache
    monkeypatch.setattr(clip_module, "_LOADED", {})
    # a tiny stand-in with OpenAI's layout (its processor: 224 px, CLIP's normalisation)
    folder = tmp_path / "checkpoints/metrics/clip-vit-base-patch32"
    tokenizer = CLIPTokenizer.from_pretrained(bundled / "text2image/clip-shapes")
    torch.manual_seed(0)
    config = CLIPConfig(text_config={"vocab_size": tokenizer.vocab_size, "hidden_size": 32, "intermediate_size": 64,
                                     "num_hidden_layers": 1, "num_attention_heads": 2,
                                     "max_position_embeddings": tokenizer.model_max_length},
                        vision_config={"image_size": 224, "patch_size": 32, "hidden_size": 32, "intermediate_size": 64,
                                       "num_hidden_layers": 1, "num_attention_heads": 2}, projection_dim=16)
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor().save_pretrained(folder)
    assert clip_module.openai_folder() == folder and clip_module.load_clip("openai").name == "OpenAI CLIP ViT-B/32"

    scenes = real_images("shapes", 6, first=5000)
    scores = per_image_scores(None, scenes["image"], {"kind": "text", "prompts": scenes["text"]})
    assert set(scores) == {"clip_score", "clip_score_openai"} and scores["clip_score_openai"].shape == (6,)
    judge = WorldJudge("shapes", 6, features="clip")
    assert judge.real["features"].shape == (6, 16) and "OpenAI" in judge.description
    assert set(condition_floor(judge, {"kind": "text"})) == {"clip_score", "clip_score_openai"}


@pytest.mark.slow
def test_the_error_bars_are_about_the_spread_over_seeds():
    from core.evaluation.calibration import calibrate

    for metric, (spread, bar) in calibrate("gans/dcgan-digits", 200, seeds=8).items():
        assert 0.4 * spread < bar < 2.5 * spread, (metric, spread, bar)
