"""The GAN tab's plain functions (core/gans/service.py) on the bundled checkpoints, without gradio."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine import AppContext, list_checkpoints
from core.gans import service

UNCONDITIONAL, CONDITIONAL = "dcgan-digits", "cgan-projection-ms-digits"
pytestmark = pytest.mark.skipif(not {UNCONDITIONAL, CONDITIONAL} <= set(list_checkpoints("gans")),
                                reason="the bundled GAN checkpoints are missing")


@pytest.fixture(scope="module")
def ctx():
    return AppContext()


@pytest.mark.parametrize("frames", [2, 16])
def test_the_interpolation_strip_starts_at_seed_a_and_ends_at_seed_b(ctx, frames):
    strip = np.asarray(service.interpolation_strip(ctx, UNCONDITIONAL, 3, 9, frames=frames).convert("L"))
    a = np.asarray(service._cell(service.generate_image(ctx, UNCONDITIONAL, 3)))
    b = np.asarray(service._cell(service.generate_image(ctx, UNCONDITIONAL, 9)))
    cell, pad, top, left = service.CELL, 6, 24, 4
    assert np.array_equal(strip[top:top + cell, left:left + cell], a)
    x = left + (frames - 1) * (cell + pad)
    assert np.array_equal(strip[top:top + cell, x:x + cell], b)


@pytest.mark.parametrize("frames", [1, 17])
def test_the_interpolation_strip_refuses_frames_out_of_range(ctx, frames):
    with pytest.raises(ValueError, match=r"frames must be in \[2, 16\]"):
        service.interpolation_strip(ctx, UNCONDITIONAL, 3, 9, frames=frames)


def test_the_class_grid_lays_out_seeds_by_classes(ctx):
    grid = service.class_grid(ctx, CONDITIONAL, "0, 1, 2")
    assert grid.size == (70 + 10 * (service.CELL + 6), 34 + 3 * (service.CELL + 6))
    with pytest.raises(ValueError, match="unconditional"):
        service.class_grid(ctx, UNCONDITIONAL, "0")
    with pytest.raises(ValueError, match="seeds: at most 8 seeds, got 9"):  # the StyleGAN tab's wording too
        service.class_grid(ctx, CONDITIONAL, "1 2 3 4 5 6 7 8 9")


def test_the_side_by_side_names_the_digit_each_column_asks_a_cgan_for(ctx):
    """With a conditional variant among the rows, each column's label has a second line, the class its cGANs draw
    ("seed 1" stood over a cGAN's 0)."""
    from core.data.labelled import labelled_grid

    grid = service.compare_grid(ctx, "1, 2, 3")
    rows = len(service.variants())
    assert grid.size == (290 + 3 * (service.CELL + 6), 34 + 18 + rows * (service.CELL + 6))
    header = np.asarray(grid.convert("L"))[:52, 290:]
    assert (header[:26] < 128).any() and (header[26:] < 128).any()        # ink on both lines
    one = np.asarray(labelled_grid([[service._cell(service.generate_image(ctx, UNCONDITIONAL, 1))]], [""],
                                   ["seed 1"], left=290).convert("L"))
    assert one.shape[0] == 34 + service.CELL + 6                          # one-line labels keep the 34 px margin


@pytest.mark.parametrize("tau, ok", [(0, True), (4, True), (-0.1, False), (4.1, False), ("x", False)])
def test_truncation_range(tau, ok):
    if ok:
        assert service.check_truncation(tau) == float(tau)
    else:
        with pytest.raises(ValueError, match="truncation"):
            service.check_truncation(tau)


def test_random_class_is_drawn_from_the_seed(ctx):
    a = np.asarray(service.generate_image(ctx, CONDITIONAL, 5, "random"))
    assert np.array_equal(a, np.asarray(service.generate_image(ctx, CONDITIONAL, 5, "random")))
    G = service._generator(ctx, CONDITIONAL)
    drawn = service.check_class(G, "random", 5)
    assert np.array_equal(a, np.asarray(service.generate_image(ctx, CONDITIONAL, 5, str(drawn))))


def test_notes_and_tables_read_every_finished_variant():
    names = service.variants()
    assert {UNCONDITIONAL, CONDITIONAL} <= set(names)
    rows = service.measurements()
    assert len(rows) == len(names) and all(len(r) == len(service.MEASUREMENT_HEADERS) for r in rows)
    assert "DCGAN" in service.checkpoint_note(UNCONDITIONAL)
    assert "of 10" in service.checkpoint_note(CONDITIONAL)
    frame = service.curves("D loss")
    assert set(frame["variant"]) == {n.removesuffix("-digits") for n in names} and frame["value"].notna().all()
    with pytest.raises(ValueError, match="curve must be one of"):
        service.curves("loss")
    # the chart: every variant in its own colour, each in the legend beside the plot (Gradio's line plot cut the
    # legend off after nine of eleven names)
    import numpy as np

    from core.evaluation.charts import COLOURS, line_chart, unlike_scales

    series = {name: list(zip(rows["step"], rows["value"])) for name, rows in frame.groupby("variant")}
    chart = np.asarray(line_chart(series, "D loss"))
    black = (chart == 0).all(-1)
    frame_right = max(x for x in range(chart.shape[1]) if black[:, x].sum() > chart.shape[0] // 2)  # the plot's box
    legend = chart[:, frame_right + 1:]
    assert len(names) <= len(COLOURS)
    for colour in COLOURS[:len(names)]:
        assert (legend == colour).all(-1).any(), f"no legend entry drawn in {colour}"
    # G losses of unlike objectives (LSGAN's 0.3, feature matching's 44): one small chart per variant, each on its
    # own axis (on one axis all but one were flat lines)
    line = lambda lo, hi: [(x, lo + (hi - lo) * x / 9) for x in range(10)]
    assert unlike_scales({"a": line(0.3, 0.6), "b": line(40.0, 44.0)})
    assert not unlike_scales({"a": line(0.1, 0.9), "b": line(0.2, 1.0)})
    g = service.curves_chart("G loss")
    assert g.size == (900, 40 + 200 * -(-len(names) // 4))
    # a title longer than the chart wraps (the critics' one ran off the right edge: "... x: training")
    from core.evaluation.charts import small_multiples

    title = "Wasserstein estimate (critics) of every digits variant, " * 3
    chart = np.asarray(small_multiples({"a": line(0.3, 0.6), "b": line(40.0, 44.0)}, title).convert("L"))
    assert chart.shape[0] > 40 + 200 and (chart[:, -12:] > 128).all()   # more lines, nothing at the right edge


def test_the_side_by_side_compares_one_world(tmp_path, monkeypatch):
    """A finished faces GAN is not drawn beside the digits ones (its row compared nothing); it has its own page."""
    import json
    import shutil

    from core.engine import resolve_checkpoint

    root = tmp_path / "checkpoints"
    shutil.copytree(resolve_checkpoint("gans", UNCONDITIONAL), root / "gans" / UNCONDITIONAL)
    faces = root / "gans" / "my-faces-gan"
    shutil.copytree(resolve_checkpoint("gans", UNCONDITIONAL), faces)
    config = json.loads((faces / "train_config.json").read_text())
    (faces / "train_config.json").write_text(json.dumps(config | {"dataset": "faces"}))
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(root))
    assert service.variants() == [UNCONDITIONAL] and service.variants("faces") == ["my-faces-gan"]
    assert [r[0].split(" · ")[1] for r in service.measurements("faces")] == ["my-faces-gan"]
    assert "my-faces-gan" not in service.why_it_matters() and set(service.curves(world="faces")["variant"]) == {
        "my-faces-gan"}
