"""Where a run starts from: its resume state (``out_dir/resume``: weights, EMA, optimizers, RNG, after a kill or a
Cancel) or its exported checkpoint (``Trainer(from_export=True)``: weights and ``trainer_state.json``, fresh optimizer
state); each refuses another method's, another architecture's or other data's run with one message saying what to do.
Used by :class:`core.engine.trainer.Trainer`."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from .checkpoint import load_tensors, read_json, recover_folder
from .method import Method

log = logging.getLogger(__name__)

DATA_KEYS = ("dataset", "data_root", "resolution")  # a resume on other data is refused (a fine-tune is a new run)


def progress(saved: dict) -> dict:
    """Where a saved run stands (its trainer_state.json): step, wall time and the legs so far."""
    return {"step": int(saved["step"]), "wall_time": float(saved.get("wall_time", 0.0)),
            "history": list(saved.get("history", []))}


def read_export_state(method: Method, out_dir: Path) -> dict:
    """The ``trainer_state.json`` of the exported checkpoint in ``out_dir`` (its legs, step, wall time).
    FileNotFoundError: none; ValueError: another method's."""
    path = out_dir / "trainer_state.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: only checkpoints exported with their trainer state can be "
                                "re-evaluated or continued without their resume state")
    state = read_json(path)
    if state.get("method") != method.name:
        raise ValueError(f"{out_dir} holds a {state.get('method')!r} checkpoint, not {method.name!r}")
    return state


def load_export(method: Method, out_dir: Path, raw, ema) -> dict:
    """Start from the exported weights: they go into the exported sub-module of ``raw`` and its EMA, and the
    exported ``continuation_modules`` (if the export has them) into theirs. Returns :func:`progress`."""
    from safetensors.torch import load_model

    saved = read_export_state(method, out_dir)
    weights = method.load_inference(out_dir).state_dict()
    method.ema_module(raw).load_state_dict(weights)
    if ema is not None:
        ema.module.load_state_dict(weights)
    for name, extra in method.continuation_modules(raw).items():
        path = out_dir / f"{name}.safetensors"
        if path.is_file():
            load_model(extra, str(path))
            log.info("continuing with the exported %s", name)
        else:
            log.warning("%s has no %s.safetensors: the %s starts afresh", out_dir, name, name)
    return progress(saved)


def architecture_mismatch(config, folder: Path, saved: dict, exc: Exception) -> str:
    """One message: which config fields differ from the saved run's, and what to do."""
    from .model_card import project_relative

    skip = {"steps", "sample_every", "checkpoint_every", "log_every", "device", "lr", "num_samples", "eval_samples"}
    old, new = saved.get("config", {}), config.to_dict()
    diffs = [f"{k} {old[k]!r} -> {new[k]!r}" for k in new if k in old and old[k] != new[k] and k not in skip]
    what = ", ".join(diffs) if diffs else str(exc).splitlines()[0][:200]
    return (f"{project_relative(folder.parent)} holds a run whose model has another shape ({what}): resume it "
            "with its own settings, or give another run name (from the CLI: --fresh starts it over)")


def check_same_data(config, folder: Path, old: dict) -> None:
    """ValueError for a resume on other data (the card would name only the new data; a fine-tune is a new run)."""
    from .model_card import project_relative

    new = config.to_dict()
    diffs = [f"{k} {old[k]!r} -> {new[k]!r}" for k in DATA_KEYS if k in old and k in new and old[k] != new[k]]
    if diffs:
        raise ValueError(f"{project_relative(folder.parent)} holds a run trained on other data ({', '.join(diffs)}): "
                         "resume it with its own data, or give another run name (from the CLI: --fresh starts it "
                         "over)")


def load_resume(method: Method, out_dir: Path, raw, ema, optimizers: dict, state: dict) -> dict:
    """Continue from ``out_dir/resume`` when it holds a run (else ``state`` as given): the model, its EMA, the
    optimizers' moments (at the current config's learning rates, e.g. a new ``--lr``) and the RNG. Returns
    :func:`progress`. ValueError: another method's run, another architecture, other data."""
    from safetensors.torch import load_model

    folder = out_dir / "resume"
    recover_folder(folder)
    if not (folder / "trainer_state.json").is_file():
        return state
    saved = read_json(folder / "trainer_state.json")
    if saved.get("method") != method.name:
        raise ValueError(f"{folder} holds a {saved.get('method')!r} run, not {method.name!r}; "
                         "choose another output name or start fresh")
    check_same_data(method.config, folder, saved.get("config", {}))
    try:
        load_model(raw, str(folder / "model.safetensors"))
    except RuntimeError as exc:  # size mismatch / missing keys: the saved run is another architecture
        raise ValueError(architecture_mismatch(method.config, folder, saved, exc)) from None
    if ema is not None and (folder / "ema.safetensors").is_file():
        load_model(ema.module, str(folder / "ema.safetensors"))
        ema.n_averaged.copy_(load_tensors(folder / "ema_state.pt")["n_averaged"])
    opt_states = load_tensors(folder / "optimizers.pt")
    for name, opt in optimizers.items():
        lrs = [group["lr"] for group in opt.param_groups]  # the current config's, e.g. a new --lr
        opt.load_state_dict(opt_states[name])
        for group, lr in zip(opt.param_groups, lrs):
            group["lr"] = lr
    rng = load_tensors(folder / "rng.pt")
    torch.set_rng_state(rng["cpu"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return progress(saved)
