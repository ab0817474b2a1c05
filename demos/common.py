"""UI pieces every tab shares: app context, seed and checkpoint pickers, errors, endpoints, training panel (the
page's CSS and script: ``demos.page``, re-exported here)."""

from __future__ import annotations

import functools
import inspect
import logging
import math
import random
import re
import secrets
from dataclasses import fields
from typing import Callable

import gradio as gr

from core.engine import MAX_SEED, AppContext, CheckpointError, ModelCache, list_checkpoints
from demos.controls import (CheckboxGroup, Dropdown, ImageFile, ImageUpload, Number, Radio, Setting, Slider,  # noqa: F401
                            check_number, control_name, name_controls_by_api,
                            one_line_file_errors)
from demos.page import (APP_JS, CRISP, CSS, EXACT, GALLERY_FIT, ONE_BUTTON, PIXELS, PIXELS_LARGE, STRIP,  # noqa: F401
                        install_atomic_image_cache, large_images_switch, word_fit_widths)

HELD_OUT_LAST = 9999  # a "held-out image #" box's bound: every world's test split, and MNIST's, holds 10,000

USER_ERRORS = (ValueError, KeyError, FileNotFoundError, CheckpointError, TypeError, ConnectionError)
LOG = logging.getLogger("genlab")


def _fn_name(fn) -> str:
    return getattr(getattr(fn, "func", fn), "__name__", "<lambda>")  # functools.partial: its function


def _user_message(exc: Exception, name: str) -> str:
    """The one line a user error shows (a KeyError's own text, not its repr), logged without a traceback."""
    message = str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)
    LOG.info("user error in %s: %s", name, message)
    return message


def _out_of_memory(exc: Exception) -> bool:
    """A CPU allocation that failed (torch's "can't allocate memory", MemoryError) or a GPU one (OutOfMemoryError)."""
    return (isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"
            or "can't allocate memory" in str(exc) or "out of memory" in str(exc).lower())


def ui_errors(fn):
    """Turn exceptions into one short ``gr.Error`` line; the app keeps serving either way.

    User errors (bad value, unknown checkpoint, unreadable image) log one line on the server; anything else (a
    fault deep in a library) tells the user what failed in a sentence and logs the full traceback.
    Works for plain functions and generators.
    """

    name = _fn_name(fn)
    what = "this request" if name == "<lambda>" else name.replace("_", " ")

    def convert(exc):
        if isinstance(exc, USER_ERRORS):
            return gr.Error(_user_message(exc, name), print_exception=False)
        if _out_of_memory(exc):
            LOG.warning("out of memory in %s: %s", name, exc)
            return gr.Error(f"{what} ran out of memory on this machine: lower the resolution, the batch size or the "
                            "number of images", print_exception=False)
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


def warn_and_keep(n_outputs: int, restore=None, quiet: bool = False):
    """For events that refresh a view when a control changes (a checkpoint typed in a picker): a user error shows
    one warning toast and leaves every output as it was (``gr.Error`` would mark each output with an "Error"
    badge, sliders included). Faults go through :func:`ui_errors` (one line for the user, the traceback logged).
    Gradio shows the toast only for a queued event; a note refreshed with ``queue=False`` uses :func:`note_or_reason`.
    ``restore(*args)``: the outputs to show instead, when keeping them is not enough (an input the browser already
    shows broken). ``quiet``: no toast, for a second view of a change whose first view's event says it (one
    mistake, one warning)."""

    def decorate(fn):
        name = _fn_name(fn)

        def kept(exc, args):
            if not quiet:
                gr.Warning(_user_message(exc, name))
            if restore is not None:
                return restore(*args)
            return gr.update() if n_outputs == 1 else [gr.update()] * n_outputs

        if inspect.isgeneratorfunction(fn):  # a stream: what it showed before the refusal stays

            @functools.wraps(fn)
            def keep(*args, **kwargs):
                try:
                    yield from fn(*args, **kwargs)
                except USER_ERRORS as exc:
                    yield kept(exc, args)
        else:

            @functools.wraps(fn)  # its signature: Gradio passes a gr.Request only to a function that asks for one
            def keep(*args, **kwargs):
                try:
                    return fn(*args, **kwargs)
                except USER_ERRORS as exc:
                    return kept(exc, args)

        keep.__name__ = name  # (a functools.partial has none to copy)
        return ui_errors(keep)

    return decorate


