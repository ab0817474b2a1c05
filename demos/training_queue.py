"""Taking a page's training run out of Gradio's queue while it still waits for the one training slot.

Gradio's own way, an event with ``cancels=[...]``, calls its ``/cancel`` route, which sends the page an empty
completion for a run that never started; about one time in two (measured: 2 of 4 runs of the training panel's test,
0 of 4 with that message dropped) the page takes it for a failure and puts a red "Error" badge over each of the run's
outputs. Here the server takes the run out of the queue itself and completes it with "leave every output as it is",
the message a run that ends normally sends. This reads Gradio's queue (pinned in requirements.txt: 6.31.0); the
browser tests that cancel a waiting run check it.
"""

from __future__ import annotations

import gradio as gr
from gradio.context import Context
from gradio.server_messages import ProcessCompletedMessage


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


__all__ = ["queue_leaver"]
