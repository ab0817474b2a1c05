"""Where the app is served: a private machine, or a public server (a Hugging Face Space, or ``--public``).

Public mode protects a shared server from its visitors:
- training (every tab's panel and the LoRA tab) needs the admin token the owner sets in ``GENLAB_ADMIN_TOKEN``;
  with no token set it is off;
- hub downloads stay off unless the owner sets ``GENLAB_ONLINE=1`` (as on any machine);
- what a visitor makes (LoRA adapters, projections, uploads) stays private to their browser session, and files
  the app writes for a session are deleted after ``SCRATCH_MAX_AGE_S``.

On ZeroGPU hardware (the ``spaces`` package present and ``SPACES_ZERO_GPU`` set) :func:`gpu_task` wraps the
heavy functions in ``spaces.GPU`` so each call borrows a GPU; anywhere else it returns the function unchanged.
"""

from __future__ import annotations

import hmac
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

SCRATCH_MAX_AGE_S = 3600


def online() -> bool:
    """Whether downloads the user asks for are allowed (``--online``, i.e. ``GENLAB_ONLINE=1``): hub pipelines,
    standard datasets, official pix2pix / CycleGAN archives."""
    return os.environ.get("GENLAB_ONLINE", "") == "1"


def on_space() -> bool:
    """True on a Hugging Face Space (the platform sets ``SYSTEM=spaces``)."""
    return os.environ.get("SYSTEM") == "spaces"


def public_mode(flag: bool = False) -> bool:
    """Public when asked (``--public``, ``GENLAB_PUBLIC=1``) or on a Space."""
    return flag or on_space() or os.environ.get("GENLAB_PUBLIC") == "1"


def admin_token() -> str | None:
    """The owner's admin token (``GENLAB_ADMIN_TOKEN``), or None when unset or empty."""
    return os.environ.get("GENLAB_ADMIN_TOKEN") or None


def check_may_train(allow_train: bool, public: bool, token: str | None = None) -> None:
    """Raise ValueError (one line) unless this server trains for this request.

    Args:
        allow_train: False when started with ``--no-train``.
        public: public mode (:func:`public_mode`).
        token: what the visitor typed as admin token (public mode only).
    """
    if not allow_train:
        raise ValueError("training is switched off on this server (--no-train)")
    check_admin(public, token, "training")


def check_admin(public: bool, token: str | None, what: str) -> None:
    """Raise ValueError (one line) when ``what`` (e.g. "training") is asked on a public server without its
    admin token; on a private server everything is allowed."""
    if not public:
        return
    expected = admin_token()
    if expected is None:
        raise ValueError(f"{what} is off on this public server: its owner can switch it on by setting "
                         "GENLAB_ADMIN_TOKEN and typing that token in the admin token box")
    if not token:
        raise ValueError(f"{what} on this public server needs its admin token (set by the owner in "
                         "GENLAB_ADMIN_TOKEN): type it in the admin token box")
    if not hmac.compare_digest(str(token).encode(), expected.encode()):  # (a typo was told "needs its admin token")
        raise ValueError(f"{what} on this public server: that admin token is not this server's (check it for a typo)")


def scratch_file(suffix: str, prefix: str = "genlab-") -> Path:
    """A new file path for a one-off output (a GIF, an adapter archive) in the app's scratch folder; files
    there older than ``SCRATCH_MAX_AGE_S`` are deleted on each call, so a long class leaves no pile behind."""
    folder = Path(tempfile.gettempdir()) / "genlab-scratch"
    folder.mkdir(parents=True, exist_ok=True)
    sweep(folder, SCRATCH_MAX_AGE_S)
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    os.close(fd)
    return Path(name)


def sweep(folder: Path, max_age_s: float) -> None:
    """Delete the files and folders directly in ``folder`` last modified more than ``max_age_s`` ago."""
    if not folder.is_dir():
        return
    cutoff = time.time() - max_age_s
    for item in folder.iterdir():
        try:
            if item.stat().st_mtime >= cutoff:
                continue
            if item.is_dir():
                shutil.rmtree(item, ignore_errors=True)
            else:
                item.unlink()
        except OSError:  # another request removed it first
            pass


def gpu_task(fn: Callable, duration: int = 120) -> Callable:
    """``spaces.GPU(duration=duration)(fn)`` on ZeroGPU hardware, else ``fn`` itself (no import, no error)."""
    if not os.environ.get("SPACES_ZERO_GPU"):
        return fn
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=duration)(fn)



# what a tab's run may ask of a CPU server per step (batch_size x side^2): 256 images of 64 px, twice the largest tab
# default (the VAE's 128 faces); a run far beyond it (4096 images of 64 px) could take the server's memory and end
# the app for everyone on it. The command line trains larger runs; a GPU server's operator sets its own limits.
CPU_PIXELS_PER_STEP = 256 * 64 * 64
# and for a network given its channel widths (a DDPM's channels, a text-to-image UNet's widths): each at most 256, and
# widths x pixels at most 256 images of 64 px through 32 channels. Channels of 4096 at the tab's batch took 22 GB in a
# minute and the system ended the app; 1024 took 14 GB, 256 (the DDPM tab's batch of 64 digits) 2 GB
CPU_MAX_WIDTH, CPU_WIDTH_PIXELS = 256, CPU_PIXELS_PER_STEP * 32


def check_tab_budget(device, config) -> None:
    """``ValueError`` when a tab's run (a :class:`core.engine.TrainConfig`) on a CPU server (``device``, a
    ``torch.device``) asks more than ``CPU_PIXELS_PER_STEP`` pixels a step (``resolution`` 0: the dataset's own side)."""
    if device.type != "cpu":
        return
    side = getattr(config, "resolution", 0)
    if not side:
        from core.data import get_dataset

        try:
            side = get_dataset(config.dataset, "train").resolution
        except (ValueError, OSError):  # a dataset the run itself will refuse, with its own message
            return
    if config.batch_size * side * side > CPU_PIXELS_PER_STEP:
        raise ValueError(f"batch_size {config.batch_size} x {side} x {side} px is more than a tab trains in one step on "
                         f"this CPU server ({CPU_PIXELS_PER_STEP:,} pixels, e.g. 256 images of 64 px): lower either, "
                         "or train it from the command line (python -m core.train)")
    for name in ("channels", "widths"):
        widths = getattr(config, name, None)
        if not isinstance(widths, tuple):
            continue
        if max(widths) > CPU_MAX_WIDTH:
            raise ValueError(f"{name}: a width of {max(widths)} is more than a tab trains on this CPU server (at most "
                             f"{CPU_MAX_WIDTH}); lower it, or train it from the command line (python -m core.train)")
        if config.batch_size * side * side * max(widths) > CPU_WIDTH_PIXELS:
            raise ValueError(f"{name} up to {max(widths)} at batch_size {config.batch_size} x {side} x {side} px is more "
                             f"than a tab trains on this CPU server (width x pixels {CPU_WIDTH_PIXELS:,}, e.g. 32 "
                             "channels for 256 images of 64 px): lower the widths or the batch, or train it from the "
                             "command line (python -m core.train)")


__all__ = ["SCRATCH_MAX_AGE_S", "on_space", "public_mode", "admin_token", "check_may_train", "check_admin",
           "scratch_file", "sweep", "gpu_task", "CPU_PIXELS_PER_STEP", "CPU_MAX_WIDTH", "CPU_WIDTH_PIXELS", "check_tab_budget"]