def endpoint(triggers, fn, inputs, outputs, api_name: str, api_visibility: str = "public", page_fn=None,
             page_outputs=None, before=None, before_output=None, check=None, **event):
    """Bind ``fn`` as the API endpoint ``api_name`` and as the page's event on ``triggers`` (a button's click, a
    list of them). A client gets a refused input as an error; on the page it is one warning toast and the outputs
    stay as they were (``gr.Error`` put an "Error" badge over each output and hid the last result). The endpoint
    has its own hidden trigger; both share one concurrency queue (``concurrency_id`` defaults to ``api_name``).
    ``page_fn`` / ``page_outputs``: what the page runs instead, when it shows more than the endpoint returns.
    ``js`` (in ``event``): the page event's only, as Gradio runs it (with the inputs, returning them).
    ``before``: run at the click (no inputs; its return goes to ``before_output``, by default the first output; a
    list of outputs takes a tuple), in no concurrency queue (where a warning toast shows, unlike queue=False): a
    ``demos.training_queue.refuse`` there keeps the page's event from queueing; Gradio's progress overlay then covers
    the other outputs only (it greyed the line out). ``check``: run at the click before ``before``, with no inputs
    and no outputs: where a refusal must keep the run from queueing (a refusal in an event with outputs put a red
    "Error" badge on them).
    Returns the page's event, for a ``.then`` that only the page needs."""
    if "concurrency_limit" in event:
        event.setdefault("concurrency_id", api_name)
    api_event = {k: v for k, v in event.items() if k not in ("trigger_mode", "show_progress", "show_progress_on", "js")}
    gr.Button(visible=False).click(ui_errors(fn), inputs, outputs, api_name=api_name, api_visibility=api_visibility,
                                   **api_event)
    triggers = triggers if isinstance(triggers, (list, tuple)) else [triggers]
    page_outputs = page_outputs or outputs
    many = isinstance(page_outputs, (list, tuple))
    bind = functools.partial(gr.on, triggers)
    if check is not None:
        bind = gr.on(triggers, check, api_visibility="private", concurrency_limit=None).success
    if before is not None:
        line = before_output or (page_outputs[0] if many else page_outputs)
        bind = bind(before, outputs=line, api_visibility="private", concurrency_limit=None).success
        lines = line if isinstance(line, (list, tuple)) else [line]
        others = [o for o in (page_outputs if many else [page_outputs])  # (a State shows no overlay)
                  if all(o is not x for x in lines) and not isinstance(o, gr.State)]
        if others:  # the queue's overlay on the other outputs: the line saying why the run waits stays readable
            event.setdefault("show_progress_on", others)
    return bind(warn_and_keep(len(page_outputs) if many else 1)(page_fn or fn), inputs, page_outputs,
                api_visibility="private", **event)


def note_or_reason(fn, keep: int = 0):
    """For a picker's note, refreshed by an event with ``queue=False`` (where Gradio never shows a warning toast): a
    name that is not a checkpoint gets the reason in the note itself, so the note of the checkpoint before does not
    stay on screen as if it described the typed one. ``fn`` returns the note, or the note and ``keep`` more outputs,
    which a refused name leaves as they are (a layout that would otherwise follow the picker). Faults go through
    :func:`ui_errors`."""
    name = _fn_name(fn)

    @functools.wraps(fn)
    def note(checkpoint, *args):
        try:
            return fn(checkpoint, *args)
        except USER_ERRORS as exc:
            reason = f"**{str(checkpoint or '').strip() or '(none)'}**: {_user_message(exc, name)}"
            return (reason, *[gr.update()] * keep) if keep else reason

    return ui_errors(note)


