"""pix2pix and CycleGAN networks, laid out so the official pretrained files load as they are.

The module tree (and so every state-dict key) follows the reference implementation's ``models/networks.py``
(junyanz/pytorch-CycleGAN-and-pix2pix): ``model.10.conv_block.1.weight`` in a ResNet generator,
``model.model.1.model.3.model.1.weight`` in the nested U-Net, ``model.0.weight`` in a PatchGAN.

* U-Net generator (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks",
  section 3.2.1): an encoder-decoder whose layer i is concatenated to layer n - i (skip connections), so
  low-level structure (edges, outlines) passes straight to the output. ``unet_<N>`` halves an N px input
  ``log2 N`` times down to 1x1; inputs must be divisible by N.
* ResNet generator (Johnson et al. 2016, used by CycleGAN, Zhu et al. 2017, appendix 7.2): c7s1-ngf, two
  stride-2 downsamplings, ``n_blocks`` residual blocks, two fractional-strided upsamplings, c7s1-3.
* PatchGAN discriminator (Isola et al. 2017, section 3.2.2): classifies every N x N patch as real or fake;
  ``basic`` (3 layers) sees 70 x 70 pixels per output. ``pixel`` is the 1 x 1 PatchGAN ("PixelGAN").
"""

from __future__ import annotations

import math
import re

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

GENERATORS = ("unet_32", "unet_64", "unet_128", "unet_256", "resnet_6blocks", "resnet_9blocks")
DISCRIMINATORS = ("basic", "n_layers", "pixel")
NORMS = ("batch", "instance", "none")


def norm_layer(norm: str, channels: int) -> nn.Module:
    """The reference's norms: batch (affine, running stats), instance (no affine, no running stats), none."""
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")


def uses_bias(norm: str) -> bool:
    """Convs before a batch norm need no bias (its beta plays that role); the reference also drops it for 'none'."""
    return norm == "instance"


