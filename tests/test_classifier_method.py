"""ClassifierMethod through the engine: a tiny run learns, writes a loadable checkpoint and a card."""

import json
from types import SimpleNamespace

import pytest
import torch

from core.classifier.method import ClassifierConfig, ClassifierMethod, random_affine, resolve_target, targets_of
from core.classifier.model import ConvClassifier
from core.engine import Trainer, load_pretrained


TINY = dict(channels=(8, 16, 32), num_features=16, batch_size=32, lr=1e-2, augment=False, ema_decay=0.0, sample_every=0,
            checkpoint_every=0, num_samples=4, eval_images=100, seed=0, device="cpu")


def run(tmp_path, **kw):
    method = ClassifierMethod(ClassifierConfig(**{**TINY, **kw}))
    events = list(Trainer(method, tmp_path / "run").run())
    return method, events


def test_tiny_digits_run_lowers_loss_and_writes_checkpoint(tmp_path):
    method, events = run(tmp_path, dataset="digits", steps=120, log_every=20)
    losses = [e.losses["loss"] for e in events if e.kind == "step"]  # means over 20 steps each
    assert len(losses) == 6
    assert losses[-1] < 0.8 * losses[0]
    out = tmp_path / "run"
    net = load_pretrained(ConvClassifier, out)
    assert net.head_sizes == (10,) and net.class_names[0][3] == "3"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_images"] == 100 and 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["accuracy"] > 0.25  # 120 tiny steps already beat chance (0.1)
    assert {f"accuracy/{d}" for d in range(10)} <= set(metrics)
    card = (out / "README.md").read_text()
    assert "framed **green**" in card and "accuracy/0" in card
    samples = [e for e in events if e.kind == "samples"][-1].images
    assert samples.shape[:2] == (4, 3) and samples.shape[-1] == 56 + 4  # RGB, enlarged 2x, 2-px frame
    assert samples.shape[-2] > 56 + 4  # plus the caption strip with the predicted digit


def test_faces_gets_one_head_per_attribute():
    from core.data import get_dataset

    ds = get_dataset("faces", split="test")
    assert resolve_target("faces", "auto") == "attributes"
    method = ClassifierMethod(ClassifierConfig(**{**TINY, "dataset": "faces", "channels": (4, 8)}))
    torch.manual_seed(0)
    net = method.build_model()
    assert net.head_names == tuple(ds.attribute_names) and len(net.head_sizes) == len(ds.attribute_names) > 1
    assert net.head_sizes == tuple(len(ds.attribute_values[a]) for a in ds.attribute_names)
    batch = ds.get_batch(list(range(8)))
    ctx = SimpleNamespace(unwrap_model=lambda m: m)
    losses = method.training_step(net, batch, SimpleNamespace(accelerator=ctx))
    assert torch.isfinite(losses["loss"]) and losses["loss"].requires_grad
    metrics = method.evaluate(net.eval())
    assert {f"accuracy/{a}" for a in ds.attribute_names} <= set(metrics) and "exact_match" in metrics
    samples = method.sample(net, 3, torch.Generator().manual_seed(0))
    assert samples.shape[:2] == (3, 3) and samples.shape[-1] == 68 and samples.shape[-2] > 68  # "k/11" strip


def test_config_validation_and_augmentation():
    with pytest.raises(ValueError, match="channels"):
        ClassifierConfig(channels=(8,)).validate()
    with pytest.raises(ValueError, match="target"):
        ClassifierConfig(target="colour").validate()
    assert resolve_target("digits", "auto") == "label"
    torch.manual_seed(0)
    x = torch.rand(4, 1, 28, 28)
    y = random_affine(x)
    assert y.shape == x.shape and not torch.equal(x, y)
    assert torch.allclose(random_affine(x, degrees=0, scale=0, shift=0), x, atol=1e-5)  # identity jitter


