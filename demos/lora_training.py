"""The LoRA tab's training: Train and Train more streamed to the page, one training slot on the server, Cancel.

A view over ``core.lora.service`` and ``core.lora.train_more`` (no model is loaded until used).
"""

from __future__ import annotations

import contextlib
import threading
import time

import gradio as gr
import pandas as pd

from demos.common import AppContext
from demos.training_queue import cancelled_too_early

BASE = "t2i-clip-shapes"
CANCELS: dict[str, threading.Event] = {}
TRAINING: set[str] = set()  # the sessions whose adapter is training now
WAITING: set[str] = set()   # the sessions whose page pressed Train (more) and waits for the one training slot


def tab_pipeline(ctx: AppContext, name: str):
    """This tab's own copy of the base pipeline: adapters switched on it never reach the text-to-image tab."""
    from core.engine.checkpoint import cache_key
    from core.text2image.service import load_model

    return ctx.cache.get(("lora-base", *cache_key("text2image", str(name).strip())[1:]),
                         lambda: load_model(name, ctx.device))


def _losses(rows: list[dict]):
    """The loss chart's update: numeric columns, or ``gr.skip()`` until there are two steps to join (an empty table
    leaves Gradio's line plot drawing no lines for the rest of the run; ``demos.training_panel.loss_table``)."""
    from demos.training_panel import too_few_to_chart

    if too_few_to_chart(rows):
        return gr.skip()
    return pd.DataFrame(rows, columns=["step", "loss"]).astype({"step": "int64", "loss": "float64"})


def _new_name(stem: str, session: str) -> str:
    """``<stem>-1``, ``<stem>-2``, ...: the first name none of this visitor's adapters (nor a shared one) has."""
    from core.lora.service import list_adapters

    taken = set(list_adapters(session))
    return next(f"{stem}-{k}" for k in range(1, 10_000) if f"{stem}-{k}" not in taken)


def train_frames(ctx, session, images, trigger, method, class_word, steps, rank, prior_preservation, seed,
                 use_example, model, admin_token="", train_text_encoder=False):
    """Stream (status, loss table, validation gallery, adapter picker update) while training."""
    from core.engine.hosting import check_may_train
    from core.lora.service import check_settings, example_concept, load_images, session_root
    from core.text2image.sampling import image_side

    check_may_train(ctx.allow_train, ctx.public, admin_token)
    pipe = tab_pipeline(ctx, model)
    config, warnings = check_settings(trigger, class_word, method, rank, steps, seed=seed,
                                      prior_preservation=prior_preservation, base_vocab=pipe.tokenizer.get_vocab(),
                                      train_text_encoder=train_text_encoder)
    if images or not use_example:   # images given are what it learns, whatever use_example says
        pixels, source = load_images(images, image_side(pipe)), "your images"
        if use_example:
            warnings.append("your images, not the built-in example, are what it learns")
    else:
        pixels, source = example_concept(), "the built-in example's images"
    name = _new_name(f"{config.trigger}-{'lora' if config.method == 'lora' else 'ti'}", session)
    note = (" · " + " · ".join(warnings)) if warnings else ""
    yield from _run(session, pipe, model, pixels, config, session_root(session) / name,
                    f"training **{name}** on {source} ({len(pixels)}){note}", note)


def continue_frames(ctx, session, adapter, steps, admin_token=""):
    """Stream :func:`train_frames`' frames while ``adapter`` trains ``steps`` more steps from where it stopped, on
    its own images and settings (its optimizer's state too, when saved with it). The visitor's own adapter is
    replaced; a shared one's continuation is a new adapter of the visitor's own."""
    from core.engine.hosting import check_may_train
    from core.lora.service import adapter_folder, is_own, read_meta, session_root
    from core.text2image.sampling import image_side
    from core.lora.train_more import continue_settings, read_resume, taught_images

    check_may_train(ctx.allow_train, ctx.public, admin_token)
    if not adapter:
        raise ValueError("pick the adapter to train more on the right (or train a new one with Train)")
    folder = adapter_folder(adapter, session)
    meta = read_meta(folder)
    pipe = tab_pipeline(ctx, meta["base"])
    config = continue_settings(folder, steps)
    resume = read_resume(folder, config)
    pixels = taught_images(folder, image_side(pipe))
    own = is_own(folder, session)
    target = folder if own else session_root(session) / _new_name(adapter, session)
    note = "" if resume.optimizer_state is not None else \
        " · its optimizer's state was not saved with it: Adam's moments start afresh"
    first = (f"training **{target.name}** {config.steps} more steps from step {resume.step}"
             + ("" if own else f" (a copy of the shared {adapter}, yours)") + note)
    yield from _run(session, pipe, meta["base"], pixels, config, target, first, note, resume)


