"""The text-to-image tab's endpoint through the running app (``app_client`` from tests/conftest.py).

/text_to_image: prompt, negative_prompt, steps, guidance, seed, sampler, num_images, model -> (images, status,
classifier readout, attention maps, how it works).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

import pytest
from PIL import Image

from core.text2image.service import list_models

pytestmark = pytest.mark.skipif("t2i-clip-shapes" not in list_models(), reason="bundled t2i-clip-shapes missing")


def test_endpoint_has_named_parameters_and_runs_with_its_defaults(app_client):
    api = app_client.view_api(return_format="dict", print_info=False)
    names = [p["parameter_name"] for p in api["named_endpoints"]["/text_to_image"]["parameters"]]
    assert names == ["prompt", "negative_prompt", "steps", "guidance", "seed", "sampler", "num_images", "model",
                     "init_image", "strength"]
    images, status, readout, attention, story = app_client.predict(api_name="/text_to_image")
    assert len(images) == 1
    picture = np.asarray(Image.open(images[0]["image"]))
    assert picture.shape == (384, 384, 3) and picture.std() > 5
    # the status names the model that drew (another may be picked on the page while it draws)
    assert status.startswith("t2i-minilm-shapes, 25 ddim steps") and "red" in readout
    sheet = np.asarray(Image.open(attention))           # one map per word of "a large red circle", labelled below
    assert sheet.shape == (176, 4 * 156 - 6, 3)
    assert "&lt;start&gt; · a · large · red · circle · &lt;end&gt;" in story   # escaped: shown as text
    assert "(1, 40, 384)" in story  # the default model, t2i-minilm-shapes: 40 MiniLM tokens of 384-d hidden states


def test_same_seed_same_image_and_a_grid_of_images(app_client):
    kwargs = dict(prompt="a small blue star", steps=4, seed=11, api_name="/text_to_image")
    a = np.asarray(Image.open(app_client.predict(**kwargs)[0][0]["image"]))
    b = np.asarray(Image.open(app_client.predict(**kwargs)[0][0]["image"]))
    assert np.array_equal(a, b)
    images = app_client.predict(prompt="a large green heart", steps=2, num_images=3, sampler="euler",
                                model="t2i-minilm-shapes" if "t2i-minilm-shapes" in list_models() else "t2i-clip-shapes",
                                api_name="/text_to_image")[0]
    assert len(images) == 3


def test_bad_values_give_one_message_and_the_app_keeps_serving(app_client):
    from gradio_client.exceptions import AppError

    # the sliders' own bounds answer first (one line naming the control), then the service's checks
    for kwargs, message in [({"steps": 0}, r"0 is out of range.*\[1, 200\]"), ({"steps": 201}, r"201 is out of range"),
                            ({"guidance": 99}, r"99 is out of range.*\[0, 20\]"), ({"steps": 2.5}, "whole number"),
                            ({"seed": -5}, r"-5 is out of range"),
                            ({"sampler": "plms"}, r"sampler: 'plms' is not one of the choices \('ddim'"), ({"model": "../vae"}, "not allowed"),
                            ({"model": "autoencoder-shapes"}, "not a text-to-image pipeline"),
                            ({"model": "someone/sd-turbo"}, "offline"), ({"num_images": 20}, r"20 is out of range.*\[1, 8\]")]:
        with pytest.raises(AppError, match=message):
            app_client.predict(**kwargs, api_name="/text_to_image")
    long = app_client.predict(prompt="a large red circle " * 530, steps=2, api_name="/text_to_image")
    assert "the prompt was truncated" in long[1] and "negative" not in long[1]
    long_negative = app_client.predict(negative_prompt="blue " * 2000, steps=2, api_name="/text_to_image")[1]
    assert "the negative prompt was truncated" in long_negative and "the prompt was" not in long_negative
    assert re.search(r"limit of (32|40) tokens", long_negative), long_negative  # the encoder's, not the prompt's length
    empty = app_client.predict(prompt="", steps=2, api_name="/text_to_image")
    assert "unconditional" in empty[1]
    emoji = app_client.predict(prompt="ein Herz 🦄", steps=2, model="t2i-minilm-shapes", api_name="/text_to_image")
    assert len(emoji[0]) == 1 and "unknown to this model's tokenizer, read as [UNK]" in emoji[1]  # said, not silent
    clip = app_client.predict(prompt="ein Herz 🦄", steps=2, model="t2i-clip-shapes", api_name="/text_to_image")[1]
    assert "unknown" not in clip  # GenLab's byte-level tokenizer has no unknown token


def test_readme_example_runs_against_the_app(app_client, tmp_path, monkeypatch):
    """The README's gradio_client example for this tab, run as written (its start image: a drawn circle)."""
    from pathlib import Path

    from PIL import ImageDraw

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = readme.split("### Text-to-image", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    start = Image.new("RGB", (300, 200), "black")  # (another size and shape than the model's)
    ImageDraw.Draw(start).ellipse((100, 50, 200, 150), fill="red")
    start.save(tmp_path / "start.png")
    monkeypatch.chdir(tmp_path)
    scope = {"client": app_client}
    exec(compile(code, "README.md (Text-to-image)", "exec"), scope)
    assert len(scope["images"]) == 2 and "25 ddim steps" in scope["status"] and Image.open(scope["maps"]).size == (6 * 156 - 6, 2 * 182 - 6)
    assert len(scope["edited"]) == 1 and "from your image (strength 0.6): the last 15 of 25 ddim steps" in \
        scope["edit_status"]
    from gradio_client import handle_file

    for steps, strength, rounded_up in ((1, 0.05, True), (2, 0.3, True), (2, 0.5, False), (4, 0.25, False)):
        status = app_client.predict(prompt="a large blue circle", init_image=handle_file("start.png"), steps=steps,
                                    strength=strength, api_name="/text_to_image")[1]
        assert f"the last 1 of {steps} ddim step" in status, status
        assert ("is under one step, so one ran" in status) == rounded_up, status  # said when strength cannot apply


def test_the_model_note_names_every_attribute_measured_on_one_object_prompts():
    """The lead sentence of a bundled model says how often it gets each attribute right, the weak ones too (an
    attribute between "good" and "bad" used to vanish from it)."""
    import re

    from core.engine.notes import percent, read_metrics
    from core.text2image.service import checkpoint_note, resolve_checkpoint

    for name in ("t2i-minilm-shapes", "t2i-clip-shapes"):
        lead = checkpoint_note(name).split("\n")[0]
        metrics = read_metrics(resolve_checkpoint("text2image", name))
        prefix = "one_object/" if "one_object/shape" in metrics else "faithfulness_single/"
        single = {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith(prefix)}
        for attribute in set(single) - {"exact"}:
            assert re.search(rf"the {attribute} (right|only) {re.escape(percent(single[attribute]))}", lead), lead
        start = json.loads((resolve_checkpoint("text2image", name) / "train_config.json").read_text()).get("init_unet")
        origin = start and ("its earlier version" if Path(start).name == name else Path(start).name)
        assert (f"from the UNet of {origin}" in lead if start else "from the UNet" not in lead), lead  # said


def test_picking_a_model_sets_the_guidance_its_card_was_measured_with(tmp_path, monkeypatch):
    """The slider takes the model's ``sample_guidance`` (a model is measured, and drawn best, at its own w); a Stable
    Diffusion folder or hub id gets diffusers' 7.5; a config's odd value is clamped to the slider; a name that is not
    a model is said in the note, and the slider keeps its value."""
    from core.text2image.service import card_guidance, checkpoint_note
    from demos.common import note_or_reason, warn_and_keep

    def model_view(name):  # what the tab's two model.change events give the note and the slider
        return note_or_reason(checkpoint_note)(name), warn_and_keep(1)(card_guidance)(name)

    root = tmp_path / "text2image"
    for name, config in {"own": {"sample_guidance": 6.5, "sample_steps": 30}, "huge": {"sample_guidance": 1e9},
                         "nan": {"sample_guidance": float("nan")}, "sd": None}.items():
        (root / name).mkdir(parents=True)
        (root / name / "model_index.json").write_text("{}")
        if config is not None:
            (root / name / "train_config.json").write_text(json.dumps(config))
            (root / name / "genlab_text2image.json").write_text('{"text_encoder": "clip", "dataset": "shapes"}')
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path))
    note, w = model_view("own")
    assert w == 6.5 and "30 DDIM steps, guidance w = 6.5" in note
    assert model_view("huge")[1] == 20.0 and model_view("nan")[1] == 4.0
    assert model_view("sd")[1] == 7.5 and model_view("someone/stable-diffusion")[1] == 7.5
    monkeypatch.delenv("GENLAB_ONLINE", raising=False)
    assert "running offline, cannot download" in model_view("someone/stable-diffusion")[0]
    for bad in ("missing", "../etc", ""):
        note, w = model_view(bad)
        assert ("installed: huge, nan, own, sd" in note or "not allowed" in note) and w == {"__type__": "update"}, \
            (bad, note)


