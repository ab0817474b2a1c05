"""DDPM/DDIM's Compare samplers tab: one seed through DDPM 1000 steps and DDIM 100, 50, 20 and 10, the time per image
and the quality of N samples of each, with a status line that follows the sampling and a Stop button.

A view over ``core.diffusion.compare``; built inside the DDPM / DDIM tab (``demos.diffusion.build``).
"""

from __future__ import annotations

import queue
import threading
import time

import gradio as gr

from core.engine import MAX_SEED
from demos.common import (CRISP, GALLERY_FIT, AppContext, Dropdown, Number, Slider, checkpoint_picker,
                          warn_and_keep)
from demos.diffusion import DEFAULT_CHECKPOINT, WORLDS
from demos.diffusion_forward import _pil
from demos.diffusion_frames import METHOD, _bundle, _enlarge
from demos.page_stop import PageStop

COLUMNS = ("setting", "seconds per image (batch 1)", "class accuracy (%)", "FID (classifier features)")
TICK_S = 1.0  # the status follows the sampling this often
_RUNNING = threading.Event()  # a comparison runs (one at a time on the server)
STOP = PageStop("diffusion_compare", "your comparison is running: wait for it, or Stop it, then press again")
_DONE: dict[tuple, tuple] = {}  # finished comparisons: (table, gallery, status line) by _done_key
_DONE_MOST = 32


def _done_key(checkpoint, seed, num, guidance) -> tuple:
    """A finished comparison's name: the checkpoint and its weights' time (a run trained further is measured again),
    the seed, N and the guidance scale."""
    from core.engine import resolve_checkpoint

    folder = resolve_checkpoint(METHOD, checkpoint)
    stamp = max((f.stat().st_mtime_ns for f in folder.rglob("*.safetensors")), default=0)
    return str(checkpoint), stamp, int(seed), int(num), float(guidance)


def compare_rows(ctx: AppContext, checkpoint, seed, num, guidance, stop: threading.Event | None = None):
    """Stream (quality-vs-speed table, same-seed gallery, status) as ``core.diffusion.compare.run_comparison``
    measures one setting after another.

    The comparison runs in a worker thread: the status says which row runs, its sampling step and the time elapsed,
    every ``TICK_S`` s (a DDPM row of 1000 steps is minutes on a CPU). ``stop`` set (the page's Stop) ends the stream
    within ``TICK_S`` s with "stopped at <its last line>", the rows measured kept; closing the stream (every page of
    the visitor closed) ends it too. Either way the worker stops at its next sampling step
    (``core.engine.events.stop_point``; it ran on for minutes after the page had gone). ValueError: a refused
    setting, before anything runs.
    """
    import pandas as pd

    from core.diffusion.compare import SETTINGS, row_steps, run_comparison
    from core.engine.events import MeasurementCancelled, stoppable
    from demos.training_panel import rough_duration

    key = _done_key(checkpoint, seed, num, guidance)
    if key in _DONE:  # a class pressing Run with the same settings: one comparison (minutes), then the same answer
        table, gallery, line = _DONE[key]
        yield table, gallery, (f"{line} · measured earlier on this server, shown again (same checkpoint, seed, N, "
                               "guidance)")
        return
    bundle = _bundle(ctx, checkpoint)
    # (named "held-out images (floor)", it was beaten by every sampler at small N: see the note under the table)
    floor = ["real vs real (two held-out sets of N)"] if bundle.dataset in WORLDS else []  # no world classifier: none
    names = floor + [f"{s.upper()} {n} steps" for s, n in SETTINGS]
    totals = [0] * len(floor) + [row_steps(n, num, bool(floor)) for _, n in SETTINGS]
    cancel, passed, found = threading.Event(), [0], queue.Queue()

    def work():
        with stoppable(cancel, passed):
            try:
                for row in run_comparison(bundle, seed, num, guidance):
                    found.put(row)
            except MeasurementCancelled:
                pass
            except Exception as exc:  # a refused setting (ValueError) or a fault: raised in the stream
                found.put(exc)
        found.put(None)

    rows, gallery, start, row_start, line = [], [], time.monotonic(), 0, ""
    worker = threading.Thread(target=work, name="genlab-compare", daemon=True)
    _RUNNING.set()
    worker.start()
    try:
        while True:
            if stop is not None and stop.is_set():
                yield gr.skip(), gr.skip(), f"stopped at {line}" if line else "stopped before its first row"
                return
            try:
                row = found.get(timeout=TICK_S)
            except queue.Empty:
                k = len(rows)
                if k < len(names):
                    line = (f"row {k + 1} of {len(names)}: {names[k]}, N = {int(num)} · sampling step "
                            f"{passed[0] - row_start:,} of {totals[k]:,} · {rough_duration(time.monotonic() - start)} "
                            "elapsed")
                yield gr.skip(), gr.skip(), line or gr.skip()
                continue
            if isinstance(row, Exception):
                raise row
            if row is None:
                line = (f"done: {len(rows)} rows in {rough_duration(time.monotonic() - start)} "
                        f"({checkpoint}, seed {int(seed)}, N = {int(num)}, guidance {float(guidance):g})")
                if len(rows) == len(names):  # (not a comparison cut short)
                    while len(_DONE) >= _DONE_MOST:
                        _DONE.pop(next(iter(_DONE)))
                    _DONE[key] = (pd.DataFrame(rows), list(gallery), line)
                yield gr.skip(), gr.skip(), line
                return
            row_start = passed[0]
            values = (row["setting"],
                      None if row["seconds_per_image"] is None else round(row["seconds_per_image"], 3),
                      None if row["class_accuracy"] is None else round(100 * row["class_accuracy"], 1),
                      None if row["fid"] is None else round(row["fid"], 2))
            rows.append(dict(zip(COLUMNS, values)))
            if row["image"] is not None:
                gallery.append((_enlarge(_pil(row["image"]), 192), row["setting"]))
            line = f"row {len(rows)} of {len(names)} measured"
            yield pd.DataFrame(rows), gallery, line
    finally:
        cancel.set()  # (the stream is closed: Stop, or the page gone)
        _RUNNING.clear()


