"""core/text2image: training (the loss falls, cached frozen parts, caption dropout, the panel's settings) and the
card's measurements (the autoencoder's round trip, prompt faithfulness and its ceiling, the measurement note)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tests.text2image_tiny import generate_with as _run
from tests.text2image_tiny import tiny_method


def test_tiny_training_lowers_the_loss_and_its_pipeline_loads(tmp_path):
    from core.engine import Trainer, StepContext
    from core.text2image.pipeline import load_pipeline

    method = tiny_method(tmp_path, caption_dropout=0.0, lr=3e-3)
    torch.manual_seed(0)
    model = method.build_model()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = method.build_dataset("train").get_batch(list(range(8)))
    ctx = StepContext(0, SimpleNamespace(device=torch.device("cpu")), {})
    losses = []
    for _ in range(40):
        torch.manual_seed(1)   # the same t and eps every step: the loss of one fixed problem
        loss = method.training_step(model, batch, ctx)["loss"]
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
    events = list(Trainer(method, tmp_path / "t2i").run())
    assert events[-1].kind == "done"
    pipe = load_pipeline(tmp_path / "t2i")
    assert _run(pipe, steps=2).images.shape == (1, 3, 16, 16)
    card = (tmp_path / "t2i" / "unet" / "README.md").read_text()  # named after the checkpoint, not the export's temp folder
    assert card.startswith("# `t2i/unet`") and ".export-" not in card
    # the frozen autoencoder's weights are a link to its own checkpoint (one copy in the repository), as the bundles are
    vae_weights = tmp_path / "t2i" / "vae" / "diffusion_pytorch_model.safetensors"
    assert vae_weights.is_symlink() and vae_weights.resolve() == (tmp_path / "ae" / vae_weights.name).resolve()
    assert vae_weights.readlink().parts[:2] == ("..", "..")   # relative: the link survives a clone elsewhere
    # the frozen CLIP text tower is kept once, in its own folder: the pipeline is filled in from there
    from core.text2image.text_encoders import load_clip_text

    assert not (tmp_path / "t2i" / "text_encoder").exists()
    tower = load_clip_text(tmp_path / "clip")[1].state_dict()
    assert all(torch.equal(v, tower[k]) for k, v in pipe.text_encoder.state_dict().items())


def test_a_cached_dataset_runs_the_frozen_parts_once_per_item_with_the_same_loss(tmp_path):
    from core.engine import StepContext

    method = tiny_method(tmp_path, cache_items=16, caption_dropout=0.0)
    model = method.build_model()
    dataset = method.build_dataset("train")
    batch = dataset.get_batch([3, 5, 7, 9])
    ctx = StepContext(0, SimpleNamespace(device=torch.device("cpu")), {})
    vae = method.frozen()[0]
    calls = []
    encode = vae.encode
    vae.encode = lambda x: calls.append(len(x)) or encode(x)
    losses = []
    for with_item in (False, True, True):
        torch.manual_seed(2)
        b = batch if with_item else {k: v for k, v in batch.items() if k != "item"}
        losses.append(float(method.training_step(model, b, ctx)["loss"]))
    assert calls == [4, 4]                                  # live, then encoded once and kept for the second draw
    assert losses[1] == pytest.approx(losses[0], rel=1e-3)  # the kept embeddings are float16
    assert losses[2] == losses[1]
    torch.manual_seed(2)
    method.training_step(model, dataset.get_batch([5, 11]), ctx)
    assert calls == [4, 4, 1]                               # only the item not seen before


def test_caption_dropout_rate(tmp_path):
    from core.engine import StepContext

    method = tiny_method(tmp_path, caption_dropout=0.3)
    model = method.build_model()
    batch = method.build_dataset("train").get_batch(list(range(200)))
    ctx = StepContext(0, SimpleNamespace(device=torch.device("cpu")), {})
    torch.manual_seed(0)
    with torch.no_grad():
        rate = float(method.training_step(model, batch, ctx)["caption_dropout"])
    assert 0.2 < rate < 0.4            # 200 Bernoulli(0.3) draws: 4.6 standard deviations either side
    method.config.caption_dropout = 1.0
    with torch.no_grad():
        assert float(method.training_step(model, batch, ctx)["caption_dropout"]) == 1.0


def test_config_reads_holdout_and_widths_as_the_training_panel_sends_them():
    from core.text2image.config import Text2ImageConfig

    config = Text2ImageConfig.from_dict({"holdout": str(Text2ImageConfig().holdout), "widths": "(32, 64)"})
    assert config.holdout == Text2ImageConfig().holdout and config.widths == (32, 64)
    assert Text2ImageConfig.from_dict({"holdout": ""}).holdout == ()
    with pytest.raises(ValueError, match="held-out pair"):
        Text2ImageConfig.from_dict({"holdout": "red zebra"})
    with pytest.raises(ValueError, match="beta_end"):
        Text2ImageConfig.from_dict({"beta_start": 0.02, "beta_end": 0.01})


class LosslessAutoencoder(torch.nn.Module):
    """D(E(x)) = x, with the encode / decode interface of diffusers' AutoencoderKL."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))   # where it runs

    def encode(self, x):
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=x))

    def decode(self, z):
        return SimpleNamespace(sample=z)