def test_a_lesson_run_measures_forty_prompts_not_the_cards_six_hundred(app_client):
    """The tab's training (and ``/train_text2image``) measures 20 + 20 prompts and 10 x 4 edits by default (the
    card's 200 + 400 prompts took 95 s after a 3-step run), and the counts are settings its status line can point at."""
    api = app_client.view_api(return_format="dict", print_info=False)
    defaults = {p["parameter_name"]: p["parameter_default"]
                for p in api["named_endpoints"]["/train_text2image"]["parameters"]}
    assert defaults["eval_prompts"] == 20 and defaults["eval_one_object"] == 20 and defaults["eval_edits"] == 10


def test_a_text_encoder_named_as_the_pickers_name_checkpoints_is_its_folder():
    """"clip-shapes" (a checkpoint's name, as every picker writes it) is checkpoints/text2image/clip-shapes (it was
    refused: only the folder was taken)."""
    from demos.text2image import served_text_encoder

    assert served_text_encoder({"text_encoder": " clip-shapes "}) == {
        "text_encoder": "checkpoints/text2image/clip-shapes"}
    assert served_text_encoder({"text_encoder": "checkpoints/text2image/clip-shapes"}) == {
        "text_encoder": "checkpoints/text2image/clip-shapes"}
    assert served_text_encoder({"text_encoder": "minilm"}) == {"text_encoder": "minilm"}
    with pytest.raises(ValueError, match="'checkpoints/text2image/t2i-clip-shapes' is not a CLIP checkpoint"):
        served_text_encoder({"text_encoder": "t2i-clip-shapes"})
    with pytest.raises(ValueError, match="under checkpoints/"):
        served_text_encoder({"text_encoder": ".."})


