"""The one training slot a server runs at a time, and the runs that wait for it: the session's flags (cancel, pause,
running, waiting), the line on the run that holds the slot for those who wait, kept current on their page, a waiting
run taken out of Gradio's queue at Cancel, the panels' Cancel and Pause, a Cancel that overtook its run's click, and
the run name a page opens on (its own, or the visitor's run stopped when its last page was left).

At Cancel, Gradio's own way, an event with ``cancels=[...]``, calls its ``/cancel`` route, which sends the page an empty
completion for a run that never started; about one time in two (measured: 2 of 4 runs of the training panel's test,
0 of 4 with that message dropped) the page takes it for a failure and puts a red "Error" badge over each of the run's
outputs. Here the server takes the run out of the queue itself and completes it with "leave every output as it is",
the message a run that ends normally sends. This reads Gradio's queue (pinned in requirements.txt: 6.31.0); the
browser tests that cancel a waiting run check it.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable

import gradio as gr
from gradio.context import Context
from gradio.server_messages import ProcessCompletedMessage

from core.engine import resolve_checkpoint


# One cancel flag and one pause flag per browser session and method; the Cancel and Pause buttons set them.
# A "running" flag is set while the session's run of that method trains.
_FLAGS: dict[tuple[str, str, str], threading.Event] = {}
_LOCK = threading.Lock()


def _flag(kind: str, session: str, method: str) -> threading.Event:
    with _LOCK:
        return _FLAGS.setdefault((kind, session, method), threading.Event())


def _cancel_flag(session: str, method: str) -> threading.Event:
    return _flag("cancel", session, method)


CANCELLING = "cancelling after the current step, then saving…"


class LastLine:
    """The status line each page session's run streamed last, put back once its stream ends (``put_back``, in the
    run's ``.then``): a Cancel answers "cancelling…" at once, before the run's own last line, but in another request,
    so under load that answer can reach the page after it and stay ("cancelling…" under a run that has ended and
    saved; a paused run ends within 0.1 s of Cancel)."""

    def __init__(self):
        self.lines: dict[str, object] = {}

    def follow(self, request: gr.Request, frames):
        """The run's ``frames`` (tuples, the status line first), each passed on as it comes and its line kept."""
        from demos.common import session_of

        session = session_of(request)
        self.lines.pop(session, None)
        try:
            for frame in frames:
                self.lines[session] = frame[0]
                yield frame
        except GeneratorExit:  # the page went away: nothing to put back
            self.lines.pop(session, None)
            raise

    def put_back(self, request: gr.Request):
        """The line the session's run ended on (``gr.skip()`` when it streamed none: refused before it began)."""
        from demos.common import session_of

        line = self.lines.pop(session_of(request), None)
        return gr.skip() if line is None else line

# A run's click goes through Gradio's queue (its pre-event), a Cancel or Stop does not: under load a Cancel pressed
# right after Train reached the server first, found nothing and was lost (the whole run trained and saved). A Cancel
# that finds nothing is kept this long for a click it may have overtaken.
OVERTAKEN_S = 1.5
_NOTHING_AT: dict[tuple[str, str], float] = {}


def cancelled_too_early(session: str, method: str, since_click_ms=None) -> None:
    """A Cancel or Stop found nothing of the session's ``method`` running or waiting: remember when, if the page
    clicked the run's button at most ``OVERTAKEN_S`` before it (``since_click_ms``, measured in the browser:
    ``demos.page.since_click_js``); a Stop pressed with nothing running, then Sample, must not stop that Sample."""
    try:
        recent = 0 <= float(since_click_ms) <= OVERTAKEN_S * 1000
    except (TypeError, ValueError):
        recent = False
    if recent:
        _NOTHING_AT[(session, method)] = time.monotonic()


def overtaken_cancel(session: str, method: str) -> bool:
    """At a run's click (its pre-event): whether a Cancel came first by at most ``OVERTAKEN_S`` s (it was meant for
    this run). Forgets it either way."""
    at = _NOTHING_AT.pop((session, method), None)
    return at is not None and time.monotonic() - at <= OVERTAKEN_S


_NOW: dict[tuple[str, str], list[str]] = {}  # (session, method) -> [a line on its run], for those who wait


@contextlib.contextmanager
def holding_the_slot(session: str, method: str, line: str):
    """While a run holds the one training slot, a line on it for the visitors who wait (their status names it):
    yields the one-item list whose line the run keeps current. Every tab that trains (the panels, LoRA) uses it."""
    progress = _NOW[(session, method)] = [line]
    try:
        yield progress
    finally:
        _NOW.pop((session, method), None)


