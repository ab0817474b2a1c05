"""The Evaluate tab's two charts, drawn with PIL (labels in margins, large enough for a projector): one metric per
model as bars with their error bars and the real-vs-real floor, and the precision-recall plane."""

from __future__ import annotations

from PIL import Image, ImageDraw

from core.data.labelled import clip_text, font


def number(value: float, digits: int = 3) -> str:
    """``digits`` significant digits, with k / M for thousands and millions and no exponent for large values:
    2270.4 -> "2.27k", 20 (1 digit) -> "20", 0.0412 -> "0.0412"."""
    scale, suffix = next(((s, x) for s, x in ((1e6, "M"), (1e3, "k")) if abs(value) >= s), (1.0, ""))
    text = f"{value / scale:.{digits}g}"
    if "e+" in text:  # e.g. 70 with one digit: "7e+01"
        text = f"{float(text):.0f}"
    return text + suffix


GRID = (225, 225, 225)
# Tableau's ten, then black and maroon (an eleventh in indigo was hard to tell from the first's blue: the GANs' 11
# variants share one chart)
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (0, 0, 0), (128, 0, 64)]


def message_image(text: str, width: int = 900) -> Image.Image:
    """A chart-sized panel with one sentence (wrapped), where a chart has nothing to draw."""
    from core.data.labelled import with_legend

    return with_legend(Image.new("RGB", (width, 16), "white"), [text], font_size=18, margin=16, chars=80)


def bar_chart(names: list[str], values: list[float], errors: list[float], floor: float | None, title: str,
              width: int = 900, row: int = 34) -> Image.Image:
    """Horizontal bars (one per model) with ±1 std whiskers and a dashed line at the real-vs-real floor (if any)."""
    left, top, right = 370, 46, 40
    height = top + row * len(names) + 40
    image = Image.new("RGB", (width, height), "white")
    draw, face = ImageDraw.Draw(image), font(16)
    draw.text((12, 12), title, fill="black", font=font(18))
    lines = [] if floor is None else [floor]
    hi = max([v + e for v, e in zip(values, errors)] + lines + [1e-9]) * 1.08
    lo = min([v - e for v, e in zip(values, errors)] + lines + [0.0])
    lo = lo * 1.08 if lo < 0 else 0.0
    scale = (width - left - right) / (hi - lo)
    x_of = lambda v: left + (v - lo) * scale
    bottom = top + row * len(names)
    if floor is not None:  # the floor first, a dashed line: the bars' value labels are written over it
        for y in range(top - 4, bottom, 10):
            draw.line((x_of(floor), y, x_of(floor), y + 5), fill=(200, 0, 0), width=2)
        draw.text((x_of(floor), bottom + 18), f"real vs real {number(floor)}", fill=(200, 0, 0), font=face, anchor="mm")
    for i, (name, v, e) in enumerate(zip(names, values, errors)):
        y = top + i * row
        draw.text((12, y + row / 2), clip_text(name, 42), fill="black", font=face, anchor="lm")
        draw.rectangle((x_of(min(0, v)), y + 6, x_of(max(0, v)), y + row - 6), fill=COLOURS[i % len(COLOURS)])
        draw.line((x_of(v - e), y + row / 2, x_of(v + e), y + row / 2), fill="black", width=2)
        for end in (v - e, v + e):
            draw.line((x_of(end), y + 10, x_of(end), y + row - 10), fill="black", width=2)
        at = (x_of(max(v + e, 0)) + 6, y + row / 2)
        draw.rectangle(draw.textbbox(at, number(v), font=face, anchor="lm"), fill="white")
        draw.text(at, number(v), fill="black", font=face, anchor="lm")
    return image


