"""The samples-over-time history of a run: the first samples of each sampling moment (the same seeds every time),
kept with the run in ``samples_over_time.safetensors`` by the app's training panels and the command line alike, so
a run resumed in either shows its whole strip (``demos.samples_over_time`` draws it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

STRIP_COLUMNS = 12   # samples over time: at most this many training moments, evenly spread over the run
STRIP_ROWS = 4       # ... each showing the first samples (the same seeds at every moment)


HISTORY_FILE = "samples_over_time.safetensors"  # a tab run's strip, kept with the run so a resume shows it whole


def save_history(folder, history: list[tuple[int, "torch.Tensor"]]) -> None:
    """Write the strip's moments (their first STRIP_ROWS images, uint8) into ``folder`` atomically; a long run keeps
    at most 4 x STRIP_COLUMNS of them, evenly thinned (the strip shows STRIP_COLUMNS)."""
    import os
    import tempfile

    import torch
    from safetensors.torch import save_file

    from .checkpoint import make_readable

    while len(history) > 4 * STRIP_COLUMNS:
        history[:] = history[:-1:2] + history[-1:]
    tensors = {f"step_{step}": (images[:STRIP_ROWS].clamp(0, 1) * 255).round().to(torch.uint8).contiguous()
               for step, images in history}
    os.makedirs(folder, exist_ok=True)  # (before the run's first checkpoint there is no folder yet)
    fd, tmp = tempfile.mkstemp(prefix=f".{HISTORY_FILE}.", dir=folder)
    os.close(fd)
    save_file(tensors, tmp)
    make_readable(tmp)  # (mkstemp makes it private: another account serving the checkpoints could not read it)
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