def steps_after(session: str, adapter: str, steps) -> int | None:
    """Adapter ``adapter``'s steps once it has trained ``steps`` more: the x extent of Train more's loss chart. None
    when the adapter or the steps are not valid (the run itself says which)."""
    from core.lora.service import adapter_folder, read_meta

    try:
        return int(read_meta(adapter_folder(adapter, session)).get("steps", 0)) + int(float(steps))
    except (ValueError, TypeError):
        return None


@contextlib.contextmanager
def its_turn(session: str):
    """A visitor's run from the moment it leaves the queue to its end: Cancel reaches it all along, while the model
    loads too (pressed then, it was lost and the whole run trained and saved); its flag is cleared at the end. A
    Cancel pressed while the run still waited, which the run outran, stops it before it starts."""
    WAITING.discard(session)
    TRAINING.add(session)
    cancel = CANCELS.setdefault(session, threading.Event())
    try:
        yield cancel
    finally:
        TRAINING.discard(session)
        cancel.clear()


def _run(session, pipe, base, pixels, config, folder, first_line, note, resume=None):
    """Train into ``folder`` holding the server's one training slot; Cancel stops it (what was learnt is saved)."""
    from core.data import to_pil
    from core.lora.service import train_adapter
    from demos.training_queue import holding_the_slot

    cancel = CANCELS.setdefault(session, threading.Event())
    rows = [{"step": k + 1, "loss": v} for k, v in enumerate(resume.losses if resume else [])]
    shots = [(to_pil(img).resize((128, 128)), None) for img in pixels[:6]]
    early = "cancelled before the first step: nothing was saved", _losses(rows), shots, gr.skip()
    if cancel.is_set():
        yield early
        return
    yield first_line, _losses(rows), shots, gr.skip()
    try:
        with holding_the_slot(session, "lora", f"LoRA adapter {folder.name}, starting") as progress:
            yield from _train_events(train_adapter(pipe, base, pixels, config, folder, cancel.is_set, resume),
                                     folder.name, config, note, rows, shots, progress)
    except ValueError:
        if not cancel.is_set():
            raise
        yield early  # in the status line (a toast said it, gone in seconds, the line kept "training")


def _train_events(events, name, config, note, rows, shots, progress):
    """The panel's (status, loss table, gallery, adapter update) for each event of ``train_adapter``; ``progress[0]``
    follows the run in one line for the visitors who wait for the training slot."""
    from core.data import to_pil

    from demos.training_panel import rough_duration

    status, start, total = f"training **{name}**{note}", time.monotonic(), None
    for event in events:
        if "loss" in event:
            rows.append({"step": event["step"], "loss": event["loss"]})
            if total is None:  # a continued run counts on from its adapter's steps
                begin, total = event["step"] - 1, event["steps"]
            if event["step"] % 10 and event["step"] != event["steps"]:
                continue
            elapsed = time.monotonic() - start
            left = elapsed / (event["step"] - begin) * (event["steps"] - event["step"])
            status = (f"step **{event['step']} / {event['steps']}** · loss {event['loss']:.4f} · "
                      f"{rough_duration(elapsed)} elapsed, about {rough_duration(left)} left{note}")
            progress[0] = (f"LoRA adapter {name}, step {event['step']:,} of {event['steps']:,}, "
                           f"about {rough_duration(left)} left")
        elif "validation" in event:
            shots = [(to_pil(event["validation"]).resize((128, 128)), f"step {event['step']}")] + shots
        if "saved" in event:
            result = event["result"]
            stopped = f"cancelled at step {result.steps} of {total}; " if result.steps < total else ""
            status = (f"{stopped}saved **{name}** ({result.steps} steps, {rough_duration(result.seconds)}): try it on "
                      f"the right with \"{config.prompt()}\"{note}")
            yield status, _losses(rows), shots, name
            return
        yield status, _losses(rows), shots, gr.skip()


def stop(session: str, since_click_ms=None):
    """Cancel's status line: a training run stops after this step and saves what it learnt; a run still waiting for
    the slot will not start (the page then takes it out of Gradio's queue, ``demos.training_queue``); with neither,
    the line stays."""
    if session in TRAINING:
        CANCELS.setdefault(session, threading.Event()).set()
        return "stopping after this step; what was learnt is saved"
    if session in WAITING:  # (its flag stays set: a run that has just left the queue stops before it starts)
        WAITING.discard(session)
        CANCELS.setdefault(session, threading.Event()).set()
        return "cancelled: your run waiting for the training slot will not start"
    cancelled_too_early(session, "lora", since_click_ms)  # (for a Train click it overtook)
    return gr.skip()  # nothing training: the last run's line stays (it names the saved adapter)
