"""The StyleGAN tab's plain functions (no server): projection of uploads of any size and mode, mixing the
projection, presets and layer layouts, with a tiny checkpoint in a temporary checkpoints/ folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.engine import AppContext


@pytest.fixture()
def ctx(tmp_path, monkeypatch):
    from core.stylegan.generator import Generator

    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path))
    torch.manual_seed(0)
    Generator(resolution=16, z_dim=8, w_dim=8, mapping_layers=2, channels=[16, 8, 8]).save_pretrained(
        tmp_path / "stylegan" / "tiny")
    return AppContext()


@pytest.mark.parametrize("image", [
    Image.new("RGBA", (300, 7), (255, 0, 0, 128)),
    Image.new("L", (5, 5), 128),
    Image.new("P", (64, 64)),
    Image.new("I;16", (33, 20)),
    np.zeros((40, 30), dtype=np.uint8),
])
def test_projection_accepts_any_size_and_mode(ctx, image):
    from core.stylegan.service import mix_projection, project_stream

    reports = list(project_stream(ctx, "tiny", image, "w+", 20))
    view, target, status, ws = reports[-1]
    assert "done" in status and ws.shape == (1, 6, 8)
    assert target.size == view.size
    mixed = mix_projection(ctx, "tiny", ws, 3, [0, 1], 1.0, "const", 0)
    assert isinstance(mixed, Image.Image)


def test_projection_errors(ctx):
    from core.stylegan.service import mix_projection, project_stream

    with pytest.raises(ValueError, match="upload an image"):
        next(project_stream(ctx, "tiny", None, "w", 20))
    with pytest.raises(ValueError, match="projection space"):
        next(project_stream(ctx, "tiny", Image.new("RGB", (8, 8)), "z", 20))
    with pytest.raises(ValueError, match="project an image first"):
        mix_projection(ctx, "tiny", None, 3, [0], 1.0, "const", 0)
    with pytest.raises(ValueError, match="not a readable image|cannot identify|image"):
        next(project_stream(ctx, "tiny", b"not an image", "w", 20))


def test_layer_layout_and_presets(ctx):
    from core.stylegan.service import PRESETS, layer_layout, preset_layers

    choices, groups, num_ws = layer_layout("tiny")
    assert num_ws == 6 and [v for _, v in choices] == list(range(6))
    assert groups == {"coarse": [0, 1, 2], "middle": [3, 4, 5], "fine": [], "middle + fine": [3, 4, 5],
                      "8 px and up": [1, 2, 3, 4, 5], "none": []}
    assert tuple(groups) == PRESETS  # the radio's choices are the measured layer sets
    assert preset_layers("tiny", "none") == []
    assert preset_layers("tiny", "middle + fine") == [3, 4, 5] and preset_layers("tiny", "coarse") == [0, 1, 2]
    with pytest.raises(ValueError, match="preset"):
        preset_layers("tiny", "everything")


def test_grid_and_gif(ctx):
    from core.stylegan.service import grid_image, interpolation_gif

    grid, note = grid_image(ctx, "tiny", "1, 2, 3", "4,5", [0, 1], 0.7, 0, "random", 3)
    assert grid.width >= 3 * 18 and "Rows: seeds A" in note
    path = interpolation_gif(ctx, "tiny", 1, 2, "z", "slerp", 6, 1.0, "none", 0)
    with Image.open(path) as gif:
        assert gif.n_frames == 10  # 6 frames forth, 4 back
    with pytest.raises(ValueError, match="unknown stylegan checkpoint"):
        grid_image(ctx, "missing", "1", "2", [], 1.0, 0, "const", 0)


@pytest.mark.parametrize("noise_mode", ["const", "random", "none"])
def test_all_views_in_one_batch_equal_the_single_endpoints(ctx, noise_mode):
    """The psi / cutoff / noise controls redraw A, B and the mix in one batch; it must match the endpoints."""
    from core.stylegan.service import all_views, generate_image, mix_image

    args = (0.7, 2, noise_mode, 5)
    a, b, m = all_views(ctx, "tiny", 3, 4, "0, 1", *args)
    assert np.array_equal(np.asarray(a), np.asarray(generate_image(ctx, "tiny", 3, *args)))
    assert np.array_equal(np.asarray(b), np.asarray(generate_image(ctx, "tiny", 4, *args)))
    assert np.array_equal(np.asarray(m), np.asarray(mix_image(ctx, "tiny", 3, 4, [0, 1], *args)))
    assert not np.array_equal(np.asarray(a), np.asarray(m))


def test_checkpoint_note_reports_what_training_measured(ctx, tmp_path):
    import json

    from core.stylegan.service import checkpoint_note

    folder = tmp_path / "stylegan" / "tiny"
    assert checkpoint_note("tiny") == ""  # nothing measured: no claim
    (folder / "train_config.json").write_text(json.dumps({"steps": 12000, "dataset": "faces"}))
    # a run stopped before its measurement: what it is, and that it is not measured (a visitor's model had no note)
    unmeasured = checkpoint_note("tiny")
    assert unmeasured.startswith("**tiny**: a StyleGAN2 trained") and "not measured" in unmeasured, unmeasured
    nan = float("nan")
    transfer = {"coarse": {"head_shape": {"B": 0.6, "A": 0.3}, "hair_style": {"B": 0.5, "A": 0.4},
                           "pose": {"B": 0.9, "A": 0.05}},
                "8 px and up": {"head_shape": {"B": 0.25, "A": 0.6}, "hair_style": {"B": nan, "A": nan},
                                "pose": {"B": 0.1, "A": 0.85}, "background": {"B": 0.8, "A": 0.1},
                                "hair_colour": {"B": 0.7, "A": 0.2}, "shirt_colour": {"B": 0.9, "A": 0.0}},
                "middle": {"head_shape": {"B": 0.1, "A": 0.9}, "pose": {"B": 0.0, "A": 1.0},
                           "background": {"B": 0.3, "A": 0.6}, "skin_tone": {"B": 0.4, "A": 0.5}}}
    (folder / "metrics.json").write_text(json.dumps({"fid": 812.4, "fid_real_train_vs_test": 23.2,
                                                     "mixing_pairs": 500, "mixing_transfer": transfer}))
    from core.stylegan.service import recommended_preset

    # split scores: coarse NaN (no colour measured), 8 px and up min(0.725, 0.8), middle min(0.95, 0.35)
    assert recommended_preset("tiny") == "8 px and up" and recommended_preset("missing") == "8 px and up"
    def parts(note):  # (the plain lead sentence, the figures behind the details toggle)
        lead, details = note.split("<details><summary>measured figures</summary>")
        assert details.rstrip().endswith("</details>")
        return lead, details.replace("</details>", "").strip()

    for preset in (None, "coarse", "none", "8 px and up"):  # the cleanest split when the preset says nothing new
        lead, details = parts(checkpoint_note("tiny", preset))
        assert lead.strip() == ("**tiny**: a StyleGAN2 trained 12,000 steps on cartoon faces. Its cleanest split of "
                                "A's shapes from B's colours is **8 px and up**.")
        assert "12,000 training steps" in details and "FID 812" in details and "gives 23" in details
        coarse, later = details.split("**8 px and up**")
        assert "B's pose 90 %, hair style 50 %, head shape 60 %" in coarse
        assert "B's background 80 %, shirt colour 90 %, hair colour 70 % and keeps A's pose 85 %, head shape 60 %" \
            in later
        assert "hair style" not in later  # NaN: no pair differed, no claim
    lead, details = parts(checkpoint_note("tiny", "middle"))  # the chosen preset's numbers; the lead still names the best
    assert "**middle** it shows B's background 30 % and keeps A's pose 100 %, head shape 90 %" in details
    assert "cleanest split of A's shapes from B's colours is **8 px and up**" in lead
    # a model whose best split is poor says so (a thin model's 30 % was called its "cleanest split", over a mix that
    # showed B wearing A's glasses)
    poor = json.loads((folder / "metrics.json").read_text())
    poor["mixing_transfer"]["8 px and up"]["background"] = {"B": 0.4, "A": 0.5}
    poor["mixing_transfer"]["8 px and up"]["shirt_colour"] = {"B": 0.3, "A": 0.6}
    (folder / "metrics.json").write_text(json.dumps(poor))   # 8 px and up: min(0.725, 0.467); middle: 0.35
    lead, _ = parts(checkpoint_note("tiny"))
    assert "cleanest" not in lead and "do not split A's shapes from B's colours cleanly" in lead
    assert "with the best preset, **8 px and up**, the mix keeps A's shapes, or takes B's colours, in only about 47 %" \
        in lead
    (folder / "metrics.json").write_text(json.dumps({"fid": 812.4, "fid_real_train_vs_test": 23.2,
                                                     "mixing_pairs": 500, "mixing_transfer": transfer}))
    from core.stylegan.service import crossover_markdown

    assert crossover_markdown("tiny").startswith("Not measured")
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["mixing_crossover"] = {"w1-w5": transfer["8 px and up"], "w2-w5": transfer["8 px and up"]}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    table = crossover_markdown("tiny")
    assert "500 seed pairs" in table and "| w1-w5 from B | w2-w5 from B |" in table
    assert "| pose | 10 / 85 | 10 / 85 |" in table and "| hair style | - / - | - / - |" in table
    assert "under-draw" not in checkpoint_note("tiny")  # no coverage measured: no claim
    metrics["attribute_coverage"] = {
        "pose": {"values": ["frontal", "turned left", "turned right"], "real": [0.34, 0.32, 0.34],
                 "generated": [0.73, 0.07, 0.20], "tv": 0.39},
        "glasses": {"values": ["none", "round", "square"], "real": [0.5, 0.25, 0.25],
                    "generated": [0.45, 0.3, 0.25], "tv": 0.05}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    note = parts(checkpoint_note("tiny"))[1]
    # only shortfalls of 10 points or more, the largest first
    assert note.endswith(" Its samples under-draw pose *turned left* (7 % vs 32 % of real images), pose *turned right* "
                         "(20 % vs 34 % of real images); the model card has the coverage table.")
    metrics["attribute_coverage"] = {"pose": {"values": ["frontal"]}}  # malformed: the note stays quiet
    (folder / "metrics.json").write_text(json.dumps(metrics))
    assert "under-draw" not in checkpoint_note("tiny") and "FID 812" in checkpoint_note("tiny")
    assert checkpoint_note("../../etc") == "" and checkpoint_note(None) == ""
    assert recommended_preset("../../etc") == recommended_preset(None) == "8 px and up"


def test_a_layer_ticked_by_hand_selects_the_preset_it_equals_or_none():
    from core.stylegan.service import PRESETS, preset_layers, preset_of_layers

    name = "stylegan-faces64"  # its config.json alone gives the layout
    for preset in PRESETS:
        layers = preset_layers(name, preset)
        assert preset_layers(name, preset_of_layers(name, layers)) == layers
        assert preset_of_layers(name, [f"{i}: label" for i in layers]) is not None  # checkbox labels work too
    assert preset_of_layers(name, [0, 5]) is None


def test_a_checkpoint_switch_empties_only_the_views_of_another_checkpoint():
    """A switch's handlers reach the server one after another: the one emptying the views came, under load, after a
    Project clicked just after the switch. Views made with the checkpoint now picked stay; the others leave, with
    what they were made with, and the status says why only when there was a projection."""
    import gradio as gr

    from demos.stylegan import forget_the_last_model

    ws = torch.zeros(1, 4, 8)
    stays = forget_the_last_model("b", "b", "b", "b", ws)
    assert len(stays) == 10 and all(isinstance(v, type(gr.skip())) for v in stays)
    gone = forget_the_last_model("b", "a", "a", "a", ws)
    assert gone[:3] == (None, "", None) and gone[3:5] == (None, None)
    assert gone[5:7] == (None, None) and "made with the last checkpoint" in gone[7] and gone[8:] == (None, None)
    mixed = forget_the_last_model("b", "b", None, None, None)   # a grid of b; no GIF, no projection
    assert all(isinstance(v, type(gr.skip())) for v in mixed[:3]) and mixed[3:] == (None,) * 4 + ("", None, None)


def test_made_with_returns_the_views_and_the_checkpoint_they_were_made_with():
    import functools
    import inspect

    from demos.stylegan import made_with

    def views(ctx, checkpoint, seed):
        return f"{checkpoint}:{seed}", "note"

    made = made_with(functools.partial(views, None))
    assert made("b", 3) == ("b:3", "note", "b") and list(inspect.signature(made).parameters) == ["checkpoint", "seed"]
    assert made_with(lambda checkpoint: "gif")("c") == ("gif", "c")


def test_a_projection_on_the_page_stops_once_the_page_reads_another_image(tmp_path):
    """Its next step came in beside the new image: the page's projection ends at the first step after another image
    is read for the same page (a refused file changes nothing; another page's image neither)."""
    from types import SimpleNamespace

    import gradio as gr

    from demos import stylegan

    def project(checkpoint, image, space, steps):
        for step in range(steps):
            yield f"step {step}", "target", "status", "w"

    page, other = SimpleNamespace(session_hash="page"), SimpleNamespace(session_hash="other")
    Image.new("RGB", (8, 8)).save(tmp_path / "new.png")
    (tmp_path / "text.png").write_text("not an image")
    run = stylegan.projection_on_the_page(project)(page, "tiny", "old.png", "w+", 5)
    assert next(run) == ("step 0", "target", "status", "w", "tiny")
    with pytest.raises(ValueError, match="not a readable image"):
        stylegan.readable_upload(page, str(tmp_path / "text.png"), None)
    stylegan.readable_upload(other, str(tmp_path / "new.png"), None)
    assert next(run)[0] == "step 1"
    stylegan.readable_upload(page, str(tmp_path / "new.png"), None)
    rest = list(run)   # (one message that leaves every output as it is: a stream's last repeats at its end)
    assert len(rest) == 1 and len(rest[0]) == 5 and all(isinstance(v, type(gr.skip())) for v in rest[0])
    stylegan.forget_images_read(page)   # the page closed: its count goes, another page's stays
    assert "page" not in stylegan.IMAGES_READ and "other" in stylegan.IMAGES_READ
