"""The checkpoint note every tab shows beside its picker: one plain sentence first, the figures behind a toggle.

Issue #18's rule for a projector and a first-time student: say what the model is and how good it is in words,
with units; the measured figures (from the checkpoint's ``metrics.json``) follow in a ``<details>`` toggle.
"""

from __future__ import annotations

import json


def plain_note(sentence: str, figures: list[str], summary: str = "measured figures") -> str:
    """Markdown: ``sentence``, then ``figures`` (one bullet each) in a closed details toggle (none: the sentence)."""
    if not figures:
        return sentence
    return (f"{sentence}\n\n<details><summary>{summary}</summary>\n\n" + "\n".join(f"- {f}" for f in figures)
            + "\n\n</details>")


def read_metrics(folder) -> dict:
    """The folder's ``metrics.json`` ({} when absent or unreadable)."""
    try:
        return json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}


def percent(value) -> str:
    """0.996 -> "99.6 %", 0.52 -> "52 %": whole percents, with a decimal near 0 and 100 % (never a rounded 100)."""
    v = 100 * float(value)
    return f"{v:.1f} %" if 0 < v < 1 or 99 < v < 100 else f"{v:.0f} %"