def session_of(request) -> str:
    """The browser session (or gradio_client) of a request, "api" when there is none: the key of per-visitor state
    such as a Cancel flag."""
    return getattr(request, "session_hash", None) or "api"


VISITORS: dict[str, str] = {}  # a page's Gradio session -> its browser's visitor id (kept in the browser's storage)


def visitor_of(request) -> str:
    """The browser a request comes from, across its reloads and tabs (:func:`remember_visitors`): the key of what a
    visitor keeps (LoRA adapters, their training and its Cancel; keyed by the page, a reload lost a student's
    adapters); a client with no page (gradio_client), its own session."""
    session = session_of(request)
    return VISITORS.get(session, session)


def remember_visitors() -> None:
    """At each page load, the browser's visitor id (made at its first visit, kept in its localStorage) for the page's
    session; it is forgotten when the page closes. Call it inside the app's ``gr.Blocks``, outside any tab (a
    ``gr.BrowserState`` in a tab not yet shown never wrote its value)."""
    browser = gr.BrowserState(None, storage_key="genlab-visitor")

    def recognise(request: gr.Request, stored):
        known = isinstance(stored, str) and re.fullmatch(r"v[0-9a-f]{32}", stored)
        VISITORS[session_of(request)] = visitor = stored if known else f"v{secrets.token_hex(16)}"
        return visitor

    gr.on(page_open(), recognise, browser, browser, api_visibility="private", queue=False)
    from gradio.context import Context

    Context.root_block.genlab_visitor = browser  # (visitor_state)

    def forget(request: gr.Request):
        VISITORS.pop(session_of(request), None)

    Context.root_block.unload(forget)


def visitor_state():
    """The enclosing app's visitor box (:func:`remember_visitors`: the browser's id, as an event's input: a page-open
    event reads it before the page's session is recognised), or None in an app without one."""
    from gradio.context import Context

    return getattr(Context.root_block, "genlab_visitor", None)


def seed_control(label: str = "Seed", value: int = 0, elem_id: str | None = None) -> gr.Number:
    """A seed box (0 .. 2**32-1) with a button that draws a random seed (a word, not the dice emoji, which
    machines without an emoji font, headless Chromium among them, draw as an empty box)."""
    with gr.Row(equal_height=True):
        seed = Number(value=value, label=label, precision=0, minimum=0, maximum=MAX_SEED,
                         elem_id=elem_id, scale=4)
        dice = gr.Button("Random", scale=1, min_width=72, elem_id=f"{elem_id}-dice" if elem_id else None)
    dice.click(lambda: random.randint(0, MAX_SEED), outputs=seed, api_visibility="private", queue=False)
    return seed


def checkpoint_picker(method: str, label: str = "Checkpoint", value: str | None = None,
                      elem_id: str | None = None, only: Callable[[str], bool] | None = None, **kwargs) -> gr.Dropdown:
    """A dropdown over ``checkpoints/<method>/*`` (bundled and user-trained), refreshed on focus; ``only``: a test of
    a checkpoint's name that keeps those the control takes (the codebook's picker lists VQ-VAEs)."""
    names = [n for n in list_checkpoints(method) if only is None or only(n)]
    picker = Dropdown(choices=names, value=value if value in names else (names[0] if names else None),
                      label=label, elem_id=elem_id, allow_custom_value=True, **kwargs)
    picker.genlab_only = only
    # the list as the page opens (the build's list lacks the runs trained since the app started), then at each focus
    # (runs trained since): Gradio's dropdown keeps its tick at the old position when its choices change while it is
    # focused, so the page-open refresh leaves the focus one nothing to move (a run named "aaa" ticked the wrong model)
    gr.on([*page_open(), picker.focus], refresh_pickers(method, [picker]), outputs=picker, api_visibility="private",
          queue=False)
    return picker


def refresh_pickers(method: str, pickers: list):
    """An event function that refreshes checkpoint ``pickers`` of ``method``, each with its own ``only``."""

    def refresh():
        names = list_checkpoints(method)
        updates = [gr.update(choices=[n for n in names if getattr(p, "genlab_only", None) is None or p.genlab_only(n)])
                   for p in pickers]
        return updates[0] if len(updates) == 1 else updates

    return refresh


