"""Networks: diffusers' ``UNet2DModel`` (class-conditional) and a small noisy-image classifier.

The UNet is conditioned on the class through diffusers' class embedding (``num_class_embeds``),
which is added to the timestep embedding. Index ``num_classes`` is the *null class* (no label),
learnt through label dropout, so one network gives both eps(x_t, y) and eps(x_t) for
classifier-free guidance (Ho & Salimans 2022, https://arxiv.org/abs/2207.12598).
"""

from __future__ import annotations

import math

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


def _groups(channels) -> int:
    """Largest GroupNorm group count in (8, 4, 2, 1) that divides every width."""
    return next(g for g in (8, 4, 2, 1) if all(c % g == 0 for c in channels))


def build_unet(resolution: int, channels: int, block_out_channels=(32, 64, 64), layers_per_block: int = 1,
               num_classes: int = 0):
    """A ``UNet2DModel`` with self-attention only at the lowest resolution (cheap on CPU).

    Args:
        resolution: image side (divisible by 2 ** (levels - 1)).
        channels: image channels (1 gray, 3 RGB).
        block_out_channels: width of each level.
        num_classes: 0 for an unconditional model; else K classes + 1 null class embeddings.
    """
    from .lib import diffusers_class

    UNet2DModel = diffusers_class("UNet2DModel")

    levels = len(block_out_channels)
    if resolution % (2 ** (levels - 1)):
        raise ValueError(f"resolution {resolution} is not divisible by 2**{levels - 1} for {levels} UNet levels")
    down = ["DownBlock2D"] * (levels - 1) + ["AttnDownBlock2D"]
    up = ["AttnUpBlock2D"] + ["UpBlock2D"] * (levels - 1)
    return UNet2DModel(
        sample_size=resolution, in_channels=channels, out_channels=channels,
        block_out_channels=tuple(block_out_channels), layers_per_block=layers_per_block,
        down_block_types=tuple(down), up_block_types=tuple(up),
        norm_num_groups=_groups(block_out_channels), attention_head_dim=min(8, block_out_channels[-1]),
        num_class_embeds=(num_classes + 1) if num_classes else None,
    )


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps (Vaswani et al. 2017; Ho et al. 2020 sec. 4): (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class NoisyClassifier(nn.Module, PyTorchModelHubMixin):
    """p_phi(y | x_t, t): a small CNN trained on noised images, for classifier guidance.

    Dhariwal & Nichol 2021 (https://arxiv.org/abs/2105.05233), sec. 4: sampling adds
    s * grad_{x_t} log p_phi(y | x_t) to the score (see :func:`core.diffusion.sampling.classifier_gradient`).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.width = width
        self.time_mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.SiLU(), nn.Linear(4 * width, 3 * 2 * width))
        self.conv_in = nn.Conv2d(in_channels, width, 3, padding=1)
        self.convs = nn.ModuleList([
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
        ])
        self.norms = nn.ModuleList([nn.GroupNorm(8, 2 * width) for _ in self.convs])
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Logits (B, K) of the label of noised images x_t (B, C, H, W) at timesteps t (B,)."""
        temb = self.time_mlp(timestep_embedding(t, self.width)).chunk(3, dim=1)  # 3 x (B, 2w)
        h = nn.functional.silu(self.conv_in(x_t))
        for conv, norm, shift in zip(self.convs, self.norms, temb):
            h = nn.functional.silu(norm(conv(h)) + shift[:, :, None, None])
        return self.head(h.mean(dim=(2, 3)))


class DiffusionModel(nn.Module):
    """What training optimizes: the UNet and (optionally) the noisy classifier, one forward for DDP."""

    def __init__(self, unet: nn.Module, classifier: NoisyClassifier | None = None):
        super().__init__()
        self.unet = unet
        self.classifier = classifier

    def forward(self, x_t, t, class_labels=None, classify: bool = False):
        """UNet output (B, C, H, W) and, when ``classify``, classifier logits on x_t.detach() (B, K)."""
        out = self.unet(x_t, t, class_labels=class_labels).sample
        logits = self.classifier(x_t.detach(), t) if classify and self.classifier is not None else None
        return out, logits