def test_shear_slants_a_vertical_stroke_and_the_elastic_field_is_smooth_and_scales_with_alpha():
    from core.classifier.method import elastic_field

    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 4:24, 13:15] = 1.0  # a vertical stroke
    torch.manual_seed(0)
    y = random_affine(x, degrees=0, scale=0, shift=0, shear=0.5)
    rows = torch.arange(28.0)
    top = (y[:, 0, 4:9] * rows).sum((1, 2)) / y[:, 0, 4:9].sum((1, 2))  # mean column of the stroke's top
    bottom = (y[:, 0, 19:24] * rows).sum((1, 2)) / y[:, 0, 19:24].sum((1, 2))
    assert (top - bottom).abs().max() > 2.0 and (top - bottom).abs().max() <= 0.5 * 15 + 1  # |slope| <= 0.5
    assert torch.allclose(y.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.05)  # ink kept
    torch.manual_seed(1)
    small = elastic_field(32, 28, 28, 10.0, 4.0, "cpu")
    torch.manual_seed(1)
    large = elastic_field(32, 28, 28, 30.0, 4.0, "cpu")
    assert small.shape == (32, 28, 28, 2) and torch.allclose(large, 3 * small, atol=1e-6)  # linear in alpha
    px = small * 14  # affine_grid units -> px at 28 wide
    assert 0.05 < px.abs().mean() < 2.0  # a few tenths of a pixel for alpha 10, sigma 4
    assert (px[:, 1:] - px[:, :-1]).abs().mean() < 0.3 * px.abs().mean()  # smooth: neighbours move alike
    torch.manual_seed(2)
    z = random_affine(x, degrees=0, scale=0, shift=0, elastic_alpha=34.0)
    overlap = (z * x).sum((1, 2, 3)) / x.sum((1, 2, 3))  # the stroke bends but stays where it was
    assert not torch.equal(z, x) and z.min() >= 0 and z.max() <= 1 and overlap.mean() > 0.3, overlap.mean()


def test_shapes_contents_targets():
    # rows (shape, colour, size, present): a red circle + a blue star; a lone green circle
    objects = torch.tensor([[[0, 0, 1, 1], [3, 2, 0, 1], [0, 0, 0, 0]],
                            [[0, 1, 2, 1], [0, 0, 0, 0], [0, 0, 0, 0]]])
    y = targets_of({"objects": objects}, "contents", num_shapes=4, num_colours=3)
    assert y.tolist() == [[1, 0, 0, 1, 1, 0, 1, 1],   # has circle, star; has colour 0 and 2; 2 objects
                          [1, 0, 0, 0, 0, 1, 0, 0]]   # has circle; colour 1; 1 object
    assert resolve_target("shapes", "auto") == "contents"
    assert resolve_target("shapes", "label") == "label"


def test_aspect_jitter_changes_width_against_height_within_its_bound():
    x = torch.zeros(256, 1, 28, 28)
    x[:, :, 4:24, 12:16] = 1.0  # a bar 4 px wide, 20 px tall
    torch.manual_seed(0)
    y = random_affine(x, degrees=0, scale=0, shift=0, aspect=0.6)
    width = y[:, 0].sum(2).amax(1)  # ink in the fullest row: the bar's width, px
    height = y[:, 0].sum(1).amax(1)  # ink in the fullest column: its height
    ratio = torch.log((width / height) / (4 / 20))
    assert ratio.abs().max() <= 0.6 + 0.15 and ratio.abs().max() > 0.4  # log of the ratio's change within +-0.6
    assert (width > 4.5).any() and (width < 3.5).any()  # wider and narrower bars both drawn
    assert torch.equal(random_affine(x[:4], degrees=0, scale=0, shift=0, aspect=0.0), random_affine(
        x[:4], degrees=0, scale=0, shift=0))  # 0: off


def test_fgsm_moves_each_pixel_at_most_eps_towards_a_higher_loss_and_trains(tmp_path):
    """Adversarial training's batch: |x_adv - x| <= eps per pixel, inside [0, 1], with a higher loss than x; a tiny run
    with it still learns (its loss falls)."""
    from core.classifier.method import fgsm
    from core.data import get_dataset

    torch.manual_seed(0)
    net = ConvClassifier(in_channels=1, image_size=28, channels=(8, 16), num_features=16, head_sizes=(10,))
    batch = get_dataset("digits", "train").get_batch(list(range(32)))
    x, y = batch["image"], batch["label"]
    adv = fgsm(net, net, x, y, 0.1)
    assert adv.shape == x.shape and not adv.requires_grad
    assert (adv - x).abs().max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert net.loss(net(adv), y) > net.loss(net(x), y)
    _, events = run(tmp_path, dataset="digits", steps=120, log_every=20, adversarial_eps=0.1)
    losses = [e.losses["loss"] for e in events if e.kind == "step"]
    assert losses[-1] < 0.8 * losses[0]
    with pytest.raises(ValueError):
        ClassifierConfig(**{**TINY, "adversarial_eps": 0.9}).validate()