class ResnetBlock(nn.Module):
    """x + F(x) with F = pad, conv3x3, norm, ReLU, [dropout 0.5], pad, conv3x3, norm (He et al. 2016).

    Dropout shifts the second conv from ``conv_block.5`` to ``conv_block.6``, as in the reference.
    """

    def __init__(self, dim: int, norm: str, use_dropout: bool, padding: str = "reflect"):
        super().__init__()
        bias = uses_bias(norm)
        pad = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d}[padding]
        layers = [pad(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [pad(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """(B, input_nc, H, W) in [-1, 1] -> (B, output_nc, H, W) in [-1, 1]; H and W divisible by 4."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, norm: str = "instance",
                 use_dropout: bool = False, n_blocks: int = 9):
        super().__init__()
        bias = uses_bias(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), norm_layer(norm, ngf), nn.ReLU(True)]
        for i in range(2):                                              # downsample: ngf -> 4 ngf, H -> H / 4
            mult = 2 ** i
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                       norm_layer(norm, ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, use_dropout) for _ in range(n_blocks)]
        for i in range(2):                                              # upsample back to H
            mult = 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=bias), norm_layer(norm, ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class UnetSkipConnectionBlock(nn.Module):
    """One level of the U-Net: down(x) -> submodule -> up, concatenated with x (except the outermost level).

    Shapes: x (B, outer_nc or input_nc, H, W) -> (B, 2 outer_nc, H, W) (outermost: (B, outer_nc, H, W)).
    """

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None, submodule: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False, norm: str = "batch", use_dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        bias = uses_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=bias)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            layers = [downconv, submodule, nn.ReLU(True), upconv, nn.Tanh()]
        elif innermost:  # the 1x1 bottleneck has no norm, so batch 1 works with batch statistics
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True), upconv, norm_layer(norm, outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, norm_layer(norm, inner_nc), submodule,
                      nn.ReLU(True), upconv, norm_layer(norm, outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)                        # the skip connection


class UnetGenerator(nn.Module):
    """U-Net with ``num_downs`` halvings (unet_256: 8); dropout in the ``num_downs - 5`` widest inner levels."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = False):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"a U-Net needs num_downs >= 5, got {num_downs}")
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        for mult in (4, 2, 1):
            block = UnetSkipConnectionBlock(ngf * mult, ngf * mult * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True,
                                             norm=norm)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """PatchGAN: (B, input_nc, H, W) -> (B, 1, H', W') logits, one per overlapping patch.

    ``n_layers = 3`` is the 70 x 70 PatchGAN of Isola et al. 2017 (see :func:`receptive_field`).
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        bias = uses_bias(norm)
        layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                       norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1 x 1 PatchGAN: judges each pixel's colour alone (B, input_nc, H, W) -> (B, 1, H, W)."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        bias = uses_bias(norm)
        self.net = nn.Sequential(nn.Conv2d(input_nc, ndf, 1), nn.LeakyReLU(0.2, True),
                                 nn.Conv2d(ndf, ndf * 2, 1, bias=bias), norm_layer(norm, ndf * 2),
                                 nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * 2, 1, 1, bias=bias))

    def forward(self, x):
        return self.net(x)


def receptive_field(net: nn.Module) -> int:
    """Pixels of the input that one output of a conv stack sees: r = 1 + sum_l (k_l - 1) prod_{j<l} s_j."""
    r, jump = 1, 1
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            r += (m.kernel_size[0] - 1) * jump
            jump *= m.stride[0]
    return r


def multiple_of(netG: str) -> int:
    """The side every input of generator ``netG`` must be divisible by (unet_256: 256; resnet: 4)."""
    return int(netG.split("_")[1]) if netG.startswith("unet_") else 4


class Generator(nn.Module, PyTorchModelHubMixin):
    """A translation generator ``netG`` in the reference layout, wrapped so its checkpoint rebuilds it.

    The wrapped network sits at ``self.net``; :meth:`official_state_dict` gives the reference's keys.
    ``forward``: (B, input_nc, H, W) in [-1, 1] -> (B, output_nc, H, W) in [-1, 1].
    """

    def __init__(self, netG: str = "unet_64", input_nc: int = 3, output_nc: int = 3, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = False):
        super().__init__()
        if not re.fullmatch(r"unet_\d+|resnet_\d+blocks", str(netG)):
            raise ValueError(f"unknown generator {netG!r}; valid: {', '.join(GENERATORS)} (or unet_<N>, resnet_<n>blocks)")
        self.netG, self.input_nc, self.output_nc, self.ngf, self.norm = netG, input_nc, output_nc, ngf, norm
        self.use_dropout = use_dropout
        if netG.startswith("unet_"):
            side = int(netG[5:])
            if side & (side - 1) or side < 32:
                raise ValueError(f"{netG}: the side must be a power of two >= 32")
            self.net = UnetGenerator(input_nc, output_nc, int(math.log2(side)), ngf, norm, use_dropout)
        else:
            self.net = ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, int(netG.split("_")[1][:-6]))

    def forward(self, x):
        return self.net(x)

    @property
    def multiple(self) -> int:
        return multiple_of(self.netG)

    def official_state_dict(self) -> dict:
        """The weights under the reference's key names (what its ``latest_net_G.pth`` holds)."""
        return self.net.state_dict()


def build_discriminator(netD: str = "basic", input_nc: int = 3, ndf: int = 64, n_layers_D: int = 3,
                        norm: str = "batch") -> nn.Module:
    """``basic`` (70x70 PatchGAN), ``n_layers`` (PatchGAN with ``n_layers_D`` layers) or ``pixel``."""
    if netD == "basic":
        return NLayerDiscriminator(input_nc, ndf, 3, norm)
    if netD == "n_layers":
        return NLayerDiscriminator(input_nc, ndf, n_layers_D, norm)
    if netD == "pixel":
        return PixelDiscriminator(input_nc, ndf, norm)
    raise ValueError(f"unknown discriminator {netD!r}; valid: {', '.join(DISCRIMINATORS)}")


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The reference's 'normal' init: conv weights N(0, 0.02), biases 0; batch-norm gamma N(1, 0.02)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net
