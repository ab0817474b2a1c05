"""Digit shapes from handwriting fonts, for the ``digits`` world.

Hand-made skeletons give a handful of ways to write each digit; people write many more (a 2 with a
loop at its foot, a 6 whose stem comes straight down, a 7 with a flag). Handwriting fonts were drawn
from real people's writing, so their digits bring those shapes. ``digit_glyphs.npz`` holds the ten
digits of each font in ``FONTS`` (the Google Fonts handwriting families as the npm packages
``@fontsource/<name>`` ship them: 56 under the SIL Open Font License 1.1, 8 under Apache 2.0; see
``digit_glyphs.md``), white on black, cropped to their ink and scaled to ``GLYPH_HEIGHT`` px.

The world bends a glyph as it bends a skeleton (aspect, slant, rotation and the smooth elastic
warp), pens it thinner or bolder, and frames it like MNIST. Rebuild the file, with the fonts
unpacked in a folder (``npm pack @fontsource/<name>``; ``files/<name>-latin-400-normal.woff``):

    python -m core.data.worlds.digit_glyphs --fonts FOLDER
"""

from __future__ import annotations

import argparse
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

GLYPHS_PATH = Path(__file__).with_name("digit_glyphs.npz")
GLYPH_HEIGHT = 64  # px of a stored glyph's ink height
MESH = 6  # the warp is exact at the corners of a MESH x MESH grid of cells, bilinear inside each

FONTS = (
    "amatic-sc", "annie-use-your-telescope", "architects-daughter", "caveat", "caveat-brush",
    "cedarville-cursive", "coming-soon", "covered-by-your-grace", "crafty-girls", "dawning-of-a-new-day",
    "delius", "edu-nsw-act-foundation", "edu-qld-beginner", "edu-sa-beginner", "edu-tas-beginner",
    "edu-vic-wa-nt-beginner", "gaegu", "give-you-glory", "gloria-hallelujah", "gochi-hand", "hachi-maru-pop",
    "handlee", "homemade-apple", "indie-flower", "itim", "just-another-hand", "just-me-again-down-here",
    "kalam", "klee-one", "kristi", "la-belle-aurore", "liu-jian-mao-cao", "long-cang", "loved-by-the-king",
    "ma-shan-zheng", "mali", "mynerve", "nanum-brush-script", "nanum-pen-script", "neucha",
    "nothing-you-could-do", "over-the-rainbow", "pangolin", "patrick-hand", "permanent-marker",
    "playpen-sans", "reenie-beanie", "rock-salt", "schoolbell", "sedgwick-ave", "shadows-into-light",
    "shadows-into-light-two", "short-stack", "sriracha", "sue-ellen-francisco", "swanky-and-moo-moo",
    "the-girl-next-door", "waiting-for-the-sunrise", "walter-turncoat", "yomogi", "yuji-syuku",
    "zen-kurenaido", "zeyada", "zhi-mang-xing",
)


@lru_cache(maxsize=None)
def glyphs() -> dict[int, list[Image.Image]]:
    """digit -> its glyphs ("L" images, ink ``GLYPH_HEIGHT`` px tall), one per font, in ``FONTS`` order."""
    with np.load(GLYPHS_PATH) as data:
        pixels, shapes, digits = data["pixels"], data["shapes"], data["digits"]
    out: dict[int, list[Image.Image]] = {d: [] for d in range(10)}
    start = 0
    for digit, (h, w) in zip(digits, shapes):
        out[int(digit)].append(Image.fromarray(pixels[start:start + h * w].reshape(h, w), "L"))
        start += h * w
    return out


