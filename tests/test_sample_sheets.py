"""Training sample sheets: crisp enlarged tiles, and each method's rows / columns named in white margins."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.labelled import sample_sheet
from core.train import get_method_class


def test_a_sheet_enlarges_tiles_crisply_and_keeps_labels_off_them():
    images = torch.rand(6, 1, 28, 28)
    sheet = np.asarray(sample_sheet(images, 3, ["held-out x", "reconstruction"], ["a", "b", "c"]).convert("L"))
    plain = np.asarray(sample_sheet(images, 3).convert("L"))
    assert plain.shape[1] >= 256 and sheet.shape[1] >= 256 + 100  # the grid at least 256 px, the labels beside it
    # the first tile, found in the unlabelled sheet (2 px padding, scaled): exactly the image, enlarged by nearest
    scale = plain.shape[1] // (3 * 30 + 2)
    first = plain[2 * scale:2 * scale + 28 * scale, 2 * scale:2 * scale + 28 * scale]
    expected = np.round(images[0, 0].numpy() * 255).astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
    assert np.array_equal(first, expected)
    # in the labelled sheet that tile sits below the column labels and right of the row labels, untouched
    found = [(y, x) for y in range(0, 60) for x in range(0, 200)
             if np.array_equal(sheet[y:y + 28 * scale, x:x + 28 * scale], expected)]
    assert found, "the first tile is not in the labelled sheet unchanged"
    y, x = found[0]
    assert (sheet[:y, :] < 128).any() and (sheet[:, :x] < 128).any()  # column labels above, row labels left: text
    assert sheet[:y, :].mean() > 200 and sheet[y:, :x].mean() > 200    # ... on white margins


def test_a_wide_sheet_labels_in_type_that_grows_with_it():
    """Fitted to a page, a 1,192 px sheet's 15 px labels read as 12 px: the type grows with the sheet."""
    def label_height(nrow, min_width):
        sheet = np.asarray(sample_sheet(torch.rand(nrow, 3, 64, 64), nrow, cols=["Labelgy"] * nrow,
                                        min_width=min_width).convert("L"))
        top = next(y for y in range(sheet.shape[0]) if (sheet[y] < 250).mean() > 0.5)  # the tiles' first row
        ink = np.nonzero((sheet[:top] < 128).any(1))[0]
        return sheet.shape[1], ink.max() - ink.min() + 1

    (narrow, small), (wide, large) = label_height(3, 256), label_height(6, 900)
    assert narrow < 800 < wide and large >= small * wide / 800 * 0.9


def _method(name, **settings):
    cls = get_method_class(name)
    return cls(cls.config_class.from_dict(settings))


@pytest.mark.parametrize("num", [9, 12, 16, 20])
def test_the_vae_sheet_names_its_rows_where_the_sample_puts_them(num):
    """The first row of the VAE's grid holds held-out images, the second their reconstructions, whatever ``num``
    (the panel laid 12 images out 3 per row while the sampler put 4 held-out images first)."""
    method = _method("vae", dataset="digits", latent_dim=2, channels=8, hidden=16)
    torch.manual_seed(0)
    module = method.build_model().eval()
    images = method.sample(module, num, torch.Generator().manual_seed(0))
    nrow, rows, cols = method.sample_layout(num)
    assert len(images) == num and rows[:2] == ["held-out x", "reconstruction"] and cols == []
    assert len(rows) == -(-num // nrow)
    held_out = method.build_dataset("test").get_batch(list(range(nrow)))["image"]
    assert torch.allclose(images[:nrow], held_out)
    assert not torch.allclose(images[nrow:2 * nrow], images[2 * nrow:3 * nrow])


@pytest.mark.parametrize("model,third", [("pix2pix", "target B"), ("cyclegan", "G_BA(G_AB(A))")])
def test_the_translation_sheet_names_its_columns(model, third):
    method = _method("translation", model=model)
    nrow, rows, cols = method.sample_layout(9)
    assert nrow == 3 and rows == [] and cols[0] == "input A" and cols[2] == third


def test_the_text_to_image_sheet_writes_each_prompt_under_its_image():
    """The panel's grids and the card's samples.png name each sample's prompt (they were a bare grid); the tiles stay
    whole and crisp, the text below them on white; captions and images must pair one to one."""
    from core.data.labelled import captioned_sheet
    from core.text2image.config import Text2ImageConfig
    from core.text2image.method import SAMPLE_PROMPTS

    method = get_method_class("text2image")(Text2ImageConfig())
    assert method.sample_captions(18) == [*SAMPLE_PROMPTS, *SAMPLE_PROMPTS[:2]]
    images = torch.rand(8, 3, 64, 64)
    rgb = np.asarray(method.sample_sheet(images))
    sheet = np.asarray(method.sample_sheet(images).convert("L"))
    scale = 2                                                          # 4 a row, at least 512 px: 64 px -> 128
    first = np.round(images[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    assert np.array_equal(rgb[8:8 + 64 * scale, 8:8 + 64 * scale], first.repeat(scale, 0).repeat(scale, 1))
    caption = sheet[8 + 64 * scale:8 + 64 * scale + 36, 8:8 + 64 * scale]
    assert (caption < 128).any() and caption.mean() > 200              # dark text on white under the image
    empty = np.asarray(captioned_sheet(images, [""] * 8, nrow=4).convert("L"))
    assert empty.shape[0] < sheet.shape[0]                             # the space below holds the captions
    with pytest.raises(ValueError, match="8 images need 8 captions, got 7"):
        captioned_sheet(images, [""] * 7, nrow=4)
