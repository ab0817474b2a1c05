"""The latent map's views (core.vae.views) on the bundled 2-D VAE: hover/click decoding and the A -> B walk."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.engine import AppContext, list_checkpoints
from core.vae import views

pytestmark = pytest.mark.skipif("vae2d-digits" not in list_checkpoints("vae"), reason="bundled vae2d-digits missing")
NAME = "vae2d-digits"


@pytest.fixture(scope="module")
def ctx():
    return AppContext(device=torch.device("cpu"))


def _tile(strip, index: int, per_row: int, size: int = 28, scale: int = 4, padding: int = 2) -> np.ndarray:
    """Tile ``index`` of a make_grid strip (padding 2) enlarged ``scale`` times, at its own size."""
    small = np.asarray(strip.convert("L"))[::scale, ::scale]
    r, c = divmod(index, per_row)
    y, x = padding + r * (size + padding), padding + c * (size + padding)
    return small[y:y + size, x:x + size].astype(float)


def test_the_walk_from_a_to_b_starts_at_a_and_ends_at_b(ctx):
    a, b = (-2.0, 1.5), (1.8, -1.2)
    strip = views.map_segment(ctx, NAME, a, b, steps=10)
    assert strip.size == (4 * (5 * 30 + 2), 4 * (2 * 30 + 2))  # two rows of 5 digits, 4x enlarged
    for index, point in ((0, a), (9, b)):
        expected = np.asarray(views.point_image(ctx, NAME, *point).convert("L").resize((28, 28), 0)).astype(float)
        assert np.abs(_tile(strip, index, 5) - expected).max() <= 1, index
    middle = np.asarray(views.point_image(ctx, NAME, 0.0, 0.0).convert("L").resize((28, 28), 0)).astype(float)
    steps3 = views.map_segment(ctx, NAME, (-1.0, -1.0), (1.0, 1.0), steps=3)  # the middle of 3 is the origin
    assert np.abs(_tile(steps3, 1, 2) - middle).max() <= 1
    for bad in (1, 17):
        with pytest.raises(ValueError, match="between 2 and 16"):
            views.map_segment(ctx, NAME, a, b, steps=bad)


def test_the_map_draws_a_and_b_and_the_line_between(ctx):
    plain = np.asarray(views.map_image(ctx, NAME, None, None))
    with_ends = np.asarray(views.map_image(ctx, NAME, None, None, ends=[(-2.0, 2.0), (2.0, -2.0)]))
    _, s = __import__("core.vae.service", fromlist=["scatter"]).scatter(ctx, NAME)
    (xa, ya), (xb, yb) = s["map"].to_pixel(-2.0, 2.0), s["map"].to_pixel(2.0, -2.0)
    mx, my = round((xa + xb) / 2), round((ya + yb) / 2)
    assert with_ends[my, mx].sum() == 0 and not np.array_equal(plain, with_ends)   # the line is black
    one_end = np.asarray(views.map_image(ctx, NAME, None, None, ends=[(-2.0, 2.0)]))
    assert not np.array_equal(one_end, with_ends) and one_end[my, mx].sum() != 0   # A alone: no line yet


def test_hover_pixels_map_to_the_plane_and_decode(ctx):
    _, s = __import__("core.vae.service", fromlist=["scatter"]).scatter(ctx, NAME)
    px, py = s["map"].to_pixel(1.0, -0.5)
    assert views.map_click(ctx, NAME, px, py) == (1.0, -0.5)
    assert views.point_image(ctx, NAME, 1.0, -0.5).size[0] >= 28


def test_a_cleared_canvas_clears_the_outputs_and_an_empty_one_asks_for_a_drawing(ctx):
    """Clearing the Draw canvas sent its empty value: a red "draw something first" error while the last digit's
    reconstruction and map cross stayed. The stroke events clear quietly; the button still asks for a drawing."""
    cleared = {"background": None, "layers": [], "composite": None}
    white = {"background": None, "layers": [], "composite": np.full((60, 60, 3), 255, np.uint8)}
    inked = {"background": None, "layers": [], "composite": white["composite"].copy()}
    inked["composite"][10:50, 28:33] = 0  # a "1"
    assert views.blank_drawing(cleared) and views.blank_drawing(white) and views.blank_drawing(None)
    assert not views.blank_drawing(inked)
    seen, rec, latent, plain = views.encode_own(ctx, NAME, cleared, blank_clears=True)
    assert (seen, rec, latent) == (None, None, None)
    assert np.array_equal(np.asarray(plain), np.asarray(views.map_image(ctx, NAME, None, None)))  # no cross
    with pytest.raises(ValueError, match="draw something on the sketchpad first"):
        views.encode_own(ctx, NAME, cleared)
    seen, rec, latent, marked = views.encode_own(ctx, NAME, inked, blank_clears=True)
    assert seen is not None and len(latent["z"]) == 2 and not np.array_equal(np.asarray(marked), np.asarray(plain))


def test_only_models_with_a_latent_plane_show_where_a_drawing_lands():
    """The "where it lands on the map" box is hidden for a VQ-VAE (an empty box under that label said nothing)."""
    from core.engine import list_checkpoints
    from core.vae.views import has_map

    names = list_checkpoints("vae")
    assert {n: has_map(n) for n in names} == {n: not n.startswith("vqvae") for n in names}
    assert has_map("no-such-model")   # (its refusal is the picker's note)


def test_the_codebook_picker_lists_vq_vaes_only():
    """The codebook's picker offers the VQ-VAEs (it listed every VAE, and any other one was refused on the click),
    when built and when refreshed (page open, focus, a training's end), while the other pickers list them all."""
    import gradio as gr

    from core.engine import list_checkpoints
    from core.vae.views import is_vq_checkpoint
    from demos.common import checkpoint_picker, refresh_pickers

    assert is_vq_checkpoint("vqvae-faces") and not is_vq_checkpoint("vae2d-digits")
    assert not is_vq_checkpoint("no-such-model")
    with gr.Blocks():
        vq = checkpoint_picker("vae", only=is_vq_checkpoint)
        every = checkpoint_picker("vae")
    assert [c[0] for c in vq.choices] == ["vqvae-faces"] == [n for n in list_checkpoints("vae") if "vq" in n]
    vq_update, every_update = refresh_pickers("vae", [vq, every])()
    assert vq_update["choices"] == ["vqvae-faces"] and every_update["choices"] == list_checkpoints("vae")


def test_a_vq_vaes_latent_box_opens_on_a_held_out_images_codes_that_decode_to_it():
    """Traverse & sample with a VQ-VAE: the box holds held-out image 0's 16x16 code indices (it was empty, and z = 0
    decoded code 0 everywhere: a flat square); decoded, they give the model's reconstruction of that image."""
    import numpy as np
    from PIL import Image

    from core.data import to_pil
    from core.engine import AppContext
    from core.vae.service import decode
    from core.vae.views import _held_out, held_out_codes

    ctx = AppContext()
    codes = held_out_codes(ctx, "vqvae-faces")
    values = [int(v) for v in codes.split(", ")]
    assert len(values) == 16 * 16 and len(set(values)) > 20
    original = np.asarray(to_pil(_held_out(ctx, "vqvae-faces", 0)), dtype=float)

    def error(text):  # mean absolute error of the decoding against held-out image 0, 0-255
        shown = decode(ctx, "vqvae-faces", text).resize(original.shape[1::-1], Image.BILINEAR)
        return np.abs(np.asarray(shown, dtype=float) - original).mean()

    assert error(codes) < 15 < 3 * error(codes) < error("")  # the face back, where code 0 everywhere is far from it
