"""The parts of a cartoon face, each painted with paint indices by a :class:`~.draw.Pen`.

Every part is drawn around a canonical face centre (``CX``, ``CY``) in unit coordinates; the
world caches each part as a sprite and pastes it where the face is. Paints carry a semantic class
(for the label map) and an outline group (regions of one group get no outline between them).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

CX, CY = 0.5, 0.46  # canonical face centre
LABEL_NAMES = ["background", "skin", "hair", "eyebrows", "eyes", "nose", "mouth", "glasses", "clothes"]


class Paint(IntEnum):
    """Paint indices on the canvas (< 32; index + 32 is the same paint as a dark outline)."""

    BACKGROUND = 0
    HALO = 1
    CLOTHES = 2
    NECK = 3
    EAR = 4
    SKIN = 5
    BLUSH = 6
    LID = 7
    NOSE = 8
    HAIR = 9
    HAIR_SHINE = 10
    BROW = 11
    EYE_WHITE = 12
    IRIS = 13
    PUPIL = 14
    EYE_SHINE = 15
    MOUTH = 16
    TONGUE = 17
    TEETH = 18
    GLASSES = 19


# paint -> (semantic class index in LABEL_NAMES, outline group)
PAINT_INFO = {
    Paint.BACKGROUND: (0, 0), Paint.HALO: (0, 0), Paint.CLOTHES: (8, 2), Paint.NECK: (1, 3),
    Paint.EAR: (1, 4), Paint.SKIN: (1, 5), Paint.BLUSH: (1, 5), Paint.LID: (1, 5), Paint.NOSE: (5, 8),
    Paint.HAIR: (2, 9), Paint.HAIR_SHINE: (2, 9), Paint.BROW: (3, 11), Paint.EYE_WHITE: (4, 12),
    Paint.IRIS: (4, 13), Paint.PUPIL: (4, 14), Paint.EYE_SHINE: (4, 14), Paint.MOUTH: (6, 16),
    Paint.TONGUE: (6, 17), Paint.TEETH: (6, 18), Paint.GLASSES: (7, 19),
}
NO_SILHOUETTE = {Paint.BLUSH}  # soft paints: no outline where they meet what lies beneath
HEAD_SIZES = {0: (0.245, 0.26), 1: (0.215, 0.285), 2: (0.235, 0.26), 3: (0.24, 0.27)}  # half width, height


@dataclass(frozen=True)
class Geometry:
    """Where a face's parts go: head centre, half sizes, scale, turn (-1 left .. 1 right), line width."""

    head_shape: int
    scale: float
    turn: float
    thin: int  # canvas pixels of the thinnest lines (>= the supersampling factor)

    @property
    def cx(self):
        return CX

    @property
    def fx(self):  # features follow the turn more than the head outline does
        return CX + 0.04 * self.turn

    @property
    def half(self):
        hw, hh = HEAD_SIZES[self.head_shape]
        return hw * self.scale, hh * self.scale


def paint_hair_back(pen, g: Geometry, style: int) -> None:
    """The hair behind the head: long, bob, curly cloud or bun (short and spiky have none)."""
    cx, cy, (hw, hh), s = g.cx, CY, g.half, g.scale
    if style == 1:  # long
        pen.rounded(cx - hw - 0.055, cy - hh - 0.035, cx + hw + 0.055, cy + 0.4, 0.12, Paint.HAIR)
    elif style == 2:  # bob
        pen.rounded(cx - hw - 0.05, cy - hh - 0.035, cx + hw + 0.05, cy + 0.14, 0.1, Paint.HAIR)
    elif style == 4:  # curly: a cloud of curls around the head
        for k in range(11):
            t = np.pi * (0.95 + 1.1 * k / 10)
            pen.ellipse(cx + (hw + 0.035) * np.cos(t), cy - 0.02 + (hh + 0.03) * np.sin(t), 0.075, 0.075, Paint.HAIR)
    elif style == 5:  # bun on top
        pen.ellipse(cx, cy - hh - 0.05, 0.085 * s, 0.075 * s, Paint.HAIR)


