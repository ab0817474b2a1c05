"""Precision and recall of generated images as k-nearest-neighbour manifolds in feature space (Kynkaanniemi et al.
2019, "Improved Precision and Recall Metric for Assessing Generative Models", eq. 1-3), and density and coverage
(Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models", eq. 3-4).

Each real (generated) feature vector gets a ball whose radius is the distance to its k-th nearest neighbour in its
own set. Precision: the share of generated vectors inside some real ball (fidelity). Recall: the share of real
vectors inside some generated ball (diversity: a mode-collapsed model has high precision, low recall). Density
counts how many real balls hold each generated vector (divided by k); coverage is the share of real balls that hold
at least one generated vector.

    from core.metrics import precision_recall, density_coverage
    p, r = precision_recall(real_features, fake_features, k=3)   # (N, D), (M, D) tensors
"""

from __future__ import annotations

import torch


def knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """(N,) distance from each row of ``features`` (N, D) to its k-th nearest other row."""
    if len(features) <= k:
        raise ValueError(f"k-NN radii need more than k = {k} vectors, got {len(features)}")
    d = torch.cdist(features, features)  # (N, N), the diagonal is each vector's 0 to itself
    return d.kthvalue(k + 1, dim=1).values


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """(P, C) bool: point p lies in the ball of centre c."""
    return torch.cdist(points, centres) <= radii[None, :]


@torch.no_grad()
def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of feature sets real (N, D) and fake (M, D)."""
    real, fake = real.double(), fake.double()
    precision = _inside(fake, real, knn_radii(real, k)).any(dim=1).double().mean()
    recall = _inside(real, fake, knn_radii(fake, k)).any(dim=1).double().mean()
    return float(precision), float(recall)


@torch.no_grad()
def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020) of fake (M, D) against real (N, D): density can exceed 1."""
    real, fake = real.double(), fake.double()
    inside = _inside(fake, real, knn_radii(real, k))  # (M, N)
    density = inside.double().sum() / (k * len(fake))
    coverage = inside.any(dim=0).double().mean()
    return float(density), float(coverage)
