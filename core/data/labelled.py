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


def wrap_text(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken between words."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


def labelled_grid(cells: list[list[Image.Image]], rows: list[str], cols: list[str], left: int = 170,
                  top: int = 34, pad: int = 6, font_size: int = 15) -> Image.Image:
    """Rows x cols of equal-size PIL images; column labels above, row labels (wrapped) in a left margin."""
    w, h = cells[0][0].size
    grid = Image.new("RGB", (left + len(cols) * (w + pad), top + len(rows) * (h + pad)), "white")
    draw, face = ImageDraw.Draw(grid), font(font_size)
    for j, label in enumerate(cols):
        draw.text((left + j * (w + pad) + w / 2, top / 2), clip_text(label, 22), fill="black", font=face, anchor="mm")
    for i, label in enumerate(rows):
        y = top + i * (h + pad)
        for line_no, line in enumerate(wrap_text(label, max(6, (left - 12) // 8))[:max(1, h // 18)]):
            draw.text((6, y + 8 + 18 * line_no), line, fill="black", font=face)
        for j, img in enumerate(cells[i]):
            grid.paste(img.convert("RGB"), (left + j * (w + pad), y))
    return grid
