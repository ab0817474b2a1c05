"""UI pieces every tab shares: app context, seed and checkpoint pickers, errors, training panel."""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
import random
import tempfile
from dataclasses import fields
from typing import Callable

import gradio as gr

from core.engine import MAX_SEED, AppContext, CheckpointError, ModelCache, list_checkpoints
from demos.controls import (CheckboxGroup, Dropdown, ImageUpload, Number, Radio, Slider,  # noqa: F401
                            check_number, control_name, name_controls_by_api,
                            one_line_file_errors)

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
             page_outputs=None, before=None, before_output=None, **event):
    """Bind ``fn`` as the API endpoint ``api_name`` and as the page's event on ``triggers`` (a button's click, a
    list of them). A client gets a refused input as an error; on the page it is one warning toast and the outputs
    stay as they were (``gr.Error`` put an "Error" badge over each output and hid the last result). The endpoint
    has its own hidden trigger; both share one concurrency queue (``concurrency_id`` defaults to ``api_name``).
    ``page_fn`` / ``page_outputs``: what the page runs instead, when it shows more than the endpoint returns.
    ``before``: run at the click (no inputs; its return goes to ``before_output``, by default the first output), in
    no concurrency queue (where a warning toast shows, unlike queue=False): a ``demos.training_panel.refuse`` there
    keeps the page's event from queueing.
    Returns the page's event, for a ``.then`` that only the page needs."""
    if "concurrency_limit" in event:
        event.setdefault("concurrency_id", api_name)
    api_event = {k: v for k, v in event.items() if k not in ("trigger_mode", "show_progress")}
    gr.Button(visible=False).click(ui_errors(fn), inputs, outputs, api_name=api_name, api_visibility=api_visibility,
                                   **api_event)
    triggers = triggers if isinstance(triggers, (list, tuple)) else [triggers]
    page_outputs = page_outputs or outputs
    many = isinstance(page_outputs, (list, tuple))
    bind = functools.partial(gr.on, triggers)
    if before is not None:
        first = page_outputs[0] if many else page_outputs
        bind = gr.on(triggers, before, outputs=before_output or first, api_visibility="private",
                     concurrency_limit=None).success
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
                      elem_id: str | None = None, **kwargs) -> gr.Dropdown:
    """A dropdown over ``checkpoints/<method>/*`` (bundled and user-trained), refreshed on focus."""
    names = list_checkpoints(method)
    picker = Dropdown(choices=names, value=value if value in names else (names[0] if names else None),
                      label=label, elem_id=elem_id, allow_custom_value=True, **kwargs)
    # the list as the page opens (the build's list lacks the runs trained since the app started), then at each focus
    # (runs trained since): Gradio's dropdown keeps its tick at the old position when its choices change while it is
    # focused, so the page-open refresh leaves the focus one nothing to move (a run named "aaa" ticked the wrong model)
    gr.on([*page_open(), picker.focus], refresh_pickers(method, 1), outputs=picker, api_visibility="private",
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
        return Number(value=value, label=label, info=info, minimum=low, maximum=high, step=step,
                      precision=0 if isinstance(value, int) else None, elem_classes=EXACT)
    if isinstance(value, (tuple, list)):  # as the CLI takes it: "32, 64, 64", not a Python tuple
        value = ", ".join(map(str, value))
    return gr.Textbox(value=str(value), label=label, info=info)


# The app's CSS. ``PIXELS``: small images (28-64 px) shown large with visible pixels; the endpoints still
# return the exact native-size PNG.
HELD_OUT_LAST = 9999  # a "held-out image #" box's bound: every world's test split, and MNIST's, holds 10,000
PIXELS = "genlab-pixels"
PIXELS_LARGE = "genlab-pixels-large"  # with PIXELS: a tab's one main image, 384 px high (issue #18's projector size)
LARGE, LARGE_PX = "genlab-large", 390  # the page's "large images" switch (a class on <body>) and its image height
ONE_BUTTON = "genlab-one-button"  # a narrow image output with buttons=["fullscreen"]: its label gets the bar's width
GALLERY_FIT, GALLERY_CELL_PX = "genlab-gallery-fit", 384  # a Gallery whose box fits its images, each at most 384 px
# an image output's block; a Sketchpad's container has data-testid="image" (excluded: it sizes its canvas itself)
_IMAGE = ".block:has(> .image-container:not([data-testid]))"
# an image input (an upload box; a Sketchpad, which holds a canvas, keeps Gradio's layout: its canvas could open 0 px tall)
_UPLOAD = '.block:has(> .image-container[data-testid="image"]):not(:has(canvas))'

CSS = f"""
.gradio-container {{max-width: 1280px !important}}
footer {{display: none !important}}
.genlab-sticky {{position: sticky; top: 0; align-self: flex-start}}
.{PIXELS} img {{width: 100% !important; height: 224px !important; object-fit: contain !important;
               image-rendering: pixelated;}}
.{PIXELS}.{PIXELS_LARGE} img {{height: 384px !important}}
.genlab-examples {{flex-wrap: wrap !important; gap: 6px !important}}  /* example prompts: buttons that wrap */
.genlab-examples > button {{flex: 0 1 auto !important; width: auto !important; max-width: 100%; white-space: normal !important;
                           height: auto !important; text-align: left}}
.genlab-setting-check {{min-width: 180px !important}}  /* a setting's checkbox keeps its label beside number boxes */
.genlab-hidden {{display: none !important}}  /* in the page (it gets browser events), not on screen */
/* GALLERY_FIT: the box grows to show every image whole (Gradio's caps it at 55 % of the window and crops the rest);
   one image is shown 384 px square, not stretched across the column and cut off */
.{GALLERY_FIT} .grid-wrap {{max-height: none !important; min-height: 0 !important; overflow-y: visible !important}}
/* every gallery: its columns fit the box (Gradio's are at least 100 px wide and ran off the side), the thumbnails start
   under the box's label and its buttons, not behind them, and each image's caption sits under its pixels, whole */
.gallery-container .grid-container {{grid-template-columns: repeat(var(--grid-cols), minmax(0, 1fr)) !important}}
.{GALLERY_FIT} .grid-container {{grid-template-columns: repeat(var(--grid-cols), minmax(100px, {GALLERY_CELL_PX}px)) !important;
                                 justify-content: center}}
.block:has(> label[data-testid="block-label"]) > .gallery-container .grid-container {{padding-top: 34px !important}}
.gallery-container .thumbnail-item {{aspect-ratio: auto !important; height: auto !important; overflow: visible !important}}
.gallery-container .thumbnail-item > img {{aspect-ratio: 1; height: auto !important}}
.gallery-container .caption-label {{position: static !important; display: block; max-width: 100% !important;
    border: none !important; opacity: 1 !important; white-space: normal !important; overflow: visible !important}}
/* every image output and upload box: its label and buttons sit in a bar above the pixels, never over them */
{_IMAGE}, {_UPLOAD}, .{PIXELS} {{height: auto !important}}
{_IMAGE} > label[data-testid="block-label"].float,
{_UPLOAD} > label[data-testid="block-label"].float {{position: static !important; margin: 0 0 4px 0;
    max-width: calc(100% - var(--genlab-buttons, 96px)); white-space: normal !important; height: auto !important}}
/* (a label too long for its bar wraps left of the buttons; ONE_BUTTON: an image with only its fullscreen button) */
.{ONE_BUTTON} {{--genlab-buttons: 36px}}
{_IMAGE} > .image-container:not([data-testid]), {_UPLOAD} > .image-container {{position: relative; overflow: visible}}
{_IMAGE} > .image-container:not([data-testid]) > .icon-button-wrapper,
{_UPLOAD} > .image-container > .icon-button-wrapper {{top: -34px !important; right: 0 !important}}
/* "large images" (a projector at the back of a room): every output image at least 390 px high (one that is shown
   taller keeps its size; CSS 2.1 sec. 10.4 keeps the aspect ratio); side-by-side images wrap */
body.{LARGE} {_IMAGE} img, body.{LARGE} .{PIXELS} img {{height: auto !important; width: auto !important;
    min-height: {LARGE_PX}px !important; max-width: 100% !important; object-fit: contain !important}}
body.{LARGE} .row:has(.image-container) {{flex-wrap: wrap !important}}  /* (:has cannot nest: no {_IMAGE} here) */
body.{LARGE} .row:has(.image-container) > .column {{min-width: {LARGE_PX + 10}px !important}}
/* the wrapped StyleGAN mix keeps seed B's column in reach: its preset radio goes under the image */
body.{LARGE} .column > .form:has(> #stylegan-preset) {{order: 2}}  /* Gradio wraps the radio in a .form */
"""


EXACT = "genlab-exact"  # a number box whose out-of-range value is refused, not moved to its range (APP_JS)
# The app's script. Every Sketchpad opens with its brush selected (Gradio's opens with no tool: a first stroke drew
# nothing); each Brush button is clicked once, when it first becomes visible (sketchpads in hidden tabs appear later),
# and again after "Clear canvas".
APP_JS = """
() => {
  const pick = () => document.querySelectorAll('button[aria-label="Brush"]').forEach((b) => {
    if (!b.dataset.genlabBrush && b.offsetParent !== null) { b.dataset.genlabBrush = "1"; b.click(); }
  });
  new MutationObserver(pick).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                     attributeFilter: ["style", "class", "hidden"]});
  pick();
  // "Clear canvas" leaves the editor with no tool (the next stroke drew nothing): its brush again (seen while the
  // click goes down: the editor stops it there)
  document.addEventListener("click", (e) => {
    const block = e.target.closest?.('button[aria-label="Clear canvas"]')?.closest(".block");
    if (block) setTimeout(() => block.querySelector('button[aria-label="Brush"]')?.click(), 200);
  }, true);
  // a slider that redraws on release (an expensive output) redraws for the keyboard too: Enter in its number box
  // leaves the box (Gradio sends release on blur), and an arrow key let go on the range sends release as the mouse's does
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.target.matches?.('input[type="number"][aria-label^="number input for"]')) e.target.blur();
  });
  document.addEventListener("keyup", (e) => {
    if (e.target.matches?.('input[type="range"]') && /^(Arrow|Page|Home|End)/.test(e.key))
      e.target.dispatchEvent(new PointerEvent("pointerup", {bubbles: true}));
  });
  // a number box (a seed, an image #, a slider's box) takes a typed value outside its range as a slider's thumb
  // does: the nearest bound, and a whole-number box (step 1 or more) the nearest whole number (2.5 -> 3), when the
  // box is left (Enter, a click elsewhere), before a button's click reads it; while it is typed, such a value or an
  // emptied box does not reach Gradio (a box that redraws on change, a seed, psi, sent each half-typed value and got
  // "Error" toasts, and a refused value stayed to be sent again with every other control). The API keeps refusing
  // such values, and the page a training setting (EXACT).
  const clampable = (box) => box.matches?.('input[type="number"]') && !box.closest(".EXACT_CLASS");
  const bounded = (box) => {
    const v = box.valueAsNumber, lo = parseFloat(box.min), hi = parseFloat(box.max), step = parseFloat(box.step);
    if (box.value === "" || Number.isNaN(v)) return Number.isNaN(lo) ? 0 : lo;
    const near = Number.isInteger(step) && step >= 1 ? Math.round(v) : v;
    const fixed = near < lo ? lo : near > hi ? hi : near;
    return fixed === v ? null : fixed;
  };
  document.addEventListener("input", (e) => {
    if (e.isTrusted && clampable(e.target) && bounded(e.target) !== null) e.stopImmediatePropagation();
  }, true);
  document.addEventListener("change", (e) => {
    const box = e.target;
    if (!clampable(box)) return;
    const fixed = bounded(box);
    if (fixed !== null) box.value = String(fixed);
    box.dispatchEvent(new Event("input", {bubbles: true}));  // the value now in the box, held back or not
  }, true);
  // the mouse over an image of HOVER: the image pixel under it (natural size, object-fit contain) goes to the hidden
  // textbox named there, at most every 60 ms (the latent map's "hover to decode")
  const HOVER = {"vae-map": "vae-map-hover"};
  let last = 0;
  document.addEventListener("mousemove", (e) => {
    if (e.timeStamp - last < 60) return;
    for (const [source, target] of Object.entries(HOVER)) {
      const img = document.querySelector(`#${source} img`);
      if (!img || !img.naturalWidth) continue;
      const r = img.getBoundingClientRect();
      const k = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight);
      const x = (e.clientX - r.left - (r.width - img.naturalWidth * k) / 2) / k;
      const y = (e.clientY - r.top - (r.height - img.naturalHeight * k) / 2) / k;
      if (x < 0 || y < 0 || x > img.naturalWidth || y > img.naturalHeight) continue;
      const box = document.querySelector(`#${target} textarea, #${target} input`);
      if (!box) continue;
      last = e.timeStamp;
      box.value = `${x.toFixed(1)},${y.toFixed(1)}`;
      box.dispatchEvent(new Event("input", {bubbles: true}));
    }
  });
}
""".replace("EXACT_CLASS", EXACT)


def word_fit_widths(headers: list[str], flexible: int, min_chars: int = 5, table_px: int = 936) -> list[str]:
    """``gr.Dataframe`` column widths (percent) in which each header's longest word fits whole at 1024x768 (the
    table is then about ``table_px`` wide; evenly split columns broke "precision" into "precis / ion"); column
    ``flexible`` (a long label) takes what is left. Words are counted at the table's monospace 14 px (8.5 px a
    character) plus the cell's padding; a column is at least ``min_chars`` wide, for its numbers (a row-number
    column "#", two)."""
    need = [max(min_chars if len(h) > 1 else 2, *(len(w) for w in h.replace("-", "- ").split())) * 8.5 + 18
            for h in headers]   # a one-character header ("#") numbers the rows: two characters wide
    need[flexible] = 0
    widths = [100 * n / table_px for n in need]
    widths[flexible] = 100 - sum(widths)
    return [f"{w:.1f}%" for w in widths]


def large_images_switch() -> gr.Checkbox:
    """The header's "large images" switch: it only toggles a class on the page (no server round trip), which makes
    every output image 390 px high and lets side-by-side images wrap onto more lines."""
    box = gr.Checkbox(False, label="large images (a projector at the back of the room)", elem_id="genlab-large-switch",
                      container=False)
    box.change(None, inputs=box, js=f"(on) => {{ document.body.classList.toggle('{LARGE}', on); }}")
    return box


def page_open() -> list:
    """The enclosing app's page-load trigger, as a list to splice into ``gr.on`` triggers; empty outside a Blocks
    (a tab built alone). Views computed then load their model on first visit, not at build time."""
    from gradio.context import Context

    return [Context.root_block.load] if Context.root_block is not None else []


def install_atomic_image_cache() -> None:
    """Make Gradio write image outputs atomically (idempotent).

    Gradio 6.31 names an output image's cache file after its content hash and rewrites that file in place
    (``save_pil_to_cache``). When two students get the same image at once (the defaults, the same seed), one
    request truncates the file while the other's download is being sent: the browser gets a broken image and
    the server logs "Too little data for declared Content-Length" (seen under the classroom load benchmark).
    Here a file already present is left alone (same hash, same bytes) and a new one is written under a temporary
    name and renamed into place, as Gradio already does for files (``save_file_to_cache``).
    """
    from gradio import processing_utils

    if getattr(processing_utils.save_pil_to_cache, "genlab_atomic", False):
        return

    def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        data = processing_utils.encode_pil_to_bytes(img, format)
        folder = os.path.join(cache_dir, processing_utils.hash_bytes(data))
        os.makedirs(folder, exist_ok=True)
        path = os.path.realpath(os.path.join(folder, f"{name}.{format}"))
        if not os.path.exists(path):
            fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(staging, path)
        return path

    save_pil_to_cache.genlab_atomic = True
    processing_utils.save_pil_to_cache = save_pil_to_cache


def run_standalone(build: Callable[[AppContext], None], title: str) -> None:
    """Launch one tab on its own (``python -m demos.<method>``)."""
    install_atomic_image_cache()
    with gr.Blocks(title=f"GenLab - {title}") as demo:
        with gr.Tab(title):
            build(AppContext())
    name_controls_by_api(demo)
    one_line_file_errors(demo)
    demo.queue(default_concurrency_limit=2).launch(css=CSS, js=APP_JS)


from demos.training_panel import training_panel  # noqa: E402  (re-exported for tabs)

__all__ = ["warn_and_keep", "endpoint", "check_number", "Slider", "Number", "ImageUpload", "install_atomic_image_cache", "CSS", "APP_JS", "page_open",
           "HELD_OUT_LAST", "PIXELS", "PIXELS_LARGE", "GALLERY_FIT", "ONE_BUTTON", "large_images_switch", "AppContext", "ModelCache", "ui_errors", "seed_control", "checkpoint_picker", "refresh_pickers",
           "config_widget", "run_standalone", "training_panel"]
