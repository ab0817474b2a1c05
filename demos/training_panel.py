"""The Train accordion every tab shares: config widgets, live loss plot, sample grids, samples over time,
pause / resume and cancel.

It renders the engine's :class:`core.engine.TrainEvent` stream; the same run can be started
from the CLI (``python -m core.train``) with the ``train_config.json`` it saves.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from dataclasses import fields

import gradio as gr
import pandas as pd
from PIL import Image

from core.engine import Trainer, resolve_checkpoint
from core.engine.checkpoint import is_finished, read_json
from core.engine.hosting import check_tab_budget, gpu_task, online
from core.engine.sample_history import STRIP_ROWS, load_history, save_history
from core.methods import get_method_class
from demos.page import reveal_js, since_click_js
from demos.samples_over_time import samples_over_time
from demos.training_queue import (CANCELLING, LastLine, _cancel_flag, _flag, cancel_button, fresh_run_name,
                                  holding_the_slot, opening_run, overtaken_cancel, page_run, pause_button, queue_leaver,
                                  refuse, slot_wait_line, waiting_timer)


def rough_duration(seconds: float) -> str:
    """A time left or elapsed as people say it: "40 s", "12 min", "3 h 05 min", "11 days"."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes:02d} min"
    return f"{round(seconds / 86400)} days"


def check_not_trained_out(out, name: str, steps: int) -> None:
    """Refuse a run name whose run has already trained ``steps`` or more (it would only be measured again)."""
    from core.engine.checkpoint import saved_step

    done = saved_step(out)
    if done is not None and done >= steps:
        raise ValueError(f"run {name!r} has trained {done:,} steps already, and steps is {steps:,}: raise steps above "
                         f"{done:,} to train it further, or choose another run name")


def too_few_to_chart(rows: list[dict]) -> bool:
    """Whether the loss rows (``step`` keys) hold fewer than two steps: nothing to draw a line through yet."""
    return len({row["step"] for row in rows}) < 2


def loss_table(rows: list[dict]):
    """The loss chart's update: its data with numeric columns, or ``gr.skip()`` until it has two steps to join.

    An empty table of object columns made Gradio type the y axis as categories; and any empty table, even typed,
    leaves Gradio 6.31's line plot unable to draw lines for every later update of the run (axes, no lines: seen
    in headless Chromium). One step drew empty axes with a lone tick ("10.000000") for the ~10 s until the next. So
    the chart gets its first data with the second logged step.
    """
    if too_few_to_chart(rows):
        return gr.skip()
    return pd.DataFrame(rows, columns=["step", "value", "loss"]).astype({"step": "int64", "value": "float64",
                                                                           "loss": "str"})


def over_the_whole_run(chart, steps):
    """A loss chart's update on the page: its x axis spans the run's ``steps`` (the curve grows towards the end, and
    the ticks stay apart: fitted to the steps so far, "500" and "550" ran together at its right edge). The
    endpoint's output stays the table."""
    try:
        return gr.update(value=chart, x_lim=[0, int(float(steps))]) if isinstance(chart, pd.DataFrame) else chart
    except (TypeError, ValueError):  # (steps as typed: the run took it as its box reads it)
        return chart


# logged values that are not losses, left off the loss chart (the status line still shows them): the learning rate,
# a rate of the batch (text-to-image's caption dropout), gradient norms (a GAN's D spikes to 100 and flattened the
# losses' lines into the axis; the GANs tab charts them in "Every variant side by side"), accuracies (the DDPM's noisy
# classifier's, a share of 0-1 drawn as if a loss)
NOT_CHARTED = {"step", "lr", "caption_dropout"}


def charted(key: str) -> bool:
    return key not in NOT_CHARTED and not key.endswith(("_norm", "_acc"))


