"""core/lora: LoRA and textual inversion on a tiny pipeline, saved and loaded through diffusers' own loaders."""

from __future__ import annotations

import pytest
import torch

from tests.lora_tiny import tiny_images, train_tiny
from tests.text2image_tiny import tiny_pipeline


def test_lora_trains_saves_in_diffusers_format_and_reloads_to_the_same_image(tmp_path):
    from safetensors.torch import load_file

    from core.lora.service import generate_pair

    pipe = tiny_pipeline()
    folder, config, final, losses = train_tiny(pipe, tmp_path, steps=12)
    keys = list(load_file(folder / "pytorch_lora_weights.safetensors"))
    assert keys and all(k.startswith("unet.") and ".lora" in k for k in keys)
    assert sorted(p.name for p in folder.iterdir()) == ["adapter.json", "instances", "instances.png",
                                                        "pytorch_lora_weights.safetensors", "train_state.pt"]
    from core.data import load_user_image

    saved = torch.stack([load_user_image(p, channels=3, size=tiny_images().shape[-1])
                         for p in sorted((folder / "instances").iterdir())])
    assert torch.allclose(saved, tiny_images(), atol=1 / 255 + 1e-6)  # each taught image, for --reevaluate
    base, personal = generate_pair(pipe, "tiny", [(folder, 1.0)], config.prompt(), config.seed, steps=15, guidance=4.0)
    assert torch.allclose(personal, final, atol=1e-4)          # diffusers' loader gives the trained model's image
    assert not torch.allclose(base, personal, atol=1e-3)
    zero_base, zero = generate_pair(pipe, "tiny", [(folder, 0.0)], config.prompt(), 3)
    assert torch.equal(zero_base, zero)                          # scale 0 is the base image exactly
    untouched = tiny_pipeline()
    from core.text2image.service import check_request, generate

    assert torch.equal(zero_base, generate(untouched, check_request(config.prompt(), "", 25, 4.0, 3)).images[0])


def test_lora_training_lowers_the_loss_on_fixed_noise(tmp_path):
    from core.lora.train import _alphas_cumprod, _denoising_loss, encode_images
    from core.text2image.text_encoders import encode_prompts

    pipe = tiny_pipeline()
    folder, config, _, _ = train_tiny(pipe, tmp_path, steps=30)
    z0 = encode_images(pipe, tiny_images())
    cond = encode_prompts(pipe.tokenizer, pipe.text_encoder, [config.prompt()]).embeds
    ab = _alphas_cumprod(pipe)

    def fixed_loss():
        with torch.no_grad():
            return float(_denoising_loss(pipe.unet, z0.repeat(8, 1, 1, 1), cond, ab, torch.Generator().manual_seed(0)))

    before = fixed_loss()
    from core.lora.loading import apply_adapter

    name = apply_adapter(pipe, folder, "tiny")["loaded_name"]
    pipe.enable_lora()
    pipe.set_adapters([name], adapter_weights=[1.0])
    assert fixed_loss() < before


def test_two_adapters_combine_with_weights(tmp_path):
    from core.lora.service import generate_pair

    pipe = tiny_pipeline()
    a, config, _, _ = train_tiny(pipe, tmp_path, steps=6, name="a1")
    b, _, _, _ = train_tiny(pipe, tmp_path, steps=6, name="b2", seed=5)
    _, only_a = generate_pair(pipe, "tiny", [(a, 1.0)], config.prompt(), 0)
    _, both = generate_pair(pipe, "tiny", [(a, 1.0), (b, 0.7)], config.prompt(), 0)
    _, a_with_zero_b = generate_pair(pipe, "tiny", [(a, 1.0), (b, 0.0)], config.prompt(), 0)
    assert not torch.allclose(only_a, both, atol=1e-4)
    assert torch.allclose(only_a, a_with_zero_b, atol=1e-5)


