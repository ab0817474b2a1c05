"""core/vae: ELBO terms, VQ straight-through gradients, shapes, save/load (random tensors, CPU, fast)."""

from __future__ import annotations

import math

import pytest
import torch

from core.vae.losses import (
    bernoulli_nll,
    gaussian_nll,
    kl_diagonal_gaussians,
    kl_standard_normal,
    negative_elbo,
    perplexity,
    reconstruction_nll,
    vq_losses,
)
from core.vae.models import VAE, VQVAE, AutoEncoder, load_vae


def test_kl_of_the_prior_against_itself_is_zero():
    mu, logvar = torch.zeros(3, 16), torch.zeros(3, 16)
    assert torch.allclose(kl_standard_normal(mu, logvar), torch.zeros(3))


def test_kl_known_closed_form_cases():
    # N(1, 1) vs N(0, 1): 1/2 per dim. N(0, e^2) vs N(0, 1): 1/2 (e^2 - 1 - 2) per dim.
    assert torch.allclose(kl_standard_normal(torch.ones(1, 4), torch.zeros(1, 4)), torch.tensor([2.0]))
    logvar = torch.full((1, 3), 2.0)
    expected = 3 * 0.5 * (math.exp(2.0) - 1 - 2.0)
    assert kl_standard_normal(torch.zeros(1, 3), logvar).item() == pytest.approx(expected, rel=1e-6)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    ref = torch.distributions.kl_divergence(q, p).sum(1)
    assert torch.allclose(kl_standard_normal(mu, logvar), ref, atol=1e-5)
    mu2, logvar2 = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    ref2 = torch.distributions.kl_divergence(q, torch.distributions.Normal(mu2, (0.5 * logvar2).exp())).sum(1)
    assert torch.allclose(kl_diagonal_gaussians(mu, logvar, mu2, logvar2), ref2, atol=1e-4)
    assert (kl_standard_normal(mu, logvar) > 0).all()


def test_likelihoods_are_per_image_log_densities():
    g = torch.Generator().manual_seed(1)
    x, logits = torch.rand(4, 3, 8, 8, generator=g), torch.randn(4, 3, 8, 8, generator=g)
    ref = -torch.distributions.Bernoulli(logits=logits, validate_args=False).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(bernoulli_nll(logits, x), ref, atol=1e-4)
    ref = -torch.distributions.Normal(torch.sigmoid(logits), 0.2).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(gaussian_nll(logits, x, 0.2), ref, atol=1e-3)
    assert torch.equal(reconstruction_nll(logits, x, "gaussian", 0.2), gaussian_nll(logits, x, 0.2))
    with pytest.raises(ValueError, match="likelihood"):
        reconstruction_nll(logits, x, "laplace")
    assert torch.allclose(negative_elbo(torch.ones(2), torch.full((2,), 3.0), beta=4.0), torch.full((2,), 13.0))


def test_vq_losses_and_perplexity():
    z_e = torch.randn(2, 4, 3, 3, requires_grad=True)
    z_q = torch.randn(2, 4, 3, 3, requires_grad=True)
    codebook, commitment = vq_losses(z_e, z_q)
    assert torch.allclose(codebook, commitment)  # same value, different gradients
    codebook.sum().backward()
    assert z_e.grad is None and z_q.grad.abs().sum() > 0  # sg[z_e]: the codebook term moves only the codes
    assert perplexity(torch.tensor([5, 5, 5, 5])) == pytest.approx(4.0)
    assert perplexity(torch.tensor([7, 0, 0, 0])) == pytest.approx(1.0)


@pytest.mark.parametrize("ema", [True, False])
def test_gradients_flow_through_the_straight_through_estimator_to_the_encoder(ema):
    torch.manual_seed(0)
    model = VQVAE(in_channels=1, image_size=16, channels=8, num_codes=8, code_dim=4, downsample=2, ema=ema)
    out = model(torch.rand(2, 1, 16, 16))
    # reconstruction only: the encoder gets a gradient solely through z_e + sg[z_q - z_e]
    out["logits"].pow(2).mean().backward()
    enc = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None for g in enc) and sum(float(g.abs().sum()) for g in enc) > 0
    if not ema:
        assert model.quantizer.embedding.grad is None  # argmin is not differentiable: codes learn by eq. 3 only
        model.zero_grad()
        out = model(torch.rand(2, 1, 16, 16))
        vq_losses(out["z_e"], out["z_q"])[0].sum().backward()
        assert model.quantizer.embedding.grad.abs().sum() > 0


