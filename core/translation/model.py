"""The exported translator (one or two generators) and the G/D module the engine trains.

``Translator`` is what a checkpoint folder holds (``config.json`` + ``model.safetensors``): ``G_AB`` (A -> B) and,
for CycleGAN, ``G_BA`` (B -> A), with a small ``task`` dict saying what each side is.
``TranslationGAN`` adds the PatchGAN discriminators and computes one loss per ``forward(mode=...)``, so that
under DDP every backward follows exactly one forward of the wrapped module.
"""

from __future__ import annotations

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn
from torch.nn import functional as F

from .losses import ImagePool, cycle_loss, discriminator_loss, feature_matching_loss, gan_loss, gradient_penalty
from .networks import Generator, build_discriminator, init_weights
from .parts import weighted_l1

MODELS = ("pix2pix", "cyclegan")


class Translator(nn.Module, PyTorchModelHubMixin):
    """pix2pix (``G_AB``) or CycleGAN (``G_AB`` and ``G_BA``) generators; images in [-1, 1].

    Args:
        model: "pix2pix" or "cyclegan".
        netG, ngf, norm, use_dropout: the generator (see :class:`core.translation.networks.Generator`).
        input_nc, output_nc: channels of domain A and domain B.
        task: what the sides are, e.g. {"input": "labels", "a": "label map", "b": "face"} (for the tab).
    """

    def __init__(self, model: str = "pix2pix", netG: str = "unet_64", input_nc: int = 3, output_nc: int = 3,
                 ngf: int = 64, norm: str = "instance", use_dropout: bool = True, task: dict | None = None):
        super().__init__()
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; valid: {', '.join(MODELS)}")
        self.model, self.netG, self.task = model, netG, dict(task or {})
        self.G_AB = Generator(netG, input_nc, output_nc, ngf, norm, use_dropout)
        self.G_BA = Generator(netG, output_nc, input_nc, ngf, norm, use_dropout) if model == "cyclegan" else None

    @property
    def multiple(self) -> int:
        return self.G_AB.multiple

    def generator(self, direction: str = "AtoB") -> Generator:
        if direction == "AtoB":
            return self.G_AB
        if direction == "BtoA" and self.G_BA is not None:
            return self.G_BA
        raise ValueError(f"direction {direction!r} is not available; this {self.model} model translates "
                         + ("AtoB or BtoA" if self.G_BA is not None else "AtoB only"))

    def forward(self, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        return self.generator(direction)(x)


def set_requires_grad(modules, flag: bool) -> None:
    for m in modules:
        if m is not None:
            for p in m.parameters():
                p.requires_grad_(flag)


class TranslationGAN(nn.Module):
    """Generators + discriminators with the pix2pix / CycleGAN losses.

    pix2pix's D is conditional: it sees cat(A, B) (input_nc + output_nc channels; Isola et al. eq. 1).
    CycleGAN's D_B judges domain B (G_AB's outputs), D_A domain A (G_BA's outputs).
    pix2pix's L1 term can weigh pixels unequally: ``forward(..., l1_weights=)`` (``parts.part_weights``).
    """

    def __init__(self, translator: Translator, netD: str = "basic", ndf: int = 64, n_layers_D: int = 3,
                 norm: str = "instance", gan_mode: str = "vanilla", lambda_GAN: float = 1.0, lambda_L1: float = 100.0,
                 lambda_cycle: float = 10.0, lambda_identity: float = 0.5, lambda_gp: float = 10.0,
                 pool_size: int = 50, seed: int = 0, lambda_feat: float = 0.0):
        super().__init__()
        self.translator = translator
        a_nc, b_nc = translator.G_AB.input_nc, translator.G_AB.output_nc
        self.cyclegan = translator.model == "cyclegan"
        self.D_B = build_discriminator(netD, b_nc if self.cyclegan else a_nc + b_nc, ndf, n_layers_D, norm)
        self.D_A = build_discriminator(netD, a_nc, ndf, n_layers_D, norm) if self.cyclegan else None
        for net in (translator, self.D_B, self.D_A):
            if net is not None:
                init_weights(net)
        self.gan_mode, self.lambda_GAN, self.lambda_L1 = gan_mode, lambda_GAN, lambda_L1
        self.lambda_cycle, self.lambda_identity, self.lambda_gp = lambda_cycle, lambda_identity, lambda_gp
        self.lambda_feat = lambda_feat
        # the reference uses the history pool for CycleGAN only (pix2pix's D is conditional on A)
        self.pools = (ImagePool(pool_size, seed), ImagePool(pool_size, seed + 1)) if self.cyclegan else None

    def discriminators(self):
        return [d for d in (self.D_B, self.D_A) if d is not None]

    def forward(self, mode: str, a: torch.Tensor, b: torch.Tensor, fakes: tuple | None = None,
                l1_weights: torch.Tensor | None = None):
        """mode "g": (total G loss, {name: loss}, fakes); mode "d": (total D loss, {name: loss}).

        ``l1_weights``: pix2pix, (N, 1, H, W) per-pixel weights of the L1 term (None: all 1, the paper's eq. 3)."""
        if mode == "g":
            return self._g_cyclegan(a, b) if self.cyclegan else self._g_pix2pix(a, b, l1_weights)
        if mode == "d":
            return self._d_cyclegan(a, b, fakes) if self.cyclegan else self._d_pix2pix(a, b, fakes)
        raise ValueError(f"unknown mode {mode!r}")

    # ---------------------------------------------------------------- pix2pix (Isola et al. 2017, eq. 4)
    def _g_pix2pix(self, a, b, l1_weights=None):
        fake_b = self.translator.G_AB(a)
        losses = {}
        total = 0.0
        if self.lambda_GAN > 0:
            losses["G_GAN"] = gan_loss(self.D_B(torch.cat([a, fake_b], 1)), True, self.gan_mode)
            total = total + self.lambda_GAN * losses["G_GAN"]
        if self.lambda_feat > 0:
            losses["G_feat"] = feature_matching_loss(self.D_B, torch.cat([a, b], 1), torch.cat([a, fake_b], 1))
            total = total + self.lambda_feat * losses["G_feat"]
        losses["G_L1"] = F.l1_loss(fake_b.float(), b.float())        # unweighted: comparable between runs
        if l1_weights is not None:
            losses["G_L1_weighted"] = weighted_l1(fake_b, b, l1_weights)
        if self.lambda_L1 > 0:
            total = total + self.lambda_L1 * losses["G_L1_weighted" if l1_weights is not None else "G_L1"]
        return total, losses, (fake_b.detach(),)

    def _d_pix2pix(self, a, b, fakes):
        real_ab, fake_ab = torch.cat([a, b], 1), torch.cat([a, fakes[0]], 1)
        loss = discriminator_loss(self.D_B(real_ab), self.D_B(fake_ab), self.gan_mode)
        losses = {"D": loss}
        if self.gan_mode == "wgangp":
            losses["D_gp"] = gradient_penalty(self.D_B, real_ab, fake_ab, self.lambda_gp)
            loss = loss + losses["D_gp"]
        return loss, losses

    # ---------------------------------------------------------------- CycleGAN (Zhu et al. 2017, eq. 3)
    def _g_cyclegan(self, a, b):
        G, Fn = self.translator.G_AB, self.translator.G_BA
        fake_b, fake_a = G(a), Fn(b)
        rec_a, rec_b = Fn(fake_b), G(fake_a)
        losses = {"G_GAN_AB": gan_loss(self.D_B(fake_b), True, self.gan_mode),
                  "G_GAN_BA": gan_loss(self.D_A(fake_a), True, self.gan_mode),
                  "cycle": cycle_loss(a.float(), rec_a.float(), b.float(), rec_b.float())}
        total = self.lambda_GAN * (losses["G_GAN_AB"] + losses["G_GAN_BA"]) + self.lambda_cycle * losses["cycle"]
        if self.lambda_identity > 0:  # G(b) ~ b, F(a) ~ a: keeps colours when no change is needed (section 5.2)
            losses["identity"] = F.l1_loss(G(b).float(), b.float()) + F.l1_loss(Fn(a).float(), a.float())
            total = total + self.lambda_cycle * self.lambda_identity * losses["identity"]
        return total, losses, (fake_b.detach(), fake_a.detach())

    def _d_cyclegan(self, a, b, fakes):
        fake_b, fake_a = self.pools[0].query(fakes[0]), self.pools[1].query(fakes[1])
        losses = {"D_B": discriminator_loss(self.D_B(b), self.D_B(fake_b), self.gan_mode),
                  "D_A": discriminator_loss(self.D_A(a), self.D_A(fake_a), self.gan_mode)}
        loss = losses["D_B"] + losses["D_A"]
        if self.gan_mode == "wgangp":
            losses["D_gp"] = (gradient_penalty(self.D_B, b, fake_b, self.lambda_gp)
                              + gradient_penalty(self.D_A, a, fake_a, self.lambda_gp))
            loss = loss + losses["D_gp"]
        return loss, losses
