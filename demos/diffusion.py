"""DDPM / DDIM step viewer: the forward process, the reverse process step by step, quality vs speed.

A view over ``core.diffusion.service`` and ``core.diffusion.compare``; it loads no model until used.
"""

from __future__ import annotations

import contextlib
import json
import threading

import gradio as gr

from core.engine.hosting import gpu_task
from demos.common import (HELD_OUT_LAST, ONE_BUTTON, PIXELS, AppContext, Dropdown, Radio, ImageUpload, Number, Slider,
                          checkpoint_picker, endpoint, note_or_reason, opening_view, run_standalone, page_open,
                          seed_control, session_of, training_panel, ui_errors, warn_and_keep)
from demos.diffusion_frames import METHOD, VIEW_SIZE, replay_slider, replay_step, sample_frames, sdedit_frames
from demos.diffusion_forward import (WORLDS, dataset_image, forward_image, forward_x0, schedule_view,
                                     sdedit_model, sdedit_schedule_note)
from demos.page_stop import PageStop

TITLE = "DDPM / DDIM"
TRY = """
1. **Forward process**: drag **t** down to 0, then to the end: the image dissolves into noise, step by step. Press
   **Denoise from t** at t = 300 and at t = 800: the model redraws what the noise destroyed (SDEdit).
2. **Reverse process**: pick a class and press **Sample**: watch noise become a digit; then drag the replay
   slider back through the run; then set **steps** to 5.
3. Set **guidance w** to 0 and then to 4 on the same seed: unconditional vs strongly guided.
"""
ABOUT = """**DDPM / DDIM step viewer.** A denoising diffusion model learns to undo a fixed forward process that
mixes an image with Gaussian noise over T = 1000 steps ([Ho et al. 2020, DDPM](https://arxiv.org/abs/2006.11239));
sampling runs the learnt reverse process from pure noise. [DDIM (Song et al. 2021)](https://arxiv.org/abs/2010.02502)
takes the same network through far fewer, deterministic steps (eta = 0), and
[DPM-Solver++ (Lu et al. 2022)](https://arxiv.org/abs/2211.01095) is a higher-order ODE solver for it.
Guidance: [classifier-free (Ho & Salimans 2022)](https://arxiv.org/abs/2207.12598) and
[classifier guidance (Dhariwal & Nichol 2021)](https://arxiv.org/abs/2105.05233); schedules:
[cosine (Nichol & Dhariwal 2021)](https://arxiv.org/abs/2102.09672)."""

DEFAULT_CHECKPOINT = "ddpm-digits"


# ---------------------------------------------------------------- helpers (plain functions)
def warm_up(ctx: AppContext) -> None:
    """Load the default checkpoint before the first visitor asks (``python app.py`` does, in the background), and run
    the reverse process the page opens on: the Sample outputs for its opening settings (DDIM, 50 steps, seed 0, class
    0, w = 2), replay included, so that the tab opens on a finished run to scrub through (it opened on empty boxes)."""
    *_, (*views, status, replay) = sample_frames(ctx, DEFAULT_CHECKPOINT, "ddim", 50, 0.0, 0, "0", 2.0)
    ctx.openings[METHOD] = (*views, f"{status} · drawn when the app started, with the settings shown: press "
                            "**Sample** to watch it denoise", replay)


def opened(ctx: AppContext):
    """The Reverse process tab's page-open event function: the run drawn at warm-up, and its replay slider."""
    return opening_view(ctx, METHOD, 7, lambda view: replay_slider(view[-1]))


def class_choices(name: str):
    """The class dropdown for a checkpoint, read from its small metadata file (no model load)."""
    from core.diffusion.pipeline import META_FILE
    from core.engine import resolve_checkpoint

    try:
        meta = json.loads((resolve_checkpoint(METHOD, name) / META_FILE).read_text())
        names = list(meta.get("class_names", []))
    except Exception:
        names = []
    return gr.update(choices=names + ["none"], value=names[0] if names else "none")


STOP = PageStop("diffusion_sample", "your sample is running: wait for it, or Stop it, then press again")
SAMPLERS_AT_ONCE = 2  # reverse-process and SDEdit runs served at a time (one queue); the others wait their turn
_SAMPLING = {"running": 0}
_SAMPLING_LOCK = threading.Lock()