def start_training(ctx, method: str, name: str, settings: dict, cancel: threading.Event, admin_token: str = "",
                   pause: threading.Event | None = None, progress: list | None = None):
    """Yield (status markdown, loss rows, sample grids, samples over time) while training ``method`` into ``name``;
    ``progress[0]``, when given, follows the run in one line (for a visitor waiting for the training slot).

    Refuses to overwrite a finished checkpoint (a folder with weights but no resume state,
    e.g. a bundled one); an unfinished run of the same name resumes. A public server trains only
    with its admin token (``core.engine.hosting``).
    """
    from core.engine.hosting import check_may_train

    check_may_train(ctx.allow_train, ctx.public, admin_token)
    cls = get_method_class(method)
    config = cls.config_class.from_dict({**settings, "device": ctx.device.type})
    check_tab_budget(ctx.device, config)
    name = str(name or "").strip()  # " my-run " as typed: the run my-run
    out = resolve_checkpoint(cls.name, name, must_exist=False)
    if is_finished(out):
        raise ValueError(f"checkpoint {name!r} is a finished (or bundled) model; choose another run name")
    own = (out / "resume").is_dir() and (out / "train_config.json").is_file()
    if own:  # a run that resumes keeps its own settings, the steps as asked (a page opens on the defaults: a run
        # resumed from a new page took its learning rate and batch size, as the command line did without --config)
        config = cls.config_class.from_dict({**read_json(out / "train_config.json"), "steps": config.steps,
                                             "device": ctx.device.type})
        check_tab_budget(ctx.device, config)
    check_not_trained_out(out, name, config.steps)
    rows: list[dict] = []
    grids: list[tuple] = []
    history: list[tuple] = []
    strip = None          # the samples-over-time image: sent after each sample event and at the end, else skipped
    status = ""
    last_yield = 0.0
    method_ = cls(config)
    captions = method_.sample_captions(STRIP_ROWS)
    trainer = Trainer(method_, out, cancel=cancel, command=None, pause=pause)
    for event in trainer.run():
        if event.kind == "start" and event.step:  # a resumed run: its curve and samples over time so far
            rows = [{"step": r["step"], "value": v, "loss": k} for r in trainer.loss_log for k, v in r.items()
                    if charted(k) and isinstance(v, (int, float))]
            history = load_history(out, event.step)
            strip = samples_over_time(history, captions)
            if (out / "samples.png").is_file():  # the last grid saved (a command-line leg's too: it kept no strip,
                with Image.open(out / "samples.png") as sheet:  # and the grid was dated by the strip's last moment)
                    grids = [(sheet.convert("RGB"), f"saved before the resume at step {event.step:,}")]
        if event.kind == "step":
            rows += [{"step": event.step, "value": v, "loss": k} for k, v in event.losses.items()
                     if charted(k)]
            status = (f"step **{event.step} / {event.total}** · "
                      + " · ".join(f"{k} {v:.4g}" for k, v in event.losses.items())
                      + f" · {rough_duration(event.elapsed)} elapsed, about {rough_duration(event.eta)} left")
            if progress is not None:
                progress[0] = f"{cls.name} run {name}, step {event.step:,} of {event.total:,}, " \
                              f"about {rough_duration(event.eta)} left"
        elif event.kind == "samples":
            grids = [(method_.sample_sheet(event.images), f"step {event.step}")] + grids
            history.append((event.step, method_.generated(event.images)))
            save_history(out, history)
            strip = samples_over_time(history, captions)
        elif event.kind == "paused":
            status = f"**paused** at step {event.step} / {event.total}: press *Resume* to go on (or *Cancel* to save)"
        elif event.kind in ("start", "checkpoint", "resumed", "evaluating", "done", "cancelled"):
            status = event.message.replace(str(out), f"checkpoints/{cls.name}/{name}")  # no server paths
            if event.kind == "start" and own:
                status += " · with the run's own settings (its train_config.json), the steps as asked"
            if event.kind == "evaluating" and progress is not None:  # (those waiting read "about 0 s left" meanwhile)
                progress[0] = f"{cls.name} run {name}, trained: measuring the model for its card"
            if event.kind in ("done", "cancelled") and event.path:
                status += f" · checkpoint **{name}** is now in the picker"
                strip = samples_over_time(history, captions)  # the last answer holds every output (an API caller's)
        if cancel.is_set() and event.kind not in ("done", "cancelled"):  # (the last samples drawn before the save
            status = CANCELLING                                          # showed the "paused" line again)
        now = time.time()
        if event.kind != "step" or now - last_yield > 0.5:
            last_yield = now
            yield status, loss_table(rows), grids[:12], gr.skip() if strip is None else strip
            strip = None


def tab_datasets(choices) -> list[str]:
    """The dataset choices a tab can train on: the worlds; MNIST, Fashion-MNIST and CIFAR-10 when their files are on
    disk or the server is online (``--online``), pix2pix's official datasets when online; not "folder", whose
    ``--data-root`` (a folder of the server) only the CLI takes."""
    from core.data.standard import RESOURCES, files_present

    return [d for d in choices if d != "folder" and (online() or (d in RESOURCES and files_present(d))
                                                     or d not in RESOURCES and d != "official")]


