"""``digits``: MNIST-style handwritten digits drawn from jittered stroke skeletons.

Each digit 0-9 has three to six skeletons (how people write it: a 7 with or without a bar, an open
or closed 4, a looped 2, ...): strokes through control points in a unit box (x right, y down,
height 1). An item jitters the control points, bends the strokes with a smooth elastic warp, applies
a random slant (shear), aspect and rotation, lets each stroke overshoot or fall short and each loop
stay open or overlap, draws the strokes with a round pen that presses harder mid-stroke on a
supersampled canvas, and then normalises it the way MNIST was built (LeCun et al. 1998): the ink is scaled to fit a 20x20 box preserving its aspect
ratio, antialiased (area averaging), and placed so its centre of mass sits at the centre of the
28x28 frame (13.5, 13.5 in pixel-index coordinates).
At other resolutions the same layout is scaled (the box is 20/28 of the side).

A share of the items (``FONT_SHARE``) is drawn instead from the digit of one of 64 handwriting fonts
(:mod:`.digit_glyphs`): the same frame and warp bend it, its pen is made thinner or bolder, and it is
framed the same way. The fonts bring ways of writing a digit that the skeletons lack; on MNIST's test
split a classifier trained on the world read 96.1 % without them, 97.1 % with them, and 98.0 % once the
2 looped at the foot as wide as the digit and the short-barred 7 joined the skeletons (the classifier
card's notes).

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
# corners; "curve": a smooth spline through the points; "loop": a closed smooth spline. The variants
# are the ways people commonly write each digit (MNIST's test set was the reference).
SKELETONS = {
    0: [(0.6, [("loop", [(0.5, 0.0), (0.17, 0.22), (0.17, 0.7), (0.48, 1.0), (0.82, 0.78), (0.83, 0.28)])]),
        (0.25, [("curve", [(0.58, 0.03), (0.25, 0.1), (0.14, 0.6), (0.42, 1.0), (0.8, 0.82), (0.85, 0.3), (0.5, 0.0), (0.3, 0.12)])]),
        (0.15, [("loop", [(0.55, 0.0), (0.3, 0.15), (0.2, 0.6), (0.4, 1.0), (0.7, 0.9), (0.8, 0.4)])]),
        (0.1, [("curve", [(0.7, 0.1), (0.45, 0.0), (0.18, 0.35), (0.25, 0.85), (0.55, 1.0), (0.82, 0.6), (0.75, 0.15),
                          (0.5, 0.05), (0.4, 0.2)])])],
    1: [(0.6, [("line", [(0.52, 0.0), (0.48, 1.0)])]),
        (0.3, [("line", [(0.3, 0.2), (0.54, 0.0), (0.5, 1.0)])]),
        (0.1, [("line", [(0.3, 0.2), (0.54, 0.0), (0.5, 1.0)]), ("line", [(0.25, 1.0), (0.75, 1.0)])])],
    2: [(0.45, [("curve", [(0.15, 0.26), (0.45, 0.0), (0.8, 0.2), (0.68, 0.55), (0.14, 1.0)]), ("line", [(0.14, 1.0), (0.88, 0.97)])]),
        (0.35, [("curve", [(0.15, 0.26), (0.45, 0.0), (0.8, 0.2), (0.6, 0.6), (0.2, 0.92), (0.24, 0.78), (0.4, 0.95), (0.9, 0.98)])]),
        (0.15, [("curve", [(0.12, 0.2), (0.5, 0.0), (0.82, 0.18), (0.76, 0.42)]), ("line", [(0.76, 0.42), (0.12, 1.0), (0.9, 0.98)])]),
        (0.35, [("curve", [(0.12, 0.22), (0.45, 0.0), (0.8, 0.18), (0.7, 0.5), (0.38, 0.82), (0.14, 0.96), (0.16, 0.72),
                           (0.42, 0.76), (0.62, 0.95), (0.9, 1.0)])]),
        (0.2, [("curve", [(0.15, 0.2), (0.5, 0.0), (0.8, 0.2), (0.66, 0.55), (0.4, 0.85), (0.3, 1.0), (0.42, 0.78),
                          (0.58, 0.88), (0.9, 0.98)])]),
        # down the right side into a loop as wide as the digit, the tail leaving it to the right
        (0.2, [("curve", [(0.1, 0.2), (0.45, 0.0), (0.82, 0.2), (0.85, 0.55), (0.7, 0.95), (0.35, 1.0), (0.1, 0.8),
                          (0.25, 0.55), (0.55, 0.68), (0.9, 0.92)])])],
    3: [(0.45, [("curve", [(0.14, 0.12), (0.5, 0.0), (0.8, 0.2), (0.42, 0.48)]),
                ("curve", [(0.42, 0.48), (0.82, 0.66), (0.72, 0.93), (0.42, 1.0), (0.12, 0.86)])]),
        (0.35, [("curve", [(0.14, 0.12), (0.5, 0.0), (0.8, 0.2), (0.42, 0.48), (0.82, 0.66), (0.72, 0.93), (0.42, 1.0), (0.12, 0.86)])]),
        (0.2, [("line", [(0.15, 0.02), (0.82, 0.02), (0.4, 0.44)]),
               ("curve", [(0.4, 0.44), (0.8, 0.6), (0.74, 0.92), (0.42, 1.0), (0.12, 0.86)])])],
    4: [(0.45, [("line", [(0.62, 0.0), (0.1, 0.66), (0.9, 0.66)]), ("line", [(0.66, 0.2), (0.66, 1.0)])]),
        (0.35, [("line", [(0.18, 0.0), (0.13, 0.58), (0.88, 0.58)]), ("line", [(0.7, 0.0), (0.68, 1.0)])]),
        (0.2, [("curve", [(0.22, 0.0), (0.14, 0.4), (0.3, 0.6), (0.9, 0.55)]), ("line", [(0.74, 0.05), (0.66, 1.0)])])],
    5: [(0.45, [("line", [(0.82, 0.0), (0.28, 0.02), (0.22, 0.45)]),
                ("curve", [(0.22, 0.45), (0.52, 0.36), (0.8, 0.56), (0.76, 0.86), (0.45, 1.0), (0.12, 0.9)])]),
        (0.45, [("line", [(0.28, 0.02), (0.22, 0.45)]), ("line", [(0.28, 0.02), (0.85, 0.0)]),
                ("curve", [(0.22, 0.45), (0.52, 0.36), (0.8, 0.56), (0.76, 0.86), (0.45, 1.0), (0.12, 0.9)])]),
        (0.1, [("line", [(0.3, 0.0), (0.22, 0.45)]), ("line", [(0.3, 0.0), (0.9, 0.02)]),
               ("curve", [(0.22, 0.45), (0.6, 0.4), (0.85, 0.7), (0.6, 0.98), (0.15, 0.92)])])],
    6: [(0.55, [("curve", [(0.74, 0.0), (0.4, 0.18), (0.2, 0.6), (0.36, 0.98), (0.72, 0.9), (0.74, 0.6), (0.42, 0.54), (0.22, 0.7)])]),
        (0.25, [("curve", [(0.7, 0.0), (0.42, 0.3), (0.24, 0.72), (0.45, 1.0), (0.76, 0.86), (0.66, 0.58), (0.36, 0.62)])]),
        (0.2, [("curve", [(0.8, 0.05), (0.45, 0.12), (0.18, 0.5), (0.3, 0.95), (0.7, 0.95), (0.82, 0.62), (0.5, 0.42), (0.2, 0.6)])]),
        (0.2, [("curve", [(0.62, 0.0), (0.35, 0.25), (0.15, 0.65), (0.4, 1.0), (0.8, 0.85), (0.78, 0.5), (0.45, 0.4), (0.2, 0.55)])]),
        (0.35, [("curve", [(0.72, 0.0), (0.48, 0.32), (0.28, 0.72), (0.38, 1.0), (0.7, 0.94), (0.7, 0.7), (0.42, 0.64), (0.28, 0.78)])])],
    7: [(0.5, [("line", [(0.1, 0.04), (0.88, 0.04), (0.42, 1.0)])]),
        (0.2, [("line", [(0.1, 0.04), (0.88, 0.04), (0.42, 1.0)]), ("line", [(0.35, 0.52), (0.8, 0.5)])]),
        (0.2, [("line", [(0.1, 0.06), (0.88, 0.04)]), ("curve", [(0.88, 0.04), (0.6, 0.45), (0.45, 1.0)])]),
        (0.1, [("line", [(0.08, 0.2), (0.12, 0.04), (0.88, 0.04), (0.5, 1.0)])]),
        (0.15, [("line", [(0.3, 0.04), (0.72, 0.02), (0.5, 1.0)])])],  # a short bar over a near-upright stem
    8: [(0.6, [("loop", [(0.5, 0.0), (0.2, 0.2), (0.5, 0.48), (0.8, 0.76), (0.5, 1.0), (0.2, 0.76), (0.5, 0.48), (0.78, 0.2)])]),
        (0.25, [("loop", [(0.5, 0.0), (0.24, 0.22), (0.5, 0.45), (0.76, 0.22)]),
                ("loop", [(0.5, 0.45), (0.18, 0.72), (0.5, 1.0), (0.82, 0.72)])]),
        (0.2, [("loop", [(0.5, 0.0), (0.32, 0.14), (0.5, 0.33), (0.68, 0.14)]),
               ("loop", [(0.5, 0.33), (0.14, 0.66), (0.5, 1.0), (0.86, 0.66)])]),
        (0.15, [("curve", [(0.78, 0.14), (0.5, 0.0), (0.22, 0.18), (0.5, 0.46), (0.8, 0.74), (0.5, 1.0), (0.2, 0.76), (0.5, 0.46), (0.76, 0.12)])])],
    9: [(0.45, [("curve", [(0.78, 0.12), (0.5, 0.0), (0.22, 0.2), (0.36, 0.46), (0.7, 0.36), (0.78, 0.12), (0.74, 0.6), (0.66, 1.0)])]),
        (0.35, [("loop", [(0.5, 0.0), (0.22, 0.22), (0.5, 0.46), (0.78, 0.24)]), ("line", [(0.78, 0.16), (0.7, 1.0)])]),
        (0.2, [("loop", [(0.52, 0.0), (0.24, 0.2), (0.48, 0.44), (0.8, 0.26)]),
               ("curve", [(0.8, 0.18), (0.76, 0.6), (0.6, 0.9), (0.34, 1.0)])])],
}
FONT_SHARE = 0.3  # share of the items drawn from a handwriting font's glyph instead of a skeleton
GLYPH_PPU = 60.0  # canvas px per digit height for a glyph (3x the 20 px box of MNIST's 28 px frame)
MIN_WHITE_CORE = 0.35  # least share of a glyph's inked pixels (> 0.1) that are white (>= 0.8): MNIST's 1st percentile
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
    n_uniforms = 16
    n_normals = 48  # 6 pen frame, 8 elastic field, 2 stroke ends, then 2 per control point (at most 16)

    def render(self, u, z) -> dict:
        digit = min(int(u[0] * 10), 9)
        if u[14] < FONT_SHARE:
            return {"image": self._font_digit(digit, u, z)[:, :, None], "label": digit}
        weights = [w for w, _ in SKELETONS[digit]]
        variant = pick(weights, u[1])
        points, dense, strokes = _compiled(digit, variant)
        n = len(points)

        # Handwriting variation: jittered control points, a smooth elastic warp, then a pen frame.
        jitter = 0.03 + 0.05 * u[2]
        xy = dense @ (points + jitter * z[16:16 + 2 * n].reshape(n, 2))  # (M, 2) stroke samples
        xy = xy + _elastic(xy, z[6:14], u[8:12])
        aspect = math.exp(0.16 * z[0])
        slant = float(np.clip(0.12 + 0.22 * z[1], -0.4, 0.75))
        angle = 0.08 * z[2]
        x = (xy[:, 0] - 0.5) * aspect
        y = xy[:, 1] - 0.5
        x = x - slant * y  # shear: the top leans right for slant > 0
        c, s = math.cos(angle), math.sin(angle)
        xy = np.stack([c * x - s * y, s * x + c * y], 1)  # unit box centred on 0

        # Draw with a round pen on a supersampled canvas: thin ends, a pressed middle.
        r_out = self.resolution
        box = INK_BOX * r_out / 28.0
        ppu = max(80.0, 3.0 * box)  # canvas pixels per unit of digit height
        size = int(2.4 * ppu)
        thickness = (0.09 + 0.15 * u[3] ** 1.5) * (1.0 + 0.25 * abs(slant))
        pressed = 1.0 + 0.6 * u[4]  # the middle of a stroke is up to 60 % wider than its ends
        xy = xy * ppu + size / 2.0
        canvas = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(canvas)
        for k, (start, stop, kind) in enumerate(strokes):
            line = _stroke_ends(xy[start:stop], kind, 0.06 * z[14 + k % 2], u[5 + k % 3])
            m = len(line)
            lo, hi = int(m * 0.3 * u[12]), m - int(m * 0.3 * u[13])
            for part, scale in ((line, 1.0), (line[lo:hi], pressed)):
                if len(part) < 2:
                    continue
                width = max(2, int(round(thickness * scale * ppu)))
                radius = width / 2.0
                pts = [tuple(p) for p in part.tolist()]
                draw.line(pts, fill=255, width=width)
                for px, py in (pts if kind == "line" else (pts[0], pts[-1])):  # round ends and corners
                    draw.ellipse((px - radius, py - radius, px + radius, py + radius), fill=255)

        return {"image": _mnist_normalise(canvas, r_out, box)[:, :, None], "label": digit}

    def _font_digit(self, digit: int, u, z) -> np.ndarray:
        """(R, R) uint8: a handwriting font's glyph of ``digit`` (:mod:`.digit_glyphs`), bent by the
        same kinds of frame and warp as a skeleton, its pen thinner or bolder, framed like MNIST."""
        from .digit_glyphs import draw_glyph, glyphs, pen  # not at import: `python -m` runs that module

        options = glyphs()[digit]
        glyph = options[min(int(u[15] * len(options)), len(options) - 1)]
        box = INK_BOX * self.resolution / 28.0
        ppu = max(GLYPH_PPU, 3.0 * box)
        size = int(2.4 * ppu)
        aspect = math.exp(0.16 * z[0])
        slant = float(np.clip(0.05 + 0.2 * z[1], -0.4, 0.6))  # fonts often lean already
        c, s = math.cos(0.08 * z[2]), math.sin(0.08 * z[2])

        def to_unit(px):  # canvas px -> unit coordinates before the frame (rotation, shear, aspect)
            x, y = (px[:, 0] - size / 2.0) / ppu, (px[:, 1] - size / 2.0) / ppu
            x, y = c * x + s * y, -s * x + c * y
            return np.stack([(x + slant * y) / aspect, y], 1)

        def from_unit(xy):  # the elastic warp undone to first order
            return xy - _elastic(xy + 0.5, z[6:14], u[8:12])

        drawn = draw_glyph(glyph, size, to_unit, from_unit)
        for weight in range(min(int(u[3] * 4), 3) - 1, 3):  # a hairline font is pressed harder until its strokes
            image = _mnist_normalise(pen(drawn, weight), self.resolution, box)  # have a white core, as MNIST's
            if (image >= 204).sum() >= MIN_WHITE_CORE * (image > 25).sum():
                break
        return image


def _elastic(xy: np.ndarray, a: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A smooth random displacement (M, 2) of points ``xy`` (M, 2) in digit units.

    Two plane waves of about one cycle per digit height, amplitudes ``0.03 * a`` (8 normals) and
    directions / phases from ``u`` (4 uniforms): the low-frequency cousin of the elastic distortions
    that Simard et al. (2003) found to matter most for handwriting.
    """
    out = np.zeros_like(xy)
    for k in range(2):
        theta, phase = 2 * math.pi * u[2 * k], 2 * math.pi * u[2 * k + 1]
        f = (0.6 + 0.5 * k) * np.array([math.cos(theta), math.sin(theta)])
        arg = (2 * math.pi * (xy @ f) + phase)[:, None]  # (M, 1)
        out += 0.03 * np.sin(arg) * a[4 * k:4 * k + 2] + 0.03 * np.cos(arg) * a[4 * k + 2:4 * k + 4]
    return out


