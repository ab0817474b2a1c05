"""``faces``: cartoon faces with independent attributes, a semantic label map and an edge map.

A face is painted on a supersampled canvas as flat regions of "paint" indices (eye white, iris,
hair, ...; see :mod:`.faces_parts`), part by part: background halo, shoulders, hair behind, head,
hair in front, features, glasses. Each part (which depends only on a few discrete attributes) is
drawn once per process with its dark outline and cached as a sprite, then pasted at the face's
position. One lookup turns paints into colours (a palette per face: skin tone, hair colour, ...) and
the canvas is area-downsampled to the output size; another turns paints into semantic classes, read
at output pixel centres (the label map); the edge map marks the class boundaries. So the image,
label map and edge map always agree.

Item:
    "image": (3, R, R) float in [0, 1].
    "label": the hair style (index into ``class_names`` = ``ATTRIBUTES["hair_style"]``).
    "attributes": LongTensor (11,), one value index per name in ``ATTRIBUTE_NAMES``.
    "label_map": LongTensor (R, R) of classes in ``LABEL_NAMES``.
    "edge_map": float (1, R, R) in {0, 1}: pixels whose right or lower neighbour has another class.
    "text": a caption, e.g. "a smiling face with blonde long hair, blue eyes and round glasses".
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from .base import ProceduralWorld
from .draw import Pen, boundary_mask, pick, supersample_factor
from .faces_parts import (CX, CY, LABEL_NAMES, NO_SILHOUETTE, PAINT_INFO, Geometry, Paint, paint_features,
                          paint_glasses, paint_hair_back, paint_hair_front, paint_head)

# Attributes, each sampled independently. Order = the order of the "attributes" vector.
ATTRIBUTES = {
    "head_shape": ["round", "oval", "square", "pointed"],
    "skin_tone": ["pale", "light", "tan", "olive", "brown", "dark"],
    "hair_style": ["short", "long", "bob", "spiky", "curly", "bun"],
    "hair_colour": ["black", "brown", "blonde", "ginger", "grey", "blue", "pink", "purple"],
    "eye_shape": ["round", "almond", "sleepy", "big"],
    "eye_colour": ["brown", "blue", "green", "grey", "amber"],
    "expression": ["smiling", "grinning", "neutral", "surprised", "frowning"],
    "glasses": ["none", "round", "square"],
    "background": ["sky", "peach", "mint", "lavender", "lemon", "rose", "silver", "teal"],
    "pose": ["frontal", "turned left", "turned right"],
    "shirt_colour": ["red", "blue", "green", "yellow", "purple", "charcoal"],
}
ATTRIBUTE_NAMES = list(ATTRIBUTES)
COLOUR_ATTRIBUTES = ("skin_tone", "hair_colour", "eye_colour", "background", "shirt_colour")  # palette only
GLASSES_WEIGHTS = (0.5, 0.25, 0.25)  # half of the faces wear no glasses; other attributes uniform
HEAD_SCALES = (0.95, 1.0, 1.05)

SKIN = [(255, 226, 200), (243, 199, 163), (226, 174, 128), (199, 146, 98), (150, 98, 62), (100, 64, 44)]
HAIR = [(38, 34, 40), (104, 66, 36), (236, 200, 108), (200, 88, 38), (176, 176, 182), (62, 112, 206),
        (238, 128, 176), (132, 84, 186)]
IRIS = [(112, 70, 38), (62, 128, 214), (58, 156, 84), (128, 138, 150), (206, 146, 40)]
BACKGROUND = [(176, 214, 236), (252, 216, 170), (198, 232, 192), (222, 204, 240), (250, 238, 176),
              (248, 202, 204), (214, 216, 222), (172, 222, 214)]
SHIRT = [(214, 62, 72), (58, 112, 196), (72, 160, 96), (238, 182, 52), (128, 88, 176), (64, 66, 76)]
OUTLINE = 32  # paint + OUTLINE = the same paint drawn as a dark outline
OUTLINE_DARKEN = 0.5

_CLASS_LUT = np.zeros(256, dtype=np.int64)  # paint (and its outline) -> semantic class
_GROUP = np.zeros(256, dtype=np.uint8)  # paint -> outline group
for _paint, (_cls, _group) in PAINT_INFO.items():
    _CLASS_LUT[_paint] = _CLASS_LUT[_paint + OUTLINE] = _cls
    _GROUP[_paint] = _group
_SOFT = np.zeros(256, dtype=bool)
_SOFT[list(NO_SILHOUETTE)] = True


def caption(a: dict) -> str:
    """A short description of attribute values ``a`` (name -> index)."""
    v = {name: ATTRIBUTES[name][k] for name, k in a.items()}
    glasses = "" if v["glasses"] == "none" else f" and {v['glasses']} glasses"
    return f"a {v['expression']} face with {v['hair_colour']} {v['hair_style']} hair, {v['eye_colour']} eyes{glasses}"


class Faces(ProceduralWorld):
    """Cartoon faces, 64x64 RGB by default; label = hair style (see the module docstring)."""

    name = "faces"
    native_resolution = 64
    channels = 3
    class_names = list(ATTRIBUTES["hair_style"])
    attribute_names = ATTRIBUTE_NAMES
    attribute_values = ATTRIBUTES
    label_names = LABEL_NAMES
    n_uniforms = 16
    n_normals = 2

    @staticmethod
    def sample_attributes(u) -> list[int]:
        """One value index per attribute from uniforms ``u[0:11]``."""
        values = []
        for k, (name, options) in enumerate(ATTRIBUTES.items()):
            if name == "glasses":
                values.append(pick(GLASSES_WEIGHTS, u[k]))
            else:
                values.append(min(int(u[k] * len(options)), len(options) - 1))
        return values

    def render(self, u, z) -> dict:
        attrs = self.sample_attributes(u)
        a = dict(zip(ATTRIBUTE_NAMES, attrs))
        r = self.resolution
        ss = supersample_factor(r, work=128)
        size = r * ss
        turn = (0.0, -1.0, 1.0)[a["pose"]]
        g = Geometry(a["head_shape"], HEAD_SCALES[min(int(u[11] * 3), 2)], turn, max(ss, round(0.02 * size)))
        cx = CX + 0.025 * turn + 0.03 * float(np.clip(z[0], -2, 2))  # where this face is
        cy = CY + 0.02 * float(np.clip(z[1], -2, 2))

        pen = Pen(size)
        pen.ellipse(cx, cy, 0.4, 0.4, Paint.HALO)
        pen.ellipse(cx, cy + 0.55, 0.36, 0.22, Paint.CLOTHES, outline=Paint.CLOTHES + OUTLINE, width=ss)
        parts = [("hair_back", (a["hair_style"],)), ("head", ()), ("hair_front", (a["hair_style"],)),
                 ("features", (a["eye_shape"], a["expression"]))]
        if a["glasses"]:
            parts.append(("glasses", (a["glasses"],)))
        shift = (round((cx - CX) * size), round((cy - CY) * size))
        for part, args in parts:
            sprite = _sprite(part, size, _relevant(part, g), args)
            if sprite is not None:
                img, mask, (x0, y0) = sprite
                pen.canvas.paste(img, (x0 + shift[0], y0 + shift[1]), mask)

        centres = np.asarray(pen.canvas.resize((r, r), Image.Resampling.NEAREST))  # (R, R) paint at pixel centres
        labels = _CLASS_LUT[centres]  # (R, R) int64
        pen.canvas.putpalette(_palette(a["skin_tone"], a["hair_colour"], a["eye_colour"], a["background"],
                                       a["shirt_colour"]))
        image = np.asarray(pen.canvas.convert("RGB").reduce(ss))  # (R, R, 3), area downsampling
        return {
            "image": image,
            "label": a["hair_style"],
            "attributes": np.array(attrs, dtype=np.int64),
            "label_map": labels,
            "edge_map": boundary_mask(labels).astype(np.float32)[None],  # (1, R, R)
            "text": caption(a),
        }

    def recoloured(self, indices, seed: int = 0) -> torch.Tensor:
        """Items ``indices`` drawn again with new random colours: the same geometry and shape attributes (head,
        hair style, eyes, expression, glasses, pose), each of ``COLOUR_ATTRIBUTES`` drawn afresh (it may repeat).

        What a translator that draws every shape exactly, but has to guess the colours a label or edge map leaves
        open, would produce: the reference that measures how far a classifier's reads depend on colours alone.
        Returns (N, 3, R, R) float in [0, 1]; deterministic in ``seed``.
        """
        idx = self._check_indices(indices)
        u, z = self._random_rows(idx)
        columns = [ATTRIBUTE_NAMES.index(name) for name in COLOUR_ATTRIBUTES]
        u = u.copy()
        u[:, columns] = np.random.default_rng(seed).random((len(idx), len(columns)))
        images = np.stack([self.render(u[r], z[r])["image"] for r in range(len(idx))])
        return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)


def _relevant(part: str, g: Geometry) -> Geometry:
    """``g`` with the fields ``part`` ignores set to defaults, so fewer sprites are cached."""
    if part == "features":
        return replace(g, head_shape=0)
    if part in ("hair_back", "hair_front"):
        return replace(g, turn=0.0)
    return g


_PAINTERS = {"hair_back": paint_hair_back, "head": paint_head, "hair_front": paint_hair_front,
             "features": paint_features, "glasses": paint_glasses}


@lru_cache(maxsize=4096)
def _sprite(part: str, size: int, g: Geometry, args: tuple):
    """A part drawn at the canonical centre with its outline: (paint image, mask, (x0, y0)) or None."""
    margin = size // 2
    pen = Pen(size, margin)
    _PAINTERS[part](pen, g, *args)
    paint = np.array(pen.canvas)  # (S + 2m, S + 2m)
    ys, xs = np.nonzero(paint)
    if not len(ys):
        return None
    paint[_outline_mask(paint)] += OUTLINE
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = np.ascontiguousarray(paint[y0:y1, x0:x1])
    mask = ((crop > 0) * 255).astype(np.uint8)
    return Image.fromarray(crop), Image.fromarray(mask), (int(x0) - margin, int(y0) - margin)


def _outline_mask(paint: np.ndarray) -> np.ndarray:
    """Pixels to darken: both sides of a change of outline group, and 2 px inside the silhouette."""
    groups, opaque = _GROUP[paint], paint > 0
    h = (groups[:, 1:] != groups[:, :-1]) & opaque[:, 1:] & opaque[:, :-1]
    v = (groups[1:] != groups[:-1]) & opaque[1:] & opaque[:-1]
    mask = np.zeros(paint.shape, dtype=bool)
    mask[:, 1:] |= h
    mask[:, :-1] |= h
    mask[1:] |= v
    mask[:-1] |= v
    near = ~opaque
    for _ in range(2):  # grow the transparent area by 2 px (4-neighbourhood)
        grown = near.copy()
        grown[1:] |= near[:-1]
        grown[:-1] |= near[1:]
        grown[:, 1:] |= near[:, :-1]
        grown[:, :-1] |= near[:, 1:]
        near = grown
    return mask | (near & opaque & ~_SOFT[paint])


def _mix(a, b, t):
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


@lru_cache(maxsize=16384)
def _palette(skin_tone: int, hair_colour: int, eye_colour: int, background: int, shirt_colour: int) -> bytes:
    """RGB palette bytes for one face: paints 0..31, then their dark outline versions 32..63."""
    skin, hair, bg = SKIN[skin_tone], HAIR[hair_colour], BACKGROUND[background]
    colours = np.zeros((OUTLINE, 3))
    for paint, colour in {
        Paint.BACKGROUND: bg, Paint.HALO: _mix(bg, (255, 255, 255), 0.35), Paint.CLOTHES: SHIRT[shirt_colour],
        Paint.NECK: _mix(skin, (0, 0, 0), 0.14), Paint.EAR: _mix(skin, (0, 0, 0), 0.05), Paint.SKIN: skin,
        Paint.BLUSH: _mix(skin, (255, 110, 130), 0.3), Paint.LID: skin, Paint.NOSE: _mix(skin, (0, 0, 0), 0.18),
        Paint.HAIR: hair, Paint.HAIR_SHINE: _mix(hair, (255, 255, 255), 0.3), Paint.BROW: _mix(hair, (0, 0, 0), 0.3),
        Paint.EYE_WHITE: (250, 250, 250), Paint.IRIS: IRIS[eye_colour], Paint.PUPIL: (24, 22, 28),
        Paint.EYE_SHINE: (255, 255, 255), Paint.MOUTH: (128, 34, 46), Paint.TONGUE: (236, 110, 118),
        Paint.TEETH: (255, 255, 250), Paint.GLASSES: (36, 36, 44),
    }.items():
        colours[paint] = colour
    both = np.concatenate([colours, colours * OUTLINE_DARKEN])  # (64, 3)
    return np.round(both).astype(np.uint8).tobytes()
