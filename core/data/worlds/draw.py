"""Drawing helpers shared by the worlds: spline bases, supersampling, edge maps, a unit-coordinate pen."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def supersample_factor(resolution: int, work: int = 128) -> int:
    """How many times larger to draw so the canvas is about ``work`` px (at least 2x, at most 4x)."""
    return int(min(4, max(2, round(work / resolution))))


def catmull_rom_basis(n_points: int, steps: int, closed: bool = False) -> np.ndarray:
    """Matrix B (M, n_points) such that ``B @ P`` samples the Catmull-Rom spline through points P.

    Uniform Catmull-Rom (1974): on the segment P1->P2 with neighbours P0, P3,
    ``p(t) = 1/2 [2 P1 + (P2 - P0) t + (2 P0 - 5 P1 + 4 P2 - P3) t^2 + (3 P1 - P0 - 3 P2 + P3) t^3]``.
    The curve is linear in the points, so jittered points only need one matrix product.
    An open curve reflects its end points (P_-1 = 2 P0 - P1); a closed one wraps around and
    returns to its first point.
    """
    t = np.arange(steps) / steps  # (S,)
    w = 0.5 * np.stack([-t + 2 * t**2 - t**3, 2 - 5 * t**2 + 3 * t**3, t + 4 * t**2 - 3 * t**3, -t**2 + t**3], 1)  # (S, 4)
    segments = n_points if closed else n_points - 1
    rows = np.zeros((segments * steps + 1, n_points))
    for s in range(segments):
        for k, offset in enumerate((-1, 0, 1, 2)):
            j = s + offset
            if closed:
                rows[s * steps:(s + 1) * steps, j % n_points] += w[:, k]
            elif j < 0:  # reflected start: P_-1 = 2 P0 - P1
                rows[s * steps:(s + 1) * steps, 0] += 2 * w[:, k]
                rows[s * steps:(s + 1) * steps, 1] -= w[:, k]
            elif j >= n_points:  # reflected end
                rows[s * steps:(s + 1) * steps, n_points - 1] += 2 * w[:, k]
                rows[s * steps:(s + 1) * steps, n_points - 2] -= w[:, k]
            else:
                rows[s * steps:(s + 1) * steps, j] += w[:, k]
    rows[-1, 0 if closed else n_points - 1] = 1.0
    return rows


def boundary_mask(labels: np.ndarray) -> np.ndarray:
    """Bool mask (H, W) of pixels whose right or lower neighbour has another label (1 px thin)."""
    edge = np.zeros(labels.shape, dtype=bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edge


def pick(weights, u: float) -> int:
    """Index chosen with probability proportional to ``weights`` using one uniform ``u``."""
    total = float(sum(weights))
    acc = 0.0
    for k, w in enumerate(weights):
        acc += w / total
        if u < acc:
            return k
    return len(weights) - 1


class Pen:
    """Draws on an 'L' canvas of paint indices in unit coordinates (0..1 across ``size`` pixels).

    ``margin`` extra pixels surround the unit square on every side, so parts that stick out
    (drawn once, shifted later) are not clipped.
    """

    def __init__(self, size: int, margin: int = 0):
        self.size, self.margin = size, margin
        self.canvas = Image.new("L", (size + 2 * margin, size + 2 * margin), 0)
        self.draw = ImageDraw.Draw(self.canvas)

    def _xy(self, x, y):
        return x * self.size + self.margin, y * self.size + self.margin

    def box(self, cx, cy, rx, ry):
        s, m = self.size, self.margin
        return ((cx - rx) * s + m, (cy - ry) * s + m, (cx + rx) * s + m, (cy + ry) * s + m)

    def ellipse(self, cx, cy, rx, ry, paint, outline=None, width=0):
        self.draw.ellipse(self.box(cx, cy, rx, ry), fill=paint, outline=outline, width=width)

    def ring(self, cx, cy, rx, ry, paint, width):
        self.draw.ellipse(self.box(cx, cy, rx, ry), outline=paint, width=width)

    def rounded(self, x0, y0, x1, y1, radius, paint, width=0):
        xy = (*self._xy(x0, y0), *self._xy(x1, y1))
        if width:
            self.draw.rounded_rectangle(xy, radius * self.size, outline=paint, width=width)
        else:
            self.draw.rounded_rectangle(xy, radius * self.size, fill=paint)

    def chord(self, cx, cy, rx, ry, start, end, paint):
        self.draw.chord(self.box(cx, cy, rx, ry), start, end, fill=paint)

    def pieslice(self, cx, cy, rx, ry, start, end, paint):
        self.draw.pieslice(self.box(cx, cy, rx, ry), start, end, fill=paint)

    def arc(self, cx, cy, rx, ry, start, end, paint, width):
        self.draw.arc(self.box(cx, cy, rx, ry), start, end, fill=paint, width=width)

    def polygon(self, points, paint):
        self.draw.polygon([self._xy(x, y) for x, y in points], fill=paint)

    def line(self, points, paint, width):
        self.draw.line([self._xy(x, y) for x, y in points], fill=paint, width=width)
