"""The GAN losses of the variants, written as each paper states them. ``real`` / ``fake`` are the discriminator's
(critic's) raw outputs D(x) and D(G(z)), shape (B,); every function returns a scalar.

| loss | discriminator / critic | generator |
|---|---|---|
| ``nonsaturating`` (Goodfellow et al. 2014, §3; DCGAN) | -log s(D(x)) - log(1 - s(D(G(z)))) | -log s(D(G(z))) |
| ``lsgan`` (Mao et al. 2017, eq. 2, a=0 b=c=1) | ½(D(x) - 1)² + ½D(G(z))² | ½(D(G(z)) - 1)² |
| ``wgan`` (Arjovsky et al. 2017, eq. 3) | D(G(z)) - D(x) | -D(G(z)) |
| ``wgan-gp`` (Gulrajani et al. 2017, alg. 1) | the WGAN loss + λ (‖∇D(x̂)‖₂ - 1)² | -D(G(z)) |
| ``hinge`` (Lim & Ye 2017; Miyato et al. 2018; BigGAN) | max(0, 1 - D(x)) + max(0, 1 + D(G(z))) | -D(G(z)) |

s is the logistic sigmoid; expectations are batch means. -log s(v) = softplus(-v), computed that way for stability.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("nonsaturating", "lsgan", "wgan", "wgan-gp", "hinge")
CRITICS = ("wgan", "wgan-gp")  # losses whose D is a critic: D(x) - D(G(z)) estimates the Wasserstein-1 distance


def d_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's (critic's) loss for ``loss`` (the table above; wgan-gp's penalty is added apart)."""
    if loss == "nonsaturating":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if loss == "lsgan":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean()
    if loss in CRITICS:
        return fake.mean() - real.mean()
    if loss == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    raise ValueError(f"unknown GAN loss {loss!r}; choose one of {list(LOSSES)}")


def g_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial loss for ``loss`` (the table above)."""
    if loss == "nonsaturating":
        return F.softplus(-fake).mean()
    if loss == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    if loss in CRITICS or loss == "hinge":
        return -fake.mean()
    raise ValueError(f"unknown GAN loss {loss!r}; choose one of {list(LOSSES)}")


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """WGAN-GP's two-sided penalty E[(‖∇_x̂ D(x̂)‖₂ - 1)²] on x̂ = εx + (1 - ε)x̃, ε ~ U[0, 1] per image
    (Gulrajani et al. 2017, algorithm 1, lines 4-7), without its λ.

    Args:
        critic: callable (B, C, H, W) -> (B,) scores; real, fake: (B, C, H, W) (fake detached from G).
    Returns:
        (penalty, mean gradient norm ‖∇D(x̂)‖₂); the penalty keeps the graph (create_graph): D learns from it.
    """
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype, generator=generator)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(dim=1)  # (B,)
    return ((norm - 1) ** 2).mean(), norm.detach().mean()


@torch.no_grad()
def clip_weights(module: nn.Module, c: float) -> None:
    """WGAN's weight clipping (Arjovsky et al. 2017, algorithm 1, line 7): every parameter into [-c, c]."""
    for p in module.parameters():
        p.clamp_(-c, c)


def feature_matching_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """‖E_x f(x) - E_z f(G(z))‖²₂ on D's last hidden features f (Salimans et al. 2016, §3.1); (B, F) each.
    The real features carry no gradient: G moves its statistics toward the data's."""
    return ((real_features.detach().mean(0) - fake_features.mean(0)) ** 2).sum()


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mode-seeking regularisation (Mao et al. 2019, "Mode Seeking GANs", eq. 3), for G to minimise: the inverse of
    mean|G(z1) - G(z2)| / mean|z1 - z2| over the two halves of a batch generated with the same labels. A conditional G
    that ignores z (one image per class) makes the ratio 0 and this loss large."""
    f1, f2 = fake.chunk(2)
    z1, z2 = z.chunk(2)
    ratio = (f1 - f2).abs().mean() / (z1 - z2).abs().mean()
    return 1 / (ratio + eps)
