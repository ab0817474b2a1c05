"""The page itself, shared by every tab: the app's CSS and script, the class names a tab gives its blocks for them,
the header's "large images" switch, table column widths that fit a projector, and Gradio's image cache made safe for
a classroom."""

from __future__ import annotations

import json
import os
import tempfile

import gradio as gr

# The app's CSS. ``PIXELS``: small images (28-64 px) shown large with visible pixels; the endpoints still
# return the exact native-size PNG.
PIXELS = "genlab-pixels"
PIXELS_LARGE = "genlab-pixels-large"  # with PIXELS: a tab's one main image, 384 px high (issue #18's projector size)
LARGE, LARGE_PX = "genlab-large", 390  # the page's "large images" switch (a class on <body>) and its image height
STRIP = "genlab-strip"  # an image output as wide as the page and a few frames high: "large images" leaves its height
ONE_BUTTON = "genlab-one-button"  # a narrow image output with buttons=["fullscreen"]: its label gets the bar's width
CRISP = "genlab-crisp"  # a gallery of small images the browser enlarges: pixels stay square (no smoothing)
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
/* a narrow slider (the VAE's 16, four to a row beside an image) keeps its max label in its box: Gradio's range
   input is at least 112 px wide and pushed the label out */
.slider_input_container input[type=range] {{min-width: 0 !important; flex: 1 1 auto}}
/* an upload box given a height keeps its icon and "Click to Upload" inside it (Gradio's text block is 240 px high and
   was centred in a 90-120 px box, cut at both ends) */
