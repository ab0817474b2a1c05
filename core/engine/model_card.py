"""Model cards: how a checkpoint was trained (command, data, steps, time, hardware, metrics)."""

from __future__ import annotations

import json
import re
from pathlib import Path


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {sec:02d} s" if hours else f"{minutes} min {sec:02d} s"


def write_model_card(path, name: str, method, state: dict, metrics: dict, hardware: str, notes: str = "",
                     folder=None) -> None:
    """Write the model card ``path`` of checkpoint ``name`` (exported to ``folder``, by default the card's own) from
    the trainer state and the method.

    ``metrics`` may hold non-scalar results (tables) that only ``method.model_card_results`` renders;
    ``notes`` is hand-written markdown kept across re-exports (the folder's ``notes.md``).
    """
    c = method.config
    done = state["step"] >= c.steps
    legs = state.get("history", [])
    command = state.get("command") or f"python -m core.train {method.name} --config train_config.json"
    rows = [
        ("method", method.name),
        ("data", f"`{c.dataset}`" + (f" ({c.data_root})" if c.data_root else "") + ", train split"),
        ("resolution", str(c.resolution or "native")),
        ("steps", f"{state['step']} of {c.steps}" + ("" if done else " (training in progress / stopped early)")),
        ("batch size", f"{c.batch_size} x {state.get('num_processes', 1)} process(es) x {c.grad_accum} accumulation"),
        ("learning rate", method.card_learning_rate()),
        ("EMA decay", f"{c.ema_decay:g}"),
        ("wall time", _duration(state.get("wall_time", 0.0))),
        ("hardware", hardware),
        ("seed", str(c.seed)),
    ]
    lines = [
        "---",
        "library_name: pytorch",
        "tags: [genlab, " + method.name + "]",
        "---",
        f"# GenLab {method.name} checkpoint `{name}`",
        "",
        method.model_card_notes().strip(),
        "",
        "## Training",
        "",
        "Trained by GenLab's own training command:",
        "",
        "```bash",
        command,
        "```",
        "",
        _reproduce(method.name, Path(folder or Path(path).parent), legs),
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in rows],
        "",
        *_history(legs),
        "## Metrics",
        "",
    ]
    scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    if scalars:
        lines += ["| metric | value |", "|---|---|", *[f"| {k} | {_fmt(v)} |" for k, v in scalars.items()]]
    else:
        lines.append("Measured when training reaches its last step; this checkpoint has none yet.")
    if metrics:
        lines += ["", method.model_card_results(metrics).strip()]
    if notes.strip():
        lines += ["", "## Notes (written by hand)", "", notes.strip()]
    lines += ["", "## Samples", "", "![samples](samples.png)", "", "## Full config", "", "```json",
              json.dumps(c.to_dict(), indent=2), "```", ""]
    Path(path).write_text("\n".join(lines))


def _reproduce(method: str, folder: Path, legs: list[dict]) -> str:
    """How to reproduce the checkpoint in ``folder``: the saved config, unless its legs ran different commands (other
    than ``--steps``), since then the saved config holds only the last leg's settings. The folder is named as the
    project's commands name it, relative to the project root (a CLIP lives in ``checkpoints/text2image/``, not under
    its method's name)."""
    commands = {re.sub(r"\s--steps[ =]\d+", "", leg.get("command") or "") for leg in legs}
    if len(commands) > 1:
        return ("The legs in the training history below ran with different settings, and the saved config "
                "holds only the last leg's; replay their commands in order to reproduce this checkpoint.")
    return ("Reproduce it from the saved config: "
            f"`python -m core.train {method} --config {project_relative(folder)}/train_config.json "
            f"--out {project_relative(folder)} --overwrite` (`--overwrite` replaces the model in that folder).")


def project_relative(folder: Path) -> str:
    from .checkpoint import project_root

    try:
        return Path(folder).resolve().relative_to(project_root()).as_posix()
    except ValueError:          # a folder outside the project: as it was given
        return Path(folder).as_posix()


def _history(legs: list[dict]) -> list[str]:
    """Lines of the per-leg table of a resumed run (none for a run in one go)."""
    if len(legs) < 2:
        return []
    export = any("--from-export" in (leg.get("command") or "") for leg in legs)
    how = ("weights, optimizers, EMA and RNG restored" + ("; a `--from-export` leg restores the weights and EMA "
                                                          "only, with fresh optimizers" if export else ""))
    return ["### Training history", "",
            f"One run in {len(legs)} legs, each resumed from the last ({how}):", "",
            "| steps | wall time | hardware | command |", "|---|---|---|---|",
            *[f"| {leg['from']}-{leg['to']} | {_duration(leg['wall_time'])} | {leg['hardware']} | {_command(leg)} |"
              for leg in legs], ""]


def _command(leg: dict) -> str:
    """A leg's command as code, or where it ran when it had none (the tab's Train panel records no command)."""
    return f"`{leg['command']}`" if leg.get("command") else "the app's Train panel"


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
