"""Device choice: auto picks cuda > mps > cpu; never hard-code "cuda"."""

from __future__ import annotations

import os
import platform

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch device for ``name``; raise ``ValueError`` when it is not available."""
    if name not in DEVICES:
        raise ValueError(f"device {name!r} is not one of {list(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was asked for but MPS is not available")
    return torch.device(name)


def hardware(acc) -> str:
    """One line naming where a run ran, for model cards."""
    if acc.device.type == "cuda":
        name = torch.cuda.get_device_name(acc.device)
    else:
        name = f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    return f"{acc.num_processes} x {name} (torch {torch.__version__})"
