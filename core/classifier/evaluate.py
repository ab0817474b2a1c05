"""Accuracy of a classifier: per class for one head, per attribute for several."""

from __future__ import annotations

from typing import Callable

import torch

from .model import ConvClassifier


def accuracy_metrics(pred: torch.Tensor, targets: torch.Tensor, module: ConvClassifier) -> dict[str, float]:
    """Accuracy of predictions against targets, both (N, n_heads) long.

    Returns ``accuracy`` (one head: fraction right; several: mean over heads), ``accuracy/<name>``
    (per class of the single head, over the images whose target is that class; or per attribute)
    and, for several heads, ``exact_match`` (fraction with every head right).
    """
    right = (pred == targets).float()  # (N, n_heads)
    metrics: dict[str, float] = {"accuracy": float(right.mean())}
    if len(module.head_sizes) == 1:
        for k, name in enumerate(module.class_names[0]):
            mask = targets[:, 0] == k
            if mask.any():
                metrics[f"accuracy/{name}"] = float(right[mask, 0].mean())
    else:
        metrics["exact_match"] = float(right.all(1).float().mean())
        for h, name in enumerate(module.head_names):
            metrics[f"accuracy/{name}"] = float(right[:, h].mean())
    return metrics


@torch.no_grad()
def held_out_accuracy(module: ConvClassifier, ds, targets: Callable[[dict], torch.Tensor], num: int,
                      batch_size: int = 500) -> dict[str, float]:
    """:func:`accuracy_metrics` on the first ``num`` items of ``ds`` (the test split), plus ``test_images``.

    ``targets(batch)`` gives the (B, n_heads) classes of a batch.
    """
    num = min(int(num), len(ds))
    preds, wanted = [], []
    for start in range(0, num, batch_size):
        batch = ds.get_batch(list(range(start, min(num, start + batch_size))))
        preds.append(module.predict(module.prepare(batch["image"])).cpu())
        wanted.append(targets(batch).cpu())
    metrics = accuracy_metrics(torch.cat(preds), torch.cat(wanted), module)
    metrics["test_images"] = num
    return metrics


@torch.no_grad()
def real_digit_accuracy(module: ConvClassifier, batch_size: int = 500, trained_on: str = "digits"
                        ) -> dict[str, float]:
    """``real/<set>_accuracy`` of a digit classifier trained on ``trained_on`` ("digits" or "mnist") on each real
    handwriting set present (:func:`core.data.handwriting.real_digit_sets`), ``real/<set>_images``, and for the
    MNIST test split the accuracy per digit, ``real/mnist_test_accuracy/<digit>``."""
    from core.data.handwriting import real_digit_sets

    metrics: dict[str, float] = {}
    for name, (images, labels) in real_digit_sets(trained_on).items():
        pred = torch.cat([module.predict(module.prepare(torch.from_numpy(images[i:i + batch_size])))[:, 0].cpu()
                          for i in range(0, len(images), batch_size)])
        wanted = torch.from_numpy(labels)
        metrics[f"real/{name}_accuracy"] = float((pred == wanted).float().mean())
        metrics[f"real/{name}_images"] = len(labels)
        if name == "mnist_test":
            per_digit = accuracy_metrics(pred[:, None], wanted[:, None], module)
            metrics.update({f"real/{name}_{k}": v for k, v in per_digit.items() if k.startswith("accuracy/")})
    return metrics
