"""Command-line entry points: a user's mistake is one ``error:`` line and exit status 2, never a traceback."""

from __future__ import annotations

import sys
from typing import Callable

from .checkpoint import CheckpointError

USER_ERRORS = (ValueError, CheckpointError, OSError)  # OSError: a missing or unwritable file, a failed download


def run_cli(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """``main(argv)``, with a user error (bad name, value out of range, missing file) printed as one line."""
    try:
        return main(argv)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
