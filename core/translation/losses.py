"""Losses and training helpers of pix2pix (Isola et al. 2017) and CycleGAN (Zhu et al. 2017).

* GAN losses on PatchGAN logits D(.) (every patch is a sample):
  ``vanilla`` (Goodfellow et al. 2014; pix2pix eq. 1): D minimises BCE(D(real), 1) + BCE(D(fake), 0), G minimises
  BCE(D(G(x)), 1) (the non-saturating form); ``lsgan`` (Mao et al. 2017; CycleGAN section 4): squared errors
  (D(real) - 1)^2 + D(fake)^2 and (D(G(x)) - 1)^2; ``wgangp`` (Gulrajani et al. 2017): the critic minimises
  D(fake) - D(real) + lambda_gp (||grad D(x_hat)|| - 1)^2, G minimises -D(G(x)).
* pix2pix objective (eq. 4): G* = arg min_G max_D L_cGAN(G, D) + lambda_L1 ||y - G(x)||_1, lambda_L1 = 100.
* CycleGAN objective (eq. 3): L_GAN(G, D_B) + L_GAN(F, D_A) + lambda_cyc (||F(G(a)) - a||_1 + ||G(F(b)) - b||_1),
  lambda_cyc = 10, plus the identity loss (section 5.2) lambda_id lambda_cyc (||G(b) - b||_1 + ||F(a) - a||_1),
  lambda_id = 0.5.
* Discriminator feature matching (pix2pixHD, Wang et al. 2018, eq. 4): lambda_feat sum_i 1/N_i ||D_i(x, y) -
  D_i(x, G(x))||_1 over D's hidden layers i, weighted 4 / (n_layers + 1) as its reference does; a paired target
  in D's features, where an L1 in pixels settles on the median colour of what the input leaves open.
"""

from __future__ import annotations

import random

import torch
from torch.nn import functional as F

GAN_MODES = ("vanilla", "lsgan", "wgangp")


def gan_loss(logits: torch.Tensor, target_is_real: bool, gan_mode: str) -> torch.Tensor:
    """The loss of PatchGAN ``logits`` (B, 1, H', W') against the label real / fake, averaged over patches."""
    logits = logits.float()
    if gan_mode == "vanilla":
        target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
        return F.binary_cross_entropy_with_logits(logits, target)
    if gan_mode == "lsgan":
        return ((logits - (1.0 if target_is_real else 0.0)) ** 2).mean()
    if gan_mode == "wgangp":
        return -logits.mean() if target_is_real else logits.mean()
    raise ValueError(f"unknown gan_mode {gan_mode!r}; valid: {', '.join(GAN_MODES)}")


def feature_matching_loss(D, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """pix2pixHD's eq. 4 for one PatchGAN ``D`` (an ``nn.Sequential`` in ``D.model``): the mean absolute difference of
    each hidden activation (after every LeakyReLU) on ``real`` (no gradient) and ``fake``, summed over layers and
    weighted 4 / (n_layers + 1). real, fake: (B, C, H, W) D inputs. Zero when fake == real."""
    total, layers = 0.0, 0
    x_real, x_fake = real, fake
    for module in D.model:
        with torch.no_grad():
            x_real = module(x_real)
        x_fake = module(x_fake)
        if isinstance(module, torch.nn.LeakyReLU):
            total = total + F.l1_loss(x_fake, x_real)
            layers += 1
    return total * 4.0 / max(layers, 1)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, gan_mode: str) -> torch.Tensor:
    """D's loss; the reference halves it for vanilla / lsgan so D learns at half G's rate."""
    loss = gan_loss(real_logits, True, gan_mode) + gan_loss(fake_logits, False, gan_mode)
    return loss if gan_mode == "wgangp" else 0.5 * loss


def gradient_penalty(D, real: torch.Tensor, fake: torch.Tensor, lambda_gp: float = 10.0) -> torch.Tensor:
    """lambda_gp E[(||grad_x_hat D(x_hat)||_2 - 1)^2] on x_hat = e real + (1 - e) fake (Gulrajani et al. 2017 eq. 3)."""
    e = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    out = D(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return lambda_gp * ((norm - 1) ** 2).mean()


def cycle_loss(a: torch.Tensor, a_rec: torch.Tensor, b: torch.Tensor, b_rec: torch.Tensor) -> torch.Tensor:
    """||F(G(a)) - a||_1 + ||G(F(b)) - b||_1 (means over pixels): zero for identity generators."""
    return F.l1_loss(a_rec, a) + F.l1_loss(b_rec, b)


class ImagePool:
    """A history of generated images for D (Shrivastava et al. 2017; CycleGAN section 4).

    :meth:`query` returns, per image, the new one (while the pool fills, or with probability 1/2), else a
    random stored one which the new image replaces. ``pool_size`` 0 returns the batch unchanged.
    """

    def __init__(self, pool_size: int = 50, seed: int = 0):
        self.pool_size = int(pool_size)
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.pool_size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif self.rng.random() > 0.5:
                k = self.rng.randrange(self.pool_size)
                out.append(self.images[k].clone())
                self.images[k] = image
            else:
                out.append(image)
        return torch.cat(out)


def linear_decay(step: int, total: int, decay_steps: int) -> float:
    """The learning-rate factor: 1 for the first ``total - decay_steps`` steps, then linearly to 0 at ``total``
    (the reference's ``--n_epochs`` / ``--n_epochs_decay`` policy, counted in steps)."""
    start = total - decay_steps
    if decay_steps <= 0 or step < start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / float(decay_steps + 1))
