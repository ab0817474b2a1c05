"""The noise-schedule chart of the forward-process view, drawn with PIL: every schedule's alpha-bar_t, beta_t or
log10 SNR(t) over t = 1..T, the chosen schedule in bold, and a marker at t.

A picture rather than an interactive plot so that it arrives with x_t in one response and follows the slider
while it is dragged (a browser-side plot re-render per slider step doubled the latency).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .config import SCHEDULES
from .schedules import alphas_cumprod, betas, check_schedule, snr

CURVES = ("alpha_bar", "beta", "log10_snr")
CURVE_LABELS = {"alpha_bar": "alpha-bar_t (signal kept)", "beta": "beta_t (noise added per step)",
                "log10_snr": "log10 SNR(t)"}
COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00")  # Okabe-Ito: readable for colour-blind viewers
SCALE = 2  # drawn at 2x and reduced, for smooth lines


def check_curve(curve: str) -> str:
    if curve not in CURVES:
        raise ValueError(f"unknown curve {curve!r}; valid: {', '.join(CURVES)}")
    return curve


@lru_cache(maxsize=16)
def curve_values(curve: str, schedule: str, num_train_timesteps: int = 1000) -> np.ndarray:
    """The curve for t = 1..T, shape (T,). log10 SNR = log10(alpha-bar / (1 - alpha-bar)) (Kingma et al. 2021)."""
    check_curve(curve)
    if curve == "alpha_bar":
        values = alphas_cumprod(schedule, num_train_timesteps)
    elif curve == "beta":
        values = betas(schedule, num_train_timesteps)
    else:
        values = snr(schedule, num_train_timesteps).clamp_min(1e-12).log10()
    return values.double().numpy()


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [lo, hi]."""
    raw = (hi - lo) / max(count - 1, 1)
    step = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step *= next(m for m in (1, 2, 2.5, 5, 10) if step * m >= raw)
    return [float(v) for v in np.arange(math.ceil(lo / step) * step, hi + step * 1e-6, step)]


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType
        return ImageFont.load_default()


SIZE = (620, 300)
LEFT, RIGHT, TOP, BOTTOM = 64 * SCALE, 14 * SCALE, 40 * SCALE, 40 * SCALE


def _frame(curve: str, num_train_timesteps: int):
    """(y range lo, hi; mapping (t, value) -> pixel) of the chart at 2x. beta's range stops at the 99th
    percentile: cosine's last betas (clipped at 0.999) would flatten every other curve to a line."""
    series = [curve_values(curve, name, num_train_timesteps) for name in SCHEDULES]
    lo = min(float(v.min()) for v in series)
    hi = max(float(np.quantile(v, 0.99) if curve == "beta" else v.max()) for v in series)
    pad = 0.04 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    W, H, T = SIZE[0] * SCALE, SIZE[1] * SCALE, num_train_timesteps

    def xy(tt, v):
        v = min(max(v, lo), hi)
        return (LEFT + (tt - 1) / (T - 1) * (W - LEFT - RIGHT), TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM))

    return lo, hi, xy


def draw_schedule_chart(curve: str = "alpha_bar", t: int = 0, schedule: str = "linear",
                        num_train_timesteps: int = 1000) -> Image.Image:
    """Every schedule's ``curve`` over t, ``schedule`` drawn bold, a dashed marker at ``t`` (0 = none). RGB."""
    img = _background(check_curve(curve), check_schedule(schedule), num_train_timesteps).copy()
    if 1 <= t <= num_train_timesteps:
        _draw_marker(ImageDraw.Draw(img), curve, t, schedule, num_train_timesteps)
    return img.reduce(SCALE)


@lru_cache(maxsize=32)
def _background(curve: str, schedule: str, num_train_timesteps: int) -> Image.Image:
    """Axes, grid, legend and curves at 2x (everything but the marker)."""
    W, H, T = SIZE[0] * SCALE, SIZE[1] * SCALE, num_train_timesteps
    left, right, top, bottom = LEFT, RIGHT, TOP, BOTTOM
    img = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(img)
    font, small = _font(13 * SCALE), _font(11 * SCALE)
    series = {name: curve_values(curve, name, num_train_timesteps) for name in SCHEDULES}
    lo, hi, xy = _frame(curve, T)

    # axes, grid and tick labels
    for v in _ticks(lo, hi):
        y = xy(1, v)[1]
        draw.line([(left, y), (W - right, y)], fill="#e6e6e6", width=SCALE)
        draw.text((left - 6 * SCALE, y), f"{v:g}", fill="#444", font=small, anchor="rm")
    for tt in range(0, T + 1, T // 4):
        x = xy(max(tt, 1), lo)[0]
        draw.line([(x, top), (x, H - bottom)], fill="#e6e6e6", width=SCALE)
        draw.text((x, H - bottom + 6 * SCALE), str(tt), fill="#444", font=small, anchor="ma")
    draw.rectangle([left, top, W - right, H - bottom], outline="#999", width=SCALE)
    draw.text(((left + W - right) / 2, H - 6 * SCALE), "t", fill="#222", font=font, anchor="md")

    # curves: the chosen schedule last, so it is drawn on top
    idx = np.unique(np.linspace(0, T - 1, 400).astype(int))
    order = [n for n in SCHEDULES if n != schedule] + [schedule]
    for name in order:
        color = COLORS[list(SCHEDULES).index(name) % len(COLORS)]
        points = [xy(i + 1, float(series[name][i])) for i in idx]
        draw.line(points, fill=color, width=(4 if name == schedule else 2) * SCALE, joint="curve")

    # legend (top) and the marker at t
    x = left
    draw.text((x, 8 * SCALE), CURVE_LABELS[curve] + ":", fill="#222", font=font, anchor="la")
    x += draw.textlength(CURVE_LABELS[curve] + ":", font=font) + 12 * SCALE
    for name in SCHEDULES:
        color = COLORS[list(SCHEDULES).index(name) % len(COLORS)]
        y = 16 * SCALE
        draw.line([(x, y), (x + 18 * SCALE, y)], fill=color, width=(4 if name == schedule else 2) * SCALE)
        draw.text((x + 22 * SCALE, 8 * SCALE), name, fill="#222", font=font, anchor="la")
        x += 22 * SCALE + draw.textlength(name, font=font) + 14 * SCALE
    return img


def _draw_marker(draw: ImageDraw.ImageDraw, curve: str, t: int, schedule: str, num_train_timesteps: int) -> None:
    """A dashed line at t, a dot on the chosen schedule's curve and the label "t = ..."."""
    lo, _, xy = _frame(curve, num_train_timesteps)
    H = SIZE[1] * SCALE
    mx = xy(t, lo)[0]
    for y0 in range(TOP, H - BOTTOM, 10 * SCALE):
        draw.line([(mx, y0), (mx, min(y0 + 5 * SCALE, H - BOTTOM))], fill="#c00", width=2 * SCALE)
    cx, cy = xy(t, float(curve_values(curve, schedule, num_train_timesteps)[t - 1]))
    r = 5 * SCALE
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill="#c00", outline="white", width=SCALE)
    right_half = mx > (LEFT + SIZE[0] * SCALE - RIGHT) / 2
    draw.text((mx + (-6 if right_half else 6) * SCALE, TOP + 18 * SCALE), f"t = {t}", fill="#c00",
              font=_font(13 * SCALE), anchor="rb" if right_half else "lb")