def paint_head(pen, g: Geometry) -> None:
    """Neck, collar opening, ears and the head itself."""
    cx, cy, (hw, hh), s = g.cx, CY, g.half, g.scale
    pen.rounded(cx - 0.07, cy + 0.12, cx + 0.07, cy + 0.36, 0.03, Paint.NECK)
    for side in (-1, 1):
        ear = 0.045 * (1.0 - 0.35 * g.turn * side)  # the far ear hides behind the head
        pen.ellipse(cx + side * (hw - 0.005), cy + 0.02, ear, 0.065, Paint.EAR)
    if g.head_shape == 2:  # square
        pen.rounded(cx - hw, cy - hh, cx + hw, cy + hh, 0.1 * s, Paint.SKIN)
    elif g.head_shape == 3:  # pointed chin: a round top and a tapered jaw
        pen.ellipse(cx, cy - 0.02, hw, hh - 0.03, Paint.SKIN)
        pen.polygon([(cx - hw + 0.004, cy), (cx + hw - 0.004, cy), (cx + 0.1 * s, cy + hh - 0.03),
                     (cx, cy + hh), (cx - 0.1 * s, cy + hh - 0.03)], Paint.SKIN)
    else:  # round, oval
        pen.ellipse(cx, cy, hw, hh, Paint.SKIN)


