"""The StyleGAN2 generator: mapping network + synthesis network with a learned constant, one w per layer.

``G(z) = synthesis(truncate(broadcast(mapping(z))))``. Every modulated convolution and every toRGB takes
its own row of ``ws`` (B, num_ws, w_dim), which is what makes style mixing possible (StyleGAN §3.1):
rows taken from another latent change only the layers they feed.
"""

from __future__ import annotations

import math

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .layers import StyledConv, ToRGB
from .mapping import MappingNetwork

NOISE_MODES = ("const", "random", "none")


def default_channels(resolution: int, channel_base: int = 4096, channel_max: int = 128) -> list[int]:
    """Channels per resolution level 4, 8, ..., ``resolution``: ``min(channel_base // res, channel_max)``."""
    levels = int(math.log2(resolution)) - 1
    return [min(channel_base // (4 * 2**i), channel_max) for i in range(levels)]


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
    """The truncation trick (StyleGAN §B): ``w' = w_avg + psi (w - w_avg)`` on layers ``< cutoff``.

    psi = 1 leaves w unchanged, psi = 0 gives ``w_avg`` (the "mean face") for every seed, psi < 0 the
    "anti-face" on the other side of the mean.

    Args:
        ws: (B, num_ws, w_dim). w_avg: (w_dim,). cutoff: number of leading layers truncated (None = all).
    """
    if psi == 1:
        return ws
    num_ws = ws.shape[1]
    cutoff = num_ws if cutoff is None else cutoff
    out = ws.clone()
    out[:, :cutoff] = torch.lerp(w_avg.to(ws.dtype), ws[:, :cutoff], psi)
    return out


class Generator(nn.Module, PyTorchModelHubMixin):
    """StyleGAN2 generator with toRGB skips (Karras et al. 2020, figure 7b).

    Args:
        resolution: output side, a power of two >= 8.
        z_dim, w_dim: latent sizes.
        mapping_layers: depth of the mapping MLP. mapping_lr_mul: its learning-rate multiplier.
        channels: feature maps per level 4, 8, ..., resolution (None = ``default_channels``).
        image_channels: 3 for RGB.
        w_avg_beta: decay of the tracked average w (truncation center).
    """

    def __init__(self, resolution: int = 64, z_dim: int = 128, w_dim: int = 128, mapping_layers: int = 4,
                 mapping_lr_mul: float = 0.01, channels: list[int] | None = None, image_channels: int = 3,
                 w_avg_beta: float = 0.995):
        super().__init__()
        log2 = int(math.log2(resolution))
        if resolution < 8 or 2**log2 != resolution:
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        channels = list(channels) if channels is not None else default_channels(resolution)
        if len(channels) != log2 - 1:
            raise ValueError(f"channels needs {log2 - 1} entries (4x4 ... {resolution}x{resolution}), "
                             f"got {len(channels)}")
        self.resolution, self.z_dim, self.w_dim = resolution, z_dim, w_dim
        self.image_channels = image_channels
        self.channels = channels
        self.num_ws = 2 * log2 - 2  # 1 conv + 1 toRGB at 4x4, then 2 convs per level; toRGB shares the next w

        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_mul, w_avg_beta)
        self.const = nn.Parameter(torch.randn(channels[0], 4, 4))  # the learned constant input
        self.conv1 = StyledConv(channels[0], channels[0], w_dim)
        self.to_rgb1 = ToRGB(channels[0], w_dim, image_channels)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        for c_in, c_out in zip(channels, channels[1:]):
            self.convs.append(StyledConv(c_in, c_out, w_dim, upsample=True))
            self.convs.append(StyledConv(c_out, c_out, w_dim))
            self.to_rgbs.append(ToRGB(c_out, w_dim, image_channels))
        # fixed per-layer noise images for noise_mode="const" (one per StyledConv)
        g = torch.Generator().manual_seed(0)
        for i, res in enumerate(self.noise_resolutions()):
            self.register_buffer(f"noise_const_{i}", torch.randn(1, 1, res, res, generator=g))

    # ------------------------------------------------------------------ layout
    def noise_resolutions(self) -> list[int]:
        """Side of every noise input, in layer order: 4, 8, 8, 16, 16, ..."""
        return [4] + [4 * 2**(i // 2 + 1) for i in range(2 * (len(self.channels) - 1))]

    def layer_resolution(self, index: int) -> int:
        """The resolution a row of ``ws`` acts on (its convolution's output; the last row only feeds toRGB)."""
        return min(4 * 2 ** ((index + 1) // 2), self.resolution)

    def layer_labels(self) -> list[str]:
        """Human-readable names of the ``num_ws`` style inputs, e.g. ``"w0: 4x4"``."""
        return [f"w{i}: {self.layer_resolution(i)}x{self.layer_resolution(i)}" for i in range(self.num_ws)]

    def style_groups(self) -> dict[str, list[int]]:
        """Layer indices of the paper's coarse (4-8 px), middle (16-32 px) and fine (64 px and up) styles."""
        res = [self.layer_resolution(i) for i in range(self.num_ws)]
        return {"coarse": [i for i, r in enumerate(res) if r <= 8],
                "middle": [i for i, r in enumerate(res) if 16 <= r <= 32],
                "fine": [i for i, r in enumerate(res) if r >= 64]}

    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping.w_avg

    # ------------------------------------------------------------------ forward
    def mapping_ws(self, z: torch.Tensor, psi: float = 1.0, cutoff: int | None = None,
                   update_w_avg: bool = False) -> torch.Tensor:
        """z (B, z_dim) -> ws (B, num_ws, w_dim): map, broadcast to every layer, truncate."""
        w = self.mapping(z, update_w_avg=update_w_avg)
        ws = w[:, None, :].expand(-1, self.num_ws, -1)
        return truncate(ws, self.w_avg, psi, cutoff)

    def make_noise(self, batch: int, mode: str = "const", generator: torch.Generator | None = None,
                   device=None) -> list[torch.Tensor | None]:
        """Noise inputs for every StyledConv: fixed buffers, fresh N(0, 1) images, or none."""
        if mode not in NOISE_MODES:
            raise ValueError(f"noise mode {mode!r} is not one of {list(NOISE_MODES)}")
        sizes = self.noise_resolutions()
        if mode == "none":
            return [None] * len(sizes)
        if mode == "const":
            return [getattr(self, f"noise_const_{i}") for i in range(len(sizes))]
        device = device or self.const.device
        return [torch.randn(batch, 1, r, r, generator=generator, device=device) for r in sizes]

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "random", noise_generator: torch.Generator | None = None,
                  noise: list | None = None) -> torch.Tensor:
        """ws (B, num_ws, w_dim) -> image (B, C, res, res) in about [-1, 1]."""
        if ws.ndim != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"ws must be (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        noise = noise if noise is not None else self.make_noise(ws.shape[0], noise_mode, noise_generator, ws.device)
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)  # (B, C4, 4, 4)
        x = self.conv1(x, ws[:, 0], noise[0])
        rgb = self.to_rgb1(x, ws[:, 1], None)
        for level, to_rgb in enumerate(self.to_rgbs):
            i = 2 * level + 1  # w index of this level's first conv
            x = self.convs[2 * level](x, ws[:, i], noise[i])
            x = self.convs[2 * level + 1](x, ws[:, i + 1], noise[i + 1])
            rgb = to_rgb(x, ws[:, i + 2], rgb)
        return rgb

    def forward(self, z: torch.Tensor, psi: float = 1.0, cutoff: int | None = None, noise_mode: str = "const",
                noise_generator: torch.Generator | None = None) -> torch.Tensor:
        """z (B, z_dim) -> image (B, C, res, res) in about [-1, 1]."""
        return self.synthesis(self.mapping_ws(z, psi, cutoff), noise_mode, noise_generator)