def pr_plot(names: list[str], precision: list[float], recall: list[float], floor: tuple[float, float],
            size: int = 520) -> Image.Image:
    """Precision (fidelity) against recall (diversity), a numbered dot per model, the real-vs-real point in red."""
    left, top, legend = 60, 40, 340
    plot = size - top - 60
    image = Image.new("RGB", (left + plot + 30 + legend, size), "white")
    draw, face = ImageDraw.Draw(image), font(15)
    x_of = lambda r: left + r * plot
    y_of = lambda p: top + (1 - p) * plot
    draw.rectangle((x_of(0), y_of(1), x_of(1), y_of(0)), outline="black")
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):  # the tick labels clear of a dot on the edge (radius 11: precision 0.99 hid "1")
        draw.text((x_of(t), y_of(0) + 22), f"{t:g}", fill="black", font=face, anchor="mm")
        draw.text((left - 15, y_of(t)), f"{t:g}", fill="black", font=face, anchor="rm")
        draw.line((x_of(t), y_of(0), x_of(t), y_of(1)), fill=(225, 225, 225))
        draw.line((x_of(0), y_of(t), x_of(1), y_of(t)), fill=(225, 225, 225))
    draw.text((x_of(0.5), y_of(0) + 44), "recall (diversity)", fill="black", font=face, anchor="mm")
    draw.text((left - 40, 10), "precision (fidelity)", fill="black", font=face)
    points = [(floor[1], floor[0], (200, 0, 0), "R", "real vs real (the floor)")]
    points += [(r, p, COLOURS[i % len(COLOURS)], str(i + 1), n)
               for i, (n, p, r) in enumerate(zip(names, precision, recall))]
    for i, (r, p, colour, mark, name) in enumerate(points):
        x, y = x_of(r), y_of(p)
        draw.ellipse((x - 11, y - 11, x + 11, y + 11), fill=colour)
        draw.text((x, y), mark, fill="white", font=font(14), anchor="mm")
        ly = top + 8 + 26 * i
        draw.ellipse((left + plot + 30, ly - 9, left + plot + 48, ly + 9), fill=colour)
        draw.text((left + plot + 39, ly), mark, fill="white", font=font(12), anchor="mm")
        draw.text((left + plot + 56, ly), clip_text(name, 42), fill="black", font=face, anchor="lm")
    return image


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round tick values within [lo, hi], a step of 1, 2 or 5 times a power of ten, at most ``most`` of them."""
    import math

    span = hi - lo
    if span <= 0:
        return [lo]
    power = 10 ** math.floor(math.log10(span / most))
    step = next(m * power for m in (1, 2, 5, 10) if span / (m * power) <= most)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + k * step, 12) for k in range(int((hi - first) / step + 1e-9) + 1)]


def line_chart(series: dict[str, list[tuple[float, float]]], title: str, width: int = 900, height: int = 360,
               x_title: str = "step", y_range: tuple[float, float] | None = None, font_size: int = 14) -> Image.Image:
    """One line per named series of (step, value) points, a legend on the right as wide as its longest name (a
    training curve; up to len(COLOURS) series get a colour each). ``y_range``: the axis (values beyond it drawn at
    its edge), else every value's."""
    face = font(font_size)
    left, top, right, bottom = 70, 40, 20, 50
    legend = 50 + int(max(face.getlength(name) for name in series)) if len(series) > 1 else 0
    height = max(height, top + 10 + 22 * len(series) + bottom) if legend else height
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((12, 10), title, fill="black", font=font(font_size + 2))
    points = [p for s in series.values() for p in s]
    if not points:
        draw.text((width / 2, height / 2), "no logged values", fill="black", font=face, anchor="mm")
        return image
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points) or 1
    y0, y1 = y_range or (min(p[1] for p in points), max(p[1] for p in points))
    y0, y1 = (y0 - 1, y1 + 1) if y1 == y0 else (y0 - 0.05 * (y1 - y0), y1 + 0.05 * (y1 - y0))  # off the frame
    plot_w, plot_h = width - left - right - legend, height - top - bottom
    x_of = lambda x: left + (x - x0) / max(x1 - x0, 1e-12) * plot_w
    y_of = lambda y: top + (1 - (min(max(y, y0), y1) - y0) / (y1 - y0)) * plot_h
    for y in nice_ticks(y0, y1):
        draw.line((left, y_of(y), left + plot_w, y_of(y)), fill=GRID)
        draw.text((left - 6, y_of(y)), number(y), fill="black", font=face, anchor="rm")
    for x in nice_ticks(x0, x1, most=max(3, min(6, int(plot_w // 45)))):  # labels apart in a small panel
        draw.line((x_of(x), top, x_of(x), top + plot_h), fill=GRID)
        draw.text((x_of(x), top + plot_h + 12), number(x), fill="black", font=face, anchor="mm")
    draw.text((left + plot_w / 2, top + plot_h + 30), x_title, fill="black", font=face, anchor="mm")
    draw.rectangle((left, top, left + plot_w, top + plot_h), outline="black")
    for i, (name, pts) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        if len(pts) > 1:
            draw.line([(x_of(x), y_of(y)) for x, y in pts], fill=colour, width=2)
        if legend:
            ly = top + 10 + 22 * i
            draw.line((left + plot_w + 14, ly, left + plot_w + 34, ly), fill=colour, width=3)
            draw.text((left + plot_w + 40, ly), name, fill="black", font=face, anchor="lm")
    return image


def settled_range(points: list[tuple[float, float]], skip: float = 0.05) -> tuple[float, float]:
    """The values' range after the first ``skip`` of the steps (a loss's first steps can be 10x its level after)."""
    x0, x1 = min(x for x, _ in points), max(x for x, _ in points)
    later = [y for x, y in points if x >= x0 + skip * (x1 - x0)] or [y for _, y in points]
    return min(later), max(later)


def unlike_scales(series: dict[str, list[tuple[float, float]]], ratio: float = 5.0) -> bool:
    """Whether one chart would flatten some series: the settled ranges' spans differ more than ``ratio``x, or
    their levels lie further apart than that times the median span."""
    ranges = [settled_range(pts) for pts in series.values() if pts]
    if len(ranges) < 2:
        return False
    spans = sorted(max(hi - lo, 1e-12) for lo, hi in ranges)
    median = spans[len(spans) // 2]
    union = max(hi for _, hi in ranges) - min(lo for lo, _ in ranges)
    return spans[-1] > ratio * median or union > ratio * max(median, 1e-12) * 2


def fitted_lines(text: str, face, width: float) -> list[str]:
    """``text`` broken between words into lines no wider than ``width`` px in font ``face`` (a long chart title ran
    off the image's right edge)."""
    lines = [""]
    for word in text.split():
        if lines[-1] and face.getlength(f"{lines[-1]} {word}") > width:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}".strip()
    return lines


def small_multiples(series: dict[str, list[tuple[float, float]]], title: str, width: int = 900,
                    columns: int = 4, panel_height: int = 200) -> Image.Image:
    """One small chart per series, each on its own y axis (its settled range, :func:`settled_range`), in
    ``columns`` columns under ``title``: for losses of different objectives, whose values cannot share one axis."""
    panel_w = width // columns
    rows = -(-len(series) // columns)
    lines = fitted_lines(title, font(16), width - 24)
    top = 40 + 20 * (len(lines) - 1)
    image = Image.new("RGB", (width, top + rows * panel_height), "white")
    ImageDraw.Draw(image).text((12, 10), "\n".join(lines), fill="black", font=font(16), spacing=4)
    for i, (name, pts) in enumerate(series.items()):
        panel = line_chart({name: pts}, name, width=panel_w, height=panel_height, x_title="",
                           y_range=settled_range(pts) if pts else None, font_size=13)
        image.paste(panel, ((i % columns) * panel_w, top + (i // columns) * panel_height))
    return image
