"""Feature extractors for torchmetrics' FID/KID: the bundled world classifiers' penultimate layer.

FID (Heusel et al. 2017) compares Gaussian fits of two feature distributions. The usual features
are InceptionV3's pool3 (ImageNet); GenLab has no download, and Inception knows nothing about its
worlds, so it uses the penultimate layer of the classifier trained on each world
(``checkpoints/classifier/<world>``), as is common for MNIST-like data. Kynkaanniemi et al. 2023
("The Role of ImageNet Classes in Frechet Inception Distance") show how much FID depends on the
feature network: numbers here are comparable only within GenLab, same world, same classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from core.classifier.model import ConvClassifier
from core.engine import CheckpointError, load_pretrained, resolve_checkpoint

WORLDS = ("digits", "faces", "shapes")


def load_classifier(world: str = "digits", checkpoint: str | None = None,
                    device: str | torch.device = "cpu") -> ConvClassifier:
    """The bundled classifier of ``world`` (``checkpoints/classifier/<checkpoint or world>``), in eval mode.

    Raises:
        CheckpointError: unknown name or a missing/corrupt checkpoint (the message says how to train one).
    """
    name = checkpoint or world
    if not isinstance(name, str):
        raise CheckpointError(f"world/checkpoint must be a name like {WORLDS[0]!r}, got {name!r}")
    try:
        path = resolve_checkpoint("classifier", name)
    except CheckpointError as exc:
        raise CheckpointError(
            f"{exc}. Train it with: python -m core.train classifier --dataset {world} "
            f"--out checkpoints/classifier/{name}"
        ) from None
    model = load_pretrained(ConvClassifier, path)
    return model.to(device).eval().requires_grad_(False)


class ClassifierFeatures(nn.Module):
    """Penultimate features of a :class:`ConvClassifier`, in the form torchmetrics' FID/KID take.

    ``forward(images)``: (N, C, H, W) uint8 in [0, 255] (torchmetrics' convention) or float in [0, 1],
    gray or RGB, any size -> (N, num_features) float32. Always in eval mode, no gradients.
    """

    def __init__(self, classifier: ConvClassifier):
        super().__init__()
        self.classifier = classifier.eval().requires_grad_(False)
        self.num_features = classifier.num_features  # read by torchmetrics to size its states

    def train(self, mode: bool = True) -> "ClassifierFeatures":
        return super().train(False)  # a fixed feature extractor

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(self.classifier.prepare(images)).float()  # (N, num_features)


def load_feature_extractor(world: str = "digits", checkpoint: str | None = None,
                           device: str | torch.device = "cpu") -> ClassifierFeatures:
    """``ClassifierFeatures`` of the bundled ``world`` classifier: pass it as ``feature=`` to torchmetrics."""
    return ClassifierFeatures(load_classifier(world, checkpoint, device))
