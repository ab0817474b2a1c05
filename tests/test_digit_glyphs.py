"""The digits world's handwriting-font glyphs: the bundled file, the warp that draws them, the items they make."""

import numpy as np
import pytest
from PIL import ImageFilter

from core.data import get_dataset
from core.data.worlds import digits as digits_world
from core.data.worlds.digit_glyphs import FONTS, GLYPH_HEIGHT, build, draw_glyph, glyphs, pen


def white_core(images: np.ndarray) -> np.ndarray:
    """Share of each image's inked pixels (> 0.1) that are white (>= 0.8); images (N, H, W) in [0, 1]."""
    return (images >= 0.8).sum((1, 2)) / np.maximum((images > 0.1).sum((1, 2)), 1)


def test_the_file_holds_each_digit_of_every_font():
    bank = glyphs()
    assert sorted(bank) == list(range(10))
    for digit, options in bank.items():
        assert len(options) == len(FONTS) == 64
        for glyph in options:
            assert glyph.mode == "L" and glyph.height == GLYPH_HEIGHT
            ink = np.asarray(glyph)
            assert ink.max() > 200 and ink[:, 0].any() and ink[0].any()  # cropped to the ink


def test_an_identity_warp_redraws_the_glyph_and_the_pen_weight_moves_its_ink():
    glyph = glyphs()[8][3]
    h, w = glyph.height, glyph.width
    size = 2 * h  # the glyph, height 1 unit = h canvas px, centred on the canvas

    def to_unit(px):
        return (px - size / 2.0) / h

    def same(xy):
        return xy

    canvas = draw_glyph(glyph, size, to_unit, same)
    drawn = np.asarray(canvas, np.float32)
    top, left = (size - h) // 2, int(round(size / 2.0 - w / 2.0))
    inner = drawn[top:top + h, left:left + w]
    assert np.abs(inner - np.asarray(glyph, np.float32)).mean() < 3  # bilinear resampling on the same grid
    assert abs(drawn.sum() - inner.sum()) < 0.01 * drawn.sum()  # nothing drawn outside the glyph's box
    mass = [float(np.asarray(pen(canvas, k), np.float32).sum()) for k in (-1, 0, 1, 2)]
    assert mass == sorted(mass) and mass[0] < 0.9 * mass[1] and mass[3] > 1.3 * mass[1]
    whole = canvas.filter(ImageFilter.MaxFilter(5))  # the pen filters around the ink only, to the same pixels
    assert np.array_equal(np.asarray(pen(canvas, 2)), np.asarray(whole))
    far = draw_glyph(glyph, size, lambda px: (px - size / 2.0) / h + 5.0, same)  # the glyph off the canvas
    assert far.getbbox() is None and pen(far, 2).getbbox() is None


def test_font_items_are_framed_like_mnist_and_read_as_their_digit(monkeypatch):
    monkeypatch.setattr(digits_world, "FONT_SHARE", 1.0)
    fonts = get_dataset("digits").get_batch(range(300))
    again = get_dataset("digits").get_batch(range(300))
    assert np.array_equal(fonts["image"].numpy(), again["image"].numpy())  # deterministic per seed and index
    images = fonts["image"][:, 0].numpy()
    assert (white_core(images) >= digits_world.MIN_WHITE_CORE - 1e-6).all()  # no hairlines: MNIST's strokes are white
    yy, xx = np.mgrid[:28, :28]
    mass = images.sum((1, 2))
    assert np.abs((images * yy).sum((1, 2)) / mass - 13.5).max() < 0.6
    assert np.abs((images * xx).sum((1, 2)) / mass - 13.5).max() < 0.6

    monkeypatch.setattr(digits_world, "FONT_SHARE", 0.0)  # the skeletons alone: their class means read the fonts
    skeletons = get_dataset("digits").get_batch(range(1000))
    x, y = skeletons["image"].flatten(1), skeletons["label"]
    means = np.stack([x[y == d].mean(0).numpy() for d in range(10)])
    dist = ((images.reshape(300, 1, -1) - means[None]) ** 2).sum(-1)
    assert (dist.argmin(1) == fonts["label"].numpy()).mean() > 0.4  # 0.52 measured; glyphs under the wrong labels: ~0.1
    assert not np.array_equal(skeletons["image"][:300].numpy(), fonts["image"].numpy())


def test_the_world_draws_about_its_font_share_from_fonts(monkeypatch):
    """Items drawn with the fonts switched off stay the same where the item was a skeleton's, differ where it was a
    font's; the share of differing items is FONT_SHARE."""
    world = get_dataset("digits", split="test").get_batch(range(1000))["image"].numpy()
    share = digits_world.FONT_SHARE
    monkeypatch.setattr(digits_world, "FONT_SHARE", 0.0)
    plain = get_dataset("digits", split="test").get_batch(range(1000))["image"].numpy()
    changed = (world != plain).reshape(1000, -1).any(1).mean()
    assert abs(changed - share) < 0.05


def test_rebuilding_needs_every_font_and_says_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"npm pack @fontsource/{FONTS[0]}"):
        build(tmp_path, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()

