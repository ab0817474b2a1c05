"""FID and KID of generated images in a GenLab world, with torchmetrics and the world's classifier features.

**FID in <world>-classifier features (not Inception), comparable only within GenLab**: the
feature network is the bundled ``checkpoints/classifier/<world>`` (see ``features.py``), so a value
means something only next to other values measured with the same world and classifier. Lower is
better; a set against itself gives ~0.

    from core.metrics import frechet_distance, kernel_inception_distance, reference_images
    real = reference_images("digits", 2000)              # held-out test images (N, 1, 28, 28) in [0, 1]
    fid = frechet_distance(real, fake, world="digits")   # fake: (M, C, H, W) float in [0, 1] or uint8
    kid_mean, kid_std = kernel_inception_distance(real, fake, world="digits")
"""

from __future__ import annotations

import torch
from torch import nn

from core.engine.events import stop_point

from .features import load_feature_extractor


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) float in [0, 1] (clamped) or uint8 -> uint8 in [0, 255], as torchmetrics' FID expects."""
    if not torch.is_tensor(images) or images.dim() != 4 or images.shape[1] not in (1, 3):
        shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        raise ValueError(f"images must be a tensor (N, 1 or 3, H, W), got {shape}")
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise ValueError(f"images must be uint8 or float in [0, 1], got {images.dtype}")
    return (images.detach().clamp(0, 1) * 255).round().to(torch.uint8)


def _feed(metric, images: torch.Tensor, real: bool, batch_size: int, device) -> None:
    images = to_uint8(images)
    for start in range(0, len(images), batch_size):
        stop_point()  # (a training run's measurement, which its Cancel may stop)
        metric.update(images[start:start + batch_size].to(device), real=real)


def frechet_distance(real_images: torch.Tensor, fake_images: torch.Tensor, world: str = "digits",
                     checkpoint: str | None = None, extractor: nn.Module | None = None,
                     batch_size: int = 256, device: str | torch.device = "cpu") -> float:
    """Frechet distance between Gaussian fits of the two sets' classifier features (Heusel et al. 2017):

        FID = ||mu_r - mu_g||^2 + Tr(Sigma_r + Sigma_g - 2 (Sigma_r Sigma_g)^(1/2))

    computed by ``torchmetrics.image.fid.FrechetInceptionDistance(feature=<world classifier>)``.

    Args:
        real_images, fake_images: (N, C, H, W) float in [0, 1] or uint8; at least 2 each (use
            hundreds to thousands: the estimate is biased upwards for small N).
        world: "digits", "faces" or "shapes": whose bundled classifier gives the features.
        checkpoint: another ``checkpoints/classifier/<name>`` instead of ``<world>``.
        extractor: a ready feature module (with ``num_features``) instead of loading one.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    if len(real_images) < 2 or len(fake_images) < 2:
        raise ValueError("FID needs at least 2 real and 2 generated images")
    extractor = extractor if extractor is not None else load_feature_extractor(world, checkpoint)
    metric = FrechetInceptionDistance(feature=extractor).to(device)
    _feed(metric, real_images, True, batch_size, device)
    _feed(metric, fake_images, False, batch_size, device)
    return float(metric.compute())


def kernel_inception_distance(real_images: torch.Tensor, fake_images: torch.Tensor, world: str = "digits",
                              checkpoint: str | None = None, extractor: nn.Module | None = None,
                              subset_size: int | None = None, subsets: int = 100, seed: int = 0,
                              batch_size: int = 256, device: str | torch.device = "cpu") -> tuple[float, float]:
    """Kernel distance (Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel
    k(x, y) = (x.y / d + 1)^3 on classifier features, averaged over random subsets.

    Returns (mean, std) over ``subsets`` subsets of ``subset_size`` (default min(1000, N_real, N_fake))
    drawn with ``seed`` (the global RNG is left untouched). Unbiased: ~0 (can be slightly < 0) for
    two disjoint sets from one distribution. Do not compare a set with itself: the two random
    subsets then share images, which inflates the cross term and makes KID clearly negative.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    n = min(len(real_images), len(fake_images))
    subset_size = subset_size or min(1000, n)
    if n < 2 or subset_size > n:
        raise ValueError(f"KID needs subset_size ({subset_size}) <= images per set ({n}) and >= 2 images")
    extractor = extractor if extractor is not None else load_feature_extractor(world, checkpoint)
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=extractor, subsets=subsets, subset_size=subset_size).to(device)
    _feed(metric, real_images, True, batch_size, device)
    _feed(metric, fake_images, False, batch_size, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def reference_images(world: str = "digits", num: int = 1000, split: str = "test",
                     resolution: int | None = None) -> torch.Tensor:
    """The first ``num`` images of a world's split (default the held-out test split): (num, C, H, W) in [0, 1]."""
    from core.data import get_dataset

    ds = get_dataset(world, split=split, resolution=resolution)
    num = min(int(num), len(ds))
    return ds.get_batch(list(range(num)))["image"]