def test_distillation_is_zero_on_the_teachers_own_logits_and_trains_a_student_towards_them(tmp_path):
    """Hinton et al.'s soft-target loss: T^2 KL(p_t || softmax(z_s / T)) is 0 when the student's logits are a
    teacher's (one teacher) and positive otherwise; a run with two teachers trains, its loss falling; a teacher with
    other heads is refused."""
    run(tmp_path / "t1", dataset="digits", steps=40, log_every=40)
    run(tmp_path / "t2", dataset="digits", steps=40, log_every=40, seed=1)
    teacher = load_pretrained(ConvClassifier, tmp_path / "t1" / "run").eval()
    ds = ClassifierMethod(ClassifierConfig(**{**TINY, "dataset": "digits"})).test_dataset()
    x = ds.get_batch(list(range(16)))["image"]
    method = ClassifierMethod(ClassifierConfig(**{**TINY, "dataset": "digits", "teachers": (str(tmp_path / "t1" / "run"),),
                                                  "distill_temperature": 3.0}))
    with torch.no_grad():
        assert float(method.distillation_loss(teacher, teacher(x), x)) == pytest.approx(0.0, abs=1e-5)
        assert float(method.distillation_loss(teacher, torch.zeros(16, 10), x)) > 0.01
    both = (str(tmp_path / "t1" / "run"), str(tmp_path / "t2" / "run"))
    _, events = run(tmp_path / "s", dataset="digits", steps=120, log_every=20, teachers=both, distill_weight=0.7)
    losses = [e.losses["loss"] for e in events if e.kind == "step"]
    assert losses[-1] < 0.8 * losses[0]
    faces = ClassifierMethod(ClassifierConfig(**{**TINY, "dataset": "faces", "channels": (4, 8), "teachers": both}))
    net = faces.build_model()
    lost = ClassifierMethod(ClassifierConfig(**{**TINY, "dataset": "digits", "teachers": ("nowhere",)}))
    with pytest.raises(ValueError, match="no classifier checkpoint in nowhere"):  # (at the first step: a student is
        lost.distillation_loss(teacher, teacher(x), x)                            # measured again without them)
    with pytest.raises(ValueError, match="teacher heads"):
        faces.distillation_loss(net, net(torch.rand(2, 3, 32, 32)), torch.rand(2, 3, 32, 32))


def test_a_distilled_card_names_its_teachers_and_how_to_train_them(tmp_path):
    """The card of a student says it was distilled, with w, T and the teachers' folders, and gives the teachers'
    command: the student's config with no teachers (``--teachers ""``, which the command line reads as none). Its
    config loads without the teachers (a clone has only the student, whose card --reevaluate measures again)."""
    import argparse

    parser = argparse.ArgumentParser()
    ClassifierConfig.add_arguments(parser)
    base = ClassifierConfig(**TINY)
    teachers = (str(tmp_path / "t-0"), str(tmp_path / "t-1"))  # (not there: a student's card needs none of them)
    assert ClassifierConfig.from_args(parser.parse_args(["--teachers", ""]), base).teachers == ()
    assert ClassifierConfig.from_args(parser.parse_args(["--teachers", ",".join(teachers)]), base).teachers == teachers
    notes = ClassifierMethod(ClassifierConfig(**{**TINY, "teachers": teachers})).model_card_notes()
    assert "distilled from 2 teachers" in notes and "w =\n0.5, T = 2.0" in notes
    assert '--teachers "" --seed k' in notes and f"`{teachers[0]}`, `{teachers[1]}`" in notes
    assert "distilled" not in ClassifierMethod(ClassifierConfig(**TINY)).model_card_notes()
