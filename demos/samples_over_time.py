"""Samples over time, GAN Lab's view of a run: the same seeds' samples at each sampling moment, left to right, from
the history of those moments kept with the run (:mod:`core.engine.sample_history`), so a resumed run shows it whole."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

from core.engine.sample_history import STRIP_COLUMNS, STRIP_ROWS
STRIP_TILE = 64      # pixels per sample, at least (small images are enlarged by whole factors)
STRIP_WIDTH, STRIP_TILE_MAX = 900, 192  # a strip of few moments is enlarged towards the page's width, up to this tile
STRIP_HEIGHT = 560   # ... and kept within this height, its step labels included (a projector's screen, with its label)
CAPTION_LEFT = 150   # px of left margin for the rows' captions, when they have some


def strip_tile(side: int, columns: int, rows: int = STRIP_ROWS, pad: int = 4, top: int = 24) -> int:
    """The strip's tile in px for images ``side`` px wide, ``columns`` moments and ``rows`` samples: a whole multiple
    of ``side`` (crisp pixels), at least STRIP_TILE, and as large as STRIP_WIDTH and STRIP_HEIGHT allow up to
    STRIP_TILE_MAX (a projector's size: three moments of a 64 px run were 64 px tiles in a 940 px wide page; one
    moment of four samples was a column 808 px tall, off a 768 px screen)."""
    fits = min(STRIP_TILE_MAX // side, int((STRIP_WIDTH / max(1, columns) - pad) // side),
               int(((STRIP_HEIGHT - top) / max(1, rows) - pad) // side))
    return side * max(-(-STRIP_TILE // side), fits)


def samples_over_time(history: list[tuple[int, "torch.Tensor"]], captions: list[str] = ()):
    """GAN Lab's view of a run: one column per sample event (the same seeds each time), left to right as training
    goes on, labelled with the step; at most STRIP_COLUMNS columns, evenly spread, always the first and the last.

    Args:
        history: (step, images (N, C, H, W) in [0, 1]) per sample event, oldest first.
        captions: what each row's sample shows, written in a left margin (a text-to-image model's prompts:
            :meth:`core.engine.method.Method.sample_captions`); none by default.
    Returns:
        a PIL image, or None for an empty history.
    """
    from PIL import Image

    from core.data import to_pil
    from core.data.labelled import labelled_grid

    if not history:
        return None
    n = len(history)
    picks = sorted({round(i * (n - 1) / (STRIP_COLUMNS - 1)) for i in range(STRIP_COLUMNS)}) if n > STRIP_COLUMNS \
        else range(n)
    side = history[-1][1].shape[-1]
    rows = min(STRIP_ROWS, *(len(history[i][1]) for i in picks))
    tile = strip_tile(side, len(picks), rows)
    cells = [[to_pil(history[i][1][row]).convert("RGB").resize((tile, tile), Image.NEAREST) for i in picks]
             for row in range(rows)]
    steps = [f"{history[i][0]:,}" if tile < 96 else f"step {history[i][0]:,}" for i in picks]
    labels = [*captions[:rows], *[""] * (rows - len(captions[:rows]))]
    # type of a projector's size (the bitmap font's 9 px read "ste p 100"); a prompt wraps at ~18 characters
    return labelled_grid(cells, labels, steps, left=CAPTION_LEFT if any(labels) else 4, top=24, pad=4, font_size=14)
