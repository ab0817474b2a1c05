"""StyleGAN training: a step of each network, resolution auto, save / load and export round trips, the faces
evaluation its card shows. Tiny generators on CPU."""

from __future__ import annotations

import torch

from core.stylegan.generator import Generator
from tests.stylegan_tiny import tiny_generator


def test_save_and_load_roundtrip(tmp_path):
    from core.engine import load_pretrained

    G = tiny_generator()
    G.save_pretrained(tmp_path)
    G2 = load_pretrained(Generator, tmp_path).eval()
    z = torch.randn(2, 8)
    torch.testing.assert_close(G2(z), G(z))
    torch.testing.assert_close(G2.w_avg, G.w_avg)


def test_training_step_updates_both_networks():
    from core.stylegan.method import StyleGANConfig, StyleGANMethod

    class Ctx:
        def __init__(self, step, optimizers):
            self.step, self.optimizers = step, optimizers

        def backward(self, loss):
            loss.backward()

    class Fake:
        channels, resolution = 3, 16

    class Tiny(StyleGANMethod):
        def build_dataset(self, split="train"):
            return Fake()

    torch.manual_seed(0)
    method = Tiny(StyleGANConfig(batch_size=4, z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=16,
                                 r1_every=2, diffaug="translation", eval_samples=0))
    model = method.build_model()
    opts = method.configure_optimizers(model)
    g0 = [p.clone() for p in model.G.parameters()]
    d0 = [p.clone() for p in model.D.parameters()]
    losses = method.training_step(model, {"image": torch.rand(4, 3, 16, 16)}, Ctx(0, opts))
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["r1"] > 0  # step 0 is an R1 step
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.D.parameters()))
    assert all(p.requires_grad for p in model.parameters())
    images = method.sample(model.G.eval(), 4, torch.Generator().manual_seed(0))
    assert images.shape == (4, 3, 16, 16) and 0 <= images.min() and images.max() <= 1

    method.config.g_start = 5  # before step 5 only D trains (a fresh D catching up with a grown G)
    model.G.train()
    g1, d1 = [p.clone() for p in model.G.parameters()], [p.clone() for p in model.D.parameters()]
    w_avg = model.G.w_avg.clone()
    losses = method.training_step(model, {"image": torch.rand(4, 3, 16, 16)}, Ctx(3, opts))
    assert "loss_g" not in losses and torch.isfinite(losses["loss_d"])
    assert all(torch.equal(a, b) for a, b in zip(g1, model.G.parameters())) and torch.equal(w_avg, model.G.w_avg)
    assert any(not torch.equal(a, b) for a, b in zip(d1, model.D.parameters()))
    assert "loss_g" in method.training_step(model, {"image": torch.rand(4, 3, 16, 16)}, Ctx(5, opts))


def test_resolution_auto_rounds_a_28px_world_up_to_32():
    """The digits' 28 px (resolution 0 = auto, the panel's default) trains at 32 px: real images are resized at each
    step (it said "resolution must be a power of two >= 8, got 28", a value the user never sent)."""
    from core.stylegan.method import StyleGANConfig, StyleGANMethod

    class Digits28:
        channels, resolution = 1, 28

    class Tiny(StyleGANMethod):
        def build_dataset(self, split="train"):
            return Digits28()

    method = Tiny(StyleGANConfig(batch_size=2, z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=16,
                                 eval_samples=0))
    assert method.config.resolution == 0 and method.data_shape() == (1, 32)
    model = method.build_model()
    assert model.G.resolution == 32
    losses = method.training_step(model, {"image": torch.rand(2, 1, 28, 28)},
                                  type("Ctx", (), {"step": 1, "optimizers": method.configure_optimizers(model),
                                                   "backward": staticmethod(lambda loss: loss.backward())})())
    assert all(torch.isfinite(v) for v in losses.values())


def test_save_inference_writes_weights_and_figures(tmp_path):
    from core.stylegan.method import StyleGANConfig, StyleGANMethod

    method = StyleGANMethod(StyleGANConfig(eval_samples=0))
    method.save_inference(tiny_generator(), tmp_path)
    for name in ("config.json", "model.safetensors", "style_mixing_coarse.png", "style_mixing_middle.png",
                 "style_mixing_fine.png", "style_mixing_middle_fine.png", "style_mixing_8px_up.png", "truncation.png"):
        assert (tmp_path / name).is_file(), name


def test_faces_evaluation_measures_mixing_and_the_card_shows_it():
    """On the faces world the end-of-training evaluation adds the coverage and mixing tables, rendered in the card."""
    from core.stylegan.method import StyleGANConfig, StyleGANMethod

    torch.manual_seed(0)
    G = Generator(resolution=64, z_dim=16, w_dim=16, mapping_layers=2, channels=[16, 16, 8, 8, 4]).eval()
    method = StyleGANMethod(StyleGANConfig(dataset="faces", eval_samples=40))
    metrics = method.evaluate(G)
    assert metrics["mixing_pairs"] == 10
    assert set(metrics["mixing_transfer"]) == {"coarse", "middle", "fine", "middle + fine", "8 px and up"}
    assert list(metrics["mixing_crossover"]) == [f"w{k}-w9" for k in range(1, 10)]
    card = method.model_card_results(metrics)
    assert "--pairs 10" in card and "| head shape |" in card and "middle + fine layers from B" in card
    assert "| w1-w9 from B |" in card and "| w9-w9 from B |" in card
    coverage = metrics["attribute_coverage"]
    assert coverage["pose"]["values"] == ["frontal", "turned left", "turned right"]
    assert abs(sum(coverage["pose"]["generated"]) - 1) < 1e-6 and 0 <= metrics["attribute_tv"] <= 1
    assert "(coverage)" in card and "| pose |" in card and card.index("(coverage)") < card.index("takes from B")
    assert method.model_card_results({"fid": 1.0}) == ""


def test_export_carries_the_discriminator_and_from_export_continues_with_it(tmp_path):
    """The exported discriminator.safetensors is what --from-export trains on when resume/ is gone."""
    import shutil

    from safetensors.torch import load_file

    from core.engine import Trainer
    from core.stylegan.method import StyleGANConfig, StyleGANMethod

    class Images:
        channels, resolution = 3, 16

        def __len__(self):
            return 8

        def get_batch(self, indices):
            return {"image": torch.rand(len(indices), 3, 16, 16, generator=torch.Generator().manual_seed(len(indices)))}

    class Tiny(StyleGANMethod):
        def build_dataset(self, split="train"):
            return Images()

    def config(steps):
        return StyleGANConfig(steps=steps, batch_size=2, z_dim=8, w_dim=8, mapping_layers=2, channel_base=64,
                              channel_max=16, eval_samples=0, sample_every=0, checkpoint_every=0, num_samples=4)

    out = tmp_path / "gan"
    list(Trainer(Tiny(config(3)), out).run())
    trained = load_file(out / "resume" / "model.safetensors")
    exported = load_file(out / "discriminator.safetensors")
    assert exported.keys() and all(torch.equal(v, trained[f"D.{k}"]) for k, v in exported.items())
    shutil.rmtree(out / "resume")
    list(Trainer(Tiny(config(3)), out, from_export=True).run())  # no steps left: D is written back unchanged
    again = load_file(out / "discriminator.safetensors")
    assert all(torch.equal(exported[k], again[k]) for k in exported)
    continued = load_file(out / "resume" / "model.safetensors")
    assert all(torch.equal(v, continued[f"D.{k}"]) for k, v in exported.items())
