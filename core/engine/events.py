"""The event stream a training run emits; the CLI draws it with tqdm, a tab with a plot."""

from __future__ import annotations

import contextlib
import contextvars
import threading
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


class MeasurementCancelled(Exception):
    """Raised by :func:`stop_point` when the run's Cancel was pressed while its model was being measured."""


_CANCEL: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("genlab_cancel", default=None)
_PASSED: contextvars.ContextVar[list | None] = contextvars.ContextVar("genlab_stop_points", default=None)


@contextlib.contextmanager
def stoppable(cancel: threading.Event, passed: list[int] | None = None):
    """Within this block (the trainer's measurement of a finished run, the app's sampler comparison),
    :func:`stop_point` raises :class:`MeasurementCancelled` once ``cancel`` is set, and counts itself in
    ``passed[0]`` (one per sampling step: the caller's progress)."""
    token, counted = _CANCEL.set(cancel), _PASSED.set(passed)
    try:
        yield
    finally:
        _CANCEL.reset(token)
        _PASSED.reset(counted)


def stop_point() -> None:
    """A place where a long measurement may stop (between batches or sampling steps); a no-op outside
    :func:`stoppable`, e.g. in the app's own sampling."""
    passed = _PASSED.get()
    if passed is not None:
        passed[0] += 1
    cancel = _CANCEL.get()
    if cancel is not None and cancel.is_set():
        raise MeasurementCancelled()
