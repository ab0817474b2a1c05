"""core/text2image: tokenizer, guidance, attention maps, the sampling loop against diffusers, save/load, training."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from tests.text2image_tiny import CAPTIONS, tiny_method, tiny_pipeline, tiny_tokenizer


def _run(pipe, prompt="a large red circle", negative="", steps=3, guidance=3.0, seed=0, sampler="ddim", num=1,
         attention=False):
    from core.text2image.service import check_request, generate

    return generate(pipe, check_request(prompt, negative, steps, guidance, seed, sampler, num), attention)


# ---------------------------------------------------------------- tokenizer
def test_tokenizer_round_trip_words_are_single_tokens_and_nothing_is_unknown(tmp_path):
    from transformers import CLIPTokenizer

    tok = tiny_tokenizer()
    ids = tok("a large red circle").input_ids
    assert tok.convert_ids_to_tokens(ids) == ["<|startoftext|>", "a</w>", "large</w>", "red</w>", "circle</w>",
                                              "<|endoftext|>"]
    tok.save_pretrained(tmp_path)
    again = CLIPTokenizer.from_pretrained(tmp_path)
    for text in CAPTIONS[:4] + ["a fluffy zebra 🦓 über", ""]:
        assert again(text).input_ids == tok(text).input_ids
    odd = tok.convert_ids_to_tokens(tok("zebra 🦓").input_ids)[1:-1]
    assert len(odd) > 2 and tok.unk_token not in odd[1:]      # unknown words fall apart into bytes, never <unk>
    assert tok.decode(tok("a zebra").input_ids, skip_special_tokens=True) == "a zebra"


def test_tokenizer_rejects_too_small_vocabulary():
    from core.text2image.tokenizer import train_clip_tokenizer

    with pytest.raises(ValueError, match="at least 514"):
        train_clip_tokenizer(CAPTIONS, 16, vocab_size=100)


# ---------------------------------------------------------------- guidance and data
def test_guidance_formula():
    from core.text2image.sampling import guided

    g = torch.Generator().manual_seed(0)
    u, c = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g)
    assert torch.equal(guided(u, c, 0.0), u)
    assert torch.allclose(guided(u, c, 1.0), c, atol=1e-6)
    assert torch.allclose(guided(u, c, 3.0), 3 * c - 2 * u, atol=1e-5)


def test_holdout_pairs_never_appear_in_training_scenes():
    from core.data.worlds.shapes import Shapes
    from core.text2image.data import HOLDOUT, CaptionedWorld, parse_holdout

    world = CaptionedWorld(Shapes("train", resolution=16), HOLDOUT, cache_items=300)
    pairs = set(parse_holdout(HOLDOUT))
    batch = world.world.get_batch(world.indices[:300].tolist())
    for table in batch["objects"]:
        assert not any(int(o[3]) and (int(o[0]), int(o[1])) in pairs for o in table)
    assert len(world) == 300 and world.get_batch([0, 299])["image"].shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="colour"):
        parse_holdout(["red zebra"])


# ---------------------------------------------------------------- attention maps
def test_attention_maps_are_distributions_over_tokens():
    pipe = tiny_pipeline()
    result = _run(pipe, "a large red circle", steps=3, guidance=3.0, attention=True)
    maps = result.attention                                  # (steps, L kept, h, w)
    assert maps.shape == (3, len(result.tokens), 8, 8)
    from core.text2image.attention import record_cross_attention

    with record_cross_attention(pipe.unet, (8, 8)) as store:
        pipe.unet(torch.randn(1, 4, 8, 8), 10, encoder_hidden_states=torch.randn(1, 16, 8))
        full = store.step_maps()
    assert full.shape == (1, 16, 8, 8)
    assert torch.allclose(full.sum(1), torch.ones(1, 8, 8), atol=1e-5)     # softmax over the 16 tokens
    assert maps.min() >= 0 and (maps.sum(1) <= 1 + 1e-5).all()             # the kept tokens' share
    assert not any(type(p).__name__ == "CrossAttentionRecorder" for p in pipe.unet.attn_processors.values())


def test_recording_attention_does_not_change_the_image():
    pipe = tiny_pipeline()
    a = _run(pipe, attention=False).images
    b = _run(pipe, attention=True).images
    assert torch.allclose(a, b, atol=1e-5)


# ---------------------------------------------------------------- sampling
@pytest.mark.parametrize("sampler", ["ddim", "dpm++", "euler", "ddpm"])
def test_same_seed_same_image_other_seed_other_image(sampler):
    pipe = tiny_pipeline()
    a, b, c = (_run(pipe, seed=s, sampler=sampler).images for s in (5, 5, 6))
    assert a.shape == (1, 3, 16, 16) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_one_step_and_the_maximum_of_steps_run():
    from core.text2image.service import MAX_STEPS

    pipe = tiny_pipeline()
    assert _run(pipe, steps=1).images.shape == (1, 3, 16, 16)
    assert torch.isfinite(_run(pipe, steps=MAX_STEPS, guidance=0.0).images).all()


def test_our_loop_gives_the_diffusers_pipeline_image_and_negative_prompt_is_used():
    from core.text2image.pipeline import sampling_scheduler

    pipe = tiny_pipeline()
    ours = _run(pipe, "a medium yellow heart", "a large red circle", steps=4, guidance=5.0, seed=3).images
    pipe.scheduler = sampling_scheduler(pipe, "ddim")
    theirs = pipe("a medium yellow heart", negative_prompt="a large red circle", num_inference_steps=4,
                  guidance_scale=5.0, generator=torch.Generator().manual_seed(3), output_type="pt",
                  height=16, width=16).images
    assert torch.allclose(ours, theirs, atol=1e-5)
    without = _run(pipe, "a medium yellow heart", "", steps=4, guidance=5.0, seed=3).images
    assert not torch.allclose(ours, without, atol=1e-4)


def test_real_stable_diffusion_layout_runs_through_the_service(tmp_path, monkeypatch):
    """A folder as StableDiffusionPipeline.save_pretrained writes it (PNDM scheduler, steps_offset 1)."""
    from core.text2image import service

    pipe = tiny_pipeline(scheduler="pndm")
    pipe.save_pretrained(tmp_path / "text2image" / "tiny-sd")
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path))
    assert service.list_models() == ["tiny-sd"]
    loaded = service.load_model("tiny-sd")
    for sampler in service.SAMPLERS:
        assert _run(loaded, sampler=sampler, steps=2).images.shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="offline"):
        service.load_model("someone/stable-diffusion")
    with pytest.raises(ValueError, match="unknown text-to-image model 'nope'; installed: tiny-sd$"):
        service.load_model("nope")
    with pytest.raises(ValueError, match="not allowed"):
        service.load_model("../vae")
    # the model box's note, its guidance and the X/Y grid name the same models as Generate (they listed every
    # folder: a text encoder's, an autoencoder's, which Generate then refused)
    (tmp_path / "text2image" / "clip-x").mkdir()
    for read in (service.load_model, service.checkpoint_note, service.card_guidance):
        with pytest.raises(ValueError, match="unknown text-to-image model 'nope'; installed: tiny-sd$"):
            read("nope")
        with pytest.raises(ValueError, match="clip-x is not a text-to-image pipeline .*; installed: tiny-sd$"):
            read("clip-x")
    assert "a diffusers pipeline folder" in service.checkpoint_note(" tiny-sd ")


def test_save_then_load_gives_the_same_image_in_genlab_and_in_diffusers(tmp_path):
    from diffusers import StableDiffusionPipeline

    from core.text2image.pipeline import load_pipeline, sampling_scheduler, save_pipeline

    pipe = tiny_pipeline()
    save_pipeline(pipe, tmp_path, {"dataset": "shapes"})
    assert json.loads((tmp_path / "genlab_text2image.json").read_text())["text_encoder"] == "clip"
    for part in ("unet", "vae", "text_encoder"):       # every weights folder points to the pipeline's card
        assert "../README.md" in (tmp_path / part / "README.md").read_text()
    again = load_pipeline(tmp_path)
    assert torch.equal(_run(pipe).images, _run(again).images)
    plain = StableDiffusionPipeline.from_pretrained(tmp_path, safety_checker=None)
    plain.scheduler = sampling_scheduler(plain, "ddim")
    theirs = plain("a large red circle", num_inference_steps=3, guidance_scale=3.0, output_type="pt",
                   generator=torch.Generator().manual_seed(0), height=16, width=16).images
    assert torch.allclose(theirs, _run(pipe).images, atol=1e-5)


def test_a_bundled_model_runs_in_diffusers_with_its_text_encoder_passed_in_as_the_readme_says():
    """A bundled folder leaves its frozen text encoder out (kept once, in the CLIP's folder; the README said
    from_pretrained(folder) alone ran it): with the README's text_encoder= it gives GenLab's image."""
    import transformers
    from diffusers import StableDiffusionPipeline

    from core.engine import resolve_checkpoint
    from core.text2image.pipeline import load_pipeline, sampling_scheduler

    folder = resolve_checkpoint("text2image", "t2i-clip-shapes")
    text_encoder = transformers.CLIPTextModel.from_pretrained(resolve_checkpoint("text2image", "clip-shapes"),
                                                              dtype=torch.float32)
    plain = StableDiffusionPipeline.from_pretrained(folder, text_encoder=text_encoder, safety_checker=None)
    plain.scheduler = sampling_scheduler(plain, "ddim")
    theirs = plain("a large red circle", num_inference_steps=3, guidance_scale=3.0, output_type="pt",
                   generator=torch.Generator().manual_seed(0)).images
    assert torch.allclose(theirs, _run(load_pipeline(folder)).images, atol=1e-4)


def test_a_folder_that_is_not_a_pipeline_is_refused(tmp_path):
    from core.text2image.pipeline import load_pipeline

    with pytest.raises(ValueError, match="model_index.json"):
        load_pipeline(tmp_path)
    (tmp_path / "model_index.json").write_text("{not json")
    with pytest.raises(ValueError, match="did not load"):
        load_pipeline(tmp_path)


# ---------------------------------------------------------------- bad prompts and values
def test_bad_prompts_and_values():
    from core.text2image.service import check_request

    pipe = tiny_pipeline()
    empty = _run(pipe, "")
    assert empty.tokens == ["<start>", "<end>"] and empty.truncated == 0
    long = _run(pipe, "a red circle " * 770)  # 10,010 characters
    assert long.truncated > 0 and len(long.tokens) == 16
    assert _run(pipe, "ein rotes Herz 🦄 ❤️ zebra").images.shape == (1, 3, 16, 16)
    for kwargs, message in [({"steps": 0}, "steps"), ({"steps": 1e9}, "steps"), ({"steps": 2.5}, "integer"),
                            ({"guidance": -1}, "guidance"), ({"guidance": float("nan")}, "guidance"),
                            ({"guidance": "3"}, "guidance"), ({"seed": -1}, "seed"), ({"seed": 2**40}, "seed"),
                            ({"sampler": "plms"}, "sampler"), ({"num_images": 0}, "number of images"),
                            ({"num_images": 99}, "number of images"), ({"prompt": 7}, "text"),
                            ({"prompt": "x" * 30_000}, "characters")]:
        with pytest.raises(ValueError, match=message):
            check_request(**{"prompt": "a red circle", **kwargs})


# ---------------------------------------------------------------- training
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


def test_hub_ids_load_only_online(monkeypatch):
    from app import parse_args
    from core.text2image import service

    assert parse_args(["--online"]).online and not parse_args([]).online
    monkeypatch.delenv("GENLAB_ONLINE", raising=False)
    with pytest.raises(ValueError, match="offline: start it with --online"):
        service.load_model("someone/stable-diffusion")
    monkeypatch.setenv("GENLAB_ONLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")   # no network in the tests: the download is attempted and fails
    with pytest.raises(ValueError, match="did not load as a Stable Diffusion pipeline"):
        service.load_model("someone/stable-diffusion")


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


def test_xy_grid_draws_each_model_at_its_card_guidance_and_says_what_every_cell_shares(tmp_path, monkeypatch):
    """"model x prompt": each model at the w its card was measured with (the slider's w is not used), the same image
    as /text_to_image at that w; the line under the grid names what the cells share."""
    from core.text2image.service import xy_grid

    for name, w in (("low", 1.5), ("high", 6.0)):
        (tmp_path / "text2image" / name).mkdir(parents=True)
        (tmp_path / "text2image" / name / "train_config.json").write_text(json.dumps({"sample_guidance": w}))
        (tmp_path / "text2image" / name / "model_index.json").write_text("{}")
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path))
    pipe = tiny_pipeline()
    rows, row_labels, col_labels, shared = xy_grid(lambda name: pipe, "model x prompt", "low; high", "a red circle",
                                                   "", "low", seed=2, steps=3, guidance=9.0)
    assert col_labels == ["low", "high"] and row_labels == ["a red circle"]
    for image, w in zip(rows[0], (1.5, 6.0)):
        assert torch.equal(image, _run(pipe, "a red circle", steps=3, guidance=w, seed=2).images[0])
    assert shared == "each model at its card's guidance (low: w = 1.5, high: w = 6), 3 ddim steps, seed 2"
    rows, _, col_labels, shared = xy_grid(lambda name: pipe, "seed x prompt", "0, 1", "a red circle", "", "low",
                                          steps=3, guidance=2.0)
    assert col_labels == ["seed 0", "seed 1"] and shared == "low, 3 ddim steps, w = 2"
    assert torch.equal(rows[0][1], _run(pipe, "a red circle", steps=3, guidance=2.0, seed=1).images[0])
    # a prompt past the encoder's limit: the line says so, as Generate's status does (the grid said nothing)
    long = " ".join(["a red circle"] * 10)
    shared = xy_grid(lambda name: pipe, "seed x prompt", "0", f"a red circle; {long}", "", "low", steps=1)[3]
    assert shared.count("was truncated") == 1
    assert "the prompt 'a red circle a red circle a red circle a…' was" in shared


def test_a_row_label_longer_than_its_row_ends_with_an_ellipsis():
    """A grid's row label (a 500-character prompt) cut at its row's height says it goes on."""
    from core.data.labelled import label_lines, wrap_text

    label = " ".join(f"word{i}" for i in range(60))
    lines = label_lines(label, width=20, most=3)
    assert lines[:2] == wrap_text(label, 20)[:2] and lines[2].endswith("…") and len(lines[2]) <= 20
    assert label_lines("a red circle", 20, 3) == ["a red circle"]
    assert label_lines("abcdefghij " * 3, 10, 2) == ["abcdefghij", "abcdefghi…"]


def test_the_card_measurement_says_what_it_draws_before_the_minutes_it_takes():
    from core.methods import get_method_class

    cls = get_method_class("text2image")
    note = cls(cls.config_class(eval_prompts=40, eval_one_object=8, sample_steps=10)).evaluation_note()
    assert "48 prompts drawn (10 DDIM steps each" in note and "0 skips" in note
    assert "48" not in cls(cls.config_class(eval_prompts=0, eval_one_object=8)).evaluation_note()