def refuse(message: str):
    """Stop a queued pre-event's chain with a yellow warning, as the app's other refusals (not a red "Error")."""
    gr.Warning(message)
    raise gr.Error(message, visible=False, print_exception=False)


# The run each visitor's page trains, per method, while it trains, and after it if its page was left (reloaded or
# closed: Gradio closes the run's stream, and the Trainer saves it): the page that opens next says so.
_RUNS: dict[tuple[str, str], dict] = {}


@contextlib.contextmanager
def page_run(visitor: str | None, method: str, name: str):
    """Around a page's run of ``method`` called ``name``: remembered for the ``visitor`` (a browser, across reloads)
    while it trains, and kept when it ends because its page was left (:func:`left_run` reads it)."""
    run = {"name": name, "ended": threading.Event(), "left": False}
    if visitor:
        _RUNS[(visitor, method)] = run
    try:
        yield
    except GeneratorExit:  # (the page's stream closed: the run was saved at its last step on the way out)
        run["left"] = True
        raise
    finally:
        run["ended"].set()
        if not run["left"] and _RUNS.get((visitor, method)) is run:
            del _RUNS[(visitor, method)]


def left_run(visitor, method: str, wait: float = 5.0) -> str | None:
    """The name of the ``visitor``'s run of ``method`` that stopped when its page was left, once (None when there is
    none). A page opened by a reload may come before the old page's run has stopped: it waits up to ``wait`` seconds
    for that; a run still training after them trains on another of the visitor's pages, and is not said."""
    run = _RUNS.get((visitor, method)) if isinstance(visitor, str) else None
    if run is None or not run["ended"].wait(wait) or not run["left"]:
        return None
    if _RUNS.get((visitor, method)) is run:
        del _RUNS[(visitor, method)]
    return run["name"]


def fresh_run_name(method: str) -> str:
    """A run name no run of ``method`` has yet ("my-gans-4821"): each page opens on its own, so a class pressing
    Train with the defaults trains thirty runs, not one that each resumes from the others."""
    for _ in range(100):
        name = f"my-{method}-{random.randint(1000, 9999)}"
        if not resolve_checkpoint(method, name, must_exist=False).exists():
            return name
    return f"my-{method}-{random.randint(10**5, 10**6 - 1)}"


def opening_run(kind: str, method: str, visitor):
    """A panel's run name, status line and accordion as its page opens (``kind``: the method's checkpoints folder,
    ``method``: as the panel names it): the visitor's run stopped when its page was left (reloaded or closed), saved,
    named with the way back (the page opened on a new name and a blank line: which run had just stopped, and what it
    was called, was nowhere); else a name of its own (:func:`fresh_run_name`)."""
    from core.engine.checkpoint import saved_step

    run = left_run(visitor, method)
    if run is None:
        return fresh_run_name(kind), gr.skip(), gr.skip()
    step = saved_step(resolve_checkpoint(kind, run, must_exist=False))
    return run, (f"**your run {run} stopped when its page was left** (reloaded or closed)"
                 + (f", saved at step {step:,}" if step else "") + ": press *Train / resume* to go on from there"), \
        gr.Accordion(open=True)  # (the panel opens with it)


def slot_wait_line() -> str:
    """The status of a run waiting for the one training slot: which run holds it, and how far it is ("" when free)."""
    busy = [line[0] for line in list(_NOW.values())]
    if not busy:
        return ""
    return (f"**waiting for the training slot**: {busy[0]} (one training at a time on this server); yours starts "
            "when it ends. *Cancel* takes yours out of the queue.")


def waiting_timer(status, still_waiting: Callable[[gr.Request], bool], every: float = 2.0,
                  remark: Callable[[gr.Request], str] | None = None) -> gr.Timer:
    """A timer that keeps the status line of a page's run waiting for the slot current (the run that holds it, its
    step and time left: the line written at the click stayed at "step 10 of 300" while that run went on to 290). A
    click's pre-event starts it (``gr.Timer(active=True)`` as an output, with :func:`slot_wait_line`); it stops
    itself once ``still_waiting(request)`` is false (the run started, or left the queue); ``remark(request)``, when
    given, is added to the line. Build it inside the app's ``gr.Blocks``, below ``status``."""
    timer = gr.Timer(every, active=False)

    def tick(request: gr.Request):
        line = slot_wait_line()
        if not still_waiting(request):  # (after the line: a run that starts meanwhile writes its own)
            return gr.skip(), gr.Timer(active=False)
        return (line + (remark(request) if remark else "")) if line else gr.skip(), gr.skip()

    timer.tick(tick, outputs=[status, timer], api_visibility="private", queue=False, show_progress="hidden")
    return timer


