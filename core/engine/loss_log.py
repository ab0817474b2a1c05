"""A run's loss log (``losses.json``): what the trainer writes beside the weights and the tabs plot."""

from __future__ import annotations

import json
from pathlib import Path

LOSS_LOG = "losses.json"  # [{"step": s, "<loss>": mean since the previous row, ...}, ...]
EXPORT_LOG_ROWS = 150  # a bundled checkpoint's losses.json stays a few tens of KB


def thin_rows(rows: list[dict], most: int = EXPORT_LOG_ROWS) -> list[dict]:
    """``rows`` at ``most`` evenly spaced indices, the last one included (all of them when there are fewer)."""
    if len(rows) <= most:
        return list(rows)
    return [rows[round(i * (len(rows) - 1) / (most - 1))] for i in range(most)]


def read_loss_log(folder, upto: int | None = None) -> list[dict]:
    """The rows of ``folder/losses.json`` (up to step ``upto`` when given); [] when there is none or it is unreadable."""
    try:
        rows = json.loads((Path(folder) / LOSS_LOG).read_text())
        return [r for r in rows if isinstance(r, dict) and (upto is None or int(r.get("step", upto + 1)) <= upto)]
    except (OSError, ValueError, TypeError):
        return []