def test_a_training_through_the_app_reads_its_text_encoder_from_the_checkpoints_only(app_client):
    """``/train_text2image`` refuses a text encoder outside the server's checkpoints in one line, without reading the
    folder (its "is not a CLIP checkpoint" told whether a server path existed); nothing starts."""
    from gradio_client.exceptions import AppError

    for path in ("/etc", "../../etc", "checkpoints/../../etc"):
        with pytest.raises(AppError, match="'minilm' or a CLIP checkpoint folder under checkpoints/"):
            app_client.predict(run_name="nc-probe", text_encoder=path, steps=1, api_name="/train_text2image")
    # inside them, a folder that is no CLIP is named as typed (the message gave the server's full path)
    with pytest.raises(AppError, match="text_encoder: 'checkpoints/nothing' is not a CLIP checkpoint folder"):
        app_client.predict(run_name="nc-probe", text_encoder="checkpoints/nothing", steps=1,
                           api_name="/train_text2image")


def test_the_tab_opens_on_the_image_generate_draws_with_the_settings_shown(app_client):
    """After the warm-up the page opens on an image and its maps (it opened on an empty box): the image Generate draws
    with the page's opening settings (first example, seed 0, 25 steps, the card's w), and the status says when it was
    drawn. Without a warm-up a page load leaves the outputs as they are: it never waits for a model."""
    from core.engine import AppContext
    from core.text2image.service import card_guidance
    from demos.text2image import DEFAULT_MODEL, opened, warm_up

    ctx = AppContext()
    on_open = opened(ctx)  # (the tab's page-open event function)
    assert all(out == {"__type__": "update"} for out in on_open())  # gr.skip(): nothing drawn yet
    warm_up(ctx)
    images, status, readout, maps, story, state, steps = on_open()
    assert "drawn when the app started" in status and steps["maximum"] == 25 and maps is not None
    page = np.asarray(images[0][0])
    drawn = app_client.predict(guidance=card_guidance(DEFAULT_MODEL), api_name="/text_to_image")[0]
    assert np.array_equal(page, np.asarray(Image.open(drawn[0]["image"]).convert("RGB")))


def test_the_last_images_readout_and_maps_leave_with_the_first_preview():
    """While a new image forms, the readout and the cross-attention maps of the last one leave (the opening
    picture's "red ✓ · circle ✓" stood beside a pink square taking shape); the finished image brings its own."""
    from core.engine import AppContext
    from demos.text2image import DEFAULT_MODEL, text_to_image_frames

    frames = list(text_to_image_frames(AppContext(), "a large pink square", "", 4, 4.0, 0, "ddim", 1, DEFAULT_MODEL))
    skip = {"__type__": "update"}
    first, *between, last = frames
    assert first[2] == "" and first[3] is None                       # readout and maps cleared at once
    assert all(f[2] == skip and f[3] == skip for f in between)       # and left alone while it draws
    assert "pink" in last[2] and last[3] is not None
