"""A Stop button for a page's streaming run (a reverse process of 1000 steps, a comparison of samplers) without
Gradio's ``cancels=``, which left red "Error" badges over the run's outputs about one Stop in five under load (the
training panels stopped using it for the same reason, ``demos.training_queue``).

Stop sets the page session's flag: a run that streams reads it between two frames and ends with its own last line
("… · stopped"), what it has shown kept; a run still waiting for its turn leaves Gradio's queue
(``demos.training_queue.queue_leaver``) and its line says "stopped before it started".
"""

from __future__ import annotations

import contextlib
import threading
import time

import gradio as gr
from gradio.context import Context

from demos.common import session_of
from demos.page import since_click_js
from demos.training_queue import _flag, cancelled_too_early, in_the_queue, overtaken_cancel, queue_leaver, refuse


JOIN_S = 10.0  # a run asked for this long, neither running nor in the queue, never got into it (a full queue)


class PageStop:
    """The Stop of one kind of page run (``name``: "diffusion_sample", "diffusion_compare"): one run per page
    session at a time, a second click refused with ``busy`` while the first runs or waits."""

    def __init__(self, name: str, busy: str):
        self.name, self.busy = name, busy
        self.asked: dict[str, float] = {}  # page sessions whose run runs or waits for its turn: since when
        self.started: set[str] = set()  # those of them whose run runs
        self.event_ids: set = set()     # the run's event listener and its app (bind)
        self.blocks = None

    def flag(self, session: str) -> threading.Event:
        return _flag("stop", session, self.name)

    def ask(self, request: gr.Request) -> None:
        """At the click, before the queue, in an event with no outputs (a refusal there put a red "Error" badge on
        them): a second run while the page's own runs or waits is refused (it queued behind it, or ran beside it into
        the same outputs); from here on Stop reaches this run."""
        session = session_of(request)
        if session in self.asked and (session in self.started or time.monotonic() - self.asked[session] < JOIN_S
                                      or in_the_queue(self.blocks, request.session_hash, self.event_ids)):
            refuse(self.busy)  # (a run that never got into the queue, which was full, holds the page JOIN_S at most)
        self.flag(session).clear()
        if overtaken_cancel(session, self.name):  # (a Stop pressed right after this click, there first)
            self.flag(session).set()
        self.asked[session] = time.monotonic()

    @contextlib.contextmanager
    def running(self, request: gr.Request):
        """Around the page's run: yields its Stop flag, or None when Stop came while it waited (it is over)."""
        session = session_of(request)
        stop = self.flag(session)
        if stop.is_set():
            self.asked.pop(session, None)
            yield None
            return
        self.started.add(session)
        try:
            yield stop
        finally:
            self.started.discard(session)
            self.asked.pop(session, None)

    def stop(self, request: gr.Request, since_click_ms=None):
        """Stop's status line: none for a running run (it writes its own within a frame), "stopped before it started"
        for one waiting; nothing asked, the line stays (and a run clicked just before, whose click this Stop
        overtook on its way to the server, is stopped as it comes: ``since_click_ms``)."""
        session = session_of(request)
        if session not in self.asked:
            cancelled_too_early(session, self.name, since_click_ms)
            return gr.skip()
        self.flag(session).set()
        return gr.skip() if session in self.started else "stopped before it started"

    def bind(self, button, event, status, run_button: str) -> None:
        """Stop on ``button`` for the page's ``event`` (the streaming run's listener, started by the button whose
        elem_id is ``run_button``), whose status line is ``status``: a running run ends within a frame and writes its
        own line; a waiting one leaves the queue here and the line says "stopped before it started"; a finished or
        stopped run's line stays."""
        leave_the_queue = queue_leaver([event])
        self.event_ids, self.blocks = {event["id"]}, Context.root_block

        async def leave_if_waiting(request: gr.Request):
            session = session_of(request)
            if session in self.asked and session not in self.started:
                await leave_the_queue(request)
                self.asked.pop(session, None)

        since_run = gr.Number(-1, elem_classes="genlab-hidden")  # (ms since the run's click, measured in the page)
        button.click(self.stop, since_run, status, js=since_click_js([run_button], 0), api_visibility="private",
                     queue=False).then(leave_if_waiting, api_visibility="private", queue=False)


__all__ = ["PageStop"]