def paint_hair_front(pen, g: Geometry, style: int) -> None:
    """The hair over the forehead (and down the sides for long styles)."""
    cx, cy, (hw, hh), s = g.cx, CY, g.half, g.scale
    top = cy - hh - 0.035
    line = cy - (0.07 if style == 2 else 0.11) * s  # hairline
    pen.chord(cx, line, hw + 0.025, line - top, 180, 360, Paint.HAIR)  # a cap over the top of the head
    if style == 0:  # short: a side-swept fringe
        pen.polygon([(cx - hw + 0.01, line), (cx - 0.02, line - 0.07), (cx + hw - 0.02, line + 0.005),
                     (cx + hw - 0.01, line - 0.06), (cx - hw + 0.02, line - 0.06)], Paint.HAIR)
    elif style == 1:  # long: a centre parting and locks down the sides
        for side in (-1, 1):
            x0, x1 = sorted((cx + side * (hw + 0.05), cx + side * (hw - 0.05)))
            pen.rounded(x0, line - 0.04, x1, cy + 0.22, 0.05, Paint.HAIR)
        pen.line([(cx, top + 0.02), (cx, line - 0.01)], Paint.HAIR_SHINE, max(2, pen.size // 100))
    elif style == 2:  # bob: straight bangs and sides to the chin
        pen.rounded(cx - hw - 0.005, line - 0.08, cx + hw + 0.005, line + 0.025, 0.03, Paint.HAIR)
        for side in (-1, 1):
            x0, x1 = sorted((cx + side * (hw + 0.05), cx + side * (hw - 0.04)))
            pen.rounded(x0, line - 0.03, x1, cy + 0.13, 0.04, Paint.HAIR)
    elif style == 3:  # spiky: a crown of triangles
        n, spikes = 6, []
        for k in range(n + 1):
            x = cx - hw - 0.01 + (2 * hw + 0.02) * k / n
            spikes.append((x, line - 0.06 + (0.04 if k in (0, n) else 0.0)))
            if k < n:
                spikes.append((x + (hw + 0.01) / n, top - 0.08 + 0.03 * abs(k - n / 2) / n))
        spikes += [(cx + hw + 0.02, line + 0.01), (cx - hw - 0.02, line + 0.01)]
        pen.polygon(spikes, Paint.HAIR)
    elif style == 4:  # curly: a row of curls along the hairline
        for k in range(5):
            pen.ellipse(cx - hw * 0.75 + hw * 1.5 * k / 4, line - 0.01 + 0.02 * (k % 2), 0.06, 0.05, Paint.HAIR)
    elif style == 5:  # bun: a tight cap with a shine
        pen.arc(cx, line, hw * 0.6, (line - top) * 0.7, 210, 260, Paint.HAIR_SHINE, max(2, pen.size // 64))
    if style in (0, 3, 5):
        for side in (-1, 1):  # sideburns
            x0, x1 = sorted((cx + side * (hw + 0.005), cx + side * (hw - 0.035)))
            pen.rounded(x0, line - 0.02, x1, cy + 0.02, 0.015, Paint.HAIR)


def paint_features(pen, g: Geometry, eye_shape: int, expression: int) -> None:
    """Eyebrows, eyes, blush, nose and mouth around the feature centre ``g.fx``.

    eye_shape: round, almond, sleepy, big. expression: smiling, grinning, neutral, surprised, frowning.
    """
    fx, cy, s, thin = g.fx, CY, g.scale, g.thin
    eye_dx = 0.095 * s
    rx, ry = {0: (0.05, 0.05), 1: (0.062, 0.036), 2: (0.052, 0.046), 3: (0.056, 0.066)}[eye_shape]
    rx, ry = rx * s, ry * s
    iris = min(rx, ry) * (0.85 if eye_shape == 3 else 0.8)
    look = 0.01 * g.turn  # the eyes follow the turn
    brow_lift = {3: 0.03, 4: -0.01}.get(expression, 0.0)
    for side in (-1, 1):
        ex = fx + side * eye_dx
        by = cy - ry - 0.045 - brow_lift
        if expression == 4:  # frowning: the inner ends of the brows go down
            pen.line([(ex - side * 0.05, by - 0.015), (ex + side * 0.035, by + 0.01)], Paint.BROW, thin + 1)
        else:
            pen.line([(ex - 0.05, by + 0.012), (ex, by - 0.004), (ex + 0.05, by + 0.012)], Paint.BROW, thin + 1)
        pen.ellipse(ex, cy, rx, ry, Paint.EYE_WHITE)
        pen.ellipse(ex + look, cy + 0.004, iris, iris * (1.1 if eye_shape == 3 else 1.0), Paint.IRIS)
        pen.ellipse(ex + look, cy + 0.004, iris * 0.5, iris * 0.55, Paint.PUPIL)
        pen.ellipse(ex + look - iris * 0.35, cy - iris * 0.35, iris * 0.28, iris * 0.28, Paint.EYE_SHINE)
        if eye_shape == 2:  # sleepy: a heavy upper lid
            pen.chord(ex, cy, rx + 0.004, ry + 0.004, 180, 360, Paint.LID)
        if expression in (0, 1):
            pen.ellipse(ex + side * 0.025, cy + 0.085, 0.038, 0.02, Paint.BLUSH)

    pen.ellipse(fx + 0.008 * g.turn, cy + 0.075, 0.022 * s, 0.016 * s, Paint.NOSE)
    mx, my = fx, cy + 0.16 * s
    if expression == 0:  # smiling: an open smile with a tongue
        pen.pieslice(mx, my - 0.01, 0.07, 0.055, 0, 180, Paint.MOUTH)
        pen.ellipse(mx, my + 0.03, 0.035, 0.015, Paint.TONGUE)
    elif expression == 1:  # grinning: wide, with teeth
        pen.pieslice(mx, my - 0.015, 0.085, 0.065, 0, 180, Paint.MOUTH)
        pen.rounded(mx - 0.07, my - 0.015, mx + 0.07, my + 0.008, 0.01, Paint.TEETH)
    elif expression == 2:  # neutral: a straight line
        pen.line([(mx - 0.045, my + 0.01), (mx + 0.045, my + 0.01)], Paint.MOUTH, thin + 1)
    elif expression == 3:  # surprised: an "o"
        pen.ellipse(mx, my + 0.015, 0.03, 0.038, Paint.MOUTH)
    else:  # frowning: a downturned arc
        pen.arc(mx, my + 0.05, 0.055, 0.04, 205, 335, Paint.MOUTH, thin + 1)


def paint_glasses(pen, g: Geometry, kind: int) -> None:
    """Round (kind 1) or square (kind 2) frames, a bridge and the temples to the ears."""
    cx, fx, cy, (hw, _), s, thin = g.cx, g.fx, CY, g.half, g.scale, g.thin
    eye_dx, r = 0.095 * s, 0.075 * s
    for side in (-1, 1):
        ex = fx + side * eye_dx
        if kind == 1:
            pen.ring(ex, cy, r, r, Paint.GLASSES, thin)
        else:
            pen.rounded(ex - r, cy - r * 0.8, ex + r, cy + r * 0.8, 0.025, Paint.GLASSES, thin)
        pen.line([(ex + side * r, cy - 0.01), (cx + side * (hw - 0.01), cy - 0.015)], Paint.GLASSES, thin)
    pen.arc(fx, cy + 0.01, eye_dx - r + 0.01, 0.025, 200, 340, Paint.GLASSES, thin)
