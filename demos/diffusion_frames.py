"""The DDPM / DDIM tab's streams: the reverse process frame by frame (with its replay) and SDEdit, as the tab
(``demos/diffusion.py``) and its endpoints send them."""

from __future__ import annotations

import itertools
import threading
import time

import gradio as gr

from demos.common import AppContext
from demos.diffusion_forward import _pil

METHOD = "diffusion"
VIEW_SIZE = 224          # streamed frames are enlarged (nearest neighbour) so pixels stay visible
EVERY_STEP_UP_TO = 100   # stream every step of runs up to this many steps ...
MAX_FPS = 12             # ... and at most this many frames per second of longer ones (three images each: 30
#                          a second kept a loaded browser from taking a click on Stop for 30 s)


def _enlarge(image, size: int = VIEW_SIZE):
    from PIL import Image

    scale = max(1, size // max(image.size))
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)


def _bundle(ctx: AppContext, name: str):
    from core.diffusion.service import load_checkpoint

    from core.engine.checkpoint import cache_key, check_checkpoint_chosen

    name = check_checkpoint_chosen(METHOD, name)
    return ctx.cache.get(cache_key(METHOD, name), lambda: load_checkpoint(name, ctx.device))


def sample_frames(ctx: AppContext, checkpoint, sampler, steps, eta, seed, class_label, guidance,
                  schedule="trained", guidance_type="classifier-free", stop: threading.Event | None = None):
    """Stream (x_t, predicted noise, predicted x0, final image, filmstrip, status, replay frames) per reverse step.

    Up to EVERY_STEP_UP_TO steps every step is sent; longer runs (DDPM's 1000) send at most MAX_FPS frames
    per second (every step is still computed; the status names the step shown). Every step is kept at its own
    size for the replay slider, sent once at the end (a ``gr.State``: not part of the API's outputs). ``stop`` set
    (the page's Stop): the stream ends after the step that runs, with that step's views and "… · stopped", the
    filmstrip up to that step and the replay of the steps run (no x_0: the run did not reach it).
    """
    from core.diffusion.service import filmstrip_indices, sample_stream

    bundle = _bundle(ctx, checkpoint)
    stream = sample_stream(bundle, sampler, steps, eta, seed, class_label, guidance, schedule, guidance_type)
    first = next(stream)  # validates every argument before anything is shown
    keep = set(filmstrip_indices(first["num_steps"]))
    strip, replay = [], []
    last_sent = 0.0
    for frame in itertools.chain([first], stream):
        status = step_status(frame)
        views = [_pil(frame[k]) for k in ("x_t", "eps_hat", "x0_hat")]
        replay.append((status, *views))
        if frame["index"] in keep:
            strip.append((_enlarge(views[0]), f"t = {paper_t(frame)}"))  # (one line: "step 1: t / = 1000" wrapped)
        if "image" in frame:
            final = _pil(frame["image"])
            strip.append((_enlarge(final), "x_0 (final)"))
            index = bundle.class_index(class_label)  # a client's "0" is the faces model's "short" hair
            names = bundle.class_names or [str(i) for i in range(bundle.num_classes)]
            drawn = f"{checkpoint}, {sampler.upper()}" + ("" if index is None else f", class {names[index]}")
            yield *[_enlarge(v) for v in views], final, strip, f"{status} · done ({drawn})", replay
            return
        if stop is not None and stop.is_set():  # the steps so far stay: in the filmstrip (to the step it stopped
            if frame["index"] not in keep:       # at) and in the replay (a class stopping at step 150 replays those)
                strip.append((_enlarge(views[0]), f"t = {paper_t(frame)} (stopped)"))
            yield *[_enlarge(v) for v in views], gr.skip(), strip, f"{status} · stopped", replay
            return
        now = time.perf_counter()
        if frame["num_steps"] <= EVERY_STEP_UP_TO or now - last_sent >= 1 / MAX_FPS:
            last_sent = now
            yield *[_enlarge(v) for v in views], gr.skip(), gr.skip(), status, gr.skip()


def paper_t(frame) -> int:
    """The frame's t as the forward view and the papers count it, 1..T (x_T pure noise): the scheduler's index + 1."""
    return int(frame["t"]) + 1


def step_status(frame) -> str:
    return f"step {frame['index'] + 1} / {frame['num_steps']} · t = {paper_t(frame)} · {frame['elapsed']:.2f} s"


def replay_slider(replay):
    """The replay slider after a finished or stopped run: one position per reverse step run, at the last; none for
    a 1-step run (nothing to replay, and a slider from 1 to 1 failed in Gradio: "Slider minimum must be less than
    maximum")."""
    if not replay or len(replay) < 2:
        return gr.update(visible=False)
    return gr.update(visible=True, minimum=1, maximum=len(replay), value=len(replay), interactive=True)


def replay_step(replay, position):
    """x_t, predicted noise, predicted x_0 and the status line of reverse step ``position`` (1-based)."""
    if not replay:
        raise ValueError("press Sample first: the replay shows the steps of the last run")
    i = min(max(int(position or 1), 1), len(replay)) - 1
    status, *views = replay[i]
    return *[_enlarge(v) for v in views], "replay: " + status


def sdedit_frames(ctx: AppContext, image, t, seed, checkpoint, class_label, guidance, steps):
    """Stream (image being denoised, status) of SDEdit from the forward view's x_t (Meng et al. 2022)."""
    from core.diffusion.service import sdedit_stream

    bundle = _bundle(ctx, checkpoint)
    last_sent = 0.0
    start = None
    for frame in sdedit_stream(bundle, image, t, seed, class_label, guidance, steps):
        if frame["num_steps"] == 0:
            yield (_enlarge(_pil(frame["image"])),
                   "t = 0: nothing was noised, so nothing is redrawn (x_0 as the model sees it)")
            return
        start = paper_t(frame) if start is None else start  # the grid's step at or below t
        origin = f"t = {start}" if start == int(t) else f"t = {start}, the sampling step nearest below t = {int(t)}"
        status = (f"SDEdit from {origin}: sampling step {frame['index'] + 1} / {frame['num_steps']} "
                  f"(t = {paper_t(frame)})")
        if "image" in frame:  # (its last step read "step 12 / 12 (t = 20)", though it ends at 0)
            unguided = class_label in (None, "", "none") and bundle.num_classes
            said = (" · class none: unconditional, so w does not act (pick a class to guide it)" if unguided else
                    f" · class {class_label}, w = {float(guidance):g}" if bundle.num_classes else "")
            yield (_enlarge(_pil(frame["image"])), f"SDEdit from {origin}: {frame['num_steps']} sampling steps down to "
                   f"t = 0{said} · done in {frame['elapsed']:.2f} s")
            return
        now = time.perf_counter()
        if now - last_sent >= 1 / MAX_FPS:
            last_sent = now
            yield _enlarge(_pil(frame["x_t"])), status
