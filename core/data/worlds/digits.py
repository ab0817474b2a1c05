"""``digits``: MNIST-style handwritten digits drawn from jittered stroke skeletons.

Each digit 0-9 has one or more skeletons (how people write it: a 7 with or without a bar, an open
or closed 4, ...): strokes through control points in a unit box (x right, y down, height 1). An
item jitters the control points, applies a random slant (shear), aspect, rotation and stroke
thickness, draws the strokes with a round pen on a supersampled canvas, and then normalises it the
way MNIST was built (LeCun et al. 1998): the ink is scaled to fit a 20x20 box preserving its aspect
ratio, antialiased (area averaging), and placed so its centre of mass sits at the centre of the
28x28 frame (13.5, 13.5 in pixel-index coordinates).
At other resolutions the same layout is scaled (the box is 20/28 of the side).

Item: "image" (1, R, R) float in [0, 1], white ink on black; "label" the digit.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from .base import ProceduralWorld
from .draw import catmull_rom_basis, pick

# Skeletons: digit -> [(weight, [(kind, points), ...]), ...]. kind "line": a polyline with sharp
# corners; "curve": a smooth spline through the points; "loop": a closed smooth spline.
SKELETONS = {
    0: [(0.7, [("loop", [(0.5, 0.0), (0.17, 0.22), (0.17, 0.7), (0.48, 1.0), (0.82, 0.78), (0.83, 0.28)])]),
        (0.3, [("curve", [(0.58, 0.03), (0.25, 0.1), (0.14, 0.6), (0.42, 1.0), (0.8, 0.82), (0.85, 0.3), (0.5, 0.0), (0.3, 0.12)])])],
    1: [(0.6, [("line", [(0.52, 0.0), (0.48, 1.0)])]),
        (0.3, [("line", [(0.3, 0.2), (0.54, 0.0), (0.5, 1.0)])]),
        (0.1, [("line", [(0.3, 0.2), (0.54, 0.0), (0.5, 1.0)]), ("line", [(0.25, 1.0), (0.75, 1.0)])])],
    2: [(0.7, [("curve", [(0.15, 0.26), (0.45, 0.0), (0.8, 0.2), (0.68, 0.55), (0.14, 1.0)]), ("line", [(0.14, 1.0), (0.88, 0.97)])]),
        (0.3, [("curve", [(0.15, 0.26), (0.45, 0.0), (0.8, 0.2), (0.6, 0.6), (0.2, 0.92), (0.24, 0.78), (0.4, 0.95), (0.9, 0.98)])])],
    3: [(0.6, [("curve", [(0.14, 0.12), (0.5, 0.0), (0.8, 0.2), (0.42, 0.48)]),
               ("curve", [(0.42, 0.48), (0.82, 0.66), (0.72, 0.93), (0.42, 1.0), (0.12, 0.86)])]),
        (0.4, [("curve", [(0.14, 0.12), (0.5, 0.0), (0.8, 0.2), (0.42, 0.48), (0.82, 0.66), (0.72, 0.93), (0.42, 1.0), (0.12, 0.86)])])],
    4: [(0.6, [("line", [(0.62, 0.0), (0.1, 0.66), (0.9, 0.66)]), ("line", [(0.66, 0.2), (0.66, 1.0)])]),
        (0.4, [("line", [(0.18, 0.0), (0.13, 0.58), (0.88, 0.58)]), ("line", [(0.7, 0.0), (0.68, 1.0)])])],
    5: [(0.5, [("line", [(0.82, 0.0), (0.28, 0.02), (0.22, 0.45)]),
               ("curve", [(0.22, 0.45), (0.52, 0.36), (0.8, 0.56), (0.76, 0.86), (0.45, 1.0), (0.12, 0.9)])]),
        (0.5, [("line", [(0.28, 0.02), (0.22, 0.45)]), ("line", [(0.28, 0.02), (0.85, 0.0)]),
               ("curve", [(0.22, 0.45), (0.52, 0.36), (0.8, 0.56), (0.76, 0.86), (0.45, 1.0), (0.12, 0.9)])])],
    6: [(1.0, [("curve", [(0.74, 0.0), (0.4, 0.18), (0.2, 0.6), (0.36, 0.98), (0.72, 0.9), (0.74, 0.6), (0.42, 0.54), (0.22, 0.7)])])],
    7: [(0.6, [("line", [(0.1, 0.04), (0.88, 0.04), (0.42, 1.0)])]),
        (0.2, [("line", [(0.1, 0.04), (0.88, 0.04), (0.42, 1.0)]), ("line", [(0.35, 0.52), (0.8, 0.5)])]),
        (0.2, [("line", [(0.1, 0.06), (0.88, 0.04)]), ("curve", [(0.88, 0.04), (0.6, 0.45), (0.45, 1.0)])])],
    8: [(0.7, [("loop", [(0.5, 0.0), (0.2, 0.2), (0.5, 0.48), (0.8, 0.76), (0.5, 1.0), (0.2, 0.76), (0.5, 0.48), (0.78, 0.2)])]),
        (0.3, [("loop", [(0.5, 0.0), (0.24, 0.22), (0.5, 0.45), (0.76, 0.22)]),
               ("loop", [(0.5, 0.45), (0.18, 0.72), (0.5, 1.0), (0.82, 0.72)])])],
    9: [(0.6, [("curve", [(0.78, 0.12), (0.5, 0.0), (0.22, 0.2), (0.36, 0.46), (0.7, 0.36), (0.78, 0.12), (0.74, 0.6), (0.66, 1.0)])]),
        (0.4, [("loop", [(0.5, 0.0), (0.22, 0.22), (0.5, 0.46), (0.78, 0.24)]), ("line", [(0.78, 0.16), (0.7, 1.0)])])],
}
CURVE_STEPS = 6  # spline samples per segment between control points
INK_BOX = 19.0  # longer side of the drawn ink, px at 28x28: with area antialiasing every inked pixel
#                 then lies inside a 20x20 box, as in MNIST


@lru_cache(maxsize=None)
def _compiled(digit: int, variant: int):
    """(control points (n, 2), dense basis (M, n), strokes [(start, stop, kind)]) of one skeleton."""
    points, blocks, strokes, row = [], [], [], 0
    for kind, pts in SKELETONS[digit][variant][1]:
        n0 = len(points)
        points += pts
        if kind == "line":
            basis = np.eye(len(pts))
        else:
            basis = catmull_rom_basis(len(pts), CURVE_STEPS, closed=kind == "loop")
        blocks.append((n0, basis))
        strokes.append((row, row + len(basis), kind))
        row += len(basis)
    dense = np.zeros((row, len(points)))
    for (n0, basis), (start, stop, _) in zip(blocks, strokes):
        dense[start:stop, n0:n0 + basis.shape[1]] = basis
    return np.array(points), dense, strokes


class Digits(ProceduralWorld):
    """MNIST-like digits: 28x28 grayscale by default; label = the digit."""

    name = "digits"
    native_resolution = 28
    channels = 1
    class_names = [str(d) for d in range(10)]
    n_uniforms = 8
    n_normals = 32  # 6 for the pen frame, then 2 per control point (at most 13 points)

    def render(self, u, z) -> dict:
        digit = min(int(u[0] * 10), 9)
        weights = [w for w, _ in SKELETONS[digit]]
        variant = pick(weights, u[1])
        points, dense, strokes = _compiled(digit, variant)
        n = len(points)

        # Handwriting variation: jittered control points, then a random affine pen frame.
        jitter = 0.025 + 0.035 * u[2]
        pts = points + jitter * z[6:6 + 2 * n].reshape(n, 2)  # (n, 2)
        aspect = math.exp(0.12 * z[0])
        slant = float(np.clip(0.12 + 0.18 * z[1], -0.35, 0.65))
        angle = 0.06 * z[2]
        x = (pts[:, 0] - 0.5) * aspect
        y = pts[:, 1] - 0.5
        x = x - slant * y  # shear: the top leans right for slant > 0
        c, s = math.cos(angle), math.sin(angle)
        pts = np.stack([c * x - s * y, s * x + c * y], 1)  # (n, 2), unit box centred on 0

        # Draw with a round pen on a supersampled canvas.
        r_out = self.resolution
        box = INK_BOX * r_out / 28.0
        ppu = max(80.0, 3.0 * box)  # canvas pixels per unit of digit height
        size = int(2.4 * ppu)
        thickness = (0.11 + 0.1 * u[3]) * (1.0 + 0.25 * abs(slant))
        width = max(2, int(round(thickness * ppu)))
        radius = width / 2.0
        xy = dense @ pts * ppu + size / 2.0  # (M, 2) canvas pixels
        canvas = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(canvas)
        for start, stop, kind in strokes:
            line = xy[start:stop].tolist()
            draw.line([tuple(p) for p in line], fill=255, width=width)
            caps = line if kind == "line" else (line[0], line[-1])
            for px, py in caps:  # round ends (and sharp corners)
                draw.ellipse((px - radius, py - radius, px + radius, py + radius), fill=255)

        return {"image": _mnist_normalise(canvas, r_out, box)[:, :, None], "label": digit}


def _mnist_normalise(canvas: Image.Image, out: int, box: float) -> np.ndarray:
    """Scale the ink to fit ``box`` px (aspect kept) and put its centre of mass at the frame centre.

    Returns uint8 (out, out).
    """
    x0, y0, x1, y1 = canvas.getbbox()
    ink = np.asarray(canvas.crop((x0, y0, x1, y1)), dtype=np.float32)  # (h, w)
    mass = ink.sum()
    cy = y0 + 0.5 + (ink.sum(1) @ np.arange(ink.shape[0])) / mass  # centre of mass, canvas px
    cx = x0 + 0.5 + (ink.sum(0) @ np.arange(ink.shape[1])) / mass
    half = 0.5 * out * max(x1 - x0, y1 - y0) / box  # half the output frame, in canvas px
    left, top = math.floor(cx - half), math.floor(cy - half)
    right, bottom = math.ceil(cx + half), math.ceil(cy + half)
    region = canvas.crop((left, top, right, bottom))  # zero-padded where it leaves the canvas
    frac = (cx - half - left, cy - half - top, cx + half - left, cy + half - top)
    small = region.resize((out, out), Image.Resampling.BOX, box=frac)  # area antialiasing
    return np.asarray(small)
