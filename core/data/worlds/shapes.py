"""``shapes``: scenes of 1-3 coloured shapes with compositional captions.

Each object has a shape (8), a colour (8), a size (3) and a position; objects never overlap, so
every object is fully visible. Captions name the objects and the spatial relation between them,
computed from the drawn positions; a relation is only stated between objects whose offset is
clearly horizontal or clearly vertical (the larger of |dx|, |dy| is at least ``CLEAR_RATIO`` times the
smaller), so the words always agree with the pixels.

Item:
    "image": (3, R, R) float in [0, 1].
    "label": shape of the first object (index into ``class_names`` = ``SHAPES``).
    "text": e.g. "a small red triangle above a large blue circle".
    "objects": LongTensor (3, 4): rows (shape, colour, size, present) for objects 1..3; absent rows are 0.
    "positions": float (3, 2): centre (x, y) of each object in [0, 1] (x right, y down); 0 when absent.
    "instance_map": LongTensor (R, R): 0 background, k for the object in row k - 1.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from .base import ProceduralWorld
from .draw import pick, supersample_factor

SHAPES = ["circle", "square", "triangle", "star", "hexagon", "heart", "cross", "diamond"]
COLOURS = {
    "red": (222, 42, 42), "orange": (246, 138, 28), "yellow": (246, 216, 40), "green": (46, 170, 70),
    "cyan": (40, 200, 222), "blue": (40, 84, 222), "purple": (140, 60, 200), "pink": (246, 120, 192),
}
COLOUR_NAMES = list(COLOURS)
SIZES = {"small": 0.18, "medium": 0.27, "large": 0.36}  # side of the shape's square, image = 1
SIZE_NAMES = list(SIZES)
BACKGROUNDS = [(200, 200, 204), (226, 216, 196), (58, 62, 72), (40, 40, 46), (196, 188, 160),
               (188, 200, 212), (74, 80, 64), (150, 142, 138)]  # muted: never close to an object colour
GRADIENTS = ["plain", "vertical", "horizontal", "diagonal"]
MAX_OBJECTS = 3
COUNT_WEIGHTS = (0.25, 0.35, 0.4)  # P(1, 2, 3 objects)
CLEAR_RATIO = 1.5
GAP = 0.03  # minimum space between two objects' squares
PLACEMENT_TRIES = 16
_OBJECT_PAINT = 250  # object k is painted 250 + k (>= 128, so a threshold separates it from background)


def relation(a, b) -> str | None:
    """Where centre ``a`` is relative to centre ``b`` ("to the left of", ...), or None if unclear."""
    dx, dy = a[0] - b[0], a[1] - b[1]
    if abs(dx) >= CLEAR_RATIO * abs(dy):
        return "to the left of" if dx < 0 else "to the right of"
    if abs(dy) >= CLEAR_RATIO * abs(dx):
        return "above" if dy < 0 else "below"
    return None


def describe(shape: int, colour: int, size: int) -> str:
    return f"{SIZE_NAMES[size]} {COLOUR_NAMES[colour]} {SHAPES[shape]}"


def caption(objects: list, centres: list) -> str:
    """Caption of objects [(shape, colour, size)] at ``centres``: object 1 relative to 2, 3 relative to 2."""
    words = [describe(*o) for o in objects]
    text = f"a {words[0]}"
    if len(objects) >= 2:
        text += f" {relation(centres[0], centres[1])} a {words[1]}"
    if len(objects) == 3:
        text += f", and a {words[2]} {relation(centres[2], centres[1])} the {words[1]}"
    return text


@lru_cache(maxsize=None)
def unit_outline(shape: int) -> np.ndarray:
    """Polygon (K, 2) of a shape inscribed in the square [-0.5, 0.5]^2 (None for the circle)."""
    def ring(n, radius, start):
        t = start + 2 * math.pi * np.arange(n) / n
        return radius * np.stack([np.cos(t), np.sin(t)], 1)

    name = SHAPES[shape]
    if name == "square":
        return np.array([(-0.43, -0.43), (0.43, -0.43), (0.43, 0.43), (-0.43, 0.43)])
    if name == "triangle":
        return np.array([(0.0, -0.5), (0.5, 0.42), (-0.5, 0.42)])
    if name == "star":
        outer, inner = ring(5, 0.52, -math.pi / 2), ring(5, 0.22, -math.pi / 2 + math.pi / 5)
        return np.stack([outer, inner], 1).reshape(10, 2) + (0, 0.04)
    if name == "hexagon":
        return ring(6, 0.5, 0.0) * (1.0, 0.95)
    if name == "heart":  # the classic parametric heart curve, scaled into the square
        t = np.linspace(0, 2 * math.pi, 40, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return np.stack([x / 34, (y + 2.5) / 34], 1)
    if name == "cross":
        a, b = 0.17, 0.48
        return np.array([(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a),
                         (-b, -a), (-a, -a)])
    if name == "diamond":
        return np.array([(0.0, -0.5), (0.38, 0.0), (0.0, 0.5), (-0.38, 0.0)])
    return None  # circle


@lru_cache(maxsize=32)
def _ramp(size: int, direction: str) -> np.ndarray:
    """float32 (size, size) rising 0 -> 1 along ``direction`` (read-only, shared)."""
    t = np.linspace(0.0, 1.0, size, dtype=np.float32)
    if direction == "vertical":
        values = np.repeat(t[:, None], size, 1)
    elif direction == "horizontal":
        values = np.repeat(t[None, :], size, 0)
    else:
        values = (t[:, None] + t[None, :]) / 2
    values.setflags(write=False)
    return values


class Shapes(ProceduralWorld):
    """Scenes of 1-3 shapes, 64x64 RGB by default; label = shape of the first object."""

    name = "shapes"
    native_resolution = 64
    channels = 3
    class_names = list(SHAPES)
    colour_names = COLOUR_NAMES
    size_names = SIZE_NAMES
    n_uniforms = 16 + PLACEMENT_TRIES * 2 * MAX_OBJECTS

    def layout(self, u):
        """Objects [(shape, colour, size)] and their centres [(x, y)] from uniforms ``u``."""
        n = 1 + pick(COUNT_WEIGHTS, u[0])
        objects = [(min(int(u[1 + 3 * k] * 8), 7), min(int(u[2 + 3 * k] * 8), 7), min(int(u[3 + 3 * k] * 3), 2))
                   for k in range(MAX_OBJECTS)]
        while True:  # drop objects until a clear layout is found (one object always fits)
            for attempt in range(PLACEMENT_TRIES):
                base = 16 + attempt * 2 * MAX_OBJECTS
                centres = []
                for k in range(n):
                    half = SIZES[SIZE_NAMES[objects[k][2]]] / 2
                    centres.append((half + 0.02 + (0.96 - 2 * half) * u[base + 2 * k],
                                    half + 0.02 + (0.96 - 2 * half) * u[base + 2 * k + 1]))
                if _valid(objects[:n], centres):
                    return objects[:n], centres
            n -= 1

    def render(self, u, z) -> dict:
        objects, centres = self.layout(u)
        r = self.resolution
        ss = supersample_factor(r, work=128)
        size = r * ss
        canvas = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(canvas)
        palette = bytearray(768)
        for k, ((shape, colour, size_index), (x, y)) in enumerate(zip(objects, centres)):
            side = SIZES[SIZE_NAMES[size_index]] * size
            cx, cy = x * size, y * size
            outline = unit_outline(shape)
            paint = _OBJECT_PAINT + k
            if outline is None:
                draw.ellipse((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), fill=paint)
            else:
                draw.polygon([tuple(p) for p in (outline * side + (cx, cy)).tolist()], fill=paint)
            palette[3 * paint:3 * paint + 3] = bytes(COLOURS[COLOUR_NAMES[colour]])

        # Objects, premultiplied by their coverage of each output pixel (palette index 0 is black).
        alpha = np.asarray(canvas.convert("1", dither=Image.Dither.NONE).convert("L").reduce(ss))  # (R, R)
        instances = np.asarray(canvas.resize((r, r), Image.Resampling.NEAREST)).astype(np.int64)
        instances = np.where(instances > 0, instances - _OBJECT_PAINT + 1, 0)  # (R, R)
        canvas.putpalette(bytes(palette))
        objects_rgb = np.asarray(canvas.convert("RGB").reduce(ss), dtype=np.float32)  # (R, R, 3)

        # Background: a muted colour, plain or a gradient towards a lighter or darker tone.
        base = np.array(BACKGROUNDS[min(int(u[10] * len(BACKGROUNDS)), len(BACKGROUNDS) - 1)], np.float32)
        direction = GRADIENTS[min(int(u[11] * 4), 3)]
        background = np.broadcast_to(base, (r, r, 3))
        if direction != "plain":
            factor = 1.0 + (0.35 if u[12] < 0.5 else -0.35) * (0.4 + 0.6 * u[13])
            other = np.minimum(base * factor, 255.0)
            background = base + (other - base) * _ramp(r, direction)[:, :, None]
        image = objects_rgb + background * (1.0 - alpha[:, :, None] / 255.0)
        image = (image + 0.5).astype(np.uint8)  # (R, R, 3)

        table = np.zeros((MAX_OBJECTS, 4), dtype=np.int64)
        positions = np.zeros((MAX_OBJECTS, 2), dtype=np.float32)
        for k, (obj, centre) in enumerate(zip(objects, centres)):
            table[k] = (*obj, 1)
            positions[k] = centre
        return {
            "image": image,
            "label": objects[0][0],
            "text": caption(objects, centres),
            "objects": table,
            "positions": positions,
            "instance_map": instances,
        }


def _valid(objects, centres) -> bool:
    """No two squares overlap (with a gap) and each stated relation is clear."""
    halves = [SIZES[SIZE_NAMES[o[2]]] / 2 for o in objects]
    for i in range(len(objects)):
        for j in range(i):
            dx, dy = abs(centres[i][0] - centres[j][0]), abs(centres[i][1] - centres[j][1])
            reach = halves[i] + halves[j] + GAP
            if dx < reach and dy < reach:
                return False
    if len(objects) >= 2 and relation(centres[0], centres[1]) is None:
        return False
    return len(objects) < 3 or relation(centres[2], centres[1]) is not None
