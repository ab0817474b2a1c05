"""Plain functions behind the DDPM / DDIM tab and its endpoints (no gradio here; the tab is a view).

Every argument that can come from the API is validated with a clear ``ValueError``.
"""

from __future__ import annotations

import json
import math
from typing import Iterator

import numpy as np
import torch

from core.engine import check_seed, resolve_checkpoint, trained_steps

from .config import SCHEDULES
from .forward import q_sample
from .schedules import alphas_cumprod, check_schedule

T_FORWARD = 1000
TRAINED = "trained"                  # "use the checkpoint's own schedule"
FILMSTRIP_FRAMES = 8


def _check_int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer)) or not float(value).is_integer():
        raise ValueError(f"{name} {value!r} is not an integer in {low}..{high}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name} {int(value)} is outside {low}..{high}")
    return int(value)


def _check_float(value, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not math.isfinite(value):
        raise ValueError(f"{name} {value!r} is not a number in {low:g}..{high:g}")
    if not low <= float(value) <= high:
        raise ValueError(f"{name} {value!r} is outside {low:g}..{high:g}")
    return float(value)


# ---------------------------------------------------------------- forward process
def forward_noise(image: torch.Tensor, t, schedule: str, seed=0, num_train_timesteps: int = T_FORWARD):
    """x_t of a clean image under ``schedule`` (Ho et al. 2020 eq. 4), with a fixed eps per seed.

    Paper indexing: t = 0 is the clean image x_0, t = 1..T use alpha-bar_t (diffusers index t - 1).

    Args:
        image: (C, H, W) in [0, 1].
    Returns:
        (x_t (C, H, W) in [0, 1] (clipped for display), alpha-bar_t).
    """
    t = _check_int(t, "t", 0, num_train_timesteps)
    check_schedule(schedule)
    seed = check_seed(seed)
    x0 = image.float() * 2 - 1                                          # (C, H, W) in [-1, 1]
    if t == 0:
        return image.float().clamp(0, 1), 1.0
    ab = alphas_cumprod(schedule, num_train_timesteps)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    x_t = q_sample(x0[None], t - 1, ab, noise[None])[0]
    return ((x_t + 1) / 2).clamp(0, 1), float(ab[t - 1])


def describe_t(t: int, schedule: str, num_train_timesteps: int = T_FORWARD) -> str:
    """One markdown line with alpha-bar_t, the signal/noise coefficients and SNR at ``t``."""
    if t == 0:
        return "t = 0: the clean image x_0."
    ab = float(alphas_cumprod(schedule, num_train_timesteps)[t - 1])
    shown = f"{ab:.4f}" if ab >= 1e-3 or ab == 0 else f"{ab:.1e}"  # (0.0000 beside sqrt = 0.006 looked wrong)
    return (f"t = {t} ({schedule}): alpha-bar_t = {shown}, x_t = **{math.sqrt(ab):.3f}** x_0 + "
            f"**{math.sqrt(1 - ab):.3f}** eps, SNR = {ab / (1 - ab):.3g}")


# ---------------------------------------------------------------- reverse process
def load_checkpoint(name: str, device="cpu"):
    """The :class:`DiffusionBundle` of ``checkpoints/diffusion/<name>`` (names are checked)."""
    from .pipeline import load_bundle

    return load_bundle(resolve_checkpoint("diffusion", name), device)


def check_sample_request(bundle, sampler, steps, eta, seed, class_label, guidance, schedule, guidance_type):
    """Validate everything an API call can send; returns (steps, eta, seed, class index, guidance, schedule)."""
    from .sampling import MAX_GUIDANCE, check_sampling_args

    steps = _check_int(steps, "steps", 1, bundle.num_train_timesteps)
    eta = _check_float(eta, "eta", 0.0, 1.0)
    guidance = _check_float(guidance, "guidance", 0.0, MAX_GUIDANCE)
    seed = check_seed(seed)
    if schedule in (None, "", TRAINED):
        schedule = None
    elif schedule not in SCHEDULES:
        raise ValueError(f"unknown noise schedule {schedule!r}; valid schedules: {TRAINED}, {', '.join(SCHEDULES)}")
    label = bundle.class_index(class_label)
    check_sampling_args(bundle, sampler, steps, eta, guidance, guidance_type, schedule)
    return steps, eta, seed, label, guidance, schedule


def filmstrip_indices(num_steps: int, frames: int = FILMSTRIP_FRAMES) -> list[int]:
    """Step indices (0-based) shown in the filmstrip: evenly spaced, always the first and the last."""
    return sorted({int(round(i)) for i in np.linspace(0, num_steps - 1, min(frames, num_steps))})


def noise_to_image(eps: torch.Tensor) -> torch.Tensor:
    """Predicted noise eps-hat ~ N(0, I) shown as an image: eps / 5 + 1/2, so +-2.5 sigma spans black to white."""
    return (eps.float() / 5 + 0.5).clamp(0, 1)


def sample_stream(bundle, sampler: str = "ddim", steps=50, eta=0.0, seed=0, class_label=None, guidance=1.0,
                  schedule=None, guidance_type: str = "classifier-free", x0=None, start_t=None) -> Iterator[dict]:
    """Yield per step {index, num_steps, t, x_t, eps_hat, x0_hat (C, H, W) in [0, 1], elapsed}; the last also has
    "image". ``eps_hat`` is :func:`noise_to_image` of the predicted noise.

    The generator lives on the CPU so the same seed gives the same image on any device. ``x0`` (C, H, W) in
    [0, 1] at the model's size and ``start_t`` (diffusers index) make it SDEdit (:func:`sdedit_stream`).
    """
    from .sampling import reverse_steps

    steps, eta, seed, label, guidance, schedule = check_sample_request(
        bundle, sampler, steps, eta, seed, class_label, guidance, schedule, guidance_type)
    generator = torch.Generator().manual_seed(seed)
    if bundle.device.type != "cpu":
        generator = torch.Generator(bundle.device).manual_seed(seed)
    to01 = lambda x: ((x[0].float() + 1) / 2).clamp(0, 1).cpu()
    x0 = None if x0 is None else (x0.float()[None] * 2 - 1)
    for step in reverse_steps(bundle, 1, sampler=sampler, steps=steps, eta=eta, generator=generator,
                              class_labels=label, guidance=guidance, guidance_type=guidance_type, schedule=schedule,
                              x0=x0, start_t=start_t):
        frame = {"index": step.index, "num_steps": step.num_steps, "t": step.t, "x_t": to01(step.x_t),
                 "eps_hat": noise_to_image(step.eps_hat[0]).cpu(), "x0_hat": to01(step.x0_hat),
                 "elapsed": step.elapsed}
        if step.index == step.num_steps - 1:
            frame["image"] = to01(step.prev)
        yield frame


def sdedit_stream(bundle, image, t=500, seed=0, class_label=None, guidance=2.0, steps=50,
                  sampler: str = "ddim") -> Iterator[dict]:
    """SDEdit (Meng et al. 2022): noise ``image`` to step t of the checkpoint's forward process, then denoise it.

    Args:
        image: a path or PIL image; it goes through the project's loader at the model's channels and size.
        t: 0..T (paper indexing, as the forward view): how much of the image is destroyed before denoising;
            small t keeps the layout, large t keeps only what the model imagines; 0 gives x_0 back (no steps run).
        steps: sampling steps over the full 0..T range; only those at or below t run (so t = T/2 runs half).
            The image is noised to the first of them, at most T / steps below t; a grid with none at or below t
            (1 step over 0..T) is refined to ceil(T / t) steps, so one step runs, from the level asked for or
            just below it.
    Yields :func:`sample_stream` frames; the first also has "x0" (the image as the model sees it, (C, H, W)).
    A grey model gets dark ink on light paper inverted: its data is light ink on black.
    """
    from core.data import load_user_image, open_image

    t = _check_int(t, "t", 0, bundle.num_train_timesteps)
    if image is None:
        raise ValueError("give an image: upload one or pick a dataset image")
    x0 = load_user_image(open_image(image), channels=bundle.channels, size=bundle.resolution, background="white")
    if bundle.channels == 1 and float(x0.mean()) > 0.5:
        x0 = 1.0 - x0
    if t == 0:   # nothing destroyed, nothing to redraw
        yield {"image": x0, "x0": x0, "t": -1, "index": -1, "num_steps": 0, "elapsed": 0.0}
        return
    for i, frame in enumerate(sample_stream(bundle, sampler, steps, 0.0, seed, class_label, guidance,
                                            x0=x0, start_t=t - 1)):
        yield frame | ({"x0": x0} if i == 0 else {})


def model_schedule(name: str) -> str | None:
    """The noise schedule checkpoint ``name`` was trained with ("linear", "cosine", ...), None when unrecorded;
    CheckpointError for an unknown name."""
    from .pipeline import META_FILE

    meta = resolve_checkpoint("diffusion", name) / META_FILE
    return json.loads(meta.read_text()).get("schedule") if meta.is_file() else None


def model_input(name: str) -> tuple[int, int] | None:
    """(side in px, channels) of the images checkpoint ``name`` denoises, from its UNet's config; None when
    unreadable; CheckpointError for an unknown name."""
    try:
        config = json.loads((resolve_checkpoint("diffusion", name) / "config.json").read_text())
        side = config["sample_size"]
        return int(side if isinstance(side, int) else side[0]), int(config["in_channels"])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def model_world(name: str) -> str | None:
    """The dataset checkpoint ``name`` was trained on ("digits" for ddpm-digits, "faces" for ddpm-faces32), None when
    unrecorded; CheckpointError for an unknown name."""
    from .pipeline import META_FILE

    folder = resolve_checkpoint("diffusion", name)
    for file in (META_FILE, "train_config.json"):
        try:
            return json.loads((folder / file).read_text())["dataset"]
        except (OSError, ValueError, KeyError):
            continue
    return None


def model_for_world(world: str, current: str) -> str:
    """The diffusion checkpoint SDEdit should use on an image of ``world``: ``current`` when it was trained on it, else
    the bundled ``ddpm-<world>...`` one, else any trained on it; ``current`` when none is (the note says so)."""
    from core.engine import list_checkpoints

    def world_of(name):
        try:
            return model_world(name)
        except Exception:  # noqa: BLE001 - an unreadable or vanished run: not a candidate
            return None

    if world_of(current) == world:
        return current
    names = sorted(list_checkpoints("diffusion"), key=lambda n: (not n.startswith(f"ddpm-{world}"), n))
    return next((n for n in names if world_of(n) == world), current)


def checkpoint_note(name: str) -> str:
    """The checkpoint in one plain sentence (what it draws, how reliably), its measured figures in a toggle."""
    from core.engine.notes import percent, plain_note, read_metrics

    from .pipeline import META_FILE

    folder = resolve_checkpoint("diffusion", name)
    meta = json.loads((folder / META_FILE).read_text()) if (folder / META_FILE).is_file() else {}
    try:
        config = json.loads((folder / "train_config.json").read_text())
    except (OSError, ValueError):
        config = {}
    m = read_metrics(folder)
    classes = meta.get("class_names") or []
    kind = "a class-conditional DDPM" if classes else "a DDPM"
    sentence = (f"**{name}** is {kind} trained {trained_steps(folder, int(config.get('steps', 0)))} steps on the "
                f"`{meta.get('dataset', config.get('dataset', '?'))}` world ({meta.get('schedule', '?')} noise schedule).")
    if "class_accuracy" in m:
        what = {"digits": "digit", "faces": "hair style"}.get(meta.get("dataset"), "class")
        sentence += f" Its samples show the {what} asked for {percent(m['class_accuracy'])} of the time."
    figures = []
    if "class_accuracy" in m:
        worst = min(((k.split("/", 1)[1], v) for k, v in m.items() if k.startswith("class_accuracy/")),
                    key=lambda kv: kv[1], default=None)
        figures.append(f"class asked for, read by the world's classifier: {percent(m['class_accuracy'])}"
                       + (f" (weakest class {worst[0]}: {percent(worst[1])})" if worst else ""))
    fid = next(((k, v) for k, v in m.items() if k.startswith("fid_")), None)
    if fid:
        figures.append(f"FID in the world classifier's features (not Inception; lower is closer to real): {fid[1]:.2f}")
    if "speckled_share" in m:
        figures.append(f"samples with speckled background: {percent(m['speckled_share'])} "
                       f"(held-out world images: {percent(m.get('world_speckled_share', 0))})")
    if "near_black_share" in m:
        figures.append(f"near-black pixels: {percent(m['near_black_share'])} of the samples' "
                       f"(world: {percent(m.get('world_near_black_share', 0))})")
    if "test_mse" in m:
        figures.append(f"noise-prediction error on held-out images (MSE per pixel): {m['test_mse']:.4f}")
    return plain_note(sentence, figures, "measured figures (DDIM 20 steps, w = 2; the model card says how)")
