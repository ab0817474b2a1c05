"""Progressive growing (Karras et al. 2018, "Progressive Growing of GANs", ProGAN): G and D start at a low
resolution and gain a block per stage; each new block fades in, its output blended with the previous
resolution's by alpha rising 0 -> 1 (§2, figure 2). With the paper's other three ingredients:
minibatch standard deviation in D (§3), equalized learning rate and pixel-wise feature normalisation in G (§4).

Equalized layers and minibatch std are the StyleGAN method's own (``core.stylegan``), reused here.
Both networks keep ``level`` (blocks in use above 4x4) and ``alpha`` (the fade-in of the newest block) as plain
attributes that the training loop sets; a finished model has every block at alpha 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from core.stylegan.discriminator import minibatch_stddev
from core.stylegan.layers import EqualConv2d, EqualLinear

from .networks import levels


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """b = a / sqrt(mean_j a_j² + ε) over the feature maps of each pixel (ProGAN eq. in §4.2)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def default_widths(resolution: int, ngf: int = 16) -> list[int]:
    """Feature maps at 4, 8, ..., resolution: ngf at the top, doubling downward, at most 4 ngf."""
    n = levels(resolution)
    return [min(ngf * 2 ** (n - i), 4 * ngf) for i in range(n + 1)]


class ProGenerator(nn.Module, PyTorchModelHubMixin):
    """z (B, z_dim) -> images (B, C, 4·2^level, same) in [-1, 1]; at ``alpha`` < 1 the newest block is blended
    with the previous level's output upsampled (nearest), so alpha = 0 is exactly the lower resolution, upsampled."""

    def __init__(self, z_dim: int = 64, ngf: int = 16, image_channels: int = 1, resolution: int = 32):
        super().__init__()
        self.z_dim, self.resolution, self.num_classes = z_dim, resolution, 0
        w = default_widths(resolution, ngf)
        self.max_level = len(w) - 1
        self.level, self.alpha = self.max_level, 1.0
        self.input = EqualLinear(z_dim, w[0] * 16, activation=True)  # 1x1 -> 4x4, as the paper's 4x4 "conv"
        self.conv4 = EqualConv2d(w[0], w[0], 3, activation=True)
        conv = lambda a, b: EqualConv2d(a, b, 3, activation=True)
        self.blocks = nn.ModuleList(nn.ModuleList([conv(w[i - 1], w[i]), conv(w[i], w[i])]) for i in range(1, len(w)))
        self.to_rgb = nn.ModuleList(EqualConv2d(c, image_channels, 1) for c in w)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.input(pixel_norm(z)).view(len(z), -1, 4, 4)  # (B, w0, 4, 4)
        x = pixel_norm(self.conv4(pixel_norm(x)))
        previous = x
        for i in range(self.level):
            previous = x
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            for conv in self.blocks[i]:
                x = pixel_norm(conv(x))
        out = self.to_rgb[self.level](x)
        if self.level > 0 and self.alpha < 1:
            low = F.interpolate(self.to_rgb[self.level - 1](previous), scale_factor=2, mode="nearest")
            out = self.alpha * out + (1 - self.alpha) * low
        return torch.tanh(out)


class ProDiscriminator(nn.Module):
    """images (B, C, 4·2^level, same) -> (scores (B,), features (B, F)); the newest block fades in as in G, its input
    blended with the image average-pooled into the previous level's fromRGB."""

    def __init__(self, ndf: int = 16, image_channels: int = 1, resolution: int = 32):
        super().__init__()
        w = default_widths(resolution, ndf)
        self.max_level = len(w) - 1
        self.level, self.alpha = self.max_level, 1.0
        self.from_rgb = nn.ModuleList(EqualConv2d(image_channels, c, 1, activation=True) for c in w)
        conv = lambda a, b: EqualConv2d(a, b, 3, activation=True)
        # block i: level i's resolution -> level i - 1's
        self.blocks = nn.ModuleList(nn.ModuleList([conv(w[i], w[i]), conv(w[i], w[i - 1])]) for i in range(1, len(w)))
        self.conv4 = EqualConv2d(w[0] + 1, w[0], 3, activation=True)
        self.fc = EqualLinear(w[0] * 16, w[0], activation=True)
        self.out = EqualLinear(w[0], 1)
        self.num_features = w[0]

    def _block(self, i: int, x: torch.Tensor) -> torch.Tensor:
        for conv in self.blocks[i - 1]:
            x = conv(x)
        return F.avg_pool2d(x, 2)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.from_rgb[self.level](x)
        if self.level > 0:
            h = self._block(self.level, h)
            if self.alpha < 1:
                h = self.alpha * h + (1 - self.alpha) * self.from_rgb[self.level - 1](F.avg_pool2d(x, 2))
        for i in range(self.level - 1, 0, -1):
            h = self._block(i, h)
        h = self.conv4(minibatch_stddev(h))  # (B, w0, 4, 4)
        features = self.fc(h.flatten(1))
        return self.out(features).squeeze(1), features
