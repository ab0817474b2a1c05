"""Model-card metrics of a generator: FID / KID in the world's classifier features (core.metrics).

The features come from GenLab's bundled world classifier, not Inception, so the numbers compare only
with other GenLab numbers in the same world. A real-vs-real FID (train split vs test split, same
count) is reported beside them as the floor that sample size alone gives.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from .generator import Generator

WORLDS = ("digits", "faces", "shapes")
log = logging.getLogger(__name__)


@torch.no_grad()
def generate_images(G: Generator, num: int, psi: float = 1.0, seed: int = 12345, batch: int = 64) -> torch.Tensor:
    """``num`` images (N, C, H, W) in [0, 1] from z ~ N(0, I) drawn with ``seed`` (constant noise)."""
    g = torch.Generator().manual_seed(seed)
    device = G.const.device
    out = []
    for start in range(0, num, batch):
        z = torch.randn(min(batch, num - start), G.z_dim, generator=g).to(device)
        out.append(((G(z, psi=psi, noise_mode="const") + 1) / 2).clamp(0, 1).cpu())
    return torch.cat(out)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)


@torch.no_grad()
def evaluate_generator(G: Generator, test_dataset, world: str, num: int) -> dict[str, float]:
    """FID (psi 1 and 0.7), KID and the real-vs-real FID floor with ``num`` images each.

    Returns {} (and logs why) when the world has no bundled classifier yet.
    """
    if world not in WORLDS:
        log.warning("no FID for dataset %r: GenLab's feature networks exist for %s only", world, WORLDS)
        return {}
    try:
        from core.metrics import frechet_distance, kernel_inception_distance, load_feature_extractor

        extractor = load_feature_extractor(world)
    except Exception as exc:  # missing classifier checkpoint or metrics package
        log.warning("no FID: cannot load the %s feature network (%s)", world, exc)
        return {}
    was_training = G.training
    G.eval()
    num = min(num, len(test_dataset))
    real = test_dataset.get_batch(list(range(num)))["image"]
    native = real.shape[-1]
    fake = _resize(generate_images(G, num), native)
    fake_psi07 = _resize(generate_images(G, num, psi=0.7), native)
    from core.data import get_dataset

    train_real = get_dataset(world, split="train", resolution=native).get_batch(list(range(num)))["image"]
    kid_mean, kid_std = kernel_inception_distance(real, fake, world=world, extractor=extractor)
    G.train(was_training)
    return {
        "fid": frechet_distance(real, fake, world=world, extractor=extractor),
        "fid_psi0.7": frechet_distance(real, fake_psi07, world=world, extractor=extractor),
        "kid": kid_mean,
        "kid_std": kid_std,
        "fid_real_train_vs_test": frechet_distance(real, train_real, world=world, extractor=extractor),
        "eval_images": num,
    }