def _stroke_ends(line: np.ndarray, kind: str, reach: float, u: float) -> np.ndarray:
    """A stroke's points with its pen-down / pen-up imperfections (canvas px).

    An open stroke's last point moves along its end direction by ``reach`` of the stroke's length
    (overshoot > 0, falling short < 0); a loop is left open by up to 10 % of its length or closes
    with up to 10 % overlap, from the uniform ``u``.
    """
    if kind == "loop":
        m = len(line) - 1  # the last point repeats the first
        k = int(round((u - 0.5) * 0.2 * m))
        return line[:m + 1 + k] if k <= 0 else np.concatenate([line, line[1:1 + k]])
    seg = np.linalg.norm(np.diff(line, axis=0), axis=1)
    step = line[-1] - line[-2]
    norm = float(np.linalg.norm(step))
    if norm == 0.0:
        return line
    line = line.copy()
    line[-1] = line[-1] + step / norm * max(reach * seg.sum(), -0.8 * norm)
    return line


def mnist_frame(ink: np.ndarray, out: int = 28, threshold: int = 26) -> np.ndarray:
    """Frame any white-on-black drawing exactly as the world frames its digits (MNIST's framing).

    Args:
        ink: (H, W) uint8 drawing, white ink on black, preferably several times larger than ``out``
            for a clean downscale. Pixels below ``threshold`` (0-255) are treated as paper, so
            faint smudges do not stretch the ink's bounding box.
        out: output side in pixels.
    Returns:
        (out, out) uint8: the ink's longer side fills ``INK_BOX`` px of 28 (scaled), its centre
        of mass at the frame centre. A drawing with no ink comes back black.
    """
    ink = np.where(np.asarray(ink) >= threshold, np.asarray(ink), 0).astype(np.uint8)
    if not ink.any():
        return np.zeros((out, out), np.uint8)
    return _mnist_normalise(Image.fromarray(ink, "L"), out, INK_BOX * out / 28.0)


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
