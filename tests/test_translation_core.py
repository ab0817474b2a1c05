"""core/translation: reference layout, official-file loading, losses against their formulas, data, training."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from core.engine import CheckpointError
from core.translation.losses import (ImagePool, cycle_loss, discriminator_loss, feature_matching_loss, gan_loss,
                                    linear_decay)
from core.translation.networks import (NLayerDiscriminator, ResnetGenerator, UnetGenerator,
                                       build_discriminator, receptive_field)
from core.translation.official import infer_architecture, load_generator, load_official_folder


# ---------------------------------------------------------------- networks in the reference's layout
def test_resnet_keys_match_the_reference_layout():
    keys = set(ResnetGenerator(3, 3, 8, "instance", False, 9).state_dict())
    assert "model.10.conv_block.1.weight" in keys and "model.10.conv_block.5.weight" in keys   # first block
    assert "model.1.bias" in keys                                                              # instance: bias
    assert not any("running_mean" in k for k in keys)                                          # no stats kept
    with_dropout = set(ResnetGenerator(3, 3, 8, "instance", True, 6).state_dict())
    assert "model.10.conv_block.6.weight" in with_dropout and "model.10.conv_block.5.weight" not in with_dropout


def test_unet_keys_match_the_reference_layout_and_skips_concatenate():
    net = UnetGenerator(3, 3, 8, ngf=4, norm="batch", use_dropout=True)
    keys = set(net.state_dict())
    assert "model.model.1.model.3.model.1.weight" in keys                  # nested blocks, as in networks.py
    assert "model.model.0.weight" in keys and "model.model.0.bias" not in keys  # batch norm: no conv bias
    block = net.model.model[1]                                           # second level: ngf -> 2 ngf
    x = torch.randn(2, 4, 128, 128)
    assert block(x).shape == (2, 8, 128, 128)                            # x concatenated with up(down(x))
    assert net(torch.randn(1, 3, 256, 256)).shape == (1, 3, 256, 256)


def test_parameter_counts_equal_the_reference_models():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # what the reference prints as "[Network G] Total number of parameters" (in millions, 3 decimals)
    assert round(count(ResnetGenerator(3, 3, 64, "instance", False, 9)) / 1e6, 3) == 11.378   # CycleGAN's G
    assert round(count(UnetGenerator(3, 3, 8, 64, "batch", True)) / 1e6, 3) == 54.414         # pix2pix's unet_256


def test_basic_patchgan_sees_70_pixels_and_pixel_gan_one():
    assert receptive_field(build_discriminator("basic", 6, 8)) == 70
    assert receptive_field(build_discriminator("n_layers", 3, 8, n_layers_D=1)) == 16
    assert receptive_field(build_discriminator("pixel", 3, 8)) == 1
    out = NLayerDiscriminator(3, 8, 3, "batch")(torch.randn(1, 3, 256, 256))
    assert out.shape == (1, 1, 30, 30)                                   # the paper's 30x30 patch map


# ---------------------------------------------------------------- official files
def _official_file(tmp_path, net: nn.Module, name="latest_net_G.pth", old_instance_stats=False):
    state = net.state_dict()
    if old_instance_stats:  # what pre-0.4 PyTorch saved for InstanceNorm layers
        state["model.2.running_mean"] = torch.zeros(8)
        state["model.2.running_var"] = torch.ones(8)
    state["model.1.num_batches_tracked"] = torch.tensor(3)
    path = tmp_path / name
    torch.save(state, path)
    return path


@pytest.mark.parametrize("net, arch", [
    (lambda: ResnetGenerator(3, 3, 8, "instance", False, 9), "resnet_9blocks"),
    (lambda: ResnetGenerator(3, 3, 8, "batch", True, 6), "resnet_6blocks"),
    (lambda: UnetGenerator(3, 3, 8, 4, "batch", True), "unet_256"),
    (lambda: UnetGenerator(1, 3, 7, 4, "instance", True), "unet_128"),
])
def test_official_state_dict_loads_and_translates_identically(tmp_path, net, arch):
    torch.manual_seed(0)
    reference = net()
    for m in reference.modules():  # non-trivial batch-norm statistics and weights
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.weight.data.uniform_(0.5, 1.5)
    path = _official_file(tmp_path, reference, old_instance_stats=arch == "resnet_9blocks")
    gen = load_generator(path)
    assert gen.netG == arch
    reference.eval(), gen.eval()
    x = torch.rand(1, reference.model.model[0].in_channels if arch.startswith("unet") else 3,
                   int(arch[5:]) if arch.startswith("unet") else 64, int(arch[5:]) if arch.startswith("unet") else 64)
    with torch.no_grad():
        assert torch.equal(gen(x), reference(x))


def test_official_folder_with_two_generators_gives_a_cycle(tmp_path):
    from core.data import to_pil
    from core.translation.service import TranslatorBundle, prepare_input, translate

    for name in ("latest_net_G_A.pth", "latest_net_G_B.pth"):
        _official_file(tmp_path, ResnetGenerator(3, 3, 4, "instance", False, 2), name)
    (tmp_path / "translation.json").write_text('{"a": "horse", "b": "zebra"}')
    translator = load_official_folder(tmp_path)
    assert translator.G_BA is not None and translator.task["a"] == "horse"
    out = translate(TranslatorBundle(translator, "t", 64, official=True), torch.rand(3, 50, 70), "BtoA")
    assert out["output"].size == out["cycle"].size == (70, 50)           # the input's size and aspect
    for shape, size in (((3, 20, 3000), (1024, 256)), ((3, 3000, 20), (256, 1024)), ((3, 64, 16), (16, 64))):
        out = translate(TranslatorBundle(translator, "t", 64, official=True), torch.rand(*shape), "AtoB")
        assert out["input"].size == out["output"].size == size            # a sliver comes back at 4:1 at most
    assert 0 <= out["cycle_l1"] <= 1
    # native (the page's view, enlarged crisply there): the input exactly as the model saw it, the results at the
    # model's resolution with the upload's aspect (a 256 px drawing came back as a bicubic blur of 64 px)
    bundle = TranslatorBundle(translator, "t", 64, official=True)
    for shape, size in (((3, 256, 256), (64, 64)), ((3, 300, 4000), (64, 16)), ((3, 50, 70), (64, 46))):
        image = torch.rand(*shape)
        out = translate(bundle, image, "AtoB", native=True)
        assert out["input"].size == (64, 64) and out["output"].size == out["cycle"].size == size
        x, _ = prepare_input(image, 64)
        assert np.array_equal(np.asarray(out["input"]), np.asarray(to_pil(x)))
        assert out["cycle_l1"] == translate(bundle, image, "AtoB")["cycle_l1"]


def test_bad_official_files_are_refused_with_one_message(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "pickle.pth").write_bytes(pickle.dumps({"x": Evil()}))
    (tmp_path / "trunc.pth").write_bytes(b"PK\x03\x04 truncated")
    torch.save({"features.0.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    good = tmp_path / "good.pth"
    torch.save(ResnetGenerator(3, 3, 4, "instance", False, 2).state_dict(), good)
    (tmp_path / "cut.pth").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for name, words in [("pickle.pth", "refused"), ("trunc.pth", "not a readable"), ("other.pth", "neither"),
                        ("cut.pth", "not a readable")]:
        with pytest.raises(CheckpointError, match=words):
            load_generator(tmp_path / name)


def test_infer_architecture_reads_norm_and_channels():
    arch = infer_architecture(UnetGenerator(1, 3, 6, 4, "none").state_dict())
    assert arch == {"netG": "unet_64", "input_nc": 1, "output_nc": 3, "ngf": 4, "norm": "none", "use_dropout": True}


# ---------------------------------------------------------------- losses against their formulas
def test_gan_losses_follow_their_formulas():
    logits = torch.tensor([[-2.0, 0.5], [1.0, 3.0]]).view(1, 1, 2, 2)
    sig = torch.sigmoid(logits)
    assert torch.allclose(gan_loss(logits, True, "vanilla"), -(sig.log()).mean())
    assert torch.allclose(gan_loss(logits, False, "vanilla"), -((1 - sig).log()).mean())
    assert torch.allclose(gan_loss(logits, True, "lsgan"), ((logits - 1) ** 2).mean())
    assert torch.allclose(gan_loss(logits, False, "lsgan"), (logits ** 2).mean())
    assert torch.allclose(gan_loss(logits, True, "wgangp"), -logits.mean())
    assert torch.allclose(gan_loss(logits, False, "wgangp"), logits.mean())
    real, fake = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    assert torch.allclose(discriminator_loss(real, fake, "lsgan"), torch.tensor(0.0))
    with pytest.raises(ValueError, match="gan_mode"):
        gan_loss(logits, True, "hinge")


def test_cycle_loss_is_zero_for_identity_generators():
    a, b = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    G = F_ = nn.Identity()
    assert cycle_loss(a, F_(G(a)), b, G(F_(b))) == 0
    assert cycle_loss(a, a + 0.5, b, b) == pytest.approx(0.5)


def test_feature_matching_is_the_weighted_l1_of_each_hidden_layer():
    torch.manual_seed(0)
    D = NLayerDiscriminator(6, ndf=4, n_layers=2, norm="none")
    real, fake = torch.rand(2, 6, 32, 32), torch.rand(2, 6, 32, 32, requires_grad=True)
    assert feature_matching_loss(D, real, real) == 0
    hidden_real, hidden_fake, expected = real, fake, 0.0    # by hand: every LeakyReLU output, weight 4 / 3
    for module in D.model:
        hidden_real, hidden_fake = module(hidden_real.clone()), module(hidden_fake.clone())
        if isinstance(module, nn.LeakyReLU):
            expected = expected + (hidden_fake - hidden_real).abs().mean()
    loss = feature_matching_loss(D, real, fake)
    assert loss.item() == pytest.approx(float(expected) * 4 / 3, rel=1e-5)
    loss.backward()
    assert fake.grad.abs().sum() > 0                        # it trains G through the fake side only


def test_image_pool_keeps_at_most_pool_size_and_returns_the_batch_shape():
    pool = ImagePool(4, seed=0)
    for _ in range(5):
        out = pool.query(torch.rand(3, 3, 4, 4))
        assert out.shape == (3, 3, 4, 4)
    assert len(pool.images) == 4
    assert torch.equal(ImagePool(0).query(x := torch.rand(2, 3, 4, 4)), x)


def test_learning_rate_is_constant_then_decays_linearly_to_zero():
    assert linear_decay(0, 100, 50) == 1.0 and linear_decay(49, 100, 50) == 1.0
    assert linear_decay(75, 100, 50) == pytest.approx(1 - 25 / 51)
    assert linear_decay(100, 100, 50) == pytest.approx(1 - 50 / 51) and linear_decay(10, 100, 0) == 1.0


# ---------------------------------------------------------------- data and training
def test_face_pairs_and_domains():
    from core.data.worlds.faces import ATTRIBUTES
    from core.translation.data import FaceDomains, FacePairs, label_palette

    pairs = FacePairs("labels", "test", 32).get_batch([0, 1])
    assert pairs["A"].shape == pairs["B"].shape == (2, 3, 32, 32)
    from core.data import get_dataset

    palette = torch.from_numpy(label_palette()).float() / 255                  # (K, 3): each class its colour
    colours = pairs["A"][0].permute(1, 2, 0)                                    # (H, W, 3)
    classes = ((colours[..., None, :] - palette) ** 2).sum(-1).argmin(-1)       # nearest palette colour
    assert torch.equal(classes, get_dataset("faces", "test", 32)[0]["label_map"])
    assert ((colours[..., None, :] - palette) ** 2).sum(-1).min(-1).values.max() < 1e-6  # exactly a palette colour
    edges = FacePairs("edges", "test", 32).get_batch([0])["A"]
    assert set(edges.unique().tolist()) <= {0.0, 1.0}
    dom = FaceDomains("glasses", "none", "round", "test", 32)
    batch = dom.get_batch([0, 1, 2])
    col = list(ATTRIBUTES).index("glasses")
    assert (batch["attributes_A"][:, col] == 0).all() and (batch["attributes_B"][:, col] == 1).all()
    with pytest.raises(ValueError, match="no value"):
        FaceDomains("glasses", "none", "pink")


@pytest.mark.parametrize("extra", [
    {"model": "pix2pix", "gan_mode": "vanilla"},
    {"model": "cyclegan", "netG": "resnet_6blocks", "gan_mode": "lsgan", "dropout": False},
    {"model": "pix2pix", "gan_mode": "wgangp", "netD": "pixel", "norm": "batch"},
    {"model": "pix2pix", "gan_mode": "lsgan", "lambda_feat": 10.0},
    {"model": "pix2pix", "gan_mode": "lsgan", "lambda_parts": 1.0},
])
def test_tiny_training_lowers_the_generator_loss_and_round_trips(tmp_path, extra):
    from core.engine import Trainer
    from core.translation.method import TranslationConfig, TranslationMethod

    config = TranslationConfig(resolution=32, steps=30, batch_size=4, ngf=4, ndf=4, sample_every=0,
                               checkpoint_every=0, log_every=10, eval_samples=8, lr=1e-3, device="cpu",
                               **({"netG": "unet_32"} | extra))
    first = {}
    last = {}
    for event in Trainer(TranslationMethod(config), tmp_path / "run").run():
        if event.kind == "step":
            first = first or event.losses
            last = event.losses
    key = "cycle" if extra["model"] == "cyclegan" else "G_L1"
    assert last[key] < first[key]
    from core.translation.model import Translator  # the exported folder rebuilds the model alone

    translator = Translator.from_pretrained(tmp_path / "run")
    assert (translator.G_BA is not None) == (extra["model"] == "cyclegan")


def test_config_rejects_what_cannot_train():
    from core.translation.method import TranslationConfig

    with pytest.raises(ValueError, match="no loss"):
        TranslationConfig(lambda_GAN=0, lambda_L1=0).validate()
    with pytest.raises(ValueError, match="divisible"):
        TranslationConfig(resolution=48, netG="unet_64").validate()
    with pytest.raises(ValueError, match="feature matching"):
        TranslationConfig(lambda_feat=10, netD="pixel").validate()
    for wrong in ({"model": "cyclegan"}, {"direction": "BtoA"}, {"dataset": "folder"}):
        with pytest.raises(ValueError, match="label map locates the parts"):
            TranslationConfig(lambda_parts=1, **wrong).validate()


def test_float16_export_halves_the_weights_and_loads_into_float32(tmp_path):
    from safetensors.torch import load_file

    from core.engine import Trainer
    from core.translation.method import TranslationConfig, TranslationMethod
    from core.translation.model import Translator

    config = TranslationConfig(resolution=32, netG="unet_32", steps=2, batch_size=2, ngf=4, ndf=4, sample_every=0,
                               checkpoint_every=0, eval_samples=0, device="cpu", weights_dtype="float16")
    for _ in Trainer(TranslationMethod(config), tmp_path / "half").run():
        pass
    stored = load_file(tmp_path / "half" / "model.safetensors")
    assert {v.dtype for v in stored.values()} == {torch.float16}
    loaded = Translator.from_pretrained(tmp_path / "half")
    assert next(loaded.parameters()).dtype == torch.float32
    k = next(iter(stored))
    assert torch.equal(dict(loaded.named_parameters())[k].data, stored[k].float())


def test_task_describes_each_side_for_the_tab():
    from core.translation.method import TranslationConfig, TranslationMethod

    labels = TranslationMethod(TranslationConfig()).task()
    assert labels["input"] == "labels" and (labels["a"], labels["b"]) == ("label map", "face")
    face2labels = TranslationMethod(TranslationConfig(direction="BtoA")).task()
    assert face2labels["input"] == "photo" and (face2labels["a"], face2labels["b"]) == ("face", "label map")
    hair = TranslationMethod(TranslationConfig(model="cyclegan", netG="resnet_6blocks")).task()
    assert (hair["a"], hair["b"]) == ("black hair", "blonde hair")


def test_recoloured_faces_keep_every_shape_and_redraw_the_colours():
    from core.data import get_dataset
    from core.data.worlds.faces import ATTRIBUTE_NAMES, COLOUR_ATTRIBUTES

    world = get_dataset("faces", "test", 32)
    again = world.recoloured([0, 1, 2, 3], seed=1)
    assert again.shape == (4, 3, 32, 32) and 0 <= again.min() and again.max() <= 1
    assert torch.equal(again, world.recoloured([0, 1, 2, 3], seed=1))
    assert not torch.equal(again, world.recoloured([0, 1, 2, 3], seed=2))
    u, z = world._random_rows(np.arange(4))
    columns = [ATTRIBUTE_NAMES.index(n) for n in COLOUR_ATTRIBUTES]
    u[:, columns] = np.random.default_rng(1).random((4, len(columns)))
    redrawn = [world.render(u[r], z[r]) for r in range(4)]
    original = world.get_batch([0, 1, 2, 3])
    for r in range(4):   # the same label map (every shape), the same shape attributes
        assert torch.equal(torch.from_numpy(redrawn[r]["label_map"]), original["label_map"][r])
        shapes = [k for k in range(len(ATTRIBUTE_NAMES)) if k not in columns]
        assert (redrawn[r]["attributes"][shapes] == original["attributes"][r][shapes].numpy()).all()
    assert not torch.equal(again, original["image"])


def test_a_translator_that_draws_the_shapes_exactly_scores_the_shape_exact_column(monkeypatch):
    from core.data import get_dataset
    from core.translation import evaluate
    from core.translation.data import FacePairs

    held = FacePairs("labels", "test", 64).get_batch(list(range(12)))
    held["B_recoloured"] = get_dataset("faces", "test", 64).recoloured(range(12), seed=0)
    monkeypatch.setattr(evaluate, "_translate_all", lambda translator, images, direction: held["B_recoloured"])
    fake_translator = type("T", (), {"G_BA": None})()
    metrics = evaluate.evaluate_translator(fake_translator, held, {"world": "faces"})
    assert metrics["attribute_agreement"] == metrics["attribute_agreement_shape_exact"]
    assert metrics["attribute_agreement"]["pose"] == 1.0   # a shape the classifier reads without fail
    table = evaluate.results_markdown(metrics)
    assert "| attribute | fixed by the input | agreement | shape-exact redraw |" in table
    monkeypatch.setattr(evaluate, "_translate_all", lambda translator, images, direction: held["B"])
    exact = evaluate.evaluate_translator(fake_translator, held, {"world": "faces"})["attribute_agreement"]
    assert set(exact.values()) == {1.0}    # the real target itself agrees with itself everywhere