@contextlib.contextmanager
def sampling_slot():
    """Count a reverse-process or SDEdit run while it runs (for :func:`sampling_wait_line`)."""
    with _SAMPLING_LOCK:
        _SAMPLING["running"] += 1
    try:
        yield
    finally:
        with _SAMPLING_LOCK:
            _SAMPLING["running"] -= 1


def sampling_wait_line():
    """At the click: the status while the run waits for a free sampler (Gradio's queue overlay alone said
    "queue: 1/1"), or nothing when one is free."""
    if _SAMPLING["running"] < SAMPLERS_AT_ONCE:
        return gr.skip()
    return (f"waiting: {SAMPLERS_AT_ONCE} other samples are running on this server ({SAMPLERS_AT_ONCE} at a time); "
            "yours starts when one of them ends")


def clear_and_wait_line():
    """At a Sample click, in the run's own chain: the last run's replay (and its slider), filmstrip and x_0 leave
    (after a Stop they stayed beside the new frames), and :func:`sampling_wait_line` says why the run waits, if it
    does. A separate unqueued event did the clearing, and under load it arrived after the new run's frames."""
    return sampling_wait_line(), [], gr.update(visible=False), None, None


# ---------------------------------------------------------------- the tab
def build(ctx: AppContext) -> None:
    from core.diffusion.config import SCHEDULES
    from core.diffusion.sampling import GUIDANCE_TYPES, MAX_GUIDANCE
    from core.diffusion.schedules import SAMPLERS
    from core.diffusion.schedule_chart import CURVES
    from core.diffusion.service import T_FORWARD, TRAINED

    gr.Markdown("Watch an image dissolve into noise (forward), then a trained model turn noise into an image "
                "(reverse), step by step. DDIM with eta = 0 is deterministic: the same seed gives the same image.")

    with gr.Tab("Forward process"):
        with gr.Row():
            with gr.Column(scale=1):
                x0_in = ImageUpload(format="png", label="x_0 (upload, or pick a dataset image)", height=224,
                                    elem_id="diffusion-x0", elem_classes=PIXELS)
                with gr.Row():
                    world = Dropdown(list(WORLDS), value="digits", label="dataset", scale=2)
                    index = Number(0, label="held-out image #", precision=0, minimum=0, maximum=HELD_OUT_LAST, scale=2,
                                   elem_id="diffusion-x0-index")
                    pick = gr.Button("Use it", scale=1)
                schedule_f = Dropdown(list(SCHEDULES), value="linear", label="noise schedule",
                                      elem_id="diffusion-forward-schedule")
                noise_seed = seed_control("noise seed (eps)", elem_id="diffusion-noise-seed")
            with gr.Column(scale=1):
                x_t_out = gr.Image(type="pil", format="png", label="x_t ~ q(x_t | x_0)", height=224,
                                   elem_id="diffusion-xt", elem_classes=PIXELS, interactive=False)
                # under x_t: the tab's first view at 1024x768 shows x_0, x_t and the t that mixes them
                t = Slider(0, T_FORWARD, value=250, step=1, label=f"t (0 = clean, T = {T_FORWARD}: pure noise)",
                           elem_id="diffusion-t")
                t_info = gr.Markdown(label="about t")
            with gr.Column(scale=2):
                curve = Radio(list(CURVES), value="alpha_bar", label="curve (all schedules; the chosen one bold)")
                plot = gr.Image(type="pil", format="png", label="noise schedules, marker at t", interactive=False,
                                show_label=False, buttons=[], elem_id="diffusion-schedule-chart")
                with gr.Row():
                    with gr.Column(min_width=160):
                        gr.Markdown("**SDEdit**: noise x_0 to step t (the model's own schedule), then let the "
                                    "model denoise it. Small t keeps the image, large t keeps little of it.")
                        sde_ckpt = checkpoint_picker(METHOD, value=DEFAULT_CHECKPOINT, label="model",
                                                     elem_id="diffusion-sdedit-checkpoint")
                        sde_label = Dropdown([str(i) for i in range(10)] + ["none"], value="none", label="class",
                                             allow_custom_value=True)
                        sde_go = gr.Button("Denoise from t", variant="primary", elem_id="diffusion-sdedit-button")
                        sde_note = gr.Markdown(label="SDEdit's schedule", elem_id="diffusion-sdedit-note")
                        with gr.Accordion("SDEdit settings", open=False):
                            sde_w = Slider(0, MAX_GUIDANCE, value=2.0, step=0.25, label="guidance w")
                            sde_steps = Slider(1, T_FORWARD, value=50, step=1,
                                               label="DDIM steps over 0..T (those below t run)")
                    with gr.Column(min_width=160):
                        sde_out = gr.Image(type="pil", format="png", label="denoised from t (SDEdit)",
                                           height=VIEW_SIZE, elem_id="diffusion-sdedit", elem_classes=PIXELS,
                                           interactive=False)
                        sde_status = gr.Markdown(label="status")

        forward_args = dict(fn=ui_errors(forward_image), inputs=[x0_in, t, schedule_f, noise_seed], outputs=x_t_out)
        plot_args = dict(fn=ui_errors(schedule_view), inputs=[t, schedule_f, curve], outputs=[plot, t_info],
                         api_visibility="private", queue=False)
        # one event chain per move of t: with the plot as a second listener of t.change, the two always_last events
        # re-triggered each other while the thumb was held (a dozen requests a second at a standstill)
        t.change(**forward_args, api_name="diffusion_forward", trigger_mode="always_last",
                 queue=False).then(**plot_args)
        for widget in (schedule_f, noise_seed):
            widget.change(**forward_args, api_visibility="private", queue=False)
        # an upload is queued: a broken file is one warning and x_t stays (unqueued, it got an "Error" badge); on
        # the upload and after a dataset image is picked, not on the picture's change, which Gradio fires twice for
        # each new value (a broken upload warned twice)
        x0_last = gr.State()  # the last x_0 read: a broken upload shows it again (not a broken-image icon)
        x0_forward = dict(fn=warn_and_keep(3, restore=lambda *args: (args[-1], gr.skip(), gr.skip()))(forward_x0),
                          inputs=[x0_in, t, schedule_f, noise_seed, x0_last], outputs=[x0_in, x_t_out, x0_last],
                          api_visibility="private")
        x0_in.upload(**x0_forward)
        # a picture drawn on the server: it follows a dragged slider at no browser-side cost (a Vega line plot
        # re-rendered per step doubled the slider latency; benchmarks/bench_browser.py)
        on_open = page_open()
        gr.on([schedule_f.change, curve.change, *on_open], **plot_args, trigger_mode="always_last")
        gr.on(on_open, ui_errors(dataset_image), [world, index], x0_in, api_visibility="private",
              queue=False).success(**x0_forward)  # on page open: held-out digit 0, so x_t is there at once
        pick.click(warn_and_keep(1)(dataset_image), [world, index], x0_in, api_visibility="private").success(
            **x0_forward)
        sde_ckpt.change(class_choices, sde_ckpt, sde_label, api_visibility="private", queue=False)
        # SDEdit's model follows the dataset picked (a face denoised by the digits model came back a grey blob)
        world.change(ui_errors(sdedit_model), [world, sde_ckpt], sde_ckpt, api_visibility="private", queue=False)
        gr.on([sde_ckpt.change, schedule_f.change, world.change, *on_open], note_or_reason(sdedit_schedule_note),
              [sde_ckpt, schedule_f, world], sde_note, api_visibility="private", queue=False)

        def diffusion_sdedit(image: str, t: int = 500, seed: int = 0, checkpoint: str = DEFAULT_CHECKPOINT,
                             class_label: str = "none", guidance: float = 2.0, steps: int = 50):
            """SDEdit: noise ``image`` to step t (0..1000; 0 returns it as it is) and denoise it with ``checkpoint``
            (DDIM, eta 0)."""
            with sampling_slot():
                yield from sdedit_frames(ctx, image, t, seed, checkpoint, class_label, guidance, steps)

        # a new x_0 or t: the last denoising leaves (a 6 denoised from t = 500 stood beside a newly picked 4, the line
        # saying t = 500 beside t = 100)
        gr.on([x0_in.change, t.release], lambda: (None, ""), outputs=[sde_out, sde_status], api_visibility="private",
              queue=False)
        endpoint(sde_go.click, gpu_task(diffusion_sdedit), [x0_in, t, noise_seed, sde_ckpt, sde_label, sde_w, sde_steps],
                 [sde_out, sde_status], api_name="diffusion_sdedit", concurrency_limit=SAMPLERS_AT_ONCE,
                 concurrency_id="diffusion_sample", before=sampling_wait_line, before_output=sde_status)

    with gr.Tab("Reverse process"):
        with gr.Row():
            with gr.Column(scale=1):
                # the main button first: on a 1024x768 projector it stays on screen beside the live frames
                ckpt = checkpoint_picker(METHOD, value=DEFAULT_CHECKPOINT, elem_id="diffusion-checkpoint")
                with gr.Row():
                    go = gr.Button("Sample", variant="primary", elem_id="diffusion-sample-button", scale=3)
                    halt = gr.Button("Stop", variant="stop", elem_id="diffusion-stop-button", scale=1, min_width=70)
                note = gr.Markdown(elem_id="diffusion-checkpoint-note", label="checkpoint note")
                with gr.Row():
                    label = Dropdown([str(i) for i in range(10)] + ["none"], value="0", label="class",
                                     allow_custom_value=True, min_width=100)
                    sampler = Dropdown(list(SAMPLERS), value="ddim", label="sampler", min_width=100)
                steps = Slider(1, 1000, value=50, step=1, label="steps", elem_id="diffusion-steps")
                seed = seed_control("seed", elem_id="diffusion-seed")
                guidance = Slider(0, MAX_GUIDANCE, value=2.0, step=0.25,
                                  label="guidance w (0 none, 1 conditional, >1 guided)")
                with gr.Accordion("Advanced (defaults are the paper's)", open=False):
                    eta = Slider(0, 1, value=0.0, step=0.05, label="eta (DDIM: 0 deterministic, 1 DDPM-like)")
                    schedule_r = Dropdown([TRAINED, *SCHEDULES], value=TRAINED,
                                          label="noise schedule (trained = the checkpoint's own)")
                    guidance_type = Radio(list(GUIDANCE_TYPES), value="classifier-free", label="guidance")
            with gr.Column(scale=2):
                with gr.Row():  # x_t = sqrt(alpha-bar_t) x_0 + sqrt(1 - alpha-bar_t) eps, term by term
                    # three side by side: only a fullscreen button each, so their labels stay clear of buttons
                    live = dict(type="pil", format="png", height=VIEW_SIZE, min_width=150, buttons=["fullscreen"],
                                elem_classes=[PIXELS, ONE_BUTTON])
                    xt_view = gr.Image(label="x_t", elem_id="diffusion-live-xt", **live)
                    eps_view = gr.Image(label="predicted eps", elem_id="diffusion-live-eps", **live)
                    x0_view = gr.Image(label="predicted x_0", elem_id="diffusion-live-x0", **live)
                status = gr.Markdown(label="status", elem_id="diffusion-status")
                replay = gr.State([])
                scrub = gr.Slider(1, 2, value=1, step=1, label="replay the run: step", visible=False,
                                  elem_id="diffusion-replay")
                with gr.Row():
                    # every frame and its caption whole, no scrolling
                    strip = gr.Gallery(label="filmstrip: x_t at chosen steps", columns=5, height="auto",
                                       format="png", scale=3, elem_id="diffusion-filmstrip")
                    final = gr.Image(type="pil", format="png", label="x_0", height=170, scale=1,
                                     min_width=170, elem_id="diffusion-final", elem_classes=PIXELS,
                                     buttons=["download"])  # the exact PNG; a label that fits its column
        ckpt.change(class_choices, ckpt, label, api_visibility="private", queue=False)
        from core.diffusion.service import checkpoint_note

        gr.on([ckpt.change, *on_open], note_or_reason(checkpoint_note), ckpt, note, api_visibility="private",
              queue=False)
        def diffusion_sample(checkpoint: str = DEFAULT_CHECKPOINT, sampler: str = "ddim", steps: int = 50,
                             eta: float = 0.0, seed: int = 0, class_label: str = "0", guidance: float = 2.0,
                             schedule: str = TRAINED, guidance_type: str = "classifier-free"):
            with sampling_slot():
                yield from sample_frames(ctx, checkpoint, sampler, steps, eta, seed, class_label, guidance, schedule,
                                         guidance_type)

        # another checkpoint: the last run's views, status, filmstrip, x_0 and replay leave, all of them (its x_t
        # views and "done (ddpm-digits ...)" stayed under the new name beside an emptied filmstrip and x_0), unless
        # this page's run still runs or waits, or was made with the checkpoint now picked: then all stay, its status
        # naming its model. (A switch's events reach the server one after another: under load this one came after a
        # Sample clicked just after the switch. A new run clears them in its own chain: clear_and_wait_line.)
        sampled_with = gr.State(None)

        def forget_unless_running(request: gr.Request, checkpoint, made_with):
            if session_of(request) in STOP.asked or made_with == checkpoint:
                return (gr.skip(),) * 9
            return None, None, None, None, [], "", [], gr.update(visible=False), None

        forget = dict(fn=forget_unless_running, inputs=[ckpt, sampled_with], api_visibility="private", queue=False,
                      outputs=[xt_view, eps_view, x0_view, final, strip, status, replay, scrub, sampled_with])

        def sample_on_the_page(request: gr.Request, checkpoint, sampler, steps, eta, seed, class_label, guidance,
                               schedule, guidance_type):
            """``diffusion_sample`` on the page: its Stop ends it between two frames (``STOP``)."""
            with STOP.running(request) as stop, sampling_slot():
                if stop is None:  # (Stop pressed as it left the queue)
                    yield *[gr.skip()] * 5, "stopped before it started", gr.skip(), gr.skip()
                    return
                for frame in sample_frames(ctx, checkpoint, sampler, steps, eta, seed, class_label, guidance,
                                           schedule, guidance_type, stop=stop):
                    yield *frame, checkpoint

        run_views = [xt_view, eps_view, x0_view, final, strip, status, replay]
        sampled = endpoint(go.click, gpu_task(diffusion_sample),
                           [ckpt, sampler, steps, eta, seed, label, guidance, schedule_r, guidance_type],
                           run_views, page_outputs=[*run_views, sampled_with], api_name="diffusion_sample",
                           page_fn=gpu_task(sample_on_the_page), concurrency_limit=SAMPLERS_AT_ONCE,
                           concurrency_id="diffusion_sample", check=STOP.ask, before=clear_and_wait_line,
                           before_output=[status, replay, scrub, strip, final])
        sampled.then(replay_slider, replay, scrub, api_visibility="private", queue=False)
        gr.on(on_open, opened(ctx), outputs=[xt_view, eps_view, x0_view, final, strip, status, replay, scrub],
              api_visibility="private", queue=False)
        # Stop: a long run (DDPM's 1000 steps) ends after its step, its frames kept; one waiting for a sampler leaves
        STOP.bind(halt, sampled, status, "diffusion-sample-button")
        scrub.input(ui_errors(replay_step), [replay, scrub], [xt_view, eps_view, x0_view, status],
                    api_visibility="private", queue=False, trigger_mode="always_last", show_progress="hidden")
        ckpt.change(**forget)

    with gr.Tab("Compare samplers"):
        from demos.diffusion_compare import build_compare

        ckpt_c = build_compare(ctx)

    training_panel(ctx, METHOD, ["dataset", "steps", "batch_size", "lr"],
                   advanced=["resolution", "schedule", "prediction_type", "channels", "label_dropout",
                             "noisy_classifier", "eval_samples"],
                   defaults={"steps": 300, "sample_every": 50, "num_samples": 20, "eval_samples": 100,
                             "eval_steps": 20, "sample_steps": 20}, pickers=(ckpt, ckpt_c))


if __name__ == "__main__":
    run_standalone(build, TITLE)
