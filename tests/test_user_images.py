"""load_user_image on every kind of source, odd modes, huge and corrupt files; to_pil and make_grid."""

import io
import struct
import time
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import load_user_image, make_grid, to_pil


def png_bytes(im: Image.Image, fmt="PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` but holds no pixel data."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_sources_all_give_the_same_tensor(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:, :, 0] = 255
    rgb[4:, :, 2] = 128
    im = Image.fromarray(rgb)
    (tmp_path / "a.png").write_bytes(png_bytes(im))
    expected = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    sources = [im, rgb, rgb.astype(np.float32) / 255, rgb.transpose(2, 0, 1), expected, tmp_path / "a.png",
               str(tmp_path / "a.png"), png_bytes(im), io.BytesIO(png_bytes(im)), {"composite": im, "layers": []}]
    for src in sources:
        out = load_user_image(src, channels=3, size=8)
        assert out.shape == (3, 8, 8) and out.dtype == torch.float32
        assert torch.allclose(out, expected, atol=1 / 255), type(src)


def test_channel_conversion_and_fit():
    im = Image.new("RGB", (40, 20), (255, 255, 255))
    im.paste((0, 0, 0), (0, 0, 10, 20))  # black left quarter
    gray = load_user_image(im, channels=1, size=10)
    assert gray.shape == (1, 10, 10) and gray.min() > 0.95  # centre crop drops the black quarter
    padded = load_user_image(im, channels=3, size=10, fit="pad", background="red")
    assert torch.allclose(padded[:, 0, 5], torch.tensor([1.0, 0.0, 0.0]))  # padding above
    stretched = load_user_image(im, channels=3, size=10, fit="stretch")
    assert stretched[:, 5, 0].max() < 0.05
    assert load_user_image(Image.new("L", (5, 5), 255), channels=3, size=3).shape == (3, 3, 3)


@pytest.mark.parametrize("background, value", [("black", 0.5), ("white", 1.0), ((0, 0, 255), 0.5)])
def test_alpha_is_composited_on_the_background(background, value):
    im = Image.new("RGBA", (6, 6), (255, 0, 0, 128))
    out = load_user_image(im, 3, 6, background=background)
    assert abs(out[0, 0, 0].item() - value) < 0.01
    la = load_user_image(Image.new("LA", (6, 6), (255, 0)), 1, 6, background=background)
    assert la.max() == la.min()  # fully transparent: only the background


def _ink_on_transparency(ink: int) -> Image.Image:
    im = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    im.paste((ink, ink, ink, 255), (10, 5, 30, 35))
    return im


@pytest.mark.parametrize("ink", [0, 255, 230])
@pytest.mark.parametrize("background", ["black", "white"])
def test_a_drawing_on_transparency_survives_either_paper(ink, background):
    """Black ink given black paper, or white ink given white, would vanish: it goes on the other one instead."""
    x = load_user_image(_ink_on_transparency(ink), 1, 40, background=background)[0]
    inside, outside = float(x[20, 20]), float(x[2, 2])
    assert abs(inside - ink / 255) < 0.01
    assert abs(inside - outside) > 0.5
    if abs(ink / 255 - (background == "white")) > 0.5:
        assert outside == (background == "white")          # visible on the paper asked for: that paper
    padded = load_user_image(_ink_on_transparency(ink).crop((0, 0, 40, 20)), 1, 40, fit="pad", background=background)
    assert float(padded[0, 0, 0]) == float(padded[0, 12, 2])   # the padding is the paper chosen


def test_odd_modes_are_scaled_properly():
    p = Image.new("P", (4, 4), 1)
    p.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    assert torch.allclose(load_user_image(p, 3, 4)[:, 0, 0], torch.tensor([0.0, 1.0, 0.0]))
    p.info["transparency"] = 1
    assert load_user_image(p, 3, 4, background="white").min() == 1.0
    assert load_user_image(Image.new("1", (4, 4), 1), 1, 4).min() == 1.0
    ramp16 = Image.fromarray((np.arange(16).reshape(4, 4) * 4369).astype(np.uint16))  # I;16: 0..65535
    loaded = load_user_image(png_bytes(ramp16), 1, 4)
    assert abs(loaded.max().item() - 1.0) < 1e-4 and loaded.min() == 0.0
    as_int = load_user_image(Image.fromarray(np.full((4, 4), 1000, np.int32)), 1, 4)  # mode I, 16-bit range
    assert abs(as_int.mean().item() - 1000 / 65535) < 1e-3
    floats = Image.fromarray(np.linspace(-1, 3, 16, dtype=np.float32).reshape(4, 4))  # mode F: min-max
    out = load_user_image(floats, 1, 4)
    assert out.min() == 0.0 and abs(out.max().item() - 1.0) < 1e-4
    cmyk = load_user_image(png_bytes(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"), 3, 8)
    assert cmyk[0].mean() > 0.9 and cmyk[1:].mean() < 0.1  # cyan-free, magenta+yellow = red
    u16 = load_user_image(np.full((4, 4), 65535, np.uint16), 1, 4)
    assert u16.min() == 1.0


def test_exif_orientation_is_applied():
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (20, 0, 40, 20))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: displayed turned 90 degrees clockwise
    out = load_user_image(png_bytes(im, "JPEG", exif=exif), 3, 8, fit="stretch")
    assert out[0, 0].mean() > 0.8 and out[2, -1].mean() > 0.8  # red on top, blue at the bottom


def test_huge_images(tmp_path):
    wide = Image.new("RGB", (10_000, 300), (0, 128, 255))
    path = tmp_path / "wide.png"
    wide.save(path)
    start = time.perf_counter()
    out = load_user_image(path, 3, 32)
    assert out.shape == (3, 32, 32) and abs(out[1].mean().item() - 128 / 255) < 0.01
    big_jpeg = png_bytes(Image.new("RGB", (6000, 4000), (0, 255, 0)), "JPEG", quality=80)
    assert load_user_image(big_jpeg, 3, 64)[1].mean() > 0.95
    assert time.perf_counter() - start < 5.0
    for (w, h), said in (((12_000, 9_000), "is 12000x9000 = 108 megapixels; images over 100 megapixels are refused"),
                         ((20_000, 10_000), "declares 200 megapixels .a decompression bomb..; images over 100 "
                                            "megapixels are refused")):  # 108 MP: ours; 200 MP: past Pillow's limit
        start = time.perf_counter()
        with pytest.raises(ValueError, match=said):  # (one size and one limit: it said "more than 179 megapixels")
            load_user_image(png_header_only(w, h), 3, 32)
        assert time.perf_counter() - start < 0.5  # refused from the header, nothing decoded


def test_corrupt_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="is not a readable image"):
        load_user_image(b"this is text, not an image")
    truncated = png_bytes(Image.effect_noise((64, 64), 50))[:300]
    with pytest.raises(ValueError, match="is not a readable image"):
        load_user_image(truncated)
    (tmp_path / "fake.png").write_text("hello")
    with pytest.raises(ValueError, match="fake.png.*is not a readable image"):
        load_user_image(tmp_path / "fake.png")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_user_image(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="shape"):
        load_user_image(np.zeros((5, 5, 7)))
    with pytest.raises(ValueError):
        load_user_image(None)


def test_to_pil_and_make_grid():
    x = torch.rand(5, 3, 6, 4)
    x = (x * 255).round() / 255  # exactly representable in 8 bits
    pil = to_pil(x[0])
    assert pil.mode == "RGB" and pil.size == (4, 6)
    assert torch.equal(torch.from_numpy(np.array(pil)).permute(2, 0, 1).float() / 255, x[0])
    assert to_pil(torch.zeros(1, 5, 5)).mode == "L" and to_pil(torch.zeros(5, 5), value_range=(-1, 1)).getpixel((0, 0)) == 128
    grid = make_grid(x, nrow=2, padding=1, pad_value=1.0)
    assert grid.shape == (3, 3 * 7 + 1, 2 * 5 + 1)
    assert torch.equal(grid[:, 1:7, 1:5], x[0]) and torch.equal(grid[:, 8:14, 6:10], x[3])
    assert grid[:, 0].min() == 1.0 and torch.equal(grid[:, 15:21, 6:10], torch.ones(3, 6, 4))  # empty cell
    assert make_grid([x[0], x[1]]).shape == (3, 10, 14)
