"""StyleGAN2 building blocks (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN",
https://arxiv.org/abs/1912.04958).

* equalized learning rate (Karras et al. 2018, ProGAN §4.1): weights are stored as N(0, 1) and scaled at
  run time by He's constant ``c = 1 / sqrt(fan_in)``, so Adam sees every layer at the same scale;
* the modulated / demodulated convolution of StyleGAN2 eq. 1-3;
* per-pixel noise inputs with a learned strength and the toRGB skip outputs.

Up-sampling follows StyleGAN2: zero insertion followed by the separable FIR low-pass filter [1, 3, 3, 1]
(``upfirdn2d``); the up-sampling convolution is a stride-2 transposed convolution followed by that blur.
This matches the official and the rosinality layouts exactly, so their weights convert without change.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_GAIN = math.sqrt(2.0)  # keeps activations at unit variance after leaky ReLU(0.2)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with slope 0.2 times sqrt(2) (StyleGAN's ``lrelu`` with its default gain)."""
    return F.leaky_relu(x, 0.2) * LRELU_GAIN


def fir_kernel(device=None, dtype=None) -> torch.Tensor:
    """The 2-D [1, 3, 3, 1] x [1, 3, 3, 1] low-pass filter, scaled to sum 4 (gain of 2x zero insertion)."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0], device=device, dtype=dtype)
    k = torch.outer(k, k)
    return k * (4.0 / k.sum())  # (4, 4)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, 2H, 2W): zero insertion + [1, 3, 3, 1] FIR (= bilinear inside the image)."""
    c = x.shape[1]
    k = fir_kernel(x.device, x.dtype).expand(c, 1, 4, 4)
    return F.conv_transpose2d(x, k, stride=2, padding=1, groups=c)


def blur(x: torch.Tensor, pad: int = 1) -> torch.Tensor:
    """Depthwise [1, 3, 3, 1] FIR filter with zero padding ``pad``: (B, C, H, W) -> (B, C, H + 2 pad - 3, ...)."""
    c = x.shape[1]
    k = fir_kernel(x.device, x.dtype).expand(c, 1, 4, 4)
    return F.conv2d(F.pad(x, (pad,) * 4), k, groups=c)


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H/2, W/2) by 2x2 average pooling."""
    return F.avg_pool2d(x, 2)


class EqualLinear(nn.Module):
    """Fully connected layer with equalized learning rate and a learning-rate multiplier.

    ``y = x (W * lr_mul / sqrt(in))^T + b * lr_mul``, weights initialised ``N(0, 1) / lr_mul``.
    With ``lr_mul = 0.01`` (the mapping network) the effective learning rate is 100x smaller.

    Args:
        in_features, out_features: sizes.
        bias_init: initial value of the (effective) bias; 1 for the style affine layers, so that
            every style starts at ``s = 1`` (no modulation).
        lr_mul: learning-rate multiplier.
        activation: apply ``lrelu`` after the bias.
    """

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in) -> (B, out)
        y = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)
        return lrelu(y) if self.activation else y


class EqualConv2d(nn.Module):
    """2-D convolution with equalized learning rate (weights ``N(0, 1)`` times ``1 / sqrt(in * k * k)``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in, H, W) -> (B, out, H, W)
        y = F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.padding)
        return lrelu(y) if self.activation else y


class ModulatedConv2d(nn.Module):
    """Modulated (and demodulated) convolution, StyleGAN2 eq. 1-3.

    With the style ``s = A(w)`` (an affine layer of w, one scale per input channel):

    * eq. 1, modulation:    ``w'_ijk = s_i * w_ijk``
    * eq. 3, demodulation:  ``w''_ijk = w'_ijk / sqrt(sum_{i,k} w'_ijk^2 + eps)``

    (eq. 2 is the output standard deviation ``sigma_j = sqrt(sum_{i,k} w'_ijk^2)`` that eq. 3 divides by.)
    Instead of building one weight tensor per sample (a grouped convolution), this computes the
    mathematically identical ``conv(x * s, w) * d_j`` with ``d_j = 1 / sigma_j`` ("fused_modconv=False"
    in the official code), which runs a plain convolution and is faster on CPU.

    Args:
        in_channels, out_channels, kernel_size: convolution shape.
        w_dim: size of the intermediate latent w.
        demodulate: apply eq. 3 (False for toRGB).
        upsample: up-sample 2x (transposed convolution with stride 2, then the FIR blur).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int,
                 demodulate: bool = True, upsample: bool = False):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)  # A in the paper's figure 2
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2
        self.demodulate = demodulate
        self.upsample = upsample

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # x: (B, in, H, W), w: (B, w_dim) -> (B, out, H', W')
        styles = self.affine(w)  # (B, in) = s_i
        weight = self.weight * self.weight_gain  # (out, in, k, k)
        x = x * styles[:, :, None, None]  # eq. 1 applied to the input: conv(s * x, w) = conv(x, s * w)
        if self.upsample:  # stride-2 transposed conv (2H + 1) then the FIR blur (2H), as in StyleGAN2
            y = blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2), pad=1)
        else:
            y = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:  # eq. 2-3: sigma_j^2 = sum_{i,k} (s_i w_ijk)^2 = (sum_k w_ijk^2) @ s^2
            sigma2 = styles.square() @ weight.square().sum(dim=(2, 3)).t()  # (B, out)
            y = y * torch.rsqrt(sigma2 + 1e-8)[:, :, None, None]
        return y


class NoiseInjection(nn.Module):
    """Per-pixel noise ``x + strength * n``, ``n ~ N(0, 1)`` of shape (B, 1, H, W) (StyleGAN §3.2).

    The strength is one learned scalar per layer (StyleGAN2), initialised to 0.
    """

    def __init__(self):
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        return x if noise is None else x + self.strength * noise


class StyledConv(nn.Module):
    """Modulated conv -> noise -> bias -> lrelu: one "style block" of StyleGAN2 (figure 2c/d)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, upsample: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, demodulate=True, upsample=upsample)
        self.noise = NoiseInjection()
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        x = self.noise(self.conv(x, w), noise)
        return lrelu(x + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    """Modulated 1x1 convolution to RGB without demodulation, plus the up-sampled skip (StyleGAN2 fig. 7)."""

    def __init__(self, in_channels: int, w_dim: int, image_channels: int = 3):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, image_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(image_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        rgb = self.conv(x, w) + self.bias[None, :, None, None]  # (B, 3, H, W)
        return rgb if skip is None else rgb + upsample2x(skip)
