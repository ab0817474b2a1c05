"""Convolutional encoders and decoders (plain ``nn.Module`` s, no weights loaded here).

Two families:
  * :class:`DenseEncoder` / :class:`DenseDecoder`: strided convs down to a small feature map
    (7x7 for 28 px, 4x4 for 64 px), then a dense layer to a latent *vector* (AE, DAE, VAE).
  * :class:`GridEncoder` / :class:`GridDecoder`: strided convs and residual blocks to a latent
    *grid* of D-dim vectors (VQ-VAE, van den Oord et al. 2017, Section 4.1: "two strided
    convolutional layers ... followed by two residual 3x3 blocks").
"""

from __future__ import annotations

from torch import nn


def downsample_plan(image_size: int, max_down: int = 5) -> int:
    """How many stride-2 convs take ``image_size`` to <= 7 px while the side stays even."""
    n, s = 0, image_size
    while s > 7 and s % 2 == 0 and n < max_down:
        s //= 2
        n += 1
    return n


def widths(channels: int, n: int) -> list[int]:
    """Conv widths per level: channels, 2x, 4x, 8x, 8x, ..."""
    return [channels * 2 ** min(i, 3) for i in range(n)]


class DenseEncoder(nn.Module):
    """x (B, C, H, W) -> features (B, out_dim): convs ``4x4 stride 2`` + SiLU, then two dense layers."""

    def __init__(self, in_channels: int, image_size: int, channels: int, hidden: int, out_dim: int):
        super().__init__()
        n = downsample_plan(image_size)
        ws = widths(channels, n)
        layers, cin = [], in_channels
        for w in ws:
            layers += [nn.Conv2d(cin, w, 4, 2, 1), nn.SiLU()]
            cin = w
        self.convs = nn.Sequential(*layers)
        side = image_size // 2**n
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * side * side, hidden), nn.SiLU(), nn.Linear(hidden, out_dim))

    def forward(self, x):  # (B, C, H, W) -> (B, out_dim)
        return self.head(self.convs(x))


class DenseDecoder(nn.Module):
    """z (B, J) -> logits (B, C, H, W): two dense layers to a (C', s, s) map, then ``4x4 stride 2`` transposed convs."""

    def __init__(self, out_channels: int, image_size: int, channels: int, hidden: int, latent_dim: int):
        super().__init__()
        n = downsample_plan(image_size)
        ws = widths(channels, n)
        self.side, self.cin = image_size // 2**n, ws[-1] if ws else channels
        self.head = nn.Sequential(nn.Linear(latent_dim, hidden), nn.SiLU(),
                                  nn.Linear(hidden, self.cin * self.side**2), nn.SiLU())
        layers = []
        for i in reversed(range(n)):
            cout = ws[i - 1] if i > 0 else channels
            layers += [nn.ConvTranspose2d(ws[i], cout, 4, 2, 1), nn.SiLU()]
        layers.append(nn.Conv2d(channels, out_channels, 3, padding=1))
        self.convs = nn.Sequential(*layers)

    def forward(self, z):  # (B, J) -> (B, C, H, W) logits
        h = self.head(z).view(-1, self.cin, self.side, self.side)
        return self.convs(h)


class ResBlock(nn.Module):
    """``x + conv1x1(SiLU(conv3x3(SiLU(x))))`` (the VQ-VAE paper's residual block)."""

    def __init__(self, channels: int):
        super().__init__()
        self.net = nn.Sequential(nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1), nn.SiLU(),
                                 nn.Conv2d(channels, channels, 1))

    def forward(self, x):
        return x + self.net(x)


class GridEncoder(nn.Module):
    """x (B, C, H, W) -> z_e (B, D, H / 2**n, W / 2**n)."""

    def __init__(self, in_channels: int, channels: int, code_dim: int, downsample: int, num_res: int = 2):
        super().__init__()
        ws = widths(channels, downsample)
        layers, cin = [], in_channels
        for w in ws:
            layers += [nn.Conv2d(cin, w, 4, 2, 1), nn.SiLU()]
            cin = w
        layers += [nn.Conv2d(cin, cin, 3, padding=1)] + [ResBlock(cin) for _ in range(num_res)]
        layers += [nn.SiLU(), nn.Conv2d(cin, code_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class GridDecoder(nn.Module):
    """z_q (B, D, h, w) -> logits (B, C, h * 2**n, w * 2**n)."""

    def __init__(self, out_channels: int, channels: int, code_dim: int, downsample: int, num_res: int = 2):
        super().__init__()
        ws = widths(channels, downsample)
        layers = [nn.Conv2d(code_dim, ws[-1], 3, padding=1)] + [ResBlock(ws[-1]) for _ in range(num_res)]
        layers.append(nn.SiLU())
        for i in reversed(range(downsample)):
            cout = ws[i - 1] if i > 0 else channels
            layers += [nn.ConvTranspose2d(ws[i], cout, 4, 2, 1), nn.SiLU()]
        layers.append(nn.Conv2d(channels, out_channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z)
