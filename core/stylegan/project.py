"""Projection: find the w (or w+) whose image reproduces a target image (Karras et al. 2020 §5, "Projection
of images to latent space"; Abdal et al. 2019, Image2StyleGAN, for the per-layer w+ space).

``w* = argmin_w  L(G.synthesis(w), x)`` by Adam from ``w_avg``, with the StyleGAN2 recipe's ramped
learning rate and decaying noise added to w early on (it explores before it settles). The loss is the
pixel MSE plus the MSE of 2x, 4x and 8x average-pooled images (a coarse-to-fine pyramid; there is no
pretrained perceptual network offline), so the overall layout is matched before the details.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from .generator import Generator

SPACES = ("w", "w+")
MAX_STEPS = 1000


@dataclass
class ProjectionStep:
    """One progress report: step done, loss, the current image (1, C, H, W) in [0, 1] and ws (1, num_ws, w_dim)."""

    step: int
    total: int
    loss: float
    image: torch.Tensor
    ws: torch.Tensor


def pyramid_loss(x: torch.Tensor, y: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """sum over l < levels of MSE(avgpool_{2^l}(x), avgpool_{2^l}(y)); images (B, C, H, W)."""
    loss = x.new_zeros(())
    for level in range(levels):
        if level:
            if x.shape[-1] < 2:
                break
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        loss = loss + F.mse_loss(x, y)
    return loss


@torch.no_grad()
def w_statistics(G: Generator, num: int = 2000, seed: int = 0) -> tuple[torch.Tensor, float]:
    """(w mean (w_dim,), scalar w std) over ``num`` mapped random z (for the initial point and noise scale)."""
    g = torch.Generator().manual_seed(seed)
    w = G.mapping(torch.randn(num, G.z_dim, generator=g).to(G.const.device))
    return w.mean(0), float(((w - w.mean(0)).square().sum(1).mean()).sqrt())


def project(G: Generator, target: torch.Tensor, steps: int = 200, space: str = "w+", lr: float = 0.1,
            noise_mode: str = "const", report_every: int = 10, seed: int = 0) -> Iterator[ProjectionStep]:
    """Optimise w to reproduce ``target`` (C, H, W) in [0, 1]; yields a :class:`ProjectionStep` every
    ``report_every`` steps and at the end (whose ``ws`` is the projection).

    Args:
        G: the generator (its weights are not changed).
        target: (C, H, W) in [0, 1], resized to the generator's resolution if needed.
        steps: optimisation steps (1..1000).
        space: "w" (one w for every layer) or "w+" (one w per layer: closer fits, less "in distribution").
        lr: peak Adam learning rate.
        noise_mode: noise inputs used while projecting ("const" or "none"; "random" is not a fixed target).
        seed: seeds the exploration noise added to w.
    """
    if space not in SPACES:
        raise ValueError(f"projection space {space!r} is not one of {list(SPACES)}")
    steps = int(steps)
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"projection steps must be in [1, {MAX_STEPS}], got {steps}")
    if noise_mode not in ("const", "none"):
        raise ValueError("projection needs a fixed noise: noise mode 'const' or 'none'")
    if target.ndim != 3 or target.shape[0] != G.image_channels:
        raise ValueError(f"target must be ({G.image_channels}, H, W), got {tuple(target.shape)}")
    device = G.const.device
    x = target[None].to(device).float()
    if x.shape[-1] != G.resolution or x.shape[-2] != G.resolution:
        x = F.interpolate(x, size=(G.resolution, G.resolution), mode="bilinear", antialias=True)
    x = x * 2 - 1  # (1, C, R, R) in [-1, 1]

    w_mean, w_std = w_statistics(G)
    rows = G.num_ws if space == "w+" else 1
    w = w_mean[None, None].repeat(1, rows, 1).clone().requires_grad_(True)  # (1, rows, w_dim)
    opt = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999))
    noise = G.make_noise(1, noise_mode)
    g = torch.Generator().manual_seed(seed)
    params = [p.requires_grad for p in G.parameters()]
    G.requires_grad_(False)
    try:
        for step in range(steps):
            t = step / max(steps - 1, 1)
            # StyleGAN2 projector schedule: lr ramps up over 5 %, cosine ramp-down over the last 25 %
            ramp = min(1.0, (1 - t) / 0.25)
            ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
            ramp = ramp * min(1.0, t / 0.05) if step else ramp * 0.05
            for group in opt.param_groups:
                group["lr"] = lr * ramp
            # exploration noise on w, decaying quadratically to 0 at 75 % of the steps
            scale = w_std * 0.05 * max(0.0, 1 - t / 0.75) ** 2
            w_in = w + scale * torch.randn(w.shape, generator=g).to(device)
            img = G.synthesis(w_in.expand(1, G.num_ws, -1), noise=noise)
            loss = pyramid_loss(img, x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if (step + 1) % report_every == 0 or step + 1 == steps:
                with torch.no_grad():   # closed before the yield: the next step may run on another thread
                    ws = w.detach().expand(1, G.num_ws, -1).clone()
                    final = G.synthesis(ws, noise=noise)
                    report = ProjectionStep(step + 1, steps, float(pyramid_loss(final, x)),
                                            ((final + 1) / 2).clamp(0, 1).cpu(), ws)
                yield report
    finally:
        for p, flag in zip(G.parameters(), params):
            p.requires_grad_(flag)
