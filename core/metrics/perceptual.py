"""Per-image metrics for paired translation: PSNR, SSIM and an LPIPS-style feature distance.

    from core.metrics.perceptual import paired_scores
    scores = paired_scores(fake, real, world="faces")   # {"psnr": (N,), "ssim": (N,), "lpips_style": (N,)}

PSNR and SSIM (Wang et al. 2004) come from torchmetrics, per image. The feature distance follows LPIPS (Zhang et al.
2018, eq. 1) without its learned weights (their "baseline" variant) and with GenLab's world classifier instead of an
ImageNet network: for each conv block l of the classifier, the activations are unit-normalised over channels, and

    d(x, y) = 1/L Σ_l 1/(H_l W_l) Σ_{h,w} ‖ŷ^l_hw − x̂^l_hw‖²      in [0, 4]; 0 for identical images.

It is therefore **not** LPIPS: its numbers compare only with other GenLab numbers on the same world.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.classifier.model import ConvClassifier

from .features import load_classifier


@torch.no_grad()
def block_activations(classifier: ConvClassifier, images: torch.Tensor) -> list[torch.Tensor]:
    """The output of each conv block of the classifier's body for images (N, C, H, W) in [0, 1] (any size)."""
    h = classifier.prepare(images) * 2 - 1  # the body's input, as in ConvClassifier.features
    out = []
    for block in classifier.body:
        h = block(h)
        out.append(h)
    return out


@torch.no_grad()
def feature_distance(fake: torch.Tensor, real: torch.Tensor, classifier: ConvClassifier,
                     batch_size: int = 100) -> torch.Tensor:
    """(N,) LPIPS-style distance (module docstring) between paired images (N, C, H, W) in [0, 1]."""
    if fake.shape != real.shape:
        raise ValueError(f"paired images must have one shape, got {tuple(fake.shape)} and {tuple(real.shape)}")
    out = []
    for s in range(0, len(fake), batch_size):
        layers = zip(block_activations(classifier, fake[s:s + batch_size]),
                     block_activations(classifier, real[s:s + batch_size]))
        per_layer = [((F.normalize(a, dim=1, eps=1e-10) - F.normalize(b, dim=1, eps=1e-10)) ** 2).sum(1).mean((1, 2))
                     for a, b in layers]
        out.append(torch.stack(per_layer).mean(0))
    return torch.cat(out) if out else torch.zeros(0)


@torch.no_grad()
def paired_scores(fake: torch.Tensor, real: torch.Tensor, world: str = "faces",
                  classifier: ConvClassifier | None = None, batch_size: int = 100) -> dict[str, torch.Tensor]:
    """Per-image PSNR (dB), SSIM and LPIPS-style distance of translations ``fake`` against their targets ``real``,
    both (N, C, H, W) in [0, 1]; each value is an (N,) tensor. PSNR of an exact copy is capped at 100 dB."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    fake, real = fake.float().clamp(0, 1), real.float().clamp(0, 1)
    if fake.shape != real.shape:
        raise ValueError(f"paired images must have one shape, got {tuple(fake.shape)} and {tuple(real.shape)}")
    classifier = classifier if classifier is not None else load_classifier(world)
    psnr, ssim = [], []
    for s in range(0, len(fake), batch_size):  # SSIM on a whole set at once held gigabytes of windows
        f, r = fake[s:s + batch_size], real[s:s + batch_size]
        psnr.append(peak_signal_noise_ratio(f, r, data_range=1.0, reduction="none", dim=(1, 2, 3)))
        ssim.append(structural_similarity_index_measure(f, r, data_range=1.0, reduction="none"))
    return {"psnr": torch.cat(psnr).nan_to_num(posinf=100.0).clamp(max=100.0), "ssim": torch.cat(ssim),
            "lpips_style": feature_distance(fake, real, classifier, batch_size)}
