"""The LoRA tab's endpoints through the running app (``app_client`` from tests/conftest.py).

/lora_train: images, trigger, method, class_word, steps, rank, prior_preservation, seed, use_example, model
    -> (status, loss table, validation gallery, adapter name); /lora_continue: adapter, steps, admin_token -> the
    same; /lora_generate: adapter, prompt, scale, seed,
    second_adapter, second_weight -> (base image, personalised image, line).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.text2image.service import list_models

pytestmark = pytest.mark.skipif("t2i-clip-shapes" not in list_models(), reason="bundled t2i-clip-shapes missing")


def _names(app_client, endpoint):
    api = app_client.view_api(return_format="dict", print_info=False)
    return [p["parameter_name"] for p in api["named_endpoints"][endpoint]["parameters"]]


def test_train_then_generate_through_the_app(app_client, tmp_path):
    from gradio_client import handle_file

    assert _names(app_client, "/lora_train") == ["images", "trigger", "method", "class_word", "steps", "rank",
                                                 "prior_preservation", "seed", "use_example", "model",
                                                 "admin_token", "train_text_encoder"]
    assert _names(app_client, "/lora_generate") == ["adapter", "prompt", "scale", "seed", "second_adapter",
                                                    "second_weight", "fuse"]
    paths = []
    for k, colour in enumerate([(250, 250, 250), (240, 240, 235), (255, 255, 250)]):
        image = Image.new("RGB", (50 + 40 * k, 64), (90, 90, 100))
        image.paste(colour, (10, 10, 40, 50))
        image.save(tmp_path / f"{k}.png")
        paths.append(handle_file(str(tmp_path / f"{k}.png")))
    status, _, _, name = app_client.predict(images=paths, trigger="zqx", method="lora", steps=3, use_example=False,
                                            api_name="/lora_train")
    assert name == "zqx-lora-1" and "saved" in status
    base, personal, line = app_client.predict(adapter=name, prompt="a zqx circle", scale=0.0, api_name="/lora_generate")
    assert np.array_equal(np.asarray(Image.open(base)), np.asarray(Image.open(personal)))   # scale 0: the base
    assert "LoRA scale 0" in line
    # Train more: the same adapter goes on from step 3 on its own images; its curve holds every step
    assert _names(app_client, "/lora_continue") == ["adapter", "steps", "admin_token"]
    _, at_three, _ = app_client.predict(adapter=name, prompt="a zqx circle", api_name="/lora_generate")
    status, plot, _, again = app_client.predict(adapter=name, steps=2, api_name="/lora_continue")
    assert again == name and f"saved **{name}** (5 steps" in status
    assert [row[0] for row in plot["data"]] == [1, 2, 3, 4, 5]
    _, at_five, _ = app_client.predict(adapter=name, prompt="a zqx circle", api_name="/lora_generate")
    assert not np.array_equal(np.asarray(Image.open(at_three)), np.asarray(Image.open(at_five)))  # the new weights
    # a shared adapter (bundled: no optimizer state) continues into one of the visitor's own; the shared one stays
    status, _, _, copy = app_client.predict(adapter="purple-circle-lora", steps=1, api_name="/lora_continue")
    assert copy == "purple-circle-lora-1" and "(301 steps" in status and "Adam's moments start afresh" in status
    with pytest.raises(Exception, match="unknown adapter"):
        app_client.predict(adapter="nope", steps=1, api_name="/lora_continue")


def test_bad_requests_get_one_message(app_client):
    from gradio_client.exceptions import AppError

    for kwargs, message in [({"use_example": False}, "got 0"), ({"trigger": "   "}, "give a trigger"),
                            ({"trigger": "two words"}, "one word"), ({"class_word": None}, "give a class word")]:
        with pytest.raises(AppError, match=message):
            app_client.predict(steps=1, **kwargs, api_name="/lora_train")
    with pytest.raises(AppError, match="unknown adapter"):
        app_client.predict(adapter="nobody-has-this", api_name="/lora_generate")
    # the control named by its label without its usage note "(0 = the base image; ...)"
    with pytest.raises(AppError, match=r"^LoRA scale \(API: scale\): 1.55 is out of range"):
        app_client.predict(adapter="purple-circle-lora", scale=1.55, api_name="/lora_generate")
    with pytest.raises(AppError, match="choose an adapter"):
        app_client.predict(adapter="", api_name="/lora_generate")
    with pytest.raises(AppError, match="second adapter: unknown adapter 'nobody'"):
        app_client.predict(adapter="purple-circle-lora", second_adapter="nobody", api_name="/lora_generate")
    with pytest.raises(AppError, match="class word 'x{40}'… must be one plain word") as info:
        app_client.predict(steps=1, class_word="x" * 10_000, api_name="/lora_train")
    assert len(str(info.value)) < 200


def test_generate_says_what_it_could_not_do(app_client):
    """A textual-inversion adapter ignores the LoRA scale and fuse, and a prompt past the encoder's limit is cut:
    the status line says so (the images came back without a word)."""
    _, ti_zero, line = app_client.predict(adapter="purple-circle-ti", scale=0.0, api_name="/lora_generate")
    _, ti_one, _ = app_client.predict(adapter="purple-circle-ti", scale=1.0, api_name="/lora_generate")
    assert "do not apply to a textual-inversion adapter" in line
    assert open(ti_zero, "rb").read() == open(ti_one, "rb").read()          # what the note says
    line = app_client.predict(adapter="purple-circle-lora", prompt="a sks circle " * 100, api_name="/lora_generate")[2]
    assert "the prompt was truncated" in line
    line = app_client.predict(adapter="purple-circle-lora", api_name="/lora_generate")[2]
    assert "truncated" not in line and "do not apply" not in line and "trigger word" not in line
    line = app_client.predict(adapter="purple-circle-lora", prompt=" ", api_name="/lora_generate")[2]
    assert "the prompt is empty**: write the trigger word 'sks' in it" in line  # (it said "does not contain")
    # a textual-inversion second adapter is used whole: the line said "at weight 0" over the same image as at 1.5
    images = []
    for weight in (0.0, 1.5):
        _, personal, line = app_client.predict(adapter="purple-circle-lora", second_adapter="purple-circle-ti",
                                               second_weight=weight, api_name="/lora_generate")
        assert "a textual-inversion adapter: its new word is used whole (the weight does not apply)" in line
        # and the base image's prompt, changed by it, is said (the base image changed without a word)
        assert 'the base image reads "a circle circle": a textual-inversion word is new to the base model' in line
        images.append(open(personal, "rb").read())
    assert images[0] == images[1]
    line = app_client.predict(adapter="purple-circle-lora", api_name="/lora_generate")[2]
    assert "the base image reads" not in line


def test_the_compare_side_opens_on_the_pair_generate_draws_with_the_settings_shown(app_client):
    """After the warm-up the Compare side opens on the default adapter's base and personalised images (two empty
    boxes before): the pair /lora_generate draws with its defaults, which are the page's; without a warm-up a page
    load leaves the boxes as they are."""
    from core.engine import AppContext
    from demos.common import opening_view
    from demos.lora import METHOD, warm_up

    ctx = AppContext()
    assert all(out == {"__type__": "update"} for out in opening_view(ctx, METHOD, 3)())
    warm_up(ctx)
    base, personal, line = opening_view(ctx, METHOD, 3)()
    assert line.startswith("purple-circle-lora on t2i-clip-shapes: LoRA scale 1") and "app started" in line
    drawn = app_client.predict(api_name="/lora_generate")  # the endpoint's defaults: the page's opening settings
    for shown, sent in zip((base, personal), drawn[:2]):
        assert np.array_equal(np.asarray(shown.convert("RGB")), np.asarray(Image.open(sent).convert("RGB")))


def test_adapters_of_two_base_models_are_refused_together(app_client):
    """The message asked to "pick that model", with no model control on the Compare side."""
    from gradio_client.exceptions import AppError

    if "t2i-minilm-shapes" not in list_models():
        pytest.skip("bundled t2i-minilm-shapes missing")
    _, _, _, name = app_client.predict(trigger="zvq", method="lora", steps=1, use_example=True,
                                       model="t2i-minilm-shapes", api_name="/lora_train")
    with pytest.raises(AppError, match=f"{name} and purple-circle-lora were trained on different base models "
                                       r"\(t2i-minilm-shapes, t2i-clip-shapes\)"):
        app_client.predict(adapter=name, second_adapter="purple-circle-lora", api_name="/lora_generate")


def test_readme_example_runs_against_the_app(app_client):
    """The README's gradio_client example for this tab, run as written."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = readme.split("### LoRA", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    scope = {"client": app_client}
    exec(compile(code, "README.md (LoRA)", "exec"), scope)
    assert scope["name"].startswith("sks-ti-") and "textual inversion" in scope["line"]
    assert "(30 steps" in scope["status"]  # trained 20, then 10 more
    assert Image.open(scope["base"]).size == Image.open(scope["personal"]).size == (256, 256)
    assert "fused into the UNet's weights" in scope["fused_line"] and Image.open(scope["fused"]).size == (256, 256)


