"""VAEMethod through the shared engine: a tiny run lowers the loss and writes a loadable checkpoint;
a trained model reconstructs a held-out image closer to it than to other images."""

from __future__ import annotations

import json

import pytest
import torch

from core.engine import Trainer
from core.vae import VAEConfig, load_vae
from core.vae.data import CachedImages
from core.vae.method import VAEMethod

TINY = dict(dataset="digits", channels=8, hidden=32, batch_size=32, lr=3e-3, ema_decay=0.0, sample_every=0,
            checkpoint_every=0, log_every=10, num_samples=9, seed=0, device="cpu", train_images=2000)


def _run(tmp_path, **changes):
    config = VAEConfig(**{**TINY, **changes})
    trainer = Trainer(VAEMethod(config), tmp_path / "run", resume=False)
    events = list(trainer.run())
    steps = [e for e in events if e.kind == "step"]
    return events, steps


@pytest.mark.parametrize("model_type,extra", [("vae", {"latent_dim": 2}), ("dae", {"latent_dim": 4}),
                                              ("vqvae", {"num_codes": 16, "code_dim": 4})])
def test_a_tiny_training_run_lowers_the_loss_and_saves_a_checkpoint(tmp_path, model_type, extra):
    events, steps = _run(tmp_path, model_type=model_type, steps=60, **extra)
    first, last = steps[0].losses, steps[-1].losses
    assert last["loss"] < 0.8 * first["loss"], (first, last)
    if model_type == "vae":
        assert {"recon", "kl"} <= set(last)  # the two ELBO terms are logged apart
    if model_type == "vqvae":
        assert {"recon", "commitment", "perplexity"} <= set(last)
    assert events[-1].kind == "done"
    folder = tmp_path / "run"
    for name in ("config.json", "model.safetensors", "README.md", "samples.png", "reconstructions.png",
                 "train_config.json", "metrics.json"):
        assert (folder / name).is_file(), name
    assert (folder / "manifold.png").is_file() == (model_type == "vae")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test_images"] == 1000 and 0 < metrics["mse"] < 0.25
    model = load_vae(folder)
    assert model.model_type == model_type
    if model_type == "vqvae":
        assert 1 <= metrics["codebook_perplexity"] <= 16
        assert model.quantizer.usage.sum() > 0  # evaluate() stored the code frequencies in the export
    assert "nats per image" in (folder / "README.md").read_text()


def test_held_out_reconstruction_is_closer_to_its_input_than_to_other_images(tmp_path):
    torch.manual_seed(0)
    _run(tmp_path, model_type="ae", latent_dim=16, steps=250, channels=16)
    model = load_vae(tmp_path / "run")
    test = VAEMethod(VAEConfig(**TINY)).build_dataset("test")
    x = test.get_batch(list(range(40)))["image"]
    rec = model.reconstruct(x)
    d = torch.cdist(rec.flatten(1), x.flatten(1))  # (40, 40): row i = reconstruction i vs every input
    own, others = d.diagonal(), (d.sum(1) - d.diagonal()) / 39
    assert (own < 0.9 * others).float().mean() >= 0.95  # after 250 tiny steps: much nearer than to a typical digit
    untrained = VAEMethod(VAEConfig(**{**TINY, "model_type": "ae", "latent_dim": 16, "channels": 16})).build_model()
    d0 = torch.cdist(untrained.eval().reconstruct(x).flatten(1), x.flatten(1))
    assert (d0.diagonal() < 0.9 * (d0.sum(1) - d0.diagonal()) / 39).float().mean() < 0.5  # the test can fail


@pytest.mark.parametrize("name", ["vae16-faces", "ae16-faces", "vqvae-faces", "vae2d-digits", "vae16-digits"])
def test_bundled_checkpoint_reconstructs_held_out_images_nearest_to_themselves(name):
    from core.data import get_dataset
    from core.engine import list_checkpoints, resolve_checkpoint

    if name not in list_checkpoints("vae"):
        pytest.skip(f"{name} is not trained yet")
    path = resolve_checkpoint("vae", name)
    model, config = load_vae(path), VAEConfig.load(path / "train_config.json")
    x = get_dataset(config.dataset, split="test").get_batch(list(range(100)))["image"]
    d = torch.cdist(model.reconstruct(x).flatten(1), x.flatten(1))
    top1 = (d.argmin(1) == torch.arange(100)).float().mean()
    # a 2-D code cannot tell 100 digits apart pixel-exactly; 16-D codes and VQ grids must
    assert top1 >= (0.3 if name == "vae2d-digits" else 0.9)


def test_beta_warmup_and_bad_config():
    m = VAEMethod(VAEConfig(**{**TINY, "beta": 4.0, "kl_warmup": 100}))
    assert m.beta_at(0) == pytest.approx(0.04) and m.beta_at(49) == pytest.approx(2.0) and m.beta_at(500) == 4.0
    with pytest.raises(ValueError, match="model_type"):
        VAEConfig(model_type="gan").validate()
    with pytest.raises(ValueError, match="latent_dim"):
        VAEConfig(latent_dim=0).validate()


def test_cached_images_match_the_dataset():
    m = VAEMethod(VAEConfig(**TINY))
    ds = m.build_dataset("train")
    assert isinstance(ds, CachedImages) and len(ds) == 2000 and ds.channels == 1
    raw = ds.dataset.get_batch([5, 7, 5])
    cached = ds.get_batch([5, 7, 5])
    assert torch.allclose(cached["image"], raw["image"], atol=1 / 255) and torch.equal(cached["label"], raw["label"])
    assert torch.equal(ds.get_batch([7])["image"], cached["image"][1:2])  # served from memory the second time
    with pytest.raises(IndexError):
        ds.get_batch([2000])


def test_vqvae_exports_raw_weights_not_a_weight_average():
    m = VAEMethod(VAEConfig(**{**TINY, "model_type": "vqvae", "ema_decay": 0.99}))
    assert m.config.ema_decay == 0.0
    assert VAEMethod(VAEConfig(**{**TINY, "model_type": "vae", "ema_decay": 0.99})).config.ema_decay == 0.99


def test_the_generated_images_of_a_sample_grid_are_its_prior_samples():
    """The training panel's samples over time follow what the model generates, not the held-out inputs."""
    method = VAEMethod(VAEConfig(**{**TINY, "latent_dim": 2}))
    module = method.build_model().eval()
    grid = method.sample(module, 16, torch.Generator().manual_seed(0))     # rows: inputs, reconstructions, prior
    inputs = method.build_dataset("test").get_batch(list(range(4)))["image"]
    assert torch.equal(grid[:4], inputs.clamp(0, 1))
    generated = method.generated(grid)
    assert generated.shape[0] == 8 and torch.equal(generated, grid[8:])
    assert method.generated(grid[:5]).shape[0] == 5  # a grid too small for input rows is all samples
