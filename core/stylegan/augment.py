"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training",
https://arxiv.org/abs/2006.10738): the same random, differentiable transforms are applied to real AND
generated images before D sees them, so D cannot overfit a small data set and G still gets gradients.

Images are (B, C, H, W) in [-1, 1]. Every function draws its randomness from ``generator`` (None = global).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def _rand(shape, x, generator):
    return torch.rand(shape, generator=generator, device=x.device, dtype=x.dtype)


def rand_brightness(x, generator=None):
    """Add a per-image offset in [-0.5, 0.5) (on [0, 1] images; x2 on [-1, 1])."""
    return x + (_rand((x.shape[0], 1, 1, 1), x, generator) - 0.5) * 2


def rand_saturation(x, generator=None):
    """Scale the distance to the per-pixel channel mean by a factor in [0, 2)."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_rand((x.shape[0], 1, 1, 1), x, generator) * 2) + mean


def rand_contrast(x, generator=None):
    """Scale the distance to the per-image mean by a factor in [0.5, 1.5)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand((x.shape[0], 1, 1, 1), x, generator) + 0.5) + mean


def rand_translation(x, ratio: float = 0.125, generator=None):
    """Shift each image by up to ``ratio`` of its size, filling with zeros (a differentiable gather)."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = (_rand((b, 1, 1), x, generator) * (2 * sh + 1)).long() - sh
    tx = (_rand((b, 1, 1), x, generator) * (2 * sw + 1)).long() - sw
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = (gy[None] + ty + 1).clamp(0, h + 1)  # (B, H, W) indices into the 1-pixel zero-padded image
    gx = (gx[None] + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))  # (B, C, H+2, W+2)
    idx = (gy * (w + 2) + gx).flatten(1)  # (B, H*W)
    out = padded.flatten(2).gather(2, idx[:, None, :].expand(-1, x.shape[1], -1))
    return out.view_as(x)


def rand_cutout(x, ratio: float = 0.5, generator=None):
    """Zero one random square of side ``ratio`` times the image side in each image."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = (_rand((b, 1, 1), x, generator) * (h - ch + 1)).long()  # (B, 1, 1)
    left = (_rand((b, 1, 1), x, generator) * (w - cw + 1)).long()
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    inside = (gy[None] >= top) & (gy[None] < top + ch) & (gx[None] >= left) & (gx[None] < left + cw)  # (B, H, W)
    return x * (~inside)[:, None].to(x.dtype)


def parse_policy(policy: str) -> list[str]:
    """"color,translation" -> ["color", "translation"]; "" -> []; unknown names raise ValueError."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown}; use a comma list of {list(POLICIES)}")
    return names


def diff_augment(x: torch.Tensor, policy: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the comma-separated ``policy`` ("color,translation,cutout") to x (B, C, H, W) in [-1, 1]."""
    for name in parse_policy(policy):
        if name == "color":
            x = rand_contrast(rand_saturation(rand_brightness(x, generator), generator), generator)
        elif name == "translation":
            x = rand_translation(x, generator=generator)
        elif name == "cutout":
            x = rand_cutout(x, generator=generator)
    return x
