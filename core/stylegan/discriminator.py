"""The StyleGAN2 residual discriminator (Karras et al. 2020, figure 7c) with the minibatch standard deviation
layer of ProGAN (Karras et al. 2018 §3)."""

from __future__ import annotations

import math

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .layers import EqualConv2d, EqualLinear, downsample2x


class DiscriminatorBlock(nn.Module):
    """conv3x3 -> down -> conv3x3, plus a down -> 1x1 skip; the sum is scaled by 1/sqrt(2) (residual D)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3, activation=True)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, activation=True)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H/2, W/2)
        y = self.conv1(downsample2x(self.conv0(x)))
        return (y + self.skip(downsample2x(x))) / math.sqrt(2.0)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append one feature map: the std of each feature over groups of samples, averaged (ProGAN §3).

    (B, C, H, W) -> (B, C + 1, H, W). Lets D see the variety of a batch, which discourages mode collapse.
    """
    b, c, h, w = x.shape
    g = min(group_size, b)
    while b % g:
        g -= 1
    y = x.reshape(g, b // g, c, h, w)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()  # (B/g, C, H, W)
    y = y.mean(dim=(1, 2, 3))[:, None, None, None]  # (B/g, 1, 1, 1)
    y = y.repeat(g, 1, h, w)  # (B, 1, H, W)
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module, PyTorchModelHubMixin):
    """fromRGB -> residual blocks down to 4x4 -> minibatch std -> conv -> fc -> fc -> one logit per image.

    Args:
        resolution: input side (power of two >= 8).
        channels: feature maps per level 4, 8, ..., resolution (the generator's list, mirrored).
        image_channels: 3 for RGB.
    """

    def __init__(self, resolution: int = 64, channels: list[int] | None = None, image_channels: int = 3):
        super().__init__()
        from .generator import default_channels

        channels = list(channels) if channels is not None else default_channels(resolution)
        self.from_rgb = EqualConv2d(image_channels, channels[-1], 1, activation=True)
        self.blocks = nn.Sequential(*[DiscriminatorBlock(channels[i], channels[i - 1])
                                      for i in range(len(channels) - 1, 0, -1)])
        c4 = channels[0]
        self.conv = EqualConv2d(c4 + 1, c4, 3, activation=True)
        self.fc = EqualLinear(c4 * 16, c4, activation=True)
        self.out = EqualLinear(c4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, res, res) in [-1, 1] -> (B,) logits
        x = self.blocks(self.from_rgb(x))  # (B, C4, 4, 4)
        x = self.conv(minibatch_stddev(x))
        return self.out(self.fc(x.flatten(1))).squeeze(1)