def draw_glyph(glyph: Image.Image, size: int, to_unit, from_unit) -> Image.Image:
    """The glyph drawn on a black ``size`` x ``size`` canvas through a smooth map.

    Args:
        glyph: an "L" glyph from :func:`glyphs`; its ink spans x in [-w/2h, w/2h], y in [-0.5, 0.5]
            in digit units (height 1), centred on 0.
        size: canvas side, px.
        to_unit: canvas px (N, 2) -> digit units (N, 2), before the bend (the inverse of the frame).
        from_unit: digit units (N, 2) -> the points the bend moves them from (the inverse warp).
    Returns:
        "L" canvas: the map is exact at the corners of a ``MESH`` x ``MESH`` grid of cells and bilinear
        inside each (PIL's mesh transform); cells that see none of the glyph stay black.
    """
    h, w = glyph.height, glyph.width
    edges = np.round(np.linspace(0, size, MESH + 1)).astype(int)  # whole px: a cell's box and its quad agree
    gx, gy = np.meshgrid(edges.astype(float), edges.astype(float))
    unit = from_unit(to_unit(np.stack([gx.ravel(), gy.ravel()], 1)))
    src = (unit * h + np.array([w / 2.0, h / 2.0])).reshape(MESH + 1, MESH + 1, 2)  # glyph px
    quads = np.concatenate([src[:-1, :-1], src[1:, :-1], src[1:, 1:], src[:-1, 1:]], axis=2)  # (MESH, MESH, 8)
    xs, ys = quads[..., 0::2], quads[..., 1::2]
    seen = (xs.max(-1) > -2) & (xs.min(-1) < w + 2) & (ys.max(-1) > -2) & (ys.min(-1) < h + 2)
    mesh = [((int(edges[j]), int(edges[i]), int(edges[j + 1]), int(edges[i + 1])), tuple(quads[i, j].tolist()))
            for i, j in zip(*np.nonzero(seen))]
    if not mesh:
        return Image.new("L", (size, size), 0)
    return glyph.transform((size, size), Image.Transform.MESH, mesh, Image.Resampling.BILINEAR)


def pen(canvas: Image.Image, weight: int) -> Image.Image:
    """The drawing with a thinner (``weight`` -1: a 3x3 minimum) or bolder pen (1, 2: a 3x3, 5x5 maximum);
    0 returns it. A thinning that would erase a hairline leaves it as drawn. Filters only around the ink."""
    bbox = canvas.getbbox()
    if not weight or bbox is None:
        return canvas
    x0, y0, x1, y1 = bbox
    m = 3  # > the filters' radius: the black margin makes the crop's edges behave like the canvas's
    box = (max(0, x0 - m), max(0, y0 - m), min(canvas.width, x1 + m), min(canvas.height, y1 + m))
    part = canvas.crop(box).filter(ImageFilter.MinFilter(3) if weight < 0 else ImageFilter.MaxFilter(1 + 2 * weight))
    if part.getbbox() is None:  # a hairline font stays drawn
        return canvas
    out = Image.new("L", canvas.size, 0)
    out.paste(part, box[:2])
    return out


def build(font_dir: Path, out: Path = GLYPHS_PATH, point: int = 160) -> int:
    """Render 0-9 of every font in ``FONTS`` from ``font_dir/<name>.woff`` (or ``files/<name>-latin-400-
    normal.woff`` inside an unpacked npm package folder ``<name>``) into ``out``; returns the glyph count.

    Raises:
        FileNotFoundError: a font of ``FONTS`` is missing from ``font_dir``.
    """
    from PIL import ImageFont

    pixels, shapes, digits = [], [], []
    for name in FONTS:
        paths = [font_dir / f"{name}.woff", font_dir / name / "files" / f"{name}-latin-400-normal.woff"]
        path = next((p for p in paths if p.is_file()), None)
        if path is None:
            raise FileNotFoundError(f"no font {name!r} in {font_dir}: expected {paths[0]} (npm pack @fontsource/{name})")
        font = ImageFont.truetype(str(path), point)
        for digit in range(10):
            page = Image.new("L", (2 * point, 2 * point), 0)
            ImageDraw.Draw(page).text((point, point), str(digit), fill=255, font=font, anchor="mm")
            ink = page.crop(page.getbbox())
            scaled = ink.resize((max(1, round(ink.width * GLYPH_HEIGHT / ink.height)), GLYPH_HEIGHT),
                                Image.Resampling.LANCZOS)
            pixels.append(np.asarray(scaled).ravel())
            shapes.append(scaled.size[::-1])
            digits.append(digit)
    np.savez_compressed(out, pixels=np.concatenate(pixels), shapes=np.array(shapes, np.int32),
                        digits=np.array(digits, np.int8))
    return len(digits)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fonts", type=Path, required=True, help="folder holding <name>.woff for every font of FONTS")
    p.add_argument("--out", type=Path, default=GLYPHS_PATH)
    args = p.parse_args(argv)
    print(f"wrote {build(args.fonts, args.out)} glyphs to {args.out}")


if __name__ == "__main__":
    main()
