"""Helpers for the browser tests (``tests/test_browser*.py``; their ``page`` fixture is in conftest.py)."""

from __future__ import annotations

import contextlib


def wait_for_new_src(page, selector: str, old_src, timeout: int) -> None:
    """Wait until the image at ``selector`` shows something other than ``old_src`` (an output arrived)."""
    page.wait_for_function("([sel, old]) => { const i = document.querySelector(sel); return i && i.src !== old; }",
                           arg=[selector, old_src], timeout=timeout)


def shown_image(page, selector: str):
    """The image at ``selector`` as a uint8 array (H, W, 3), fetched from its src; None if it never decodes (a new
    src can point at a file still being written: retried for 10 s)."""
    import io

    import numpy as np
    from PIL import Image

    for _ in range(40):
        try:
            body = page.request.get(page.locator(selector).get_attribute("src")).body()
            return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
        except Exception:
            page.wait_for_timeout(250)
    return None


def pick_option(page, dropdown: str, name: str) -> None:
    """Open the dropdown at CSS selector ``dropdown`` (its block) and click its option ``name``."""
    page.locator(f"{dropdown} input").click()
    page.get_by_role("option", name=name, exact=True).click()


def open_sketch_canvas(page, open_tabs, sketch: str, other_tab: str):
    """Open the Sketchpad ``sketch`` (click the tab names in ``open_tabs``, the last being its "Draw") and return its
    canvas once it has a size.

    Under the full suite's load (Chromium on the same 2 cores) Gradio's image editor sometimes set up its canvas while
    its box measured 0 px and kept it 0 px high (pix2pix: 2 of 4 runs; VAE: 1 CI run; never alone): show ``other_tab``
    and "Draw" again, then load the page afresh, as a user would. Errors logged by the reload's aborted streams are not
    the page's."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    def click(name):
        page.get_by_role("tab", name=name, exact=True).first.click()

    canvas = page.locator(f"{sketch} canvas").first
    for attempt in range(3):
        if attempt == 2:
            kept = list(page.errors)
            page.reload()
            page.errors[:] = kept
        if attempt != 1:
            for name in open_tabs:
                click(name)
        else:
            click(other_tab)
            click(open_tabs[-1])
        try:
            canvas.wait_for(timeout=20_000)
            page.wait_for_function("(c) => c.getBoundingClientRect().height > 0", arg=canvas.element_handle(),
                                   timeout=5_000)
            break
        except PlaywrightTimeout:
            continue
    canvas.wait_for(timeout=20_000)
    canvas.scroll_into_view_if_needed()  # a stroke below the fold never reaches the canvas
    page.wait_for_timeout(500)
    return canvas


def draw_stroke(page, canvas, start, end, moves: int = 10) -> None:
    """Drag the mouse over ``canvas`` from ``start`` to ``end`` (fractions of its box) at a hand's pace: a loaded page
    drops part of an instant stroke."""
    box = canvas.bounding_box()
    at = lambda t: (box["x"] + box["width"] * (start[0] + (end[0] - start[0]) * t),  # noqa: E731
                    box["y"] + box["height"] * (start[1] + (end[1] - start[1]) * t))
    page.mouse.move(*at(0))
    page.mouse.down()
    for k in range(1, moves + 1):
        page.mouse.move(*at(k / moves), steps=3)
        page.wait_for_timeout(20)
    page.mouse.up()


@contextlib.contextmanager
def toy_training_page(page, tmp_path, monkeypatch):
    """A Train panel of the toy method in a new browser page, opened (checkpoints under ``tmp_path``): yields
    (the Gradio app, the page)."""
    import gradio as gr

    from demos.common import AppContext, remember_visitors, training_panel

    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path))
    with gr.Blocks() as demo:
        remember_visitors()  # (as the app: a run stopped by leaving its page is said on the next)
        training_panel(AppContext(), "tests.toy_method:ToyMethod", ["steps", "log_every", "sample_every"])
    demo.queue().launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    tab = page.context.browser.new_page()
    try:
        tab.goto(demo.local_url)
        # (not "networkidle": a page with an unload event holds a connection open; the page-open events come first)
        tab.get_by_role("button", name="Train your own").wait_for(timeout=30_000)
        tab.wait_for_timeout(1000)
        tab.get_by_role("button", name="Train your own").click()
        yield demo, tab
    finally:
        tab.close()
        demo.close()


def type_number(tab, box, value: str) -> None:
    """Type ``value`` into a number box until it stays: Gradio may render an opened accordion's box again with its
    initial value (seen once in CI: the run then took the default 2000 steps)."""
    box.wait_for()
    for _ in range(20):
        box.fill(value)
        box.press("Tab")
        tab.wait_for_timeout(300)
        if box.input_value() == value:
            return
    raise AssertionError(f"the box keeps {box.input_value()!r}, not {value!r}")


# every message a toast shows, recorded as it comes (a loaded run can reach a toast after its 10 s on screen; Gradio
# groups the messages of one kind in one toast, "Warning (2)"), as "warning: <text>" (or "error: ", "info: "):
# ``page.evaluate(TAKE_TOASTS)`` returns the messages since the last call
RECORD_TOASTS = """window.genlabToasts = [];
const seen = new WeakSet();
new MutationObserver(() => {
  document.querySelectorAll('.toast-body [data-testid="toast-text"]').forEach(text => {
    if (seen.has(text) || !text.innerText.trim()) return;
    seen.add(text);
    const kind = ['warning', 'error', 'info', 'success'].find(k => text.classList.contains(k)) || 'toast';
    window.genlabToasts.push(`${kind}: ${text.innerText.trim()}`);
  });
}).observe(document, {childList: true, subtree: true, characterData: true});"""
TAKE_TOASTS = "() => window.genlabToasts.splice(0)"
SOME_TOAST = "() => window.genlabToasts.length > 0"  # (page.wait_for_function: a message since the last take)
