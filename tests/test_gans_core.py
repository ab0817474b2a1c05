"""The GAN variants: losses against their formulas, the gradient penalty, clipping, spectral norm, conditioning,
ProGAN's fade-in, the saved generator, and a tiny training of every variant."""

from __future__ import annotations

import math

import pytest
import torch

from core.gans.losses import (LOSSES, clip_weights, d_loss, feature_matching_loss, g_loss, gradient_penalty,
                              mode_seeking_loss)
from core.gans.networks import Discriminator, Generator, sample_z
from core.gans.progressive import ProDiscriminator, ProGenerator

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([-0.5, 1.5, 0.0])


def _sigmoid(v):
    return 1 / (1 + math.exp(-v))


def _mean(values):
    return sum(values) / len(values)


def test_each_loss_matches_its_formula():
    r, f = REAL.tolist(), FAKE.tolist()
    expected_d = {
        "nonsaturating": _mean([-math.log(_sigmoid(v)) for v in r]) + _mean([-math.log(1 - _sigmoid(v)) for v in f]),
        "lsgan": 0.5 * _mean([(v - 1) ** 2 for v in r]) + 0.5 * _mean([v ** 2 for v in f]),
        "wgan": _mean(f) - _mean(r),
        "wgan-gp": _mean(f) - _mean(r),
        "hinge": _mean([max(0, 1 - v) for v in r]) + _mean([max(0, 1 + v) for v in f]),
    }
    expected_g = {
        "nonsaturating": _mean([-math.log(_sigmoid(v)) for v in f]),
        "lsgan": 0.5 * _mean([(v - 1) ** 2 for v in f]),
        "wgan": -_mean(f), "wgan-gp": -_mean(f), "hinge": -_mean(f),
    }
    for loss in LOSSES:
        assert float(d_loss(loss, REAL, FAKE)) == pytest.approx(expected_d[loss], rel=1e-6), loss
        assert float(g_loss(loss, FAKE)) == pytest.approx(expected_g[loss], rel=1e-6), loss
    with pytest.raises(ValueError, match="unknown GAN loss"):
        d_loss("minimax", REAL, FAKE)


def test_gradient_penalty_matches_finite_differences():
    torch.manual_seed(0)
    w = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    critic = lambda x: (x ** 2 * w).sum(dim=(1, 2, 3)) + (x * w).sum(dim=(1, 2, 3)) ** 2  # a non-linear critic
    real, fake = torch.randn(4, 2, 3, 3, dtype=torch.float64), torch.randn(4, 2, 3, 3, dtype=torch.float64)
    g = torch.Generator().manual_seed(5)
    penalty, _ = gradient_penalty(critic, real, fake, generator=g)
    eps = torch.rand(4, 1, 1, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    x_hat = eps * real + (1 - eps) * fake
    h, norms = 1e-6, []
    for b in range(4):
        grad = torch.zeros_like(x_hat[b]).flatten()
        for i in range(grad.numel()):
            step = torch.zeros_like(grad)
            step[i] = h
            up, down = x_hat[b].flatten() + step, x_hat[b].flatten() - step
            grad[i] = (critic(up.view(1, 2, 3, 3)) - critic(down.view(1, 2, 3, 3))) / (2 * h)
        norms.append(grad.norm())
    expected = torch.stack([(n - 1) ** 2 for n in norms]).mean()
    assert float(penalty.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert penalty.requires_grad  # D learns from it (create_graph)


def test_feature_matching_and_mode_seeking_match_their_formulas():
    real, fake = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0, 0.0], [2.0, 2.0]])
    assert float(feature_matching_loss(real, fake)) == pytest.approx((2 - 1) ** 2 + (3 - 1) ** 2)
    z = torch.tensor([[0.0, 0.0], [1.0, 3.0]])
    images = torch.tensor([[[[0.0, 1.0]]], [[[1.0, 0.0]]]])  # the two halves differ by 1 per pixel; z by 2
    assert float(mode_seeking_loss(images, z)) == pytest.approx(1 / (1 / 2 + 1e-5))
    collapsed = torch.zeros(2, 1, 1, 2)  # a G that ignores z: the loss is 1 / eps
    assert float(mode_seeking_loss(collapsed, z)) == pytest.approx(1e5)