def config_widget(config_cls, name: str, value):
    """A widget for one config field: dropdown for choices, checkbox for bools, number otherwise."""
    from core.engine.config import field_docs

    f = {f.name: f for f in fields(config_cls)}[name]
    label = name.replace("_", " ")
    doc = (field_docs(config_cls).get(name) or "").replace("``", "`")  # what --help says, when it has no short help
    if len(doc) > 160:  # its first sentence, or its first words
        doc = doc[:doc.find(". ") + 1] if 0 < doc.find(". ") < 160 else doc[:doc.rfind(" ", 0, 150)] + " …"
    info = f.metadata.get("help") or doc or None
    if "choices" in f.metadata:
        return Dropdown(list(f.metadata["choices"]), value=value, label=label, info=info)
    if isinstance(value, bool):  # (a row of number boxes squeezed it to a box without its label: CSS below)
        return gr.Checkbox(value=value, label=label, info=info, elem_classes="genlab-setting-check")
    low, high = f.metadata.get("range", (None, None))
    if isinstance(value, (int, float)):
        # a setting typed out of range is refused with its range, not moved to a bound (a learning rate of -0.001
        # made 0 trains nothing); the arrow keys step by the default's own order of magnitude (0.001: 0.0001)
        step = 1 if isinstance(value, int) or not value else 10 ** (math.floor(math.log10(abs(value))) - 1)
        return Setting(value=value, label=label, info=info, minimum=low, maximum=high, step=step,
                       precision=0 if isinstance(value, int) else None, elem_classes=EXACT)
    if isinstance(value, (tuple, list)):  # as the CLI takes it: "32, 64, 64", not a Python tuple
        value = ", ".join(map(str, value))
    return gr.Textbox(value=str(value), label=label, info=info)


def page_open() -> list:
    """The enclosing app's page-load trigger, as a list to splice into ``gr.on`` triggers; empty outside a Blocks
    (a tab built alone). Views computed then load their model on first visit, not at build time."""
    from gradio.context import Context

    return [Context.root_block.load] if Context.root_block is not None else []


def opening_view(ctx: AppContext, key: str, count: int, then: Callable | None = None):
    """A page-open event function: ``ctx.openings[key]``, the ``count`` outputs a tab drew for its opening settings at
    warm-up (followed by ``then(outputs)``, when given), or skips where the app started without its warm-up: a page
    load never waits for a model, and thirty of them cost nothing."""

    def show():
        view = ctx.openings.get(key)
        if view is None:
            return (gr.skip(),) * (count + (then is not None))
        return (*view, then(view)) if then is not None else view

    return show


def run_standalone(build: Callable[[AppContext], None], title: str) -> None:
    """Launch one tab on its own (``python -m demos.<method>``)."""
    install_atomic_image_cache()
    with gr.Blocks(title=f"GenLab - {title}") as demo:
        remember_visitors()
        with gr.Tab(title):
            build(AppContext())
    name_controls_by_api(demo)
    one_line_file_errors(demo)
    demo.queue(default_concurrency_limit=2).launch(css=CSS, js=APP_JS)


from demos.training_panel import training_panel  # noqa: E402  (re-exported for tabs)

__all__ = ["warn_and_keep", "endpoint", "check_number", "Slider", "Number", "ImageUpload", "ImageFile",
           "install_atomic_image_cache", "CSS", "APP_JS", "page_open", "opening_view", "HELD_OUT_LAST", "PIXELS",
           "PIXELS_LARGE", "STRIP", "GALLERY_FIT", "CRISP", "ONE_BUTTON", "large_images_switch", "AppContext",
           "ModelCache", "ui_errors", "seed_control", "checkpoint_picker", "refresh_pickers",
           "remember_visitors", "visitor_of", "visitor_state", "config_widget", "run_standalone", "training_panel"]
