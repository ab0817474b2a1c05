"""Train more: an adapter trained further from where it stopped, on its own images and settings.

A folder written by :func:`core.lora.service.save_adapter` holds what that needs: the weights, ``adapter.json`` (its
settings and steps so far), ``instances/`` (its images) and ``train_state.pt`` (AdamW's moments, the batch generator
and the losses); with all of them a run cancelled and continued ends where one uninterrupted run ends. An adapter
without ``train_state.pt`` (the bundled ones) continues from its weights, AdamW's moments starting at zero.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .service import (INSTANCES, MAX_STEPS, TRAIN_STATE, check_settings, example_concept, load_images, read_meta,
                      weights_file)
from .train import PersonalizeConfig, Resume


def taught_image_files(folder: Path) -> tuple[list[str], bool]:
    """(the image files adapter ``folder`` learnt from, whether it learnt the built-in example instead): the tab and
    the command line keep its images in ``instances/``; an adapter the command taught the example keeps none
    (its ``command.json`` says ``--example``: the bundled ones)."""
    images = sorted(str(p) for p in (folder / INSTANCES).glob("*.png"))
    stored = folder / "command.json"
    return images, not images and stored.is_file() and "--example" in json.loads(stored.read_text())


def taught_images(folder: Path, size: int) -> torch.Tensor:
    """The images adapter ``folder`` learnt from, (N, 3, size, size) in [0, 1]; ``ValueError`` if it kept none."""
    files, example = taught_image_files(folder)
    if example:
        return example_concept()
    if not files:
        raise ValueError(f"adapter {folder.name} keeps no images to train on (it was made elsewhere): train a new one")
    return load_images(files, size)


def continue_settings(folder: Path, steps) -> PersonalizeConfig:
    """The settings adapter ``folder`` was trained with, to train it ``steps`` more steps."""
    meta = read_meta(folder)
    config, _ = check_settings(meta.get("trigger"), meta.get("class_word"), meta.get("method"), meta.get("rank", 4),
                               steps, meta.get("lr"), meta.get("seed", 0), meta.get("prior_preservation", False),
                               None, meta.get("train_text_encoder", False), meta.get("alpha"))
    total = int(meta.get("steps", 0)) + config.steps
    if total > MAX_STEPS * 10:
        raise ValueError(f"{folder.name} has trained {meta.get('steps')} steps: at most {MAX_STEPS * 10:,} in all")
    return config


def read_resume(folder: Path, config: PersonalizeConfig):
    """A :class:`~core.lora.train.Resume` of adapter ``folder``: its weights, steps, seconds, and the optimizer,
    generator and losses when it saved them (``train_state.pt``, read with ``weights_only=True``)."""
    from safetensors.torch import load_file

    meta = read_meta(folder)
    weights = weights_file(folder, config.method)
    if not weights.is_file():
        raise ValueError(f"adapter {folder.name} has no {weights.name}")
    state = load_file(str(weights))
    unet = {k: v for k, v in state.items() if not k.startswith("text_encoder.")}
    text = {k: v for k, v in state.items() if k.startswith("text_encoder.")} or None
    saved = {}
    if (folder / TRAIN_STATE).is_file():
        saved = torch.load(folder / TRAIN_STATE, map_location="cpu", weights_only=True)
    if config.method == "textual_inversion" and config.token not in unet:
        raise ValueError(f"adapter {folder.name}: its embedding is not stored under {config.token}")
    return Resume(unet, int(meta.get("steps", 0)), float(meta.get("seconds", 0.0)), list(saved.get("losses", [])),
                  text, saved.get("optimizer"), saved.get("generator"))