def in_the_queue(blocks, session_hash: str, event_ids: set) -> bool:
    """Whether a run of the page ``session_hash`` of one of the event listeners ``event_ids`` waits in the queue of
    ``blocks`` (the app's ``gr.Blocks``; None: no app, nothing waits)."""
    queue = getattr(blocks, "_queue", None)
    lines = getattr(queue, "event_queue_per_concurrency_id", {}) if queue is not None else {}
    return any(run.session_hash == session_hash and run.fn._id in event_ids
               for line in list(lines.values()) for run in list(line.queue))


def queue_leaver(events):
    """An async handler (no inputs, no outputs) for a page's Cancel: the visitor's runs of ``events`` (Gradio event
    listeners, e.g. a Train button's training link) still waiting in Gradio's queue leave it, their spinners stop and
    their outputs keep what they show. A run that has started is left alone (the caller's cancel flag stops it between
    two steps, so that it saves). Build it inside the app's ``gr.Blocks``."""
    blocks = Context.root_block
    ids = {event["id"] for event in events}

    async def leave_the_queue(request: gr.Request):
        queue = blocks._queue
        async with queue.delete_lock:  # the lock under which the queue takes its next run
            waiting = [(line, run) for line in queue.event_queue_per_concurrency_id.values() for run in line.queue
                       if run.session_hash == request.session_hash and run.fn._id in ids]
            for line, run in waiting:
                line.queue.remove(run)
                queue.event_ids_to_events.pop(run._id, None)
        for _, run in waiting:
            unchanged = [{"__type__": "update"}] * len(run.fn.outputs)  # what gr.skip() sends
            queue.send_message(run, ProcessCompletedMessage(output={"data": unchanged, "is_generating": False},
                                                            success=True))

    return leave_the_queue


def cancel_button(method: str):
    """A training panel's Cancel, ``(request, status line, ms since Train) -> status line``: the session's run of
    ``method`` stops after its step and saves, or, waiting for the slot, will not start; with neither, the line on the
    last run stays (an empty one says there is nothing to cancel)."""
    from demos.common import session_of

    def cancel_run(request: gr.Request = None, status: str = "", since_click_ms=None):
        session = session_of(request)
        if _flag("running", session, method).is_set():
            _cancel_flag(session, method).set()
            return CANCELLING
        if _flag("waiting", session, method).is_set():
            _cancel_flag(session, method).set()
            return "cancelled: your run waiting in the queue will not start"
        cancelled_too_early(session, method, since_click_ms)  # (for a Train click it overtook)
        return gr.skip() if str(status or "").strip() else "nothing of yours is training here: no run to cancel"

    return cancel_run


def pause_button(method: str):
    """A training panel's Pause, ``(request, status line) -> (button, status line)``: pause the session's run of
    ``method`` between two steps, or resume it (the button says what a click will do); and the remark the waiting
    line makes, ``request -> str``, once Pause is pressed while the run waits for the slot (it did nothing, unsaid)."""
    from demos.common import session_of

    def pause_remark(request: gr.Request) -> str:
        return (" *Pause* acts once your run has started: it has not yet."
                if _flag("pause-asked", session_of(request), method).is_set() else "")

    def pause_or_resume(request: gr.Request = None, status: str = ""):
        session = session_of(request)
        paused = _flag("pause", session, method)
        if paused.is_set():
            paused.clear()
            return gr.update(value="Pause"), gr.skip()
        if _flag("waiting", session, method).is_set():  # (its line is the timer's: the remark stays in it)
            _flag("pause-asked", session, method).set()
            line = slot_wait_line()
            return gr.skip(), line + pause_remark(request) if line else gr.skip()
        if not _flag("running", session, method).is_set():
            return gr.update(value="Pause"), (gr.skip() if str(status or "").strip() else
                                              "nothing of yours is training here: nothing to pause")
        paused.set()
        return gr.update(value="Resume"), gr.skip()

    return pause_or_resume, pause_remark


__all__ = ["in_the_queue", "cancel_button", "pause_button", "cancelled_too_early", "overtaken_cancel", "queue_leaver",
           "holding_the_slot", "page_run", "left_run", "fresh_run_name", "opening_run", "slot_wait_line", "refuse",
           "waiting_timer", "CANCELLING", "LastLine"]
