"""The loss comparison: the same small pix2pix (labels -> face, unet_64, ngf 16) trained four ways.

L1 only (lambda_GAN = 0), GAN only (lambda_L1 = 0), L1 + GAN (vanilla, pix2pix's objective) and L1 + LSGAN, each
with the same steps, data and seed (``checkpoints/translation/labels2face-small-*``; their cards hold the
commands). :func:`comparison_grid` runs them on the same held-out label maps; :func:`comparison_rows` reads the
numbers each checkpoint's card measured on 500 held-out pairs.
"""

from __future__ import annotations

import json

import torch

from core.engine import list_checkpoints, resolve_checkpoint

SETTINGS = (("L1 only", "labels2face-small-l1"), ("GAN only", "labels2face-small-gan"),
            ("L1 + GAN (vanilla)", "labels2face-small-l1gan"), ("L1 + LSGAN", "labels2face-small-l1lsgan"))


def available() -> list[tuple[str, str]]:
    names = set(list_checkpoints("translation"))
    return [(label, name) for label, name in SETTINGS if name in names]


def comparison_rows() -> list[dict]:
    """One row per available setting with its card's measured numbers (units in the keys)."""
    rows = []
    for label, name in available():
        try:
            m = json.loads((resolve_checkpoint("translation", name) / "metrics.json").read_text())
        except (OSError, ValueError):
            continue
        rows.append({"loss": label, "checkpoint": name, "L1 (0-1)": round(m["l1"], 4),  # short headers: the table
                     "PSNR (dB)": round(m["psnr_db"], 2), "SSIM": round(m["ssim"], 3),  # fits the page's width
                     "shapes kept (%)": round(100 * m["shape_agreement_mean"], 1),
                     "worst shape (%)": round(100 * m["shape_agreement_min"], 1)})
    return rows


@torch.no_grad()
def comparison_grid(load, num: int = 4, start: int = 0) -> tuple[list[str], list[torch.Tensor]]:
    """Columns (input, each setting, target) for ``num`` held-out pairs from index ``start``.

    Args:
        load: checkpoint name -> :class:`core.translation.service.TranslatorBundle` (the app's cache).
    Returns:
        (column titles, one (num, 3, 64, 64) tensor in [0, 1] per column).
    """
    from .data import FacePairs
    from .inference import translate_batch

    settings = available()
    if not settings:
        raise ValueError("the loss-comparison checkpoints (labels2face-small-*) are not installed")
    if not 1 <= int(num) <= 16 or not 0 <= int(start) <= 9_000:
        raise ValueError("num must be in 1..16 and start in 0..9000")
    batch = FacePairs("labels", "test", 64).get_batch(range(int(start), int(start) + int(num)))
    columns = [batch["A"]]
    for _, name in settings:
        columns.append(translate_batch(load(name).translator, batch["A"], "AtoB").cpu())
    columns.append(batch["B"])
    return ["label map", *[label for label, _ in settings], "real target"], columns
