"""The DCGAN family (Radford et al. 2016, "Unsupervised Representation Learning with Deep Convolutional GANs"):
strided transposed convolutions, batch norm and ReLU in G, tanh out; strided convolutions and LeakyReLU(0.2) in D.

Switches on top, so every variant is a config of these two classes:
- conditioning (Mirza & Osindero 2014): G reads ``concat(z, embed(y))``; D reads y either as one-hot maps
  concatenated to the image (``"concat"``) or by projection, D(x, y) = ψ(φ(x)) + embed(y)ᵀφ(x)
  (Miyato & Koyama 2018, eq. 3);
- D's normalisation: batch norm (DCGAN), layer norm (WGAN-GP, which forbids batch norm in the critic) or none;
- spectral normalisation of every D weight (Miyato et al. 2018) with ``torch.nn.utils.parametrizations``.
"""

from __future__ import annotations

import math

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from core.stylegan.discriminator import minibatch_stddev

NORMS = ("batch", "layer", "none")
CONDITIONINGS = ("concat", "projection")


def levels(resolution: int) -> int:
    """Number of 2x up-samplings from 4x4 to ``resolution`` (a power of two, 8-256)."""
    n = int(math.log2(resolution)) - 2
    if resolution < 8 or resolution > 256 or 4 * 2 ** n != resolution:
        raise ValueError(f"resolution must be a power of two in [8, 256], got {resolution}")
    return n


def sample_z(num: int, z_dim: int, generator: torch.Generator | None = None, truncation: float = 0.0,
             device=None) -> torch.Tensor:
    """z ~ N(0, I), (num, z_dim); with ``truncation`` τ > 0 every component with |z| > τ is drawn again
    (BigGAN's truncation trick, Brock et al. 2019, §3.1): less variety, each image closer to the mode."""
    z = torch.randn(num, z_dim, generator=generator, device=generator.device if generator else device)
    if truncation > 0:
        for _ in range(100):
            out = z.abs() > truncation
            if not out.any():
                break
            z = torch.where(out, torch.randn(z.shape, generator=generator, device=z.device), z)
        z = z.clamp(-truncation, truncation)  # the last few that stayed out (tiny τ)
    return z


class Generator(nn.Module, PyTorchModelHubMixin):
    """z (B, z_dim) [+ labels (B,)] -> images (B, C, resolution, resolution) in [-1, 1].

    Args:
        z_dim: latent size. ngf: feature maps of the last block (ngf * 2^k above it, as in DCGAN).
        image_channels: 1 (grey) or 3. resolution: output side, a power of two >= 8.
        num_classes: 0 for an unconditional G; else y is embedded (``embed_dim``) and concatenated to z.
    """

    def __init__(self, z_dim: int = 64, ngf: int = 16, image_channels: int = 1, resolution: int = 32,
                 num_classes: int = 0, embed_dim: int = 16):
        super().__init__()
        self.z_dim, self.num_classes, self.resolution = z_dim, num_classes, resolution
        n = levels(resolution)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        width = [ngf * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 32 px, ngf 16: [64, 32, 16]
        layers = [nn.ConvTranspose2d(z_dim + (embed_dim if num_classes else 0), width[0], 4, 1, 0, bias=False),
                  nn.BatchNorm2d(width[0]), nn.ReLU(True)]  # (B, w0, 4, 4)
        for a, b in zip(width, width[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(width[-1], image_channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        for m in self.modules():  # DCGAN's initialisation: N(0, 0.02), batch-norm scales N(1, 0.02)
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            if labels is None:
                raise ValueError("this generator is class-conditional: give labels (B,)")
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """images (B, C, res, res) in [-1, 1] [+ labels] -> (scores (B,), features φ(x) (B, F)).

    Args:
        ndf: feature maps of the first block (doubled per block down to 4x4).
        norm: "batch" | "layer" | "none" after every block but the first (DCGAN has none on the first).
        spectral_norm: wrap every convolution and linear layer in spectral normalisation.
        num_classes, conditioning: "concat" (one-hot maps beside the image) or "projection" (eq. 3 of Miyato &
            Koyama 2018).
        minibatch_std: append the minibatch standard deviation map at 4x4 (ProGAN §3): D sees how varied a batch
            is, so a G that collapses to a few images is caught.
    """

    def __init__(self, ndf: int = 32, image_channels: int = 1, resolution: int = 32, norm: str = "batch",
                 spectral_norm: bool = False, num_classes: int = 0, conditioning: str = "concat",
                 minibatch_std: bool = False):
        super().__init__()
        if norm not in NORMS or conditioning not in CONDITIONINGS:
            raise ValueError(f"norm must be one of {NORMS} and conditioning one of {CONDITIONINGS}")
        n = levels(resolution)
        self.num_classes, self.conditioning = num_classes, conditioning
        sn = _spectral_norm if spectral_norm else (lambda m: m)
        extra = num_classes if (num_classes and conditioning == "concat") else 0
        width = [ndf * 2 ** i for i in range(n)]  # e.g. [32, 64, 128] down to 4x4
        layers = [sn(nn.Conv2d(image_channels + extra, width[0], 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        for a, b in zip(width, width[1:]):
            layers += [sn(nn.Conv2d(a, b, 4, 2, 1, bias=norm == "none"))]
            layers += {"batch": [nn.BatchNorm2d(b)], "layer": [nn.GroupNorm(1, b)], "none": []}[norm]
            layers += [nn.LeakyReLU(0.2, True)]
        self.net = nn.Sequential(*layers)
        self.minibatch_std = minibatch_std
        self.num_features = (width[-1] + minibatch_std) * 16
        self.out = sn(nn.Linear(self.num_features, 1))  # = DCGAN's final 4x4 valid convolution
        projection = num_classes and conditioning == "projection"
        self.project = nn.Embedding(num_classes, self.num_features) if projection else None
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and not spectral_norm:
                nn.init.normal_(m.weight, 0.0, 0.02)
        if self.project is not None:
            nn.init.normal_(self.project.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.num_classes and labels is None:
            raise ValueError("this discriminator is class-conditional: give labels (B,)")
        if self.num_classes and self.conditioning == "concat":
            onehot = nn.functional.one_hot(labels, self.num_classes).to(x.dtype)  # (B, K)
            x = torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)
        h = self.net(x)  # (B, C, 4, 4)
        features = (minibatch_stddev(h) if self.minibatch_std else h).flatten(1)  # φ(x): (B, F)
        score = self.out(features).squeeze(1)  # ψ(φ(x)): (B,)
        if self.project is not None:
            score = score + (self.project(labels) * features).sum(1)
        return score, features
