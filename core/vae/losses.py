"""The terms of the training objectives, each with the equation it implements.

Conventions: images ``x`` are (B, C, H, W) in [0, 1]; decoders output *logits* (B, C, H, W);
every term is summed over pixels / latent dimensions and averaged over the batch, so the numbers
are nats per image (the unit of the ELBO in the papers).

References:
    Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, https://arxiv.org/abs/1312.6114
    Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a Constrained Variational
    Framework", ICLR 2017, https://openreview.net/forum?id=Sy2fzU9gl
    van den Oord et al., "Neural Discrete Representation Learning", NeurIPS 2017,
    https://arxiv.org/abs/1711.00937
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) under a Bernoulli decoder (Kingma & Welling 2014, Appendix C.1).

    ``log p(x|z) = sum_i x_i log y_i + (1 - x_i) log(1 - y_i)`` with ``y = sigmoid(logits)``;
    for grey levels in [0, 1] (not only 0/1) this is the usual binary cross-entropy, which is
    then not a normalised density but still a valid training signal.

    Args:
        logits: decoder output (B, C, H, W).
        x: target images (B, C, H, W) in [0, 1].
    Returns:
        (B,) nats per image.
    """
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def gaussian_nll(logits: torch.Tensor, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """-log p(x|z) under a Gaussian decoder N(x; mu, sigma^2 I) with ``mu = sigmoid(logits)``.

    ``-log p(x|z) = ||x - mu||^2 / (2 sigma^2) + D log(sigma sqrt(2 pi))`` (Kingma & Welling 2014,
    Appendix C.2, with a fixed output variance). A smaller ``sigma`` weighs reconstruction more
    against the KL term, exactly like a smaller beta.

    Returns:
        (B,) nats per image.
    """
    mu = torch.sigmoid(logits)
    d = x[0].numel()
    sq = (x - mu).pow(2).flatten(1).sum(1)
    return sq / (2 * sigma**2) + d * math.log(sigma * math.sqrt(2 * math.pi))


def reconstruction_nll(logits: torch.Tensor, x: torch.Tensor, likelihood: str, sigma: float = 0.1) -> torch.Tensor:
    """-log p(x|z) per image for ``likelihood`` "bernoulli" (BCE) or "gaussian" (MSE)."""
    if likelihood == "bernoulli":
        return bernoulli_nll(logits, x)
    if likelihood == "gaussian":
        return gaussian_nll(logits, x, sigma)
    raise ValueError(f"likelihood {likelihood!r} is not 'bernoulli' or 'gaussian'")


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || p(z)) for q = N(mu, diag exp(logvar)) and the prior p = N(0, I), in closed form.

    ``-KL = 1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)`` -- Kingma & Welling 2014,
    Appendix B, the first term of the estimator in eq. 10.

    Args:
        mu, logvar: (B, J) posterior parameters.
    Returns:
        (B,) nats per image.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


def kl_diagonal_gaussians(mu1, logvar1, mu2, logvar2) -> torch.Tensor:
    """KL(N(mu1, diag var1) || N(mu2, diag var2)) summed over the last dim, in closed form.

    ``KL = sum_j [ log(sigma2/sigma1) + (sigma1^2 + (mu1 - mu2)^2) / (2 sigma2^2) - 1/2 ]``;
    with ``mu2 = 0, logvar2 = 0`` it equals :func:`kl_standard_normal`.
    """
    return 0.5 * (logvar2 - logvar1 + (logvar1.exp() + (mu1 - mu2).pow(2)) / logvar2.exp() - 1.0).sum(-1)


def negative_elbo(recon_nll: torch.Tensor, kl: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """The (beta-)VAE loss per image: ``-L = -E_q[log p(x|z)] + beta * KL(q(z|x) || p(z))``.

    ``beta = 1`` is the negative SGVB estimator of Kingma & Welling 2014 (eq. 7, estimator B;
    eq. 10 for Gaussian q), an upper bound on -log p(x). ``beta > 1`` is the beta-VAE objective
    (Higgins et al. 2017, eq. 4): a stronger pull towards the factorised prior, which trades
    reconstruction detail for smoother, more disentangled latents.
    """
    return recon_nll + beta * kl


def vq_losses(z_e: torch.Tensor, z_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two latent terms of the VQ-VAE objective (van den Oord et al. 2017, eq. 3).

    ``L = log p(x|z_q(x)) + ||sg[z_e(x)] - e||^2 + beta ||z_e(x) - sg[e]||^2``: the codebook term
    moves the chosen codes ``e`` towards the encoder outputs, the commitment term keeps the
    encoder close to its codes ("sg" is stop-gradient, ``.detach()``).

    Args:
        z_e: encoder output (B, D, h, w).
        z_q: the nearest codebook vectors (B, D, h, w), *before* the straight-through trick.
    Returns:
        (codebook, commitment), each (B,) summed over the latent grid.
    """
    codebook = (z_e.detach() - z_q).pow(2).flatten(1).sum(1)
    commitment = (z_e - z_q.detach()).pow(2).flatten(1).sum(1)
    return codebook, commitment


def perplexity(counts: torch.Tensor) -> float:
    """exp(entropy) of the code usage distribution: how many codes are used "effectively"."""
    p = counts.double() / counts.sum().clamp_min(1)
    return float(torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum()))