def test_an_autoencoder_card_measures_what_its_round_trip_keeps_of_each_shape():
    from core.text2image.autoencoder_method import AutoencoderMethod
    from core.text2image.config import AutoencoderConfig

    method = AutoencoderMethod(AutoencoderConfig())
    kept = method.shapes_kept(LosslessAutoencoder(), num=120)
    assert set(kept) == {f"shape_{k}/{s}" for k in ("read", "kept") for s in ("small", "medium", "large")}
    assert all(kept[f"shape_kept/{s}"] == kept[f"shape_read/{s}"] for s in ("small", "medium", "large"))
    assert kept["shape_read/large"] > 0.8
    blank = method.shapes_kept(SimpleNamespace(parameters=lambda: iter([torch.zeros(1)]),
                                                 encode=LosslessAutoencoder().encode,
                                                 decode=lambda z: SimpleNamespace(sample=z * 0)), num=120)
    assert blank["shape_kept/large"] < blank["shape_read/large"]   # a decoder that draws nothing keeps nothing


def test_faithfulness_of_the_real_images_is_the_measures_ceiling():
    """A model that drew each prompt's own real image scores exactly the ceiling, per attribute."""
    from core.text2image.config import Text2ImageConfig
    from core.text2image.evaluate import prompt_faithfulness
    from core.text2image.method import Text2ImageMethod

    method = Text2ImageMethod(Text2ImageConfig(holdout=("red star",)))
    world = method.build_dataset("test").world
    real = world.get_batch(list(range(40)))
    by_prompt = dict(zip(real["text"], real["image"]))
    blank = torch.zeros(3, 64, 64) + 0.5

    def generate(unet, prompts, generator, steps, guidance):
        return torch.stack([by_prompt.get(p, blank) for p in prompts])

    lossless = LosslessAutoencoder()                # its column must equal the real images' column
    method.generate = generate
    method.frozen = lambda device=None: (lossless, None, None)
    m = prompt_faithfulness(method, SimpleNamespace(device=torch.device("cpu")), num_prompts=40)
    for name in ("shape", "colour", "count", "size", "relation", "exact"):
        assert m[f"faithfulness/{name}"] == m[f"measure_ceiling/{name}"] == m[f"autoencoder_ceiling/{name}"]
        if f"faithfulness_single/{name}" in m:
            assert m[f"faithfulness_single/{name}"] == m[f"measure_ceiling_single/{name}"]
    assert m["faithfulness_single/shape"] > 0.8 and m["measure_ceiling/colour"] == 1.0
    assert {"holdout_pairs_correct", "seen_pairs_correct", "clip_score"} <= set(m)


def test_one_object_faithfulness_reads_only_one_object_prompts_after_the_first_set():
    """The tighter single-object figure: ``num`` one-object captions after item ``start``; drawing each caption's own
    real image scores the ceiling, drawing nothing scores no shape."""
    from core.text2image.config import Text2ImageConfig
    from core.text2image.evaluate import one_object_faithfulness, parse_prompt
    from core.text2image.method import Text2ImageMethod

    method = Text2ImageMethod(Text2ImageConfig())
    real = method.build_dataset("test").world.get_batch(list(range(40, 540)))
    queue = {}
    for text, image, objects in zip(real["text"], real["image"], real["objects"]):
        if len(parse_prompt(objects)) == 1:
            queue.setdefault(text, []).append(image)
    drawn, settings = [], set()

    def generate(unet, prompts, generator, steps, guidance, sampler="ddim"):
        drawn.extend(prompts)
        settings.add((steps, guidance, sampler))
        return torch.stack([queue[p].pop(0) for p in prompts])

    method.generate = generate
    method.frozen = lambda device=None: (LosslessAutoencoder(), None, None)
    m = one_object_faithfulness(method, SimpleNamespace(device=torch.device("cpu")), 30, 40, 7, 2.5, "euler")
    assert m["one_object_prompts"] == len(drawn) == 30 and set(drawn) <= set(queue) and settings == {(7, 2.5, "euler")}
    for name in ("shape", "colour", "count", "size", "exact"):
        assert m[f"one_object/{name}"] == m[f"one_object_ceiling/{name}"] == m[f"one_object_autoencoder/{name}"]
    assert m["one_object/shape"] > 0.8 and m["one_object/count"] == 1.0
    method.generate = lambda unet, prompts, *a, **k: torch.zeros(len(prompts), 3, 64, 64) + 0.5
    assert one_object_faithfulness(method, SimpleNamespace(device=torch.device("cpu")), num=30, start=40)["one_object/shape"] < 0.2


def test_the_card_measurement_says_what_it_draws_before_the_minutes_it_takes():
    from core.methods import get_method_class

    cls = get_method_class("text2image")
    note = cls(cls.config_class(eval_prompts=40, eval_one_object=8, sample_steps=10)).evaluation_note()
    assert "48 prompts drawn (10 DDIM steps each" in note and "0 skips" in note
    assert "48" not in cls(cls.config_class(eval_prompts=0, eval_one_object=8)).evaluation_note()
