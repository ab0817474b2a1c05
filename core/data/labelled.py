"""Image sheets with their labels in white margins, never over the pixels (issue #18's projector rule)."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont


def font(size: int):
    """Pillow's scalable default font at ``size`` px (the bitmap one on old Pillow)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without scalable default font
        return ImageFont.load_default()


def clip_text(text: str, n: int) -> str:
    """``text`` cut to ``n`` characters with an ellipsis."""
    return text if len(text) <= n else text[:n - 1] + "…"


def _pieces(word: str) -> list[str]:
    """A word cut after each "/" and "-" (the places a checkpoint name can break)."""
    parts, part = [], ""
    for ch in word:
        part += ch
        if ch in "/-":
            parts.append(part)
            part = ""
    return parts + ([part] if part else [])


def wrap_text(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken between words; a word longer than a line breaks
    after its "/" and "-" (a checkpoint name), or is cut."""
    lines, line = [], ""
    for word in text.split():
        if len(word) > width:  # piece by piece, the pieces joined without spaces
            for i, piece in enumerate(_pieces(word)):
                sep = " " if i == 0 and line else ""
                if line and len(line) + len(sep) + len(piece) > width:
                    lines.append(line)
                    line, sep = "", ""
                line += sep + piece
                while len(line) > width:
                    lines.append(line[:width])
                    line = line[width:]
        elif line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


def label_lines(text: str, width: int, most: int) -> list[str]:
    """:func:`wrap_text`'s lines, at most ``most`` of them: a text cut there ends with "…" (a 500-character prompt
    beside a grid's row just stopped)."""
    lines = wrap_text(text, width)
    if len(lines) <= most:
        return lines
    last = lines[most - 1]
    return lines[:most - 1] + [f"{last} …" if len(last) + 2 <= width else last[:width - 1] + "…"]


def labelled_grid(cells: list[list[Image.Image]], rows: list[str], cols: list[str], left: int = 170,
                  top: int = 34, pad: int = 6, font_size: int = 15) -> Image.Image:
    """Rows x cols of equal-size PIL images; column labels above (a "\n" starts a second line: the margin grows to
    hold it), row labels (wrapped) in a left margin (about ``font_size`` * 8 / 15 px a character, lines
    ``font_size`` * 1.2 px apart)."""
    w, h = cells[0][0].size
    char, line_h = font_size * 8 / 15, round(font_size * 1.2)
    lines = max((len(label.split("\n")) for label in cols), default=1)
    top += (lines - 1) * line_h
    grid = Image.new("RGB", (left + len(cols) * (w + pad), top + len(rows) * (h + pad)), "white")
    draw, face = ImageDraw.Draw(grid), font(font_size)
    for j, label in enumerate(cols):
        parts = label.split("\n")
        for k, part in enumerate(parts):
            y = top / 2 + (k - (len(parts) - 1) / 2) * line_h
            draw.text((left + j * (w + pad) + w / 2, y), clip_text(part, 22), fill="black", font=face, anchor="mm")
    for i, label in enumerate(rows):
        y = top + i * (h + pad)
        for line_no, line in enumerate(label_lines(label, max(6, int((left - 12) / char)), max(1, h // line_h))):
            draw.text((6, y + 8 + line_h * line_no), line, fill="black", font=face)
        for j, img in enumerate(cells[i]):
            grid.paste(img.convert("RGB"), (left + j * (w + pad), y))
    return grid


def with_legend(image: Image.Image, lines: list[str], title: str = "", font_size: int = 15, margin: int = 6,
                chars: int | None = None) -> Image.Image:
    """``image`` with a white strip below it holding ``title`` and ``lines``, each wrapped to ``chars`` characters
    (default: as many as fit the image's width at about 8 px each)."""
    face, step = font(font_size), font_size + 5
    chars = chars or max(20, (image.width - 2 * margin) // 8)
    wrapped = ([title] if title else []) + [w for line in lines for w in wrap_text(line, chars)]
    out = Image.new("RGB", (image.width, image.height + 8 + step * len(wrapped)), "white")
    out.paste(image.convert("RGB"), (0, 0))
    draw = ImageDraw.Draw(out)
    for k, line in enumerate(wrapped):
        draw.text((margin, image.height + 4 + step * k), line, fill="black", font=face)
    return out


def sample_sheet(images, nrow: int, rows: list[str] = (), cols: list[str] = (), min_width: int = 256) -> Image.Image:
    """Images (N, C, H, W) in [0, 1], ``nrow`` per row, as one sheet at least ``min_width`` px wide.

    Each tile is enlarged by a whole factor (nearest neighbour: pixels stay crisp) so the grid reaches
    ``min_width``, a 28 px digit at least 64 px; with ``rows`` / ``cols`` (a label per grid row / column) the
    labels go in white margins beside the tiles, never over them, in type that grows with a sheet wider than 800 px
    (15 px at most 800 px wide: a wide sheet fitted to a page kept its labels at 15 px of its own width).
    """
    import math

    from .images import make_grid, to_pil

    n, side = len(images), max(images.shape[-2:])
    nrow = max(1, min(nrow, n))
    scale = max(1, math.ceil(max(64, min_width / nrow) / side))
    if not rows and not cols:
        grid = to_pil(make_grid(images, nrow=nrow))
        return grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST)
    tiles = [to_pil(x).resize((x.shape[-1] * scale, x.shape[-2] * scale), Image.NEAREST) for x in images]
    cells = [tiles[i:i + nrow] for i in range(0, n, nrow)]
    rows = list(rows)[:len(cells)] + [""] * (len(cells) - len(rows))
    width = max(len(r) for r in rows)
    size = max(15, round(15 * nrow * (tiles[0].width + 6) / 800))  # the type's px
    left = round(14 + size * 8 / 15 * min(width, 16)) if width else 4  # labelled_grid wraps at 16 characters
    return labelled_grid(cells, rows, list(cols) if cols else [""] * nrow, left=left,
                         top=round(28 * size / 15) if cols else 4, font_size=size)


def captioned_sheet(images, captions: list[str], nrow: int, min_width: int = 512, font_size: int = 20) -> Image.Image:
    """Images (N, C, H, W) in [0, 1], ``nrow`` per row, each with its caption (a text-to-image sample's prompt)
    wrapped in the white space under it; tiles enlarged by a whole factor (nearest neighbour) so the sheet is at least
    ``min_width`` px wide. The type, ``font_size`` px of a ~550 px sheet, reads ~14 px in a training panel's column.
    Raises ValueError when ``captions`` does not give one caption per image."""
    import math

    from .images import to_pil

    if len(captions) != len(images):
        raise ValueError(f"{len(images)} images need {len(images)} captions, got {len(captions)}")
    n, side, pad = len(images), max(images.shape[-2:]), 8
    nrow = max(1, min(nrow, n))
    scale = max(1, math.ceil(max(64, min_width / nrow) / side))
    tiles = [to_pil(x).resize((x.shape[-1] * scale, x.shape[-2] * scale), Image.NEAREST) for x in images]
    w, h = tiles[0].size
    face, line_h = font(font_size), round(font_size * 1.2)

    def fitted(caption: str) -> list[str]:  # lines as wide as the tile, measured in the font
        lines = []
        for word in caption.split():
            if lines and face.getlength(f"{lines[-1]} {word}") <= w:
                lines[-1] += f" {word}"
            else:
                lines.append(word)
        return lines

    lines = [fitted(c) for c in captions]
    rows = [lines[i:i + nrow] for i in range(0, n, nrow)]
    text_h = [line_h * max(len(ls) for ls in row) + 6 for row in rows]  # each row as tall as its longest caption
    sheet = Image.new("RGB", (nrow * (w + pad) + pad, sum(h + t + pad for t in text_h) + pad), "white")
    draw, y = ImageDraw.Draw(sheet), pad
    for r, row in enumerate(rows):
        for j, caption in enumerate(row):
            x = pad + j * (w + pad)
            sheet.paste(tiles[r * nrow + j].convert("RGB"), (x, y))
            for i, line in enumerate(caption):
                draw.text((x, y + h + 4 + i * line_h), line, fill="black", font=face)
        y += h + text_h[r] + pad
    return sheet