def test_fused_lora_draws_the_same_image_and_unfusing_restores_the_base(tmp_path):
    """fuse_lora merges W + w B A into the UNet for one image; unfuse_lora takes it out again (diffusers)."""
    from core.lora.service import generate_pair

    pipe = tiny_pipeline()
    folder, config, _, _ = train_tiny(pipe, tmp_path, steps=8)
    weights = {k: v.clone() for k, v in pipe.unet.state_dict().items() if "lora" not in k}
    base, plain = generate_pair(pipe, "tiny", [(folder, 0.8)], config.prompt(), 2)
    base_f, fused = generate_pair(pipe, "tiny", [(folder, 0.8)], config.prompt(), 2, fuse=True)
    assert torch.allclose(fused, plain, atol=2e-3) and not torch.allclose(fused, base, atol=1e-3)
    assert torch.equal(base_f, base)
    after = {k.replace(".base_layer", ""): v for k, v in pipe.unet.state_dict().items() if "lora" not in k}
    assert all(torch.equal(after[k], w) for k, w in weights.items()), "the base weights came back, bit for bit"
    assert torch.equal(generate_pair(pipe, "tiny", [(folder, 0.8)], config.prompt(), 2)[1], plain)


def test_textual_inversion_saves_learned_embeds_that_load_textual_inversion_reads(tmp_path):
    from safetensors.torch import load_file

    from core.lora.service import generate_pair

    pipe = tiny_pipeline()
    vocab = len(pipe.tokenizer)
    folder, config, final, _ = train_tiny(pipe, tmp_path, method="textual_inversion", steps=10)
    assert len(pipe.tokenizer) == vocab                           # training used copies
    saved = load_file(folder / "learned_embeds.safetensors")
    assert list(saved) == ["<sks>"] and saved["<sks>"].shape == (8,)
    base, personal = generate_pair(pipe, "tiny", [(folder, 1.0)], config.prompt(), config.seed, steps=15, guidance=4.0)
    from core.lora.loading import loaded_name

    token_id = pipe.tokenizer.convert_tokens_to_ids(loaded_name(folder, "textual_inversion"))
    assert torch.equal(pipe.text_encoder.get_input_embeddings().weight[token_id], saved["<sks>"])
    assert torch.allclose(personal, final, atol=1e-4)
    # a second adapter trained with the same trigger keeps its own embedding; "SKS" and "<sks>" are the trigger too
    other, _, other_final, _ = train_tiny(pipe, tmp_path, method="textual_inversion", steps=10, name="other", seed=4)
    _, mine = generate_pair(pipe, "tiny", [(other, 1.0)], "a SKS circle", 4, steps=15, guidance=4.0)
    _, again = generate_pair(pipe, "tiny", [(other, 1.0)], "a <sks> circle", 4, steps=15, guidance=4.0)
    _, first_at_4 = generate_pair(pipe, "tiny", [(folder, 1.0)], "a sks circle", 4, steps=15, guidance=4.0)
    assert torch.allclose(mine, other_final, atol=1e-4) and torch.equal(mine, again)
    assert not torch.allclose(mine, first_at_4, atol=1e-4)


def test_bad_inputs(tmp_path):
    from safetensors.torch import save_file

    from core.lora import service

    for trigger, message in [("", "give a trigger"), ("   ", "give a trigger"), ("two words", "one word"),
                             ("x", "one word"), (None, "give a trigger")]:
        with pytest.raises(ValueError, match=message):
            service.check_settings(trigger)
    _, warnings = service.check_settings("circle", class_word="shape", base_vocab={"circle</w>": 5})
    assert warnings and "already knows" in warnings[0]
    for changes, message in [({"class_word": "SKS"}, "the trigger word and the class word are both 'sks'"),
                             ({"method": "textual_inversion", "prior_preservation": True},
                              "prior preservation goes with the lora method"),  # its loss reached no learned weight
                             ({"prior_preservation": "yes"}, "prior_preservation must be true or false")]:
        with pytest.raises(ValueError, match=message):
            service.check_settings("sks", **changes)
    with pytest.raises(ValueError, match="unknown method"):
        service.check_settings("sks", method="dreambooth-xl")
    assert service.check_settings("sks", rank=8)[0].alpha == 8.0          # alpha defaults to the rank (scale 1)
    assert service.check_settings("sks", rank=8, alpha=16)[0].alpha == 16.0
    for alpha, lr, message in [(0, None, "alpha 0 is outside"), (float("nan"), None, "alpha nan is outside"),
                               (None, 0.5, "learning rate 0.5 is outside"), (None, True, "learning rate True")]:
        with pytest.raises(ValueError, match=message):
            service.check_settings("sks", alpha=alpha, lr=lr)
    for files, message in [([], "got 0"), ([tmp_path / "a.png"], "got 1"), ([tmp_path / "a.png"] * 21, "at most 20")]:
        with pytest.raises(ValueError, match=message):
            service.load_images(files, 16)
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match="image 3"):
        from PIL import Image

        Image.new("RGBA", (300, 90), (255, 0, 0, 128)).save(tmp_path / "a.png")
        Image.new("I;16", (40, 40)).save(tmp_path / "b.png")
        assert service.load_images([tmp_path / "a.png", tmp_path / "b.png", tmp_path / "a.png"], 16).shape == (3, 3, 16, 16)
        service.load_images([tmp_path / "a.png", tmp_path / "b.png", tmp_path / "notes.png"], 16)
    pipe = tiny_pipeline()
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "adapter.json").write_text('{"method": "lora", "base": "tiny", "token": "sks"}')
    save_file({"not.a.lora.key": torch.zeros(2)}, str(fake / "pytorch_lora_weights.safetensors"))
    with pytest.raises(ValueError, match="does not fit"):
        service.generate_pair(pipe, "tiny", [(fake, 1.0)], "a sks circle", 0, steps=2)
    with pytest.raises(ValueError, match="trained for 'tiny'"):
        service.generate_pair(pipe, "t2i-clip-shapes", [(fake, 1.0)], "a sks circle", 0, steps=2)


