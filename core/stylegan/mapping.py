"""The mapping network f: Z -> W (Karras et al. 2019, "A Style-Based Generator Architecture for GANs" §2,
https://arxiv.org/abs/1812.04948), with the running mean ``w_avg`` used by the truncation trick."""

from __future__ import annotations

import torch
from torch import nn

from .layers import EqualLinear


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pixel norm of z: ``z / sqrt(mean(z^2))`` so z lies near the sphere of radius sqrt(z_dim)."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


class MappingNetwork(nn.Module):
    """An MLP of ``num_layers`` equalized-lr fully connected layers with learning-rate multiplier ``lr_mul``.

    Also tracks ``w_avg``, the moving average of w over training (StyleGAN2's ``w_avg_beta = 0.995``):
    ``w_avg <- mean_batch(w) + beta * (w_avg - mean_batch(w))``.

    Args:
        z_dim: size of z. w_dim: size of w. num_layers: depth (8 in the paper).
        lr_mul: learning-rate multiplier of every layer (0.01 in the paper).
        w_avg_beta: decay of the w_avg moving average.
    """

    def __init__(self, z_dim: int, w_dim: int, num_layers: int = 8, lr_mul: float = 0.01,
                 w_avg_beta: float = 0.995):
        super().__init__()
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, activation=True)
                                      for a, b in zip(dims, dims[1:])])
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, update_w_avg: bool = False) -> torch.Tensor:  # (B, z_dim) -> (B, w_dim)
        w = self.layers(normalize_2nd_moment(z))
        if update_w_avg:
            self.update_w_avg(w)
        return w

    @torch.no_grad()
    def update_w_avg(self, w: torch.Tensor) -> None:
        """``w_avg <- lerp(mean(w), w_avg, beta)``: the average w that psi truncates towards."""
        self.w_avg.copy_(torch.lerp(w.detach().mean(dim=0).to(self.w_avg.dtype), self.w_avg, self.w_avg_beta))
