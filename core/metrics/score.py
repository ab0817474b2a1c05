"""Inception-Score-style classifier score (Salimans et al. 2016, §4): IS = exp(E_x KL(p(y|x) ‖ p(y))), here with a
bundled world classifier's class head instead of Inception-v3, computed by torchmetrics' ``InceptionScore``.

It is high (at most the number of classes, 10 for digits) when each image is read confidently as one class and the
classes are evenly used; it sees neither the images' realism beyond the classifier nor the spread within a class.
**Not comparable with Inception Scores from papers.**

    from core.metrics import classifier_score
    mean, std = classifier_score(images, world="digits")     # (N, 1, H, W) in [0, 1]; mean ± std over 10 splits
"""

from __future__ import annotations

import torch
from torch import nn

from .features import load_classifier
from .fid import to_uint8


class ClassifierLogits(nn.Module):
    """uint8 images (N, C, H, W) -> logits of the classifier's first head (N, K): the ``feature`` module that
    torchmetrics' ``InceptionScore`` takes."""

    def __init__(self, classifier):
        super().__init__()
        self.classifier = classifier.eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(self.classifier.prepare(images)).float()
        return self.classifier.split_logits(logits)[0]


class _Given(nn.Module):
    """The identity: for logits computed beforehand, passed to torchmetrics where it expects a feature network."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits


@torch.no_grad()
def score_of_logits(logits: torch.Tensor, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """exp E KL(p(y|x) ‖ p(y)) from class logits (N, K), by torchmetrics' ``InceptionScore``: (mean, std) over
    ``splits`` random splits (the shuffle seeded by ``seed``; one split: std 0)."""
    import warnings

    from torchmetrics.image.inception import InceptionScore

    if len(logits) < splits:
        raise ValueError(f"the score needs at least {splits} images (one per split), got {len(logits)}")
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.simplefilter("ignore")  # "will save all extracted features"; one split: "std() degrees of freedom"
        metric = InceptionScore(feature=_Given(), splits=splits)
        metric.update(logits.float())
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std) if splits > 1 else 0.0


@torch.no_grad()
def classifier_score(images: torch.Tensor, world: str = "digits", splits: int = 10, seed: int = 0,
                     classifier=None, batch_size: int = 256) -> tuple[float, float]:
    """IS-style score of ``images`` (N, C, H, W) float in [0, 1] or uint8 in the ``world`` classifier's class head:
    (mean, std) over ``splits`` random splits (the split shuffle is seeded by ``seed``).

    Raises:
        ValueError: fewer images than splits, or not an image tensor.
    """
    images = to_uint8(images)
    if len(images) < splits:
        raise ValueError(f"the score needs at least {splits} images (one per split), got {len(images)}")
    net = classifier if classifier is not None else load_classifier(world)
    head = ClassifierLogits(net)
    device = next(net.parameters()).device
    logits = torch.cat([head(images[s:s + batch_size].to(device)) for s in range(0, len(images), batch_size)])
    return score_of_logits(logits.cpu(), splits, seed)
