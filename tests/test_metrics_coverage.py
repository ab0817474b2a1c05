"""core.metrics.coverage: attribute frequencies of generated vs real images and their total variation."""

import pytest
import torch

from core.classifier.model import ConvClassifier
from core.engine import list_checkpoints
from core.metrics import attribute_coverage, coverage_table, value_frequencies


def test_frequencies_sum_to_one_and_identical_sets_have_tv_0():
    torch.manual_seed(0)
    net = ConvClassifier(in_channels=3, image_size=16, channels=(4, 8), num_features=8, head_sizes=(3, 2),
                         head_names=("pose", "glasses"), class_names=(("a", "b", "c"), ("no", "yes"))).eval()
    images = torch.rand(30, 3, 16, 16)
    freq = value_frequencies(images, classifier=net)
    assert [len(freq["pose"]), len(freq["glasses"])] == [3, 2]
    assert all(abs(sum(f) - 1) < 1e-9 for f in freq.values())
    cov = attribute_coverage(images, images.flip(0), classifier=net)  # same images, other order
    assert all(c["tv"] == 0 for c in cov.values())
    # TV = 1/2 sum |p - q|, against frequencies computed by hand from the predictions
    other = torch.rand(30, 3, 16, 16) * 0.2
    cov = attribute_coverage(images, other, classifier=net)
    p, q = value_frequencies(images, classifier=net)["pose"], value_frequencies(other, classifier=net)["pose"]
    assert cov["pose"]["tv"] == pytest.approx(0.5 * sum(abs(a - b) for a, b in zip(p, q)))
    assert cov["pose"]["values"] == ["a", "b", "c"]
    assert "| pose |" in coverage_table(cov) and " · b " in coverage_table(cov)


@pytest.mark.skipif("faces" not in list_checkpoints("classifier"), reason="no bundled faces classifier")
def test_a_dropped_pose_shows_on_pose_only():
    """Real faces with every pose vs real faces that are all frontal: pose's TV is about 2/3, the rest small."""
    from core.data import get_dataset
    from core.data.worlds.faces import ATTRIBUTE_NAMES

    batch = get_dataset("faces", split="test").get_batch(list(range(900)))
    pose = batch["attributes"][:, ATTRIBUTE_NAMES.index("pose")]
    frontal = batch["image"][pose == 0][:250]
    cov = attribute_coverage(batch["image"][:250], frontal, world="faces")
    assert cov["pose"]["tv"] > 0.55
    assert cov["pose"]["generated"][0] > 0.95
    assert max(c["tv"] for name, c in cov.items() if name != "pose") < 0.2