button.upload-container[style*="height"] > [data-testid="upload-text"] {{min-height: 0 !important}}
.genlab-try {{padding-top: 4px !important; padding-bottom: 4px !important}}  /* "First time here?": one slim line */
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
.{CRISP} img {{image-rendering: pixelated}}
.{GALLERY_FIT} .thumbnail-item > img {{aspect-ratio: auto}}  /* a sheet at its own shape: no grey bands */
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
/* (a strip of frames across the page is as large as the width allows: 390 px high, it sat in an empty box) */
body.{LARGE} .{STRIP} img {{min-height: 0 !important}}
body.{LARGE} .row:has(.image-container) {{flex-wrap: wrap !important}}  /* (:has cannot nest: no {_IMAGE} here) */
body.{LARGE} .row:has(.image-container) > .column,
body.{LARGE} .row:has(.image-container) > .block:has(> .image-container) {{min-width: {LARGE_PX + 10}px !important}}
/* the wrapped StyleGAN mix keeps seed B's column in reach: the checkpoint picker above it goes under the image */
body.{LARGE} .column > .form:has(> #stylegan-checkpoint) {{order: 2}}  /* Gradio wraps the dropdown in a .form */
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
  // click goes down: the editor stops it there). It also marks the canvas cleared until the pen next touches it:
  // a stroke's value still on its way to the server when the canvas is cleared arrives after the clear, and its
  // change event would show the erased drawing's view again (fresh_sketch_js drops it)
  window.genlabCleared = {};
  // when each button with an id was last clicked, in this page (since_click_js reads it for Stop and Cancel)
  window.genlabClickedAt = {};
  document.addEventListener("click", (e) => {
    const button = e.target.closest?.("button[id]");
    if (button) window.genlabClickedAt[button.id] = Date.now();
  }, true);
  document.addEventListener("click", (e) => {
    const block = e.target.closest?.('button[aria-label="Clear canvas"]')?.closest(".block");
    if (block) setTimeout(() => block.querySelector('button[aria-label="Brush"]')?.click(), 200);
    if (block?.id) window.genlabCleared[block.id] = true;
  }, true);
  document.addEventListener("pointerdown", (e) => {
    const block = e.target.closest?.("canvas")?.closest(".block");
    if (block?.id) window.genlabCleared[block.id] = false;
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


def fresh_sketch_js(elem_id: str, position: int) -> str:
    """The ``js`` of a Sketchpad's change event (``elem_id``, the event's input number ``position``): its value as
    none while the canvas is cleared and not drawn on since (APP_JS). Gradio's editor sends a stroke's value when its
    upload ends: cleared meanwhile, the erased drawing came back translated a second after the views emptied."""
    return f"(...args) => {{ if (window.genlabCleared?.[{elem_id!r}]) args[{position}] = null; return args; }}"


def reveal_js(top: str, bottom: str, bottom_edge: str = "b.getBoundingClientRect().bottom") -> str:
    """The ``js`` of a click (it keeps the event's inputs): the page scrolls, smoothly and only if needed, so that
    the element ``#top`` (the button, or a status line above the outputs) down to ``bottom_edge`` (a JS expression in
    ``b``, the element ``#bottom``: by default its bottom) is on screen, ``#top`` first when both do not fit. On a
    1024 x 768 projector the outputs of a button low on the first view formed out of sight. Use it as the page
    event's own ``js``: a js-only event on the same click did not run after some of its inputs changed (Gradio
    6.31)."""
    return f"""(...args) => {{
  const t = document.querySelector('#{top}'), b = document.querySelector('#{bottom}');
  if (t && b) {{
    const top = t.getBoundingClientRect().top - 8, over = {bottom_edge} + 8 - window.innerHeight;
    const by = top < 0 ? top : Math.min(over, top);
    if (by < 0 || over > 0) window.scrollBy({{top: by, behavior: 'smooth'}});
  }}
  return args;
}}"""


def show_image_js(elem_id: str) -> str:
    """The ``js`` of an event's ``.then``: once the image of the output ``#elem_id`` has loaded (the event ends before
    the browser fetches it; the page may be too short to scroll to it before), the page scrolls, smoothly and only if
    needed, to show its block whole (a grid or a sheet formed below the fold of a projector)."""
    return f"""() => {{
  const show = (tries) => {{
    const img = document.querySelector('#{elem_id} img');
    if (img && img.complete && img.naturalHeight) {{
      document.querySelector('#{elem_id}').scrollIntoView({{behavior: 'smooth', block: 'nearest'}});
    }} else if (tries > 0) setTimeout(() => show(tries - 1), 100);
  }};
  setTimeout(() => show(50), 150);
}}"""


def since_click_js(button_ids, position: int) -> str:
    """The ``js`` of a Stop or Cancel click: its input number ``position`` (a hidden number box) becomes the
    milliseconds since this page last clicked one of ``button_ids`` (the run's buttons; APP_JS records the clicks),
    -1 when it never did. The server then knows the order the person clicked in, which the order its requests arrive
    in does not give under load (``demos.training_queue.cancelled_too_early``)."""
    ids = json.dumps(list(button_ids))
    return (f"(...args) => {{ const at = Math.max(0, ...{ids}.map((i) => (window.genlabClickedAt || {{}})[i] || 0)); "
            f"args[{position}] = at ? Date.now() - at : -1; return args; }}")


def word_fit_widths(headers: list[str], flexible: int, min_chars: int = 5, table_px: int = 936,
                    wider: dict[str, int] | None = None) -> list[str]:
    """``gr.Dataframe`` column widths (percent) in which each header's longest word fits whole at 1024x768 (the
    table is then about ``table_px`` wide; evenly split columns broke "precision" into "precis / ion"); column
    ``flexible`` (a long label) takes what is left. Words are counted at the table's monospace 14 px (8.5 px a
    character) plus the cell's padding; a column is at least ``min_chars`` wide, for its numbers (a row-number
    column "#", two), or ``wider[header]`` for a column whose numbers are longer (a negative "-0.0645")."""
    wider = wider or {}
    need = [max(wider.get(h, min_chars if len(h) > 1 else 2), *(len(w) for w in h.replace("-", "- ").split())) * 8.5
            + 18 for h in headers]   # a one-character header ("#") numbers the rows: two characters wide
    need[flexible] = 0
    widths = [100 * n / table_px for n in need]
    widths[flexible] = 100 - sum(widths)
    return [f"{w:.1f}%" for w in widths]


def large_images_switch() -> gr.Checkbox:
    """The header's "large images" switch: it only toggles a class on the page (no server round trip), which makes
    every output image 390 px high and lets side-by-side images wrap onto more lines."""
    box = gr.Checkbox(False, label="large images, for a projector", elem_id="genlab-large-switch",
                      container=False)
    box.change(None, inputs=box, js=f"(on) => {{ document.body.classList.toggle('{LARGE}', on); }}")
    return box


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
