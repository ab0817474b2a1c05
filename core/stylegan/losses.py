"""GAN losses of StyleGAN2: the non-saturating logistic loss (Goodfellow et al. 2014 §3), the R1 gradient
penalty applied lazily (Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?",
eq. 9; lazy regularisation: StyleGAN2 §3.1) and style-mixing regularisation (StyleGAN §3.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``E[softplus(D(G(z)))] + E[softplus(-D(x))]`` = -log(1 - sigmoid(D(G(z)))) - log sigmoid(D(x))."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``E[softplus(-D(G(z)))]`` = -log sigmoid(D(G(z))): the non-saturating generator loss."""
    return F.softplus(-fake_logits).mean()


def r1_penalty(discriminator, real: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """R1 (Mescheder et al. 2018, eq. 9 without gamma/2): ``E_x[ ||grad_x D(x)||^2 ]`` on real images.

    Args:
        discriminator: callable x (B, C, H, W) -> logits (B,).
        real: real images; their gradient is taken, so a detached copy is used.
        create_graph: keep the graph so the penalty itself can be backpropagated into D.
    Returns:
        scalar, the batch mean of the squared gradient norm.
    """
    real = real.detach().requires_grad_(True)
    with torch.autocast(real.device.type, enabled=False):  # a squared gradient norm wants float32
        logits = discriminator(real)
        (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=create_graph)
    return grad.square().flatten(1).sum(1).mean()


def lazy_r1_loss(penalty: torch.Tensor, gamma: float, every: int) -> torch.Tensor:
    """Lazy R1 (StyleGAN2 §3.1): applied every ``every`` D steps with its weight multiplied by ``every``,
    so the average strength is ``gamma / 2 * E ||grad||^2`` as if it were applied every step."""
    return penalty * (gamma / 2) * every


def mixing_cutoff(num_ws: int, batch: int, prob: float, generator: torch.Generator | None = None,
                  device=None) -> torch.Tensor:
    """Style-mixing regularisation (StyleGAN §3.1): per sample, with probability ``prob`` a crossover layer in
    [1, num_ws) after which the second latent's w takes over; otherwise ``num_ws`` (no mixing). (B,) long."""
    cut = torch.randint(1, num_ws, (batch,), generator=generator, device=device)
    mixed = torch.rand(batch, generator=generator, device=device) < prob
    return torch.where(mixed, cut, torch.full_like(cut, num_ws))


def mix_ws(ws1: torch.Tensor, ws2: torch.Tensor, cutoff: torch.Tensor) -> torch.Tensor:
    """Rows ``>= cutoff[b]`` of sample b come from ws2. ws*: (B, num_ws, w_dim), cutoff: (B,)."""
    layer = torch.arange(ws1.shape[1], device=ws1.device)[None, :, None]  # (1, num_ws, 1)
    return torch.where(layer >= cutoff[:, None, None], ws2, ws1)