def test_five_hundred_uploads_get_one_message_and_mixed_sizes_train(app_client, tmp_path):
    """A class that drops a whole folder: one line, nothing decoded; a mix of sizes and modes is converted and learnt."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (8, 8), (200, 40, 40)).save(tiny)
    with pytest.raises(AppError, match="500 images: at most 20"):
        app_client.predict(images=[handle_file(str(tiny))] * 500, steps=1, use_example=False, api_name="/lora_train")
    mixed = []
    for k, (size, mode) in enumerate([((30, 90), "RGB"), ((400, 120), "L"), ((64, 64), "RGBA"), ((5, 7), "P")]):
        path = tmp_path / f"m{k}.png"
        Image.new(mode, size, 120).save(path)
        mixed.append(handle_file(str(path)))
    # use_example left at its default (True): the images given are what it learns, and the status says so
    status, _, shots, name = app_client.predict(images=mixed, trigger="qzv", steps=1, api_name="/lora_train")
    assert "saved" in status and name.startswith("qzv-") and "your images, not the built-in example" in status
    assert 4 <= len(shots) <= 5, shots   # the four uploads (and a validation image), not the example's six


@pytest.mark.parametrize("allow_train, public", [(True, False), (False, False), (True, True)])
def test_try_this_asks_to_train_only_where_visitors_may(allow_train, public):
    """A --no-train or public server's LoRA tab: its "Try this" steps use the bundled adapters, and its Train button
    is off under --no-train (on a public server the owner trains with the admin token)."""
    import gradio as gr

    from app import build_demo

    demo = build_demo(device="cpu", allow_train=allow_train, public=public)
    texts = [b.value or "" for b in demo.blocks.values() if isinstance(b, gr.Markdown)]
    asks_to_train = any("press **Train**" in t for t in texts)
    assert asks_to_train == (allow_train and not public)
    assert any("Pick the adapter **purple-circle-lora**" in t for t in texts) == (not asks_to_train)
    train = [b for b in demo.blocks.values() if isinstance(b, gr.Button) and b.value == "Train"]
    assert len(train) == 1 and train[0].interactive is allow_train


def test_a_lora_training_is_named_to_the_visitors_who_wait_for_the_slot():
    """The training panels' waiting line reads ``_NOW``: a LoRA run holds the same one slot and names itself there
    (the panels said "starting…" for as long as they waited behind it)."""
    from types import SimpleNamespace

    from demos.lora_training import _train_events
    from demos.training_queue import _NOW, holding_the_slot

    config = SimpleNamespace(steps=20, prompt=lambda: "a zqx circle")
    events = [{"step": k, "steps": 20, "loss": 0.5} for k in range(1, 21)]
    with holding_the_slot("visitor-1", "lora", "LoRA adapter zqx-lora-1, starting") as progress:
        assert _NOW[("visitor-1", "lora")] == ["LoRA adapter zqx-lora-1, starting"]
        frames = _train_events(iter(events), "zqx-lora-1", config, "", [], [], progress)
        next(frames)  # step 10: the first status line
        assert _NOW[("visitor-1", "lora")][0].startswith("LoRA adapter zqx-lora-1, step 10 of 20, about")
    assert ("visitor-1", "lora") not in _NOW  # the slot is free again


def test_train_mores_loss_chart_spans_the_adapters_steps_before_and_after_the_run():
    """Train more's chart on the page ends at the adapter's steps plus the steps asked for (fitted to the steps so far,
    its axis stretched at every frame); an unknown adapter or bad steps leave the chart to the run's own message."""
    import json
    from pathlib import Path

    from demos.lora_training import steps_after

    meta = json.loads(Path("checkpoints/lora/purple-circle-lora/adapter.json").read_text())
    assert steps_after("visitor-1", "purple-circle-lora", 200) == meta["steps"] + 200
    assert steps_after("visitor-1", "purple-circle-lora", "50") == meta["steps"] + 50
    assert steps_after("visitor-1", "nope", 200) is None
    assert steps_after("visitor-1", "purple-circle-lora", "many") is None
    assert steps_after("visitor-1", None, 200) is None