def dataset_widget(config_cls, value):
    """The dataset dropdown of a Train panel (:func:`tab_datasets`), saying where the others come from."""
    from demos.common import Dropdown

    choices = tab_datasets(next(f for f in fields(config_cls) if f.name == "dataset").metadata["choices"])
    return Dropdown(choices, value=value if value in choices else choices[0], label="dataset",
                    info="real datasets: listed when their files are on disk (or the app runs with --online); "
                         "an image folder: from the CLI (--dataset folder --data-root)")


def training_panel(ctx, method: str, fields: list[str], defaults: dict | None = None, pickers=(),
                   advanced: list[str] = (), shown_when: dict[str, tuple[str, str]] | None = None,
                   check=None) -> None:
    """Build the Train accordion for ``method`` with widgets for the named config ``fields`` (and, in a closed
    "Advanced" accordion, the ``advanced`` ones). ``shown_when``: {field: (other field, value)}: the field's widget
    shows only while the other one holds that value (a setting the chosen model does not read stays out of sight).
    ``check``: a function of the settings {field: value} that raises ``ValueError`` for one the app refuses where
    the CLI takes it (a path outside the server's checkpoints); the values it returns ({field: value}, or None)
    replace those typed (a checkpoint's name written as its folder)."""
    from demos.common import (GALLERY_FIT, USER_ERRORS, VISITORS, Setting, config_widget, page_open, session_of,
                              ui_errors, visitor_state)

    cls = get_method_class(method)
    base = cls.config_class().to_dict() | (defaults or {})
    if "download" in base and online():
        base["download"] = True  # an online server fetches a standard dataset that is not on disk yet
    fields = list(fields) + list(advanced)
    with gr.Accordion("Train your own", open=False) as panel:
        if not ctx.allow_train:
            gr.Markdown("Training is switched off on this server (`--no-train`).")
        elif ctx.public:
            gr.Markdown("This is a public server: training needs the admin token its owner set.")
        gr.Markdown(f"Same config as the CLI: `python -m core.train {method} --help`. "
                    "Training runs one at a time on this server; a run with the same name resumes.")
        with gr.Row():
            widgets = [dataset_widget(cls.config_class, base[f]) if f == "dataset"
                       else config_widget(cls.config_class, f, base[f]) for f in fields if f not in advanced]
        if advanced:
            with gr.Accordion("Advanced (the defaults work; the same flags as the CLI)", open=False):
                with gr.Row():
                    widgets += [config_widget(cls.config_class, f, base[f]) for f in advanced]
        # the buttons under the settings they use, the status and the charts right under the buttons: a run's
        # progress shows where Train was pressed (under the settings it came 500 px below, off a projector's screen)
        with gr.Row():  # each page opens on a name of its own (fresh_run_name)
            run_name = gr.Textbox(value=f"my-{cls.name}", label="run name (saved in checkpoints/)", scale=3)
            token = gr.Textbox(label="admin token", type="password", visible=ctx.public, scale=2)
            start = gr.Button("Train / resume", variant="primary", scale=1, interactive=ctx.allow_train, min_width=170,
                              elem_id=f"train-{cls.name}-start")  # (on one line at 1024 px: it wrapped in two)
            pause = gr.Button("Pause", scale=1, elem_id=f"train-{cls.name}-pause")
            stop = gr.Button("Cancel", variant="stop", scale=1)
            since_train = gr.Number(-1, elem_classes="genlab-hidden")  # (ms since Train, measured in the page)
        for field_name, (other, value) in (shown_when or {}).items():
            shown, chooser = widgets[fields.index(field_name)], widgets[fields.index(other)]
            shown.visible = base[other] == value
            chooser.change(lambda v, value=value: gr.update(visible=v == value), chooser, shown, queue=False,
                           api_visibility="private", show_progress="hidden")
        status = gr.Markdown(label="status", elem_id=f"train-{cls.name}-status")
        with gr.Row():
            # "training curves", not "losses": a GAN's hold its discriminator's mean scores d_real and d_fake too.
            # No height: Gradio 6 fits a sized chart to the height without its legend and cuts the legend off
            plot = gr.LinePlot(x="step", y="value", color="loss", label="training curves",
                               elem_id=f"train-{cls.name}-chart")
            # one per row: the newest grid beside the chart as large as the column allows (two a row were 210 px
            # wide and their labels 6 px on a projector); the older ones below it, and in "samples over time"
            gallery = gr.Gallery(label="samples (newest first)", columns=1, height="auto", format="png",
                                 object_fit="contain", preview=False, elem_classes=GALLERY_FIT)
        over_time = gr.Image(label="samples over time: the same seeds at each moment of the run (its step above), "
                                   "left to right",
                             type="pil", format="png", interactive=False, elem_id=f"train-{cls.name}-over-time")

    def settings_of(values: tuple) -> tuple:
        """The values with each setting's number as its box takes it (:class:`demos.controls.Setting`: one
        ``gr.Error`` line naming the box for a refused one), then passed to ``check``."""
        numbers = tuple(w.checked(v) if isinstance(w, Setting) else v for w, v in zip(widgets, values))
        values = numbers + values[len(fields):]
        if check is not None:
            fixed = check(dict(zip(fields, values))) or {}
            values = tuple(fixed.get(f, v) for f, v in zip(fields, values)) + values[len(fields):]
        return values

    def train(request: gr.Request, name, *values):  # Gradio fills `request` itself
        values = settings_of(values)
        session = session_of(request)
        cancel, paused = _cancel_flag(session, method), _flag("pause", session, method)
        running, waiting = _flag("running", session, method), _flag("waiting", session, method)
        waiting.clear()
        if cancel.is_set():  # Cancel pressed while the run waited in the queue (one training at a time)
            cancel.clear()
            yield "cancelled before it started: nothing was saved", *[gr.skip()] * 3
            return
        paused.clear()
        settings = base | dict(zip(fields, values[:len(fields)]))
        running.set()
        try:
            with (page_run(VISITORS.get(session), method, str(name or "").strip()),
                  holding_the_slot(session, method, f"{cls.name} run {str(name or '').strip()}, starting") as progress):
                yield from start_training(ctx, method, name, settings, cancel, values[len(fields)], paused, progress)
        finally:
            running.clear()
            cancel.clear()
            paused.clear()

    last_line = LastLine()

    def train_on_the_page(request: gr.Request, name, *values):
        """``train`` for the page: a refused setting is a warning and a status line that stays; the charts stay."""
        steps = dict(zip(fields, values)).get("steps")

        def frames():
            try:
                for status, chart, *rest in train(request, name, *values):
                    yield status, over_the_whole_run(chart, steps), *rest
            except USER_ERRORS as exc:
                gr.Warning(str(exc))
                yield f"**not started**: {exc}", *[gr.skip()] * 3

        yield from last_line.follow(request, frames())

    def wait_in_queue(request: gr.Request, name, *values):
        """At the click, before the queue (no outputs: a refusal is a toast, and the outputs keep their last run). The
        settings are checked here (the widgets' ranges, then the config's rules), so a refused one waits for no
        training slot; a click while the session's own run of this method trains or is paused is refused (it would
        queue behind it). From here on a Cancel reaches this run, also while it waits its turn."""
        session = session_of(request)

        def no(message: str):
            refused[session] = message  # (the status line says it too: refused_line)
            refuse(message)

        if _flag("running", session, method).is_set():  # (the status line stays on that run)
            refuse("your run is paused: press Resume to go on, or Cancel to save it"
                   if _flag("pause", session, method).is_set() else "your run is training: Pause or Cancel it first")
        try:
            values = settings_of(values)
            check_tab_budget(ctx.device, cls.config_class.from_dict({**base, **dict(zip(fields, values[:len(fields)]))}))
            resolve_checkpoint(cls.name, str(name or "").strip(), must_exist=False)
        except (*USER_ERRORS, gr.Error) as exc:
            no(getattr(exc, "message", None) or str(exc))  # (str() of a gr.Error puts its message in quotes)
        _cancel_flag(session, method).clear()
        if overtaken_cancel(session, method):  # (a Cancel pressed right after this click, there first)
            _cancel_flag(session, method).set()
        _flag("pause-asked", session, method).clear()
        _flag("waiting", session, method).set()

    refused: dict[str, str] = {}  # session -> why its last click did not start a run

    def refused_line(request: gr.Request):
        """The status line after a click refused before the queue: why (the line of an earlier refusal stayed, the new
        reason only in a toast gone after ten seconds)."""
        reason = refused.pop(session_of(request), "")
        return f"**not started**: {reason}" if reason else gr.skip()

    def waiting_line():
        """The status while the run waits for the one training slot (what trains now, kept current by the timer), or
        while it starts. The timer runs either way, until the page's run starts: a run clicked a moment before on
        another page may not hold the slot yet (two clicks 0.3 s apart: the second page said "starting" while it
        waited for the whole of the first run)."""
        return slot_wait_line() or "starting: reading the data and building the model…", gr.Timer(active=True)

    # the endpoint's parameters are named after the config fields (not param_0, param_1, ...)
    P = inspect.Parameter
    train.__signature__ = inspect.Signature(
        [P("request", P.POSITIONAL_OR_KEYWORD, annotation=gr.Request),
         P("run_name", P.POSITIONAL_OR_KEYWORD, annotation=str)]
        + [P(f, P.POSITIONAL_OR_KEYWORD, default=base[f], annotation=type(base[f])) for f in fields]
        + [P("admin_token", P.POSITIONAL_OR_KEYWORD, default=None, annotation=str)])  # public servers only

    cancel_run, (pause_or_resume, pause_remark) = cancel_button(method), pause_button(method)

    inputs, outputs = [run_name, *widgets, token], [status, plot, gallery, over_time]
    queue = dict(concurrency_limit=1, concurrency_id="train")
    functools.update_wrapper(train_on_the_page, train)  # its signature: the endpoint's named parameters
    gr.Button(visible=False).click(ui_errors(gpu_task(train, duration=600)), inputs, outputs,
                                   api_name=f"train_{cls.name}", **queue)  # the endpoint: a refusal is an error
    # at the click the page scrolls the run's chart on screen under the button (only the status line showed at 1024 x
    # 768, the chart and samples forming below the fold); 330 px: the chart's height once it draws
    clicked_train = start.click(wait_in_queue, inputs, api_visibility="private", concurrency_limit=None,
                                js=reveal_js(f"train-{cls.name}-start", f"train-{cls.name}-chart",
                                             "b.getBoundingClientRect().top + 330"))
    clicked_train.failure(refused_line, outputs=status, api_visibility="private", queue=False)
    def still_waits(request: gr.Request) -> bool:  # (not once cancelled: a tick read before the Cancel's queue-leaving
        session = session_of(request)              # step wrote "waiting for the slot" back over its answer)
        return _flag("waiting", session, method).is_set() and not _cancel_flag(session, method).is_set()

    timer = waiting_timer(status, still_waits, remark=pause_remark)
    event = clicked_train.success(waiting_line, outputs=[status, timer], api_visibility="private", queue=False).success(
        ui_errors(gpu_task(train_on_the_page, duration=600)), inputs, outputs, api_visibility="private",
        show_progress_on=outputs[1:], **queue)  # (not on the status: it says why the run waits)
    visitor_box = visitor_state()
    if visitor_box is None:  # (a panel built without the app's visitors)
        gr.on(page_open(), lambda: fresh_run_name(cls.name), outputs=run_name, api_visibility="private", queue=False)
    else:
        gr.on(page_open(), functools.partial(opening_run, cls.name, method), visitor_box, [run_name, status, panel],
              api_visibility="private", queue=False)
    def run_ended(request: gr.Request):
        return gr.update(value="Pause"), last_line.put_back(request)

    event.then(run_ended, outputs=[pause, status], api_visibility="private", queue=False)
    if pickers:
        from demos.common import refresh_pickers

        event.then(refresh_pickers(cls.name, list(pickers)), outputs=list(pickers), api_visibility="private")
    # the page's buttons read the status line: with nothing training, the line on how the last run ended stays (it was
    # replaced by "nothing of yours is training"); the endpoints take no arguments and always say so
    clicked = {}
    for button, fn, verb, ins, outs in ((stop, cancel_run, "cancel", [status, since_train], status),
                                        (pause, pause_or_resume, "pause", status, [pause, status])):
        clicked[verb] = button.click(fn, inputs=ins, outputs=outs, api_visibility="private", queue=False,
                                     js=since_click_js([f"train-{cls.name}-start"], 1) if verb == "cancel" else None)
        gr.Button(visible=False).click(fn, outputs=outs, api_name=f"{verb}_{cls.name}", api_visibility="undocumented",
                                       queue=False)

    leave_the_queue = queue_leaver([event])

    async def still_waiting(request: gr.Request):
        """The page's run, when it waits in Gradio's queue, leaves it (a running one stops between two steps and
        saves; closing it would lose that)."""
        session = session_of(request)
        if _flag("running", session, method).is_set() or not _flag("waiting", session, method).is_set():
            return
        _flag("waiting", session, method).clear()  # (its Cancel flag stays: should it start meanwhile, it stops)
        await leave_the_queue(request)

    # a run cancelled while it waits leaves the queue now (its spinners stopped only when the running one ended)
    clicked["cancel"].then(still_waiting, api_visibility="private", queue=False)


__all__ = ["training_panel", "start_training"]