def test_one_training_at_a_time(tmp_path):
    from core.lora import service

    config, _ = service.check_settings("sks", steps=2)
    running = service.train_adapter(tiny_pipeline(), "tiny", tiny_images(), config, tmp_path / "one")
    next(running)                                                 # the first is training
    with pytest.raises(ValueError, match="another personalization"):
        next(service.train_adapter(tiny_pipeline(), "tiny", tiny_images(), config, tmp_path / "two"))
    running.close()                                               # a closed stream frees the server
    assert list(service.train_adapter(tiny_pipeline(), "tiny", tiny_images(), config, tmp_path / "three"))[-1]["saved"]


def test_adapters_are_private_to_their_session_until_shared(tmp_path, monkeypatch):
    from core.lora import service

    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "ck"))
    monkeypatch.setattr(service.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    own = service.session_root("alice") / "mine"
    own.mkdir(parents=True)
    (own / "adapter.json").write_text("{}")
    assert service.list_adapters("alice") == ["mine"] and service.list_adapters("bob") == []
    with pytest.raises(ValueError, match="unknown adapter"):
        service.adapter_folder("mine", "bob")
    service.share_adapter("mine", "alice")
    assert service.list_adapters("bob") == ["mine"]
    with pytest.raises(ValueError, match="shared list"):
        service.delete_adapter("mine", "bob")
    service.delete_adapter("mine", "alice")
    assert service.list_adapters("alice") == ["mine"]            # the shared copy stays
    # sharing a shared adapter says it is shared (it said the list "already has an adapter named" it: a clash)
    with pytest.raises(ValueError, match="mine is on the shared list already"):
        service.share_adapter("mine", "alice")
    (service.session_root("bob") / "mine").mkdir(parents=True)
    (service.session_root("bob") / "mine" / "adapter.json").write_text("{}")
    with pytest.raises(ValueError, match="already has an adapter named 'mine': rename yours"):
        service.share_adapter("mine", "bob")
    with pytest.raises(ValueError, match="not allowed"):
        service.adapter_folder("../../etc", "alice")


def test_training_starts_from_the_base_even_with_adapters_loaded(tmp_path):
    """A second training on a pipeline that already holds (and has switched on) an adapter learns from the base; one
    whose adapter was switched off after a generation trains its own adapter switched on (the copy kept the layers
    off: the first step, and without keep_unconditional every step, trained through an adapter that was off)."""
    from core.lora.loading import apply_adapter
    from core.lora.service import generate_pair

    pipe = tiny_pipeline()
    first, _, _, _ = train_tiny(pipe, tmp_path, steps=4, name="first")
    _, _, alone, losses = train_tiny(tiny_pipeline(), tmp_path, steps=4, name="alone", seed=3, keep_unconditional=False)
    name = apply_adapter(pipe, first, "tiny")["loaded_name"]
    pipe.enable_lora()
    pipe.set_adapters([name], adapter_weights=[1.0])
    _, _, again, _ = train_tiny(pipe, tmp_path, steps=4, name="again", seed=3, keep_unconditional=False)
    assert torch.allclose(alone, again, atol=1e-5)
    generate_pair(pipe, "tiny", [(first, 1.0)], "a sks circle", 0)  # leaves the pipeline's LoRA switched off
    _, _, after, after_losses = train_tiny(pipe, tmp_path, steps=4, name="after", seed=3, keep_unconditional=False)
    assert torch.allclose(alone, after, atol=1e-5) and after_losses == pytest.approx(losses, rel=1e-5)


def test_the_example_concept_is_a_pair_the_base_models_never_saw():
    """Purple circles: one object each, the pair held out of the text-to-image training (so the base cannot know it),
    drawn in the world's own colours (so the autoencoder can)."""
    import json
    from pathlib import Path

    from core.data.worlds.shapes import COLOURS
    from core.lora.service import EXAMPLE_CONCEPT, example_concept
    from core.text2image.data import HOLDOUT

    images = example_concept()
    assert images.shape == (6, 3, 64, 64) and torch.equal(images, example_concept())   # deterministic
    assert " ".join(reversed(EXAMPLE_CONCEPT)) in HOLDOUT
    for name in ("t2i-clip-shapes", "t2i-minilm-shapes"):
        config = Path(__file__).resolve().parents[1] / "checkpoints" / "text2image" / name / "train_config.json"
        if config.is_file():
            assert "purple circle" in json.loads(config.read_text())["holdout"], name
    purple = torch.tensor(COLOURS["purple"]) / 255
    centre_pixels = (images - purple.view(1, 3, 1, 1)).abs().amax(1) < 0.02              # (6, 64, 64)
    assert all(int(m.sum()) > 20 for m in centre_pixels)                                 # a purple object in each


def test_a_text_encoder_lora_is_saved_beside_the_unet_one_and_reloads_to_the_trained_image(tmp_path):
    """train_text_encoder: diffusers' file holds text_encoder.* and unet.* LoRA tensors; load_lora_weights brings
    both back (the trained model's image), scale 0 is the base, fusing draws the same image."""
    from safetensors.torch import load_file

    from core.lora.loading import loaded_name
    from core.lora.service import check_settings, generate_pair

    pipe = tiny_pipeline()
    folder, config, final, _ = train_tiny(pipe, tmp_path, steps=10, train_text_encoder=True)
    tensors = load_file(folder / "pytorch_lora_weights.safetensors")
    assert any(k.startswith("unet.") for k in tensors)
    trained = [float(v.abs().sum()) for k, v in tensors.items()
               if k.startswith("text_encoder.") and ("lora_B" in k or ".up." in k)]
    assert trained and max(trained) > 0, "the text encoder's LoRA moved from its zero start"
    base, personal = generate_pair(pipe, "tiny", [(folder, 1.0)], config.prompt(), config.seed, steps=15, guidance=4.0)
    assert torch.allclose(personal, final, atol=1e-4)
    loaded = pipe.get_list_adapters().get("text_encoder", [])
    assert loaded_name(folder, "lora") in loaded, "diffusers loaded the text encoder's part"
    zero_base, zero = generate_pair(pipe, "tiny", [(folder, 0.0)], config.prompt(), 1)
    assert torch.equal(zero_base, zero)
    _, fused = generate_pair(pipe, "tiny", [(folder, 1.0)], config.prompt(), config.seed, steps=15, guidance=4.0,
                             fuse=True)
    assert torch.allclose(fused, personal, atol=2e-3)
    with pytest.raises(ValueError, match="goes with the lora method"):
        check_settings("sks", "circle", "textual_inversion", 4, 10, train_text_encoder=True)


def test_the_concept_reading_finds_the_instances_concept_and_not_random_scenes():
    """The classifier-side fidelity: most instances read as one concept; random world scenes rarely hold it."""
    from core.data.worlds.shapes import Shapes
    from core.lora.evaluate import concept_reading
    from core.lora.service import example_concept

    instances = example_concept()
    name, reads = concept_reading(instances)
    scenes = Shapes("test", seed=5).get_batch(list(range(100)))["image"]
    assert name.startswith("purple ") and reads[""](instances) >= 0.8 and reads["_colour"](instances) == 1.0
    assert reads[""](scenes) <= 0.1 and reads["_colour"](scenes) <= 0.4 and reads["_shape"](scenes) <= 0.4
