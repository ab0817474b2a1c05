"""Seeding helpers: every random draw in GenLab comes from an explicit seed."""

from __future__ import annotations

import random
import re

import torch

MAX_SEED = 2**32 - 1


def check_seed(seed) -> int:
    """Return ``seed`` as an int in [0, 2**32 - 1] or raise ``ValueError``."""
    try:
        value = int(seed)
    except (TypeError, ValueError):
        raise ValueError(f"seed {seed!r} is not an integer") from None
    if value != seed and not isinstance(seed, str):
        raise ValueError(f"seed {seed!r} is not an integer")
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"seed {value} is outside [0, {MAX_SEED}]")
    return value


def parse_seeds(text, most: int, what: str = "seeds") -> list[int]:
    """A list of seeds as a box or a client gives it: "1, 2, 3" (commas, semicolons, spaces or lines) or a list;
    1 to ``most`` of them, each a whole number in [0, 2**32 - 1]. ValueError naming ``what`` (the box) otherwise."""
    parts = list(text) if isinstance(text, (list, tuple)) else [p for p in re.split(r"[,;\s]+", str(text or "")) if p]
    if not parts:
        raise ValueError(f"{what}: give at least one seed, e.g. '1, 2, 3'")
    if len(parts) > most:
        raise ValueError(f"{what}: at most {most} seeds, got {len(parts)}")
    seeds = []
    for part in parts:
        try:
            value = float(str(part).strip())
            if value != int(value):
                raise ValueError
            seeds.append(check_seed(int(value)))
        except (ValueError, OverflowError):  # a word, a decimal, NaN, infinity, out of range
            shown = str(part).strip()[:40]
            raise ValueError(f"{what}: seed {shown!r} is not a whole number in [0, {MAX_SEED}]") from None
    return seeds


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator seeded with ``seed`` on ``device``."""
    return torch.Generator(device=device).manual_seed(check_seed(seed))
