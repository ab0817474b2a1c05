"""Drawing a classifier's verdict on its test images: a coloured frame and, if it fits, the predicted name."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

RIGHT = (40, 200, 70)   # green frame: every head right
WRONG = (230, 40, 40)   # red frame: at least one head wrong


def annotate(images: torch.Tensor, correct: torch.Tensor, captions: list[str] | None = None,
             frame: int = 2, min_size: int = 56) -> torch.Tensor:
    """Frame each image green (correct) or red (wrong) and write its caption below it.

    Args:
        images: (N, C, H, W) in [0, 1], C = 1 or 3.
        correct: (N,) bool.
        captions: a short text per image (the predicted class), or ``None`` for frames only.
        frame: frame width in pixels.
        min_size: images smaller than this are enlarged by an integer factor (nearest neighbour,
            so every pixel stays visible) to keep the grid and its captions legible.

    Returns:
        (N, 3, s H + 2 * frame [+ caption strip], s W + 2 * frame) in [0, 1], s = ceil(min_size / H).
    """
    x = images.detach().float().clamp(0, 1).cpu()
    scale = -(-min_size // x.shape[-2])
    if scale > 1:
        x = x.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    n, _, h, w = x.shape
    strip = 0
    font = None
    if captions is not None:
        strip = max(9, h // 3)
        font = ImageFont.load_default(size=strip - 1)
    out = torch.zeros(n, 3, h + 2 * frame + strip, w + 2 * frame)
    for i in range(n):
        color = torch.tensor(RIGHT if bool(correct[i]) else WRONG).float().view(3, 1, 1) / 255
        out[i, :, : h + 2 * frame] = color
        out[i, :, frame:frame + h, frame:frame + w] = x[i]
        if captions is not None:
            canvas = Image.new("RGB", (w + 2 * frame, strip), (255, 255, 255))
            ImageDraw.Draw(canvas).text(((w + 2 * frame) / 2, strip / 2), captions[i], fill=(0, 0, 0),
                                        font=font, anchor="mm")
            out[i, :, h + 2 * frame:] = torch.from_numpy(np.array(canvas)).permute(2, 0, 1).float() / 255
    return out


def captions_fit(names, width: int, height: int) -> bool:
    """Whether every name fits on a caption strip under an image ``width`` px wide."""
    font = ImageFont.load_default(size=max(9, height // 3) - 1)
    return all(font.getlength(str(name)) <= width for name in names)
