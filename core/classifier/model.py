"""A small convolutional classifier with one softmax head per target (a class, or each attribute).

The network is a plain VGG-style CNN (Simonyan & Zisserman 2015) with GroupNorm (Wu & He 2018):

    x (B, C, S, S) in [0, 1]
      -> stem conv3x3                                   (B, c0, S, S)
      -> per stage: conv3x3 stride 2, conv3x3           (B, c_i, S / 2^(i+1), ...)
      -> pool (global mean, or a 4x4 grid of means that keeps where things are), Linear, SiLU
                                                        = features (B, num_features)  <- penultimate layer
      -> one Linear head per target, concatenated       (B, sum(head_sizes)) logits

``features(x)`` (the penultimate layer) is what ``core.metrics`` uses for GenLab's FID/KID.
The model takes images in [0, 1]; :meth:`ConvClassifier.prepare` turns any image batch (uint8 or
float, gray or RGB, any size) into that input, so generated images of another size or channel
count can be scored too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


NORMS = ("group", "batch")
POOLS = ("mean", "grid")
GRID = 4  # pool="grid": the final map is average-pooled to GRID x GRID cells, then flattened


def conv_block(c_in: int, c_out: int, stride: int = 1, norm: str = "group") -> nn.Sequential:
    """conv3x3 -> norm -> SiLU.

    GroupNorm (Wu & He 2018) has no batch dependence, but it removes each image's mean per channel
    group, i.e. absolute colour; BatchNorm (Ioffe & Szegedy 2015) normalises with dataset
    statistics and keeps it (faces: background, skin and shirt colours are attributes).
    """
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(min(8, c_out), c_out) if norm == "group" else nn.BatchNorm2d(c_out),
        nn.SiLU(),
    )


class ConvClassifier(nn.Module, PyTorchModelHubMixin):
    """Multi-head CNN classifier; ``config.json`` + ``model.safetensors`` rebuild it alone.

    Args:
        in_channels: 1 (gray) or 3 (RGB).
        image_size: side the network is trained at; :meth:`prepare` resizes other sizes to it.
        channels: widths of the stem and the stride-2 stages, e.g. ``(32, 64, 128)``.
        num_features: width of the penultimate (feature) layer.
        head_sizes: number of classes of each head, e.g. ``(10,)`` for digits.
        head_names: a name per head ("label", or attribute names).
        class_names: per head, the names of its classes (for reading predictions).
        norm: "group" (GroupNorm) or "batch" (BatchNorm) in every conv block.
        pool: "mean" (global average: translation invariant) or "grid" (means over a 4x4 grid of
            cells, flattened: keeps the coarse layout, e.g. which way a face is turned).
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        channels: tuple = (32, 64, 128),
        num_features: int = 128,
        head_sizes: tuple = (10,),
        head_names: tuple = ("label",),
        class_names: tuple | None = None,
        norm: str = "group",
        pool: str = "mean",
    ):
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
        if len(channels) < 2:
            raise ValueError(f"channels needs a stem width and at least one stage, got {channels}")
        if norm not in NORMS or pool not in POOLS:
            raise ValueError(f"norm must be one of {NORMS} and pool one of {POOLS}, got {norm!r}, {pool!r}")
        if len(head_sizes) != len(head_names) or min(head_sizes) < 2:
            raise ValueError(f"head_sizes {head_sizes} and head_names {head_names} must match, each >= 2 classes")
        self.in_channels, self.image_size = int(in_channels), int(image_size)
        self.num_features = int(num_features)
        self.head_sizes, self.head_names = tuple(int(k) for k in head_sizes), tuple(head_names)
        self.class_names = (
            tuple(tuple(str(n) for n in names) for names in class_names)
            if class_names is not None
            else tuple(tuple(str(i) for i in range(k)) for k in self.head_sizes)
        )
        self.pool = pool
        layers = [conv_block(in_channels, channels[0], norm=norm)]
        for c_prev, c in zip(channels[:-1], channels[1:]):
            layers += [conv_block(c_prev, c, stride=2, norm=norm), conv_block(c, c, norm=norm)]
        self.body = nn.Sequential(*layers)
        pooled = channels[-1] * (GRID * GRID if pool == "grid" else 1)
        self.to_features = nn.Sequential(nn.Linear(pooled, num_features), nn.SiLU())
        self.heads = nn.Linear(num_features, sum(self.head_sizes))  # all heads in one matrix

    # ------------------------------------------------------------------ forward
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features: (B, C, S, S) in [0, 1] -> (B, num_features)."""
        h = self.body(x * 2 - 1)  # (B, c_last, S', S'), input centred to [-1, 1]
        if self.pool == "grid":
            h = F.adaptive_avg_pool2d(h, GRID).flatten(1)  # (B, c_last * 16)
        else:
            h = h.mean(dim=(2, 3))  # (B, c_last)
        return self.to_features(h)  # (B, num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenated logits of all heads: (B, C, S, S) in [0, 1] -> (B, sum(head_sizes))."""
        return self.heads(self.features(x))

    def split_logits(self, logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(B, sum(head_sizes)) -> one (B, K_h) logit tensor per head."""
        return torch.split(logits, self.head_sizes, dim=1)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        """Mean over heads of the cross-entropy -sum_k y_k log softmax(z)_k.

        Args:
            logits: (B, sum(head_sizes)).
            targets: (B,) class indices for one head, or (B, n_heads).
        """
        targets = targets.view(len(targets), -1)  # (B, n_heads)
        losses = [F.cross_entropy(z, targets[:, h], label_smoothing=label_smoothing)
                  for h, z in enumerate(self.split_logits(logits))]
        return torch.stack(losses).mean()

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted class per head: prepared images (B, C, S, S) -> (B, n_heads) long."""
        return torch.stack([z.argmax(1) for z in self.split_logits(self(x))], dim=1)

    # ------------------------------------------------------------------ inputs
    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Any image batch -> this network's input (B, in_channels, image_size, image_size) float in [0, 1].

        Accepts uint8 in [0, 255] (what torchmetrics' FID feeds a feature extractor) or float in
        [0, 1]; gray is repeated to RGB and RGB becomes gray by ITU-R 601 luma; other sizes are
        resized with antialiased bilinear interpolation.
        """
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"images must be (N, 1 or 3, H, W), got shape {tuple(images.shape)}")
        param = next(self.parameters())
        x = images.to(param.device)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float().clamp(0, 1)
        if x.shape[1] != self.in_channels:
            if self.in_channels == 1:
                luma = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
                x = (x * luma).sum(1, keepdim=True)
            else:
                x = x.repeat(1, 3, 1, 1)
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                              align_corners=False, antialias=True)
        return x.to(param.dtype)
