"""Seeding helpers: every random draw in GenLab comes from an explicit seed."""

from __future__ import annotations

import random

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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator seeded with ``seed`` on ``device``."""
    return torch.Generator(device=device).manual_seed(check_seed(seed))