def wait_line():
    """After the click's check (:class:`demos.page_stop.PageStop`): the status while another visitor's comparison
    runs (one at a time), or nothing."""
    return "waiting: another visitor's comparison is running (one at a time on this server)" if _RUNNING.is_set() \
        else gr.skip()


def bundled_comparison(checkpoint) -> str:
    """The comparison measured with more samples by ``python -m core.diffusion.compare`` (if present)."""
    from core.engine import resolve_checkpoint

    try:
        text = (resolve_checkpoint(METHOD, checkpoint) / "compare.md").read_text()
        return "**Measured offline with more samples:** " + text.split("![")[0]
    except Exception:
        return "No offline comparison stored for this checkpoint (`python -m core.diffusion.compare`)."


def build_compare(ctx: AppContext):
    """The Compare samplers sub-tab; returns its checkpoint picker (the training panel refreshes it)."""
    from core.diffusion.compare import NUM_CHOICES
    from core.diffusion.sampling import MAX_GUIDANCE

    gr.Markdown("One seed through DDPM with 1000 steps and DDIM with 100, 50, 20 and 10 steps (eta 0): the "
                "time per image and the quality of N samples of each (what the columns measure: below).")
    with gr.Row():
        ckpt_c = checkpoint_picker(METHOD, value=DEFAULT_CHECKPOINT, elem_id="diffusion-compare-checkpoint")
        seed_c = Number(0, label="seed", precision=0, minimum=0, maximum=MAX_SEED)
        num = Dropdown([n for n in NUM_CHOICES if n <= 50], value=10, label="N samples per setting")
        guidance_c = Slider(0, MAX_GUIDANCE, value=2.0, step=0.25, label="guidance scale")
        with gr.Column(min_width=160):
            run_c = gr.Button("Run comparison", variant="primary", elem_id="diffusion-compare-run")
            halt_c = gr.Button("Stop", variant="stop", elem_id="diffusion-compare-stop")
    status = gr.Markdown(label="status", elem_id="diffusion-compare-status")
    table = gr.Dataframe(headers=list(COLUMNS), label="quality vs speed", interactive=False,
                         elem_id="diffusion-compare-table")
    # whole and named (a 180 px box cut each digit's foot and its caption off), each ~190 px, its pixels square
    same_seed = gr.Gallery(label="the same seed per setting", columns=5, height="auto", format="png",
                           object_fit="contain", preview=False, elem_classes=[GALLERY_FIT, CRISP],
                           elem_id="diffusion-compare-same-seed")
    offline = gr.Markdown(label="offline note")
    with gr.Accordion("What the columns measure, and why samples can score below the first row", open=False):
        gr.Markdown("Wall time per image on this machine, and quality on N class-balanced samples: the "
                    "accuracy of the bundled classifier of the checkpoint's world (digits: the digit; faces: the "
                    "hair style) on the class asked for, and FID against N held-out images **in the penultimate "
                    "features of that classifier (not Inception)**. FID is biased upwards for small N: the first "
                    "row is held-out vs held-out at the same N. DDPM at 1000 steps dominates the run time.  \n"
                    "**Why samples can score below that first row:** it is not a lower bound. At small N, FID is "
                    "dominated by its covariance term, Tr(S1 + S2 - 2 (S1 S2)^1/2), which grows with how spread "
                    "out each set is; guided samples sit close to their class's typical look (less varied than "
                    "real images), so that term shrinks. Below that row means *less diverse than real data*, not "
                    "better than real: compare rows with each other, at the same N.")

    def compare_samplers(request: gr.Request, checkpoint, seed, num, guidance):
        with STOP.running(request) as stop:
            if stop is None:  # (Stop pressed as it left the queue)
                yield gr.skip(), gr.skip(), "stopped before it started"
                return
            yield from compare_rows(ctx, checkpoint, seed, num, guidance, stop)

    event = run_c.click(STOP.ask, api_visibility="private", concurrency_limit=None).success(
        wait_line, outputs=status, api_visibility="private", concurrency_limit=None).success(
        warn_and_keep(3)(compare_samplers), [ckpt_c, seed_c, num, guidance_c], [table, same_seed, status],
        api_visibility="private", concurrency_limit=1, concurrency_id="diffusion_compare", show_progress="minimal")
    STOP.bind(halt_c, event, status, "diffusion-compare-run")
    ckpt_c.change(bundled_comparison, ckpt_c, offline, api_visibility="private", queue=False)
    return ckpt_c
