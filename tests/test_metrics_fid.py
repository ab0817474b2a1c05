"""core.metrics.fid: FID/KID in the digits-classifier features behave like distances."""

import pytest
import torch

from core.classifier.model import ConvClassifier
from core.engine import CheckpointError
from core.metrics import ClassifierFeatures, frechet_distance, kernel_inception_distance, load_feature_extractor, to_uint8


@pytest.fixture(scope="module")
def extractor():
    """The bundled digits classifier's features; an untrained one if none is bundled (same code path)."""
    try:
        return load_feature_extractor("digits")
    except CheckpointError:
        torch.manual_seed(0)
        return ClassifierFeatures(ConvClassifier())


@pytest.fixture(scope="module")
def real():
    from core.metrics import reference_images

    return reference_images("digits", 256)  # (256, 1, 28, 28) held-out test digits


def noised(x, sigma, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_fid_zero_against_itself_and_growing_with_noise(extractor, real):
    same = frechet_distance(real, real, extractor=extractor)
    other_half = frechet_distance(real[:128], real[128:], extractor=extractor)  # two samples of one world
    fids = [frechet_distance(real[:128], noised(real[:128], s), extractor=extractor) for s in (0.1, 0.3, 0.6)]
    assert abs(same) < 1e-3
    assert 0 < fids[0] < fids[1] < fids[2]
    assert fids[2] > 3 * other_half  # heavy noise is well outside sampling noise
    # uint8 and float inputs give the same value (float is quantised to uint8 first, like torchmetrics)
    assert frechet_distance(to_uint8(real[:64]), real[64:128], extractor=extractor) == pytest.approx(
        frechet_distance(real[:64], real[64:128], extractor=extractor), rel=1e-4)


def test_kid_near_zero_between_real_sets_and_growing_with_noise(extractor, real):
    # two disjoint real sets (KID of a set against *itself* is biased negative: its random subsets
    # share images, which inflates the cross term of the unbiased MMD estimate)
    a, b = real[:128], real[128:]
    kw = dict(extractor=extractor, subset_size=100, subsets=50)
    same, _ = kernel_inception_distance(a, b, **kw)
    mid, _ = kernel_inception_distance(a, noised(b, 0.35), **kw)
    high, std = kernel_inception_distance(a, noised(b, 0.6), **kw)
    assert abs(same) < 0.25 * high
    assert same < mid < high and high > 3 * std
    assert kernel_inception_distance(a[:32], b[:32], subset_size=20, subsets=5, extractor=extractor) == \
        kernel_inception_distance(a[:32], b[:32], subset_size=20, subsets=5, extractor=extractor)  # seeded


def test_bad_inputs_are_clear_errors(extractor, real):
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(real[:1], real, extractor=extractor)
    with pytest.raises(ValueError, match=r"\(N, 1 or 3, H, W\)"):
        frechet_distance(real[:, 0], real, extractor=extractor)
    with pytest.raises(ValueError, match="subset_size"):
        kernel_inception_distance(real[:10], real, extractor=extractor, subset_size=50)
    with pytest.raises(ValueError, match="uint8 or float"):
        to_uint8(torch.zeros(2, 1, 8, 8, dtype=torch.long))
