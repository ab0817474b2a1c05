"""core/text2image: tokenizer, guidance, attention maps, the sampling loop against diffusers, save/load, the
models a server lists, the X/Y grid (training and the card's measurements: test_text2image_training.py)."""

from __future__ import annotations

import json

import pytest
import torch

from tests.text2image_tiny import CAPTIONS, tiny_pipeline, tiny_tokenizer
from tests.text2image_tiny import generate_with as _run


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


@pytest.mark.parametrize("sampler", ["ddim", "euler", "ddpm"])
def test_image_to_image_gives_the_diffusers_img2img_image_and_runs_the_last_strength_of_the_steps(sampler):
    """A start image (img2img, SDEdit): the same seed gives StableDiffusionImg2ImgPipeline's images; strength runs
    the last int(steps x strength) steps, at least one (0.01 of 4 steps: diffusers refuses, here one step); a bad
    strength or image is refused in one line."""
    import numpy as np
    from diffusers import StableDiffusionImg2ImgPipeline

    from core.text2image.pipeline import sampling_scheduler
    from core.text2image.service import check_request, generate_stream

    pipe = tiny_pipeline()
    start = torch.randint(0, 256, (16, 16, 3), generator=torch.Generator().manual_seed(3), dtype=torch.uint8).numpy()
    i2i = StableDiffusionImg2ImgPipeline(**pipe.components)
    i2i.scheduler = sampling_scheduler(pipe, sampler)
    i2i.set_progress_bar_config(disable=True)
    for strength, steps_run in ((0.5, 2), (1.0, 4), (0.01, 1)):
        frames = list(generate_stream(pipe, check_request("a large red circle", "", 4, 3.0, 0, sampler, 2,
                                                          init_image=start, strength=strength), preview_every=1))
        assert frames[0]["num_steps"] == steps_run
        ours = frames[-1]["result"].images
        if strength >= 0.5:
            theirs = i2i("a large red circle", image=torch.from_numpy(start).permute(2, 0, 1)[None] / 255.0,
                         strength=strength, num_inference_steps=4, guidance_scale=3.0, output_type="pt",
                         num_images_per_prompt=2, generator=torch.Generator().manual_seed(0)).images
            assert torch.allclose(ours, theirs, atol=1e-4), (strength, (ours - theirs).abs().max())
    assert not torch.equal(ours[0], ours[1])  # (each image its own noise)
    with pytest.raises(ValueError, match="strength 0 is outside 0..1"):
        check_request("a", init_image=start, strength=0)
    with pytest.raises(ValueError, match="strength 1.5 is outside 0..1"):
        check_request("a", init_image=start, strength=1.5)
    assert check_request("a", init_image=start, strength=None).strength == 0.6  # None: the default
    with pytest.raises(ValueError, match="not a readable image"):
        list(generate_stream(pipe, check_request("a", init_image=b"not an image", strength=0.5)))
    assert np.isfinite(ours.numpy()).all()


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


def test_the_readout_ticks_a_word_only_when_the_classifier_reads_the_scene_asked_for(monkeypatch):
    """Noise read as 3 objects in 5 colours got "blue ✓ · star ✓" for "a small blue star": a reading of another number
    of objects, or of more shapes or colours than the prompt names objects, ticks no word; a one-object reading is
    ticked word by word, and counts are singular or plural as they should be."""
    import core.metrics
    from core.data.worlds.shapes import COLOUR_NAMES, SHAPES
    from core.engine import list_checkpoints
    from core.text2image.views import asked_attributes, classifier_readout

    if "shapes" not in list_checkpoints("classifier"):
        pytest.skip("the bundled shapes classifier is missing")

    def reading(shapes, colours, count):
        p = torch.zeros(17)
        for s in shapes:
            p[SHAPES.index(s)] = 1
        for c in colours:
            p[8 + COLOUR_NAMES.index(c)] = 1
        p[16] = count - 1
        return p

    readings = [reading(["star", "cross", "diamond"], ["yellow", "green", "blue", "purple", "pink"], 3),
                reading(["star"], ["blue"], 1), reading(["circle"], ["blue"], 1)]
    monkeypatch.setattr(core.metrics, "load_classifier", lambda *a, **k: None)
    monkeypatch.setattr(core.metrics, "predict", lambda images, classifier=None: torch.stack(readings))
    lines = classifier_readout(torch.zeros(3, 3, 8, 8), "a small blue star").splitlines()
    assert lines[1].startswith("- image 1: 3 objects;") and "✓" not in lines[1]
    assert "asked for 1 object: it reads another scene" in lines[1]
    assert lines[2].startswith("- image 2: 1 object;") and lines[2].endswith("asked: blue ✓ · star ✓")
    assert lines[3].endswith("asked: blue ✓ · star ✗")
    assert asked_attributes("a red circle to the left of a blue circle")["objects"] == 2


def test_a_small_image_is_enlarged_with_crisp_pixels():
    """64 px shown 384 px wide: 6 x 6 blocks of one colour (bicubic looked out of focus on a projector); a size that
    is not a whole multiple is resampled smoothly."""
    import numpy as np

    from core.text2image.views import to_pil

    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    big = np.asarray(to_pil(image, 384)).astype(int)
    assert big.shape == (384, 384, 3) and (big.reshape(64, 6, 64, 6, 3).std(axis=(1, 3)) == 0).all()
    assert np.array_equal(big[::6, ::6], np.asarray(to_pil(image, 64)))
    assert np.asarray(to_pil(image, 160)).reshape(-1, 3).std(0).min() > 0 and to_pil(image, 160).size == (160, 160)
