"""Samples over time, GAN Lab's view of a run: the same seeds' samples at each sampling moment, left to right, and
the history of those moments kept with the run (``samples_over_time.safetensors``) so a resumed run shows it whole."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

STRIP_COLUMNS = 12   # samples over time: at most this many training moments, evenly spread over the run
STRIP_ROWS = 4       # ... each showing the first samples (the same seeds at every moment)
STRIP_TILE = 64      # pixels per sample, at least (small images are enlarged by whole factors)
STRIP_WIDTH, STRIP_TILE_MAX = 900, 192  # a strip of few moments is enlarged towards the page's width, up to this tile


def strip_tile(side: int, columns: int, pad: int = 4) -> int:
    """The strip's tile in px for images ``side`` px wide and ``columns`` moments: a whole multiple of ``side`` (crisp
    pixels), at least STRIP_TILE, and as large as STRIP_WIDTH allows up to STRIP_TILE_MAX (a projector's size: three
    moments of a 64 px run were 64 px tiles in a 940 px wide page)."""
    fits = min(STRIP_TILE_MAX // side, int((STRIP_WIDTH / max(1, columns) - pad) // side))
    return side * max(-(-STRIP_TILE // side), fits)


def samples_over_time(history: list[tuple[int, "torch.Tensor"]]):
    """GAN Lab's view of a run: one column per sample event (the same seeds each time), left to right as training
    goes on, labelled with the step; at most STRIP_COLUMNS columns, evenly spread, always the first and the last.

    Args:
        history: (step, images (N, C, H, W) in [0, 1]) per sample event, oldest first.
    Returns:
        a PIL image, or None for an empty history.
    """
    from PIL import Image, ImageDraw

    from core.data import to_pil
    from core.data.labelled import font

    if not history:
        return None
    n = len(history)
    picks = sorted({round(i * (n - 1) / (STRIP_COLUMNS - 1)) for i in range(STRIP_COLUMNS)}) if n > STRIP_COLUMNS \
        else range(n)
    side = history[-1][1].shape[-1]
    tile, pad, head = strip_tile(side, len(picks)), 4, 20
    rows = min(STRIP_ROWS, len(history[-1][1]))
    sheet = Image.new("RGB", (len(picks) * (tile + pad) + pad, head + rows * (tile + pad) + pad), "white")
    draw, label = ImageDraw.Draw(sheet), font(14)  # a projector's size (the bitmap font's 9 px read "ste p 100")
    for col, i in enumerate(picks):
        step, images = history[i]
        x = pad + col * (tile + pad)
        draw.text((x + 1, 2), f"{step:,}" if tile < 96 else f"step {step:,}", fill=(20, 20, 20), font=label)
        for row in range(min(rows, len(images))):
            image = to_pil(images[row]).convert("RGB").resize((tile, tile), Image.NEAREST)
            sheet.paste(image, (x, head + pad + row * (tile + pad)))
    return sheet


HISTORY_FILE = "samples_over_time.safetensors"  # a tab run's strip, kept with the run so a resume shows it whole


def save_history(folder, history: list[tuple[int, "torch.Tensor"]]) -> None:
    """Write the strip's moments (their first STRIP_ROWS images, uint8) into ``folder`` atomically; a long run keeps
    at most 4 x STRIP_COLUMNS of them, evenly thinned (the strip shows STRIP_COLUMNS)."""
    import os
    import tempfile

    import torch
    from safetensors.torch import save_file

    while len(history) > 4 * STRIP_COLUMNS:
        history[:] = history[:-1:2] + history[-1:]
    tensors = {f"step_{step}": (images[:STRIP_ROWS].clamp(0, 1) * 255).round().to(torch.uint8).contiguous()
               for step, images in history}
    os.makedirs(folder, exist_ok=True)  # (before the run's first checkpoint there is no folder yet)
    fd, tmp = tempfile.mkstemp(prefix=f".{HISTORY_FILE}.", dir=folder)
    os.close(fd)
    save_file(tensors, tmp)
    os.replace(tmp, os.path.join(folder, HISTORY_FILE))


def load_history(folder, up_to: int) -> list[tuple[int, "torch.Tensor"]]:
    """The strip's moments saved with a run, up to step ``up_to`` (where it resumes), oldest first; [] when none
    (or unreadable: the strip then starts again, as before)."""
    from pathlib import Path

    from safetensors.torch import load_file

    try:
        tensors = load_file(Path(folder) / HISTORY_FILE)
    except Exception:  # missing or damaged: a strip is not worth a refused resume
        return []
    moments = sorted((int(k.split("_")[1]), t.float() / 255) for k, t in tensors.items())
    return [(step, images) for step, images in moments if step <= up_to]
