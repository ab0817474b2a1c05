"""The event stream a training run emits; the CLI draws it with tqdm, a tab with a plot."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

KINDS = ("start", "step", "samples", "checkpoint", "paused", "resumed", "evaluating", "done", "cancelled")


@dataclass
class TrainEvent:
    """One thing that happened in a run.

    Args:
        kind: one of ``KINDS``.
        step: optimizer steps done so far.
        total: steps the run trains to.
        losses: scalar losses averaged since the last "step" event (kind "step").
        images: sample grid images (N, C, H, W) in [0, 1] (kind "samples").
        path: folder written (kinds "checkpoint", "done", "cancelled").
        elapsed: seconds since the run (or its resume) started.
        eta: estimated seconds left.
        message: a human-readable line.
    """

    kind: str
    step: int
    total: int
    losses: dict[str, float] = field(default_factory=dict)
    images: torch.Tensor | None = None
    path: str | None = None
    elapsed: float = 0.0
    eta: float = 0.0
    message: str = ""
