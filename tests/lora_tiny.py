"""A tiny LoRA training for the tests (tests/test_lora*.py): a few steps on a tiny pipeline."""

from __future__ import annotations

import torch


def tiny_images(n=3, seed=0):
    """n 16 px images of one concept: a bright square on grey."""
    g = torch.Generator().manual_seed(seed)
    images = torch.full((n, 3, 16, 16), 0.3)
    images[:, :, 4:12, 4:12] = torch.rand(n, 3, 1, 1, generator=g) * 0.2 + 0.8   # a bright square: the concept
    return images


def train_tiny(pipe, tmp_path, method="lora", steps=12, name=None, **changes):
    """Train an adapter on :func:`tiny_images` into ``tmp_path / name``: (folder, config, last validation image,
    losses); ``changes`` set config fields."""
    from core.lora.service import check_settings, train_adapter

    # peft's "gaussian" init leaves B = 0: a large learning rate moves it within a few steps
    config, _ = check_settings("sks", "circle", method, 4, steps, lr=5e-2)
    config.validate_every = steps
    for k, v in changes.items():
        setattr(config, k, v)
    events = list(train_adapter(pipe, "tiny", tiny_images(), config, tmp_path / (name or f"sks-{method}")))
    final = [e["validation"] for e in events if "validation" in e][-1]
    return events[-1]["saved"], config, final, [e["loss"] for e in events if "loss" in e]
