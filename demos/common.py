"""UI pieces every tab shares: app context, seed and checkpoint pickers, errors, training panel."""

from __future__ import annotations

import functools
import inspect
import logging
import random
from dataclasses import dataclass, field, fields
from typing import Callable

import gradio as gr
import torch

from core.engine import MAX_SEED, CheckpointError, ModelCache, list_checkpoints

USER_ERRORS = (ValueError, KeyError, FileNotFoundError, CheckpointError, TypeError)
LOG = logging.getLogger("genlab")


@dataclass
class AppContext:
    """What every tab's ``build`` receives."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    allow_train: bool = True
    cache: ModelCache = field(default_factory=ModelCache)


def ui_errors(fn):
    """Turn exceptions into one short ``gr.Error`` line; the app keeps serving either way.

    User errors (bad value, unknown checkpoint, unreadable image) log one line on the server; anything else (a
    fault deep in a library) tells the user what failed in a sentence and logs the full traceback.
    Works for plain functions and generators.
    """

    name = getattr(getattr(fn, "func", fn), "__name__", "<lambda>")  # functools.partial: its function
    what = "this request" if name == "<lambda>" else name.replace("_", " ")

    def convert(exc):
        if isinstance(exc, USER_ERRORS):
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            LOG.info("user error in %s: %s", name, message)
            return gr.Error(str(message), print_exception=False)
        LOG.exception("fault in %s", name)
        return gr.Error(f"{what} failed: {type(exc).__name__}: {str(exc)[:200]} "
                        "(a fault of the app, logged on the server; other settings may work)", print_exception=False)

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as exc:
                raise convert(exc) from exc

        return generator

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:
            raise convert(exc) from exc

    return wrapper


def seed_control(label: str = "Seed", value: int = 0, elem_id: str | None = None) -> gr.Number:
    """A seed box (0 .. 2**32-1) with a button that draws a random seed (a word, not the dice emoji, which
    machines without an emoji font, headless Chromium among them, draw as an empty box)."""
    with gr.Row(equal_height=True):
        seed = gr.Number(value=value, label=label, precision=0, minimum=0, maximum=MAX_SEED,
                         elem_id=elem_id, scale=4)
        dice = gr.Button("Random", scale=1, min_width=72, elem_id=f"{elem_id}-dice" if elem_id else None)
    dice.click(lambda: random.randint(0, MAX_SEED), outputs=seed, api_visibility="private", queue=False)
    return seed


def checkpoint_picker(method: str, label: str = "Checkpoint", value: str | None = None,
                      elem_id: str | None = None, **kwargs) -> gr.Dropdown:
    """A dropdown over ``checkpoints/<method>/*`` (bundled and user-trained), refreshed on focus."""
    names = list_checkpoints(method)
    picker = gr.Dropdown(choices=names, value=value if value in names else (names[0] if names else None),
                         label=label, elem_id=elem_id, allow_custom_value=True, **kwargs)
    picker.focus(lambda: gr.update(choices=list_checkpoints(method)), outputs=picker, api_visibility="private",
                 queue=False)
    return picker


def refresh_pickers(method: str, count: int):
    """An event function that refreshes ``count`` checkpoint pickers of ``method``."""

    def refresh():
        update = gr.update(choices=list_checkpoints(method))
        return update if count == 1 else [update] * count

    return refresh


def config_widget(config_cls, name: str, value):
    """A widget for one config field: dropdown for choices, checkbox for bools, number otherwise."""
    f = {f.name: f for f in fields(config_cls)}[name]
    label = name.replace("_", " ")
    info = f.metadata.get("help") or None
    if "choices" in f.metadata:
        return gr.Dropdown(list(f.metadata["choices"]), value=value, label=label, info=info)
    if isinstance(value, bool):
        return gr.Checkbox(value=value, label=label, info=info)
    low, high = f.metadata.get("range", (None, None))
    if isinstance(value, (int, float)):
        return gr.Number(value=value, label=label, info=info, minimum=low, maximum=high,
                         precision=0 if isinstance(value, int) else None)
    return gr.Textbox(value=str(value), label=label, info=info)


# The app's CSS. ``PIXELS``: small images (28-64 px) shown large with visible pixels; the endpoints still
# return the exact native-size PNG.
PIXELS = "genlab-pixels"
CSS = f"""
.gradio-container {{max-width: 1280px !important}}
footer {{display: none !important}}
.genlab-sticky {{position: sticky; top: 0; align-self: flex-start}}
.{PIXELS} img {{width: 100% !important; height: 224px !important; object-fit: contain !important;
               image-rendering: pixelated;}}
"""


# Every Sketchpad opens with its brush selected (Gradio's opens with no tool: a first stroke drew nothing). Each
# Brush button is clicked once, when it first becomes visible (sketchpads in hidden tabs appear later).
SELECT_BRUSH_JS = """
() => {
  const pick = () => document.querySelectorAll('button[aria-label="Brush"]').forEach((b) => {
    if (!b.dataset.genlabBrush && b.offsetParent !== null) { b.dataset.genlabBrush = "1"; b.click(); }
  });
  new MutationObserver(pick).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                     attributeFilter: ["style", "class", "hidden"]});
  pick();
}
"""


def run_standalone(build: Callable[[AppContext], None], title: str) -> None:
    """Launch one tab on its own (``python -m demos.<method>``)."""
    with gr.Blocks(title=f"GenLab - {title}") as demo:
        with gr.Tab(title):
            build(AppContext())
    demo.queue(default_concurrency_limit=2).launch(css=CSS, js=SELECT_BRUSH_JS)


from demos.training_panel import training_panel  # noqa: E402  (re-exported for tabs)

__all__ = ["CSS", "SELECT_BRUSH_JS", "PIXELS", "AppContext", "ModelCache", "ui_errors", "seed_control", "checkpoint_picker",
           "refresh_pickers", "config_widget", "run_standalone", "training_panel"]