def test_weight_clipping_bounds_every_critic_weight():
    D = Discriminator(ndf=8)
    with torch.no_grad():
        for p in D.parameters():
            p.mul_(100)
    clip_weights(D, 0.01)
    assert all(float(p.abs().max()) <= 0.01 for p in D.parameters())


def test_spectral_norm_keeps_the_largest_singular_value_near_one():
    D = Discriminator(ndf=8, spectral_norm=True, norm="none")
    x = torch.randn(8, 1, 32, 32)
    for _ in range(30):  # power iteration converges over forward passes in train mode
        D(x)
    D.eval()
    convs = [m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(convs) == 4
    for m in convs:
        sigma = torch.linalg.matrix_norm(m.weight.flatten(1), ord=2)
        assert float(sigma) == pytest.approx(1.0, abs=0.05)


def test_the_conditional_generator_ignores_neither_label_nor_noise():
    torch.manual_seed(0)
    G = Generator(ngf=8, num_classes=10)
    z = torch.randn(1, 64).repeat(2, 1)
    a, b = G(z, torch.tensor([3, 7]))
    assert float((a - b).abs().mean()) > 1e-3
    c, d = G(torch.randn(2, 64), torch.tensor([3, 3]))
    assert float((c - d).abs().mean()) > 1e-3
    with pytest.raises(ValueError, match="class-conditional"):
        G(z)


@pytest.mark.parametrize("conditioning", ["concat", "projection"])
def test_the_conditional_discriminator_reads_the_label(conditioning):
    torch.manual_seed(0)
    D = Discriminator(ndf=8, num_classes=10, conditioning=conditioning, norm="none")
    if D.project is not None:
        torch.nn.init.normal_(D.project.weight)
    x = torch.randn(1, 1, 32, 32).repeat(2, 1, 1, 1)
    scores, features = D(x, torch.tensor([0, 9]))
    assert scores.shape == (2,) and features.shape == (2, D.num_features)
    assert abs(float(scores[0] - scores[1])) > 1e-4


def test_progan_fade_in_at_alpha_zero_is_the_lower_resolution_upsampled():
    torch.manual_seed(0)
    G, D = ProGenerator(ngf=8, resolution=32), ProDiscriminator(ndf=8, resolution=32)
    z = torch.randn(3, 64)
    for level in (1, 2, 3):
        G.level, G.alpha = level - 1, 1.0
        low = G(z)
        G.level, G.alpha = level, 0.0
        high = G(z)
        assert high.shape[-1] == 2 * low.shape[-1]
        torch.testing.assert_close(high, torch.nn.functional.interpolate(low, scale_factor=2, mode="nearest"))
        D.level, D.alpha = level, 0.0
        x = torch.randn(4, 1, 4 * 2 ** level, 4 * 2 ** level)
        D_low_score = D(x)[0]
        D.level, D.alpha = level - 1, 1.0
        torch.testing.assert_close(D_low_score, D(torch.nn.functional.avg_pool2d(x, 2))[0])


def test_truncation_keeps_every_component_within_tau_and_zero_is_off():
    g = lambda: torch.Generator().manual_seed(3)
    z = sample_z(500, 64, g(), truncation=0.5)
    assert float(z.abs().max()) <= 0.5 and z.std() > 0.2
    torch.testing.assert_close(sample_z(5, 64, g()), torch.randn(5, 64, generator=g()))


def _tiny(**kw):
    from core.gans.method import GANConfig

    return GANConfig(**{"steps": 40, "batch_size": 16, "log_every": 20, "sample_every": 0, "checkpoint_every": 0,
                        "eval_samples": 0, "num_samples": 4, "ngf": 8, "ndf": 8, "resolution": 16, **kw})


VARIANTS = {
    "dcgan": {}, "lsgan": {"loss": "lsgan"}, "hinge": {"loss": "hinge"},
    "wgan": {"loss": "wgan"}, "wgan-gp": {"loss": "wgan-gp"},
    "cgan-sn-fm": {"conditional": True, "spectral_norm": True, "feature_matching": True},
    "cgan-projection": {"conditional": True, "conditioning": "projection", "minibatch_std": True},
    "progan": {"architecture": "progan", "loss": "wgan-gp"},
    "cgan-faces": {"conditional": True, "dataset": "faces", "mode_seeking": 1.0},  # RGB; the hair style is the class
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_tiny_training_of_each_variant_moves_its_losses_and_round_trips(variant, tmp_path):
    from core.engine import Trainer
    from core.gans.method import GANMethod
    from core.gans.service import load_generator

    torch.manual_seed(0)
    config = _tiny(**VARIANTS[variant])
    rows = [e.losses for e in Trainer(GANMethod(config), tmp_path, resume=False).run() if e.kind == "step"]
    first, last = rows[0], rows[-1]
    if config.loss in ("wgan", "wgan-gp"):  # the critic learns to separate: its Wasserstein estimate grows
        assert last["w_estimate"] > first["w_estimate"], (first, last)
    else:  # D learns: its loss falls below its value at the start
        assert last["loss_d"] < first["loss_d"], (first, last)
    G = load_generator(tmp_path)
    channels = 3 if config.dataset == "faces" else 1
    assert G.num_classes == (GANMethod(config).data_info()[1] if config.conditional else 0)
    z = torch.randn(2, config.z_dim)
    y = torch.tensor([1, 2]) if G.num_classes else None
    assert G(z, y).shape == (2, channels, 16, 16)
    from safetensors.torch import load_file

    assert all(v.dtype == torch.float16 for v in load_file(tmp_path / "model.safetensors").values()
               if v.is_floating_point())
    assert (tmp_path / "losses.json").is_file()


def test_the_card_names_the_learning_rates_used_where_the_config_says_the_papers():
    """lr 0 means each loss's paper's rate: the card's table showed "learning rate | 0"."""
    from core.gans.method import GANConfig, GANMethod

    assert GANMethod(GANConfig(loss="wgan")).card_learning_rate() == "5e-05 for G and D (the paper's: config lr 0)"
    assert GANMethod(GANConfig(lr=1e-4, d_lr_ratio=4)).card_learning_rate() == "0.0001 for G, 0.0004 for D"


def test_on_cifar10_the_card_measures_in_a_cifar10_classifier_once_one_is_trained(tmp_path, monkeypatch):
    """A standard dataset has no bundled classifier: no measurements until ``checkpoints/classifier/cifar10`` exists,
    then FID, the score and class coverage in its features, with CIFAR-10's classes."""
    import json
    import pickle

    from core.engine import Trainer
    from core.gans.method import GANMethod
    from core.train import main
    from tests.test_data_standard import cifar_batch

    folder = tmp_path / "datasets" / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump(cifar_batch(16, 0), f, protocol=2)
    monkeypatch.setenv("GENLAB_DATASETS", str(tmp_path / "datasets"))
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    out = tmp_path / "gan"
    list(Trainer(GANMethod(_tiny(dataset="cifar10", steps=2, eval_samples=16)), out, resume=False).run())
    before = out / "metrics.json"
    assert not before.exists() or "fid" not in json.loads(before.read_text())  # nothing to measure with yet
    assert main(["classifier", "--dataset", "cifar10", "--steps", "2", "--batch-size", "8", "--sample-every", "0",
                 "--eval-images", "16", "--out", str(tmp_path / "checkpoints" / "classifier" / "cifar10")]) == 0
    assert main(["gans", "--out", str(out), "--reevaluate"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["eval_images"] == 16 and math.isfinite(metrics["fid"]) and 1.0 <= metrics["classifier_score"] <= 10
    assert metrics["class_shares"]["classes"][0] == "airplane"


def test_progan_grows_through_its_stages():
    from core.gans.method import GANMethod

    m = GANMethod(_tiny(architecture="progan", loss="wgan-gp", steps=300, resolution=32, start_resolution=8))
    phases = [m.progan_phase(s) for s in (0, 99, 100, 149, 150, 200, 299)]
    assert phases == [(1, 1.0), (1, 1.0), (2, 0.0), (2, pytest.approx(0.98)), (2, 1.0), (3, 0.0), (3, 1.0)]
