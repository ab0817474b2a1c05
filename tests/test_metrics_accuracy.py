"""core.metrics.accuracy: class accuracy of the bundled digits classifier."""

import pytest
import torch

from core.classifier.model import ConvClassifier
from core.engine import list_checkpoints
from core.metrics import class_accuracy, predict


@pytest.fixture(scope="module")
def held_out():
    from core.data import get_dataset

    batch = get_dataset("digits", split="test").get_batch(list(range(500)))
    return batch["image"], batch["label"]


@pytest.mark.skipif("digits" not in list_checkpoints("classifier"),
                    reason="no bundled checkpoints/classifier/digits (train it: see core/classifier/method.py)")
def test_bundled_digits_classifier_on_held_out_digits(held_out):
    images, labels = held_out
    metrics = class_accuracy(images, labels, world="digits")
    assert metrics["accuracy"] > 0.97
    assert metrics["images"] == 500
    assert all(metrics[f"accuracy/{d}"] > 0.9 for d in range(10))
    # wrong intended labels are caught: the metric measures agreement, not a constant
    assert class_accuracy(images, (labels + 1) % 10, world="digits")["accuracy"] < 0.05
    # generated images may come at another size / in RGB / as uint8
    rgb64 = torch.nn.functional.interpolate(images[:200], size=64, mode="bilinear").repeat(1, 3, 1, 1)
    assert class_accuracy((rgb64 * 255).round().to(torch.uint8), labels[:200])["accuracy"] > 0.95


def test_per_class_keys_and_validation():
    torch.manual_seed(0)
    net = ConvClassifier(channels=(4, 8), num_features=8)
    images = torch.rand(20, 1, 28, 28)
    labels = torch.tensor([0, 1] * 10)
    pred = predict(images, classifier=net)[:, 0]
    metrics = class_accuracy(images, labels, classifier=net)
    assert metrics["accuracy"] == pytest.approx(float((pred == labels).float().mean()))
    assert metrics["accuracy/0"] == pytest.approx(float((pred[labels == 0] == 0).float().mean()))
    assert set(metrics) == {"accuracy", "accuracy/0", "accuracy/1", "images"}  # only classes asked for
    with pytest.raises(ValueError, match="20 images but 19 labels"):
        class_accuracy(images, labels[:19], classifier=net)
    with pytest.raises(ValueError, match=r"must be in \[0, 9\]"):
        class_accuracy(images, labels + 9, classifier=net)
    with pytest.raises(ValueError, match="1 head"):
        class_accuracy(images, torch.zeros(20, 3, dtype=torch.long), classifier=net)
