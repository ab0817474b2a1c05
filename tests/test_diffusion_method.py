"""DiffusionMethod through the shared engine: a tiny class-conditional run saves a checkpoint that reloads."""

from __future__ import annotations

import pytest
import torch

from core.diffusion.config import DiffusionConfig
from core.diffusion.method import DiffusionMethod
from core.diffusion.pipeline import load_bundle
from core.diffusion.sampling import sample_images


class TinyWorld:
    """16 fixed 8x8 gray images in 3 classes (what the engine needs: get_batch and a few attributes)."""

    channels, resolution, num_classes, class_names = 1, 8, 3, ["a", "b", "c"]

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(16, 1, 8, 8, generator=g)

    def __len__(self):
        return 16

    def get_batch(self, indices):
        return {"image": self.images[indices], "label": torch.as_tensor(indices) % 3}


class TinyDiffusion(DiffusionMethod):
    def build_dataset(self, split="train"):
        return TinyWorld()


def tiny_config(**kw):
    return DiffusionConfig(dataset="folder", channels=(4, 8), steps=2, batch_size=4, sample_every=0, checkpoint_every=0,
                           num_samples=3, sample_steps=2, eval_samples=0, device="cpu", **kw)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_training_step_losses(prediction_type):
    method = TinyDiffusion(tiny_config(prediction_type=prediction_type))
    model = method.build_model()
    losses = method.training_step(model, TinyWorld().get_batch([0, 1, 2, 3]), None)
    assert {"loss", "mse", "classifier_ce", "classifier_acc"} <= set(losses)
    losses["loss"].backward()
    assert model.unet.conv_in.weight.grad.abs().sum() > 0
    assert model.classifier.head.weight.grad.abs().sum() > 0


def test_label_dropout_one_trains_only_the_null_class():
    method = TinyDiffusion(tiny_config(label_dropout=1.0, noisy_classifier=False))
    model = method.build_model()
    method.training_step(model, TinyWorld().get_batch([0, 1, 2, 3]), None)["loss"].backward()
    grad = model.unet.class_embedding.weight.grad  # (K + 1, D)
    assert grad[:3].abs().sum() == 0 and grad[3].abs().sum() > 0


def test_engine_run_saves_a_checkpoint_that_reloads(tmp_path):
    from core.engine import Trainer

    events = list(Trainer(TinyDiffusion(tiny_config()), tmp_path / "run").run())
    assert events[-1].kind == "done"
    bundle = load_bundle(tmp_path / "run")
    assert bundle.num_classes == 3 and bundle.class_names == ["a", "b", "c"] and bundle.classifier is not None
    assert bundle.schedule == "cosine" and bundle.prediction_type == "epsilon"
    images = sample_images(bundle, 2, sampler="ddim", steps=2, class_labels=1, guidance=2.0,
                           generator=torch.Generator().manual_seed(0))
    assert images.shape == (2, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    assert (tmp_path / "run" / "README.md").read_text().count("classifier-free") >= 1
    method = TinyDiffusion(tiny_config())
    reloaded = method.load_inference(tmp_path / "run")  # what --reevaluate measures
    assert all(torch.equal(a, b) for a, b in zip(reloaded.unet.state_dict().values(), bundle.unet.state_dict().values()))
    assert torch.equal(next(iter(reloaded.classifier.state_dict().values())),
                       next(iter(bundle.classifier.state_dict().values())))


def test_config_validates_channels():
    assert DiffusionConfig(channels="16, 32").validate().channels == (16, 32)
    with pytest.raises(ValueError, match="channels"):
        DiffusionConfig(channels=(3, 8)).validate()


def test_label_accuracy_reads_the_hair_style_of_real_faces():
    """The faces-model metric: the attribute classifier's hair-style head on real 32 px faces is near perfect,
    and shuffled labels score near chance."""
    from core.data import get_dataset
    from core.metrics import label_accuracy

    ds = get_dataset("faces", split="test", resolution=32)
    batch = ds.get_batch(list(range(120)))
    right = label_accuracy(batch["image"], batch["label"], "faces", ds.class_names)
    assert right["class_accuracy"] > 0.9
    assert set(right) >= {"class_accuracy", "class_accuracy/short"}
    wrong = label_accuracy(batch["image"], (batch["label"] + 1) % len(ds.class_names), "faces", ds.class_names)
    assert wrong["class_accuracy"] < 0.2


def test_speckled_share_counts_noise_on_the_paper_not_ink():
    from core.diffusion.method import speckled_share

    clean = torch.zeros(4, 1, 28, 28)
    clean[:, :, 6:22, 12:16] = 1.0  # a stroke with a soft edge
    clean[:, :, 6:22, 16] = 0.3
    assert speckled_share(clean) == 0.0  # grey next to a stroke is antialiasing, not speckle
    noisy = clean.clone()
    noisy[0, 0, 1, 1:6] = 0.2  # five grey pixels far from the stroke in image 0
    noisy[1, 0, 26, 1:3] = 0.2  # two in image 1: below the count
    assert speckled_share(noisy) == 0.25
