"""Class accuracy of generated images: does the bundled classifier see the class that was asked for?

    from core.metrics import class_accuracy
    labels = torch.arange(10).repeat_interleave(10)             # the classes a conditional model was given
    images = my_sampler(labels)                                  # (100, 1, 28, 28) in [0, 1]
    class_accuracy(images, labels)  # {"accuracy": 0.93, "accuracy/0": 1.0, ..., "accuracy/9": 0.8}

The classifier itself scores > 98 % on held-out real digits (see its model card), so an accuracy far
below that means the generator's class conditioning (or its image quality) is off.
"""

from __future__ import annotations

import torch

from core.classifier.evaluate import accuracy_metrics
from core.classifier.model import ConvClassifier

from .features import load_classifier


@torch.no_grad()
def predict(images: torch.Tensor, world: str = "digits", checkpoint: str | None = None,
            classifier: ConvClassifier | None = None, batch_size: int = 256) -> torch.Tensor:
    """Predicted class per head: (N, C, H, W) uint8 or float in [0, 1], any size -> (N, n_heads) long (CPU)."""
    if not torch.is_tensor(images) or images.dim() != 4:
        raise ValueError(f"images must be a tensor (N, C, H, W), got {getattr(images, 'shape', type(images).__name__)}")
    net = classifier if classifier is not None else load_classifier(world, checkpoint, images.device)
    out = [net.predict(net.prepare(images[s:s + batch_size])).cpu() for s in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, len(net.head_sizes), dtype=torch.long)


def class_accuracy(images: torch.Tensor, labels, world: str = "digits", checkpoint: str | None = None,
                   classifier: ConvClassifier | None = None, batch_size: int = 256) -> dict[str, float]:
    """Accuracy of the bundled ``world`` classifier on ``images`` against the intended ``labels``.

    Args:
        images: (N, C, H, W) float in [0, 1] or uint8 (resized / converted to the classifier's input).
        labels: (N,) class indices (digits: the digit), or (N, n_attr) for the faces attribute heads.
        world: whose bundled classifier (``checkpoints/classifier/<world>``) judges.

    Returns:
        ``accuracy`` (overall; several heads: mean over heads), ``accuracy/<class or attribute>``
        (per class: over the images that were asked to be that class), ``exact_match`` (several
        heads) and ``images`` (N).
    """
    labels = torch.as_tensor(labels).long().cpu()
    if len(images) == 0:
        raise ValueError("class_accuracy needs at least one image")
    if len(labels) != len(images):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels")
    net = classifier if classifier is not None else load_classifier(world, checkpoint, images.device)
    labels = labels.view(len(labels), -1)  # (N, n_heads)
    if labels.shape[1] != len(net.head_sizes):
        raise ValueError(f"labels have {labels.shape[1]} column(s); the {world} classifier has "
                         f"{len(net.head_sizes)} head(s) {list(net.head_names)}")
    for h, k in enumerate(net.head_sizes):
        if labels[:, h].min() < 0 or labels[:, h].max() >= k:
            raise ValueError(f"labels for head {net.head_names[h]!r} must be in [0, {k - 1}]")
    metrics = accuracy_metrics(predict(images, classifier=net, batch_size=batch_size), labels, net)
    metrics["images"] = len(images)
    return metrics


LABEL_HEADS = {"digits": "label", "faces": "hair_style"}  # the classifier head that reads a world's class label


def label_head(world: str, net) -> str | None:
    """The head of ``world``'s classifier ``net`` that reads the class label: :data:`LABEL_HEADS` for the worlds, the
    only head of a one-head classifier (MNIST, CIFAR-10, ...), else None (the shapes world's contents heads)."""
    return LABEL_HEADS.get(world) or (net.head_names[0] if len(net.head_names) == 1 else None)


def label_accuracy(images: torch.Tensor, labels, world: str, names=(), classifier=None) -> dict[str, float]:
    """How often the head of the ``world`` classifier (or the ``classifier`` given, already loaded) that reads its
    class label (:func:`label_head`) agrees with the ``labels`` a conditional generator was given.

    Returns ``class_accuracy`` and, per label ``k`` present, ``class_accuracy/<names[k]>``.
    Raises ValueError when the classifier has no class-label head.
    """
    net = classifier if classifier is not None else load_classifier(world)
    head = label_head(world, net)
    if head is None:
        raise ValueError(f"the {world!r} classifier has no single class-label head (heads: {list(net.head_names)})")
    labels = torch.as_tensor(labels).long().cpu()
    pred = predict(images.cpu(), classifier=net)[:, list(net.head_names).index(head)]
    hit = (pred == labels).float()
    out = {"class_accuracy": float(hit.mean())}
    for k, name in enumerate(names):
        if (labels == k).any():
            out[f"class_accuracy/{name}"] = float(hit[labels == k].mean())
    return out
