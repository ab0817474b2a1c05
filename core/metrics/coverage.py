"""Attribute coverage: how often the bundled world classifier reads each value in generated vs real images.

FID mixes image quality and diversity into one number. A generator that drops a mode (say, it rarely
turns a face to the left) shows it here directly: per classifier head, the frequency p_k of each value
among real images and q_k among generated ones, and their total variation distance

    TV(p, q) = 1/2 sum_k |p_k - q_k|    (0: the same frequencies; 1: no value in common).

The frequencies are the classifier's readings, so they inherit its errors on blurry samples; compare
checkpoints of the same world only.
"""

from __future__ import annotations

import torch

from .accuracy import predict
from .features import load_classifier


def value_frequencies(images: torch.Tensor, world: str = "faces", classifier=None) -> dict[str, list[float]]:
    """{head name: fraction of ``images`` (N, C, H, W) in [0, 1] read as each of its values}."""
    net = classifier if classifier is not None else load_classifier(world)
    pred = predict(images, classifier=net)  # (N, heads)
    n = max(len(pred), 1)
    return {name: (torch.bincount(pred[:, h], minlength=k).double() / n).tolist()
            for h, (name, k) in enumerate(zip(net.head_names, net.head_sizes))}


def attribute_coverage(real: torch.Tensor, generated: torch.Tensor, world: str = "faces",
                       classifier=None) -> dict[str, dict]:
    """Per head: {"values": names, "real": p, "generated": q, "tv": TV(p, q)} (see the module docstring)."""
    net = classifier if classifier is not None else load_classifier(world)
    p, q = value_frequencies(real, classifier=net), value_frequencies(generated, classifier=net)
    return {name: {"values": list(values), "real": p[name], "generated": q[name],
                   "tv": 0.5 * sum(abs(a - b) for a, b in zip(p[name], q[name]))}
            for name, values in zip(net.head_names, net.class_names)}


def under_drawn(coverage: dict[str, dict], margin: float = 0.1) -> list[tuple[str, str, float, float]]:
    """(attribute, value, generated share, real share) for values whose generated share falls ``margin`` or more
    below the real one, the largest shortfall first."""
    rows = [(name, v, g, r) for name, c in coverage.items() for v, g, r in zip(c["values"], c["generated"], c["real"])
            if r - g >= margin]
    return sorted(rows, key=lambda row: row[2] - row[3])


def coverage_table(coverage: dict[str, dict]) -> str:
    """Markdown: one row per attribute, its TV and every value's "% generated / % real"."""
    lines = ["| attribute | TV | each value: % of samples / % of real images |", "|---|---:|---|"]
    for name, c in coverage.items():
        cells = " · ".join(f"{v} {100 * g:.0f} / {100 * r:.0f}" for v, g, r in zip(c["values"], c["generated"], c["real"]))
        lines.append(f"| {name.replace('_', ' ')} | {c['tv']:.2f} | {cells} |")
    return "\n".join(lines)
