"""Command-line entry points: a user's mistake is one ``error:`` line and exit status 2, never a traceback."""

from __future__ import annotations

import logging
import sys
from typing import Callable

from .checkpoint import CheckpointError

USER_ERRORS = (ValueError, CheckpointError, OSError)  # OSError: a missing or unwritable file, a failed download
# library warnings that say nothing to a GenLab user: (logger, the message's start or a part of it)
KNOWN_NOISE = (
    # GenLab has no torchvision by design (DESIGN.md); transformers then uses its PIL image processors
    ("transformers.utils.import_utils", "requires torchvision (not installed)"),
    # a GenLab LoRA adapts the U-Net only (a text-encoder LoRA is in its own file, loaded separately)
    ("diffusers.loaders.lora_base", "No LoRA keys associated to"),
)


class _DropKnownNoise(logging.Filter):
    def __init__(self, part: str):
        super().__init__()
        self.part = part

    def filter(self, record: logging.LogRecord) -> bool:
        return self.part not in record.getMessage()


def quiet_known_noise() -> None:
    """Drop :data:`KNOWN_NOISE` from the libraries' logs (once per process; every other message is kept)."""
    for name, part in KNOWN_NOISE:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropKnownNoise) and f.part == part for f in logger.filters):
            logger.addFilter(_DropKnownNoise(part))


def run_cli(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """``main(argv)``, with a user error (bad name, value out of range, missing file) printed as one line."""
    quiet_known_noise()
    try:
        return main(argv)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
