"""Small PIL drawings for the tab: the latent map (a scatter coloured by class) and a bar chart.

Pure PIL so the map can be clicked in an image widget: :class:`LatentMap` converts between
pixels and latent coordinates both ways.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image, ImageDraw

from core.data.labelled import font

# Tableau-10 colours, one per class (cycled beyond 10)
CLASS_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                 (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


@dataclass
class LatentMap:
    """A square plot of the latent plane [lo, hi]^2 drawn on ``size`` pixels with a ``margin``."""

    lo: float
    hi: float
    size: int = 480
    margin: int = 40

    @classmethod
    def around(cls, xy: torch.Tensor, size: int = 480, minimum: float = 3.0) -> "LatentMap":
        """A map wide enough for 99% of the points (and at least +-``minimum``)."""
        r = float(torch.quantile(xy.abs().flatten().float(), 0.99)) * 1.08 if len(xy) else minimum
        r = max(r, minimum)
        return cls(-r, r, size)

    @property
    def span(self) -> float:
        return self.hi - self.lo

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        inner = self.size - 2 * self.margin
        return (self.margin + (x - self.lo) / self.span * inner, self.margin + (self.hi - y) / self.span * inner)

    def to_latent(self, px: float, py: float) -> tuple[float, float]:
        """Pixel (column, row) -> latent (x, y), clamped to the map."""
        inner = self.size - 2 * self.margin
        x = self.lo + (px - self.margin) / inner * self.span
        y = self.hi - (py - self.margin) / inner * self.span
        return (min(max(x, self.lo), self.hi), min(max(y, self.lo), self.hi))

    def draw(self, xy: torch.Tensor, labels: torch.Tensor, class_names=None, marker=None,
             axis_names=("z1", "z2"), ends=()) -> Image.Image:
        """Scatter ``xy`` (N, 2) coloured by ``labels``; ``marker`` (x, y) draws a cross; ``ends`` (one or two
        (x, y) points) draws A, and B with the line from A to B (the two-point interpolation)."""
        small, large = font(14), font(16)  # a projector's sizes (the bitmap font's 11 px read 5 px on a small map)
        names = [str(n)[:12] for n in list(class_names or [])[:20]]
        legend = 40 + max(int(large.getlength(n)) for n in names) if names else 0  # class swatches right of the plot
        img = Image.new("RGB", (self.size + legend, self.size), "white")
        d = ImageDraw.Draw(img)
        m, s = self.margin, self.size
        d.rectangle([m, m, s - m, s - m], outline=(90, 90, 90))
        for v in _ticks(self.lo, self.hi):
            px, _ = self.to_pixel(v, 0)
            _, py = self.to_pixel(0, v)
            d.line([px, s - m, px, s - m + 4], fill=(90, 90, 90))
            d.text((px, s - m + 6), f"{v:g}", fill=(60, 60, 60), font=small, anchor="mt")
            d.line([m - 4, py, m, py], fill=(90, 90, 90))
            d.text((m - 7, py), f"{v:g}", fill=(60, 60, 60), font=small, anchor="rm")
        ox, oy = self.to_pixel(0, 0)
        d.line([ox, m, ox, s - m], fill=(225, 225, 225))
        d.line([m, oy, s - m, oy], fill=(225, 225, 225))
        d.text((s // 2, s - 2), axis_names[0], fill=(0, 0, 0), font=large, anchor="md")
        d.text((m + 4, m - 4), axis_names[1], fill=(0, 0, 0), font=large, anchor="ld")
        for (x, y), c in zip(xy.tolist(), labels.tolist()):
            px, py = self.to_pixel(x, y)
            if m <= px <= s - m and m <= py <= s - m:
                d.ellipse([px - 2, py - 2, px + 2, py + 2], fill=CLASS_COLOURS[int(c) % len(CLASS_COLOURS)])
        if names:
            x0, y0, row = s - m + 14, m + 4, 20
            for i, name in enumerate(names):
                d.rectangle([x0, y0 + row * i, x0 + 12, y0 + row * i + 12], fill=CLASS_COLOURS[i % len(CLASS_COLOURS)])
                d.text((x0 + 18, y0 + row * i + 6), name, fill=(0, 0, 0), font=large, anchor="lm")
        points = [self.to_pixel(*p) for p in ends]
        if len(points) == 2:
            d.line([*points[0], *points[1]], fill=(0, 0, 0), width=3)
        for (px, py), name in zip(points, "AB"):
            d.ellipse([px - 9, py - 9, px + 9, py + 9], fill=(255, 255, 255), outline=(0, 0, 0), width=2)
            d.text((px, py), name, fill=(0, 0, 0), font=small, anchor="mm")
        if marker is not None:
            px, py = self.to_pixel(*marker)
            arm = max(9, self.size // 20)  # seen among the points when the map is shown small (a 9 px cross was not)
            for colour, width in (((255, 255, 255), 8), ((0, 0, 0), 4)):  # black on a white halo: on ink or paper
                d.line([px - arm, py, px + arm, py], fill=colour, width=width)
                d.line([px, py - arm, px, py + arm], fill=colour, width=width)
        return img


def _ticks(lo: float, hi: float) -> list[float]:
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 50, 100, 1e9) if (hi - lo) / s <= 8)
    start = -int(-lo // step) * step
    out, v = [], start
    while v <= hi + 1e-9:
        out.append(round(v, 6))
        v += step
    return out