def test_vq_ema_moves_codes_towards_encoder_outputs():
    torch.manual_seed(0)
    model = VQVAE(in_channels=1, image_size=8, channels=4, num_codes=4, code_dim=2, downsample=1, ema=True, ema_decay=0.5)
    q = model.quantizer
    z_e = torch.randn(4, 2, 4, 4)
    for _ in range(20):
        _, z_q, idx = q(z_e)
    # after the averages settle each used code sits at the mean of its assigned encoder outputs
    flat, ids = z_e.permute(0, 2, 3, 1).reshape(-1, 2), idx.flatten()
    for k in ids.unique():
        assert torch.allclose(q.embedding[k], flat[ids == k].mean(0), atol=1e-2)


@pytest.mark.parametrize("cls,kwargs,latent", [
    (AutoEncoder, {"model_type": "ae", "latent_dim": 2}, (2,)),
    (AutoEncoder, {"model_type": "dae", "latent_dim": 3}, (3,)),
    (VAE, {"latent_dim": 5}, (5,)),
    (VQVAE, {"num_codes": 8, "code_dim": 4, "downsample": 2}, (4, 7, 7)),
])
def test_shapes_and_save_load_round_trip(tmp_path, cls, kwargs, latent):
    torch.manual_seed(0)
    model = cls(in_channels=1, image_size=28, channels=8, **({"hidden": 16} if cls is not VQVAE else {}), **kwargs).eval()
    x = torch.rand(3, 1, 28, 28)
    assert model.latent_shape == latent
    z = model.encode(x)
    assert z.shape == (3, *latent)
    rec = model.decode(z)
    assert rec.shape == x.shape and rec.min() >= 0 and rec.max() <= 1
    assert model(x)["logits"].shape == x.shape
    assert model.sample_prior(4, torch.Generator().manual_seed(0)).shape == (4, 1, 28, 28)
    model.save_pretrained(tmp_path)
    loaded = load_vae(tmp_path)
    assert type(loaded) is cls and torch.allclose(loaded.reconstruct(x), model.reconstruct(x))


def test_64px_rgb_shapes():
    model = VAE(in_channels=3, image_size=64, latent_dim=16, channels=8, hidden=32).eval()
    assert model.reconstruct(torch.rand(2, 3, 64, 64)).shape == (2, 3, 64, 64)
    vq = VQVAE(in_channels=3, image_size=64, channels=8, num_codes=16, code_dim=4).eval()
    assert vq.code_indices(torch.rand(2, 3, 64, 64)).shape == (2, 16, 16)


def test_reparameterisation_is_differentiable_and_random():
    torch.manual_seed(0)
    model = VAE(latent_dim=4, channels=8, hidden=16)
    x = torch.rand(2, 1, 28, 28)
    a, b = model(x), model(x)
    assert torch.equal(a["mu"], b["mu"]) and not torch.equal(a["z"], b["z"])
    a["z"].sum().backward()
    assert model.encoder.head[-1].weight.grad.abs().sum() > 0


def test_bad_model_arguments_and_checkpoints(tmp_path):
    with pytest.raises(ValueError, match="model_type"):
        VAE(model_type="ae")
    with pytest.raises(ValueError, match="divisible"):
        VQVAE(image_size=30, downsample=2)
    from core.engine import CheckpointError

    with pytest.raises(CheckpointError):
        load_vae(tmp_path)  # no config.json
    (tmp_path / "config.json").write_text('{"model_type": "gan"}')
    with pytest.raises(CheckpointError, match="model_type"):
        load_vae(tmp_path)
    VAE(latent_dim=2, channels=8, hidden=16).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="cannot load"):
        load_vae(tmp_path)
