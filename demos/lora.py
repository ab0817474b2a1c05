"""LoRA personalization: teach a text-to-image model a new concept from a few images; compare with the base.

A view over ``core.lora.service``; it loads no model until used.
"""

from __future__ import annotations

import re
import threading
import time

import gradio as gr

from core.engine import MAX_SEED
from core.engine.hosting import gpu_task
from demos import lora_training as training
from demos.common import (AppContext, Dropdown, ImageFile, Number, Slider, endpoint, opening_view, page_open,
                          run_standalone, seed_control, visitor_of, warn_and_keep)
from demos.page import reveal_js, since_click_js
from demos.training_queue import LastLine, overtaken_cancel, queue_leaver, waiting_timer

TITLE = "LoRA"
DEFAULT_ADAPTER = "purple-circle-lora"
DEFAULT_PROMPT = "a sks circle"
NOT_YOURS = "Delete (yours only)"  # the button's label on a shared adapter, which the app does not delete
TRY = """
1. Tick **use the built-in example** (purple circles: the base model has never seen one) and press **Train**.
2. When it finishes, **Generate base and personalised** with the trigger word in the prompt.
3. Move the **LoRA scale** from 0 to 1: the concept fades in.
"""
TRY_NO_TRAIN = """
1. Pick the adapter **purple-circle-lora** (taught purple circles, which the base model has never seen) and press
   **Generate base and personalised**.
2. Move the **LoRA scale** from 0 to 1: the concept fades in.
3. Pick **purple-circle-ti** (textual inversion: only one new word's embedding was learnt) and compare.
(This server does not train for visitors; on your own machine `python app.py` teaches your own adapters.)
"""
ABOUT = """**LoRA personalization.** Teach the text-to-image model a concept it has never seen from 3-20 images and a
rare trigger word: [LoRA (Hu et al. 2022)](https://arxiv.org/abs/2106.09685) trains a low-rank update of the UNet's
attention projections, DreamBooth-style ([Ruiz et al. 2023](https://arxiv.org/abs/2208.12242)), optionally with prior
preservation; [textual inversion (Gal et al. 2023)](https://arxiv.org/abs/2208.01618) learns only a new word's
embedding. Adapters are saved in diffusers' formats (`pytorch_lora_weights.safetensors`,
`learned_embeds.safetensors`), so `pipe.load_lora_weights` / `pipe.load_textual_inversion` read them."""

METHOD = "lora"


def warm_up(ctx: AppContext) -> None:
    """Load the base pipeline before the first visitor asks (``python app.py`` does, in the background), and draw the
    pair the Compare side opens on: the default adapter's base and personalised images for the page's opening
    settings (its prompt, seed 0, scale 1), so that it opens on the lesson (two empty boxes before)."""
    training.tab_pipeline(ctx, training.BASE)
    from core.lora.service import list_adapters

    if DEFAULT_ADAPTER in list_adapters():
        base, personal, line = generate_frames(ctx, "", DEFAULT_ADAPTER, DEFAULT_PROMPT, 1.0, 0, "", 0.5)
        ctx.openings[METHOD] = (base, personal, f"{line} · drawn when the app started, with the settings shown")


def generate_frames(ctx, session, adapter, prompt, scale, seed, second_adapter, second_weight, fuse=False):
    """(base image, personalised image, line) for one prompt and seed; ``fuse`` merges LoRA into the weights."""
    from core.lora.service import adapter_folder, base_prompt, generate_pair, read_meta
    from core.text2image.text_encoders import tokens_beyond_limit
    from core.text2image.views import md_escape, to_pil

    if not adapter:
        raise ValueError("choose an adapter (train one on the left, or pick a shared one)")
    folder = adapter_folder(adapter, session)
    meta = read_meta(folder)
    adapters = [(folder, scale)]
    if second_adapter:
        if second_adapter == adapter:
            raise ValueError("the second adapter is the first one: choose another, or none")
        try:
            adapters.append((adapter_folder(second_adapter, session), second_weight))
            second_meta = read_meta(adapters[-1][0])
        except ValueError as exc:
            raise ValueError(f"second adapter: {exc}") from None
        if second_meta.get("base") != meta["base"]:
            raise ValueError(f"{adapter} and {second_adapter} were trained on different base models "
                             f"({meta['base']}, {second_meta.get('base')}): only adapters of one model combine")
    if fuse not in (True, False):
        raise ValueError(f"fuse must be true or false, got {fuse!r}")
    started = time.perf_counter()
    pipe = training.tab_pipeline(ctx, meta["base"])
    base, personal = generate_pair(pipe, meta["base"], adapters, prompt, seed, fuse=fuse)
    seconds = time.perf_counter() - started
    how = (f"LoRA scale {scale:g}" if meta["method"] == "lora" else "textual inversion: the new token "
           f"`{meta['token']}` (the base reads '{meta['class_word']}' there)")
    line = f"{adapter} on {meta['base']}: {how}"
    if len(adapters) > 1 and second_meta["method"] == "lora":
        line += f", combined with {second_adapter} at weight {second_weight:g}"
    elif len(adapters) > 1:
        line += (f", combined with {second_adapter}, a textual-inversion adapter: its new word is used whole "
                 "(the weight does not apply)")
    if len(adapters) > 1 and second_meta["method"] != "lora":
        # (a second, textual-inversion adapter changed the base image, unexplained; a first one says so in `how`)
        plain = base_prompt(str(prompt or ""), [meta, second_meta])
        if plain != str(prompt or ""):
            line += (f" · the base image reads \"{md_escape(plain)}\": a textual-inversion word is new to the base "
                     "model, which reads its class word there")
    if not str(prompt or "").strip():
        line += f" · **the prompt is empty**: write the trigger word '{meta['trigger']}' in it for the adapter to act"
    elif not re.search(rf"\b{re.escape(meta['trigger'])}\b|{re.escape(meta['token'])}", prompt, re.IGNORECASE):
        line += f" · **the prompt does not contain the trigger word '{meta['trigger']}'**: the adapter has little to act on"
    if fuse and meta["method"] == "lora":
        line += " · fused into the UNet's weights for this image (W + scale B A), then taken out again"
    elif meta["method"] != "lora" and (scale != 1 or fuse):
        line += (" · the LoRA scale and fuse do not apply to a textual-inversion adapter (a new word, used whole): "
                 "the image is the same at any scale")
    cut = tokens_beyond_limit(training.tab_pipeline(ctx, meta["base"]).tokenizer, prompt)
    if cut:
        line += f" · **the prompt was truncated**: {cut} token(s) beyond the encoder's limit were ignored"
    return to_pil(base, 256), to_pil(personal, 256), f"{line}; seed {seed}; both images in {seconds:.1f} s"


def build(ctx: AppContext) -> None:
    from core.lora.service import MAX_STEPS, list_adapters
    from core.lora.train import METHODS
    from core.text2image.service import list_models

    gr.Markdown("Teach the model something new from a few pictures, then compare base and personalised images for the "
                "same prompt and seed. Your adapters stay yours unless you put them on the shared list.")
    models = list_models()
    with gr.Row():
        with gr.Column(scale=1):
            gr.Markdown("**1 · Teach**" + ("" if ctx.allow_train else
                                           " (switched off on this server, `--no-train`: compare the adapters on the right)"))
            files = ImageFile(file_count="multiple", label="3-20 images", height=120)
            use_example = gr.Checkbox(True, label="no images? the built-in example: purple circles (held out of the "
                                                  "base model's training)")
            with gr.Row():
                trigger = gr.Textbox("sks", label="trigger word", min_width=80)
                class_word = gr.Textbox("circle", label="class word", min_width=80)
                method = Dropdown(list(METHODS), value="lora", label="method", min_width=120)
            with gr.Row():
                steps = Slider(1, MAX_STEPS, value=300, step=1, label="steps", elem_id="lora-steps")
                rank = Slider(1, 64, value=4, step=1, label="LoRA rank")
            with gr.Row():
                prior = gr.Checkbox(False, label="prior preservation")
                seed_t = Number(0, label="seed", precision=0, minimum=0, maximum=MAX_SEED, min_width=80)
                first = training.BASE if training.BASE in models else (models[0] if models else None)
                model = Dropdown(models, value=first,
                                 label="base model", min_width=180, scale=2,  # its name clear of the arrow
                                 allow_custom_value=True)  # a model trained since the app started (checked on use)
            text_lora = gr.Checkbox(False, label="LoRA: also train the text encoder (a LoRA on its attention)")
            token = gr.Textbox(label="admin token (this public server trains and shares only with it)",
                               type="password", visible=ctx.public)
            with gr.Row():
                train = gr.Button("Train", variant="primary", interactive=ctx.allow_train, min_width=90,
                                  elem_id="lora-train")
                more = gr.Button("Train more", interactive=ctx.allow_train, elem_id="lora-more", min_width=90)
                stop = gr.Button("Cancel", variant="stop", min_width=90)
                since_train = gr.Number(-1, elem_classes="genlab-hidden")  # (ms since Train, measured in the page)
            gr.Markdown("*Train more*: the adapter picked on the right trains *steps* more, on its own images and "
                        "settings, from where it stopped.")
            status = gr.Markdown(label="status")
            plot = gr.LinePlot(x="step", y="loss", label="loss", x_title="step")  # no height: a sized chart cut its
            # step labels off (as in the Train panels)
            shots = gr.Gallery(label="validation (newest first) and instances", columns=4, height=180, format="png")
        with gr.Column(scale=1):
            gr.Markdown("**2 · Compare**")
            shared = list_adapters()
            default = DEFAULT_ADAPTER if DEFAULT_ADAPTER in shared else (shared[0] if shared else "")
            adapter = Dropdown(shared or [""], value=default, label="adapter",  # "" only when there is none
                               allow_custom_value=True, elem_id="lora-adapter")
            note = gr.Markdown(elem_id="lora-adapter-note", label="adapter note")
            with gr.Row():
                prompt = gr.Textbox(DEFAULT_PROMPT, label="prompt (use the trigger word)", scale=3)
                seed = seed_control("seed", elem_id="lora-seed")
            # the button, the two images and the scale that changes them share one screen (1024x768 projector)
            go = gr.Button("Generate base and personalised", variant="primary", elem_id="lora-generate")
            with gr.Row():
                before = gr.Image(type="pil", format="png", label="base", height=256, interactive=False,
                                  elem_id="lora-base")
                after = gr.Image(type="pil", format="png", label="personalised", height=256, interactive=False,
                                 elem_id="lora-personalised")
            scale = Slider(0, 1.5, value=1.0, step=0.05,
                           label="LoRA scale (0 = the base image; redraws when let go, or on Enter)",
                           elem_id="lora-scale")
            with gr.Accordion("combine with a second adapter", open=False):
                with gr.Row():
                    second = Dropdown([""] + shared, value="", label="second adapter", allow_custom_value=True)
                    second_weight = Slider(0, 1.5, value=0.5, step=0.05, label="its weight")
            fuse = gr.Checkbox(False, label="fuse the LoRA into the weights (W + scale B A): the same image, no extra "
                                            "products per layer; taken out again afterwards", elem_id="lora-fuse")
            line = gr.Markdown(label="status")
            with gr.Row():
                # off until one's own adapter is picked (the first view shows a shared one)
                share = gr.Button("Put on the shared list", interactive=False, elem_id="lora-share")
                delete = gr.Button(NOT_YOURS, variant="stop", interactive=False, elem_id="lora-delete")
                download = gr.Button("Download", elem_id="lora-download")
            file_out = gr.File(label="adapter file", interactive=False, height=80, elem_id="lora-adapter-file",
                               visible=False)  # shown with a file (empty, it was a 250 px drop area)

    def lora_train(request: gr.Request, images: list | None = None, trigger: str = "sks",
                   method: str = "lora", class_word: str = "circle", steps: int = 300, rank: int = 4,
                   prior_preservation: bool = False, seed: int = 0, use_example: bool = True,
                   model: str = training.BASE, admin_token: str | None = None, train_text_encoder: bool = False):
        with training.its_turn(visitor_of(request)):
            yield from training.train_frames(ctx, visitor_of(request), images, trigger, method, class_word, steps,
                                             rank, prior_preservation, seed, use_example, model, admin_token,
                                             train_text_encoder)

    last_line = LastLine()  # (a Cancel's answer can reach the page after the run's last line under load)

    def lora_train_on_the_page(request: gr.Request, images, trigger, method, class_word, steps, rank,
                               prior_preservation, seed, use_example, model, admin_token, train_text_encoder):
        """``lora_train`` for the page: its loss chart's x axis spans the run (the training panels' reason)."""
        from demos.training_panel import over_the_whole_run

        for status, chart, *rest in last_line.follow(request, lora_train(
                request, images, trigger, method, class_word, steps, rank, prior_preservation, seed, use_example, model,
                admin_token, train_text_encoder)):
            yield status, over_the_whole_run(chart, steps), *rest

    def lora_continue(request: gr.Request, adapter: str = DEFAULT_ADAPTER, steps: int = 300,
                      admin_token: str | None = None):
        with training.its_turn(visitor_of(request)):
            yield from training.continue_frames(ctx, visitor_of(request), adapter, steps, admin_token)

    def lora_continue_on_the_page(request: gr.Request, adapter, steps, admin_token):
        """``lora_continue`` for the page: its loss chart's x axis spans the adapter's steps before and after the run
        (fitted to the steps so far, it stretched at every frame)."""
        from demos.training_panel import over_the_whole_run

        end = training.steps_after(visitor_of(request), adapter, steps)
        for status, chart, *rest in last_line.follow(request, lora_continue(request, adapter, steps, admin_token)):
            yield status, chart if end is None else over_the_whole_run(chart, end), *rest

    def lora_generate(request: gr.Request, adapter: str = DEFAULT_ADAPTER, prompt: str = DEFAULT_PROMPT,
                      scale: float = 1.0, seed: int = 0, second_adapter: str = "", second_weight: float = 0.5,
                      fuse: bool = False):
        return generate_frames(ctx, visitor_of(request), adapter, prompt, scale, seed, second_adapter, second_weight,
                               fuse)

    def stop_training(request: gr.Request, since_click_ms=None):
        return training.stop(visitor_of(request), since_click_ms)

    def choices(request: gr.Request):
        names = list_adapters(visitor_of(request))
        return gr.update(choices=names or [""]), gr.update(choices=[""] + names)  # the second: "" is none

    def share_it(request: gr.Request, name, admin_token):
        from core.engine.hosting import check_admin
        from core.lora.service import share_adapter

        check_admin(ctx.public, admin_token, "putting an adapter on the shared list")
        return f"{share_adapter(name, visitor_of(request))} is on the shared list for everyone"

    def delete_it(request: gr.Request, name):
        from core.lora.service import delete_adapter

        delete_adapter(name, visitor_of(request))  # (its file leaves the download box too)
        return (f"deleted **{name}**", gr.update(choices=list_adapters(visitor_of(request)), value=None),
                gr.update(value=None, visible=False))

    def download_it(request: gr.Request, name):
        from core.lora.service import LORA_FILE, TI_FILE, adapter_folder

        folder = adapter_folder(name, visitor_of(request))
        return gr.update(value=next(str(folder / f) for f in (LORA_FILE, TI_FILE) if (folder / f).is_file()),
                         visible=True)

    def waits(request: gr.Request):
        """At the click, before the queue (no outputs: a refusal put a red "Error" badge on them): a visitor whose
        own run trains or waits is refused (it would queue behind it); otherwise the page's run waits for the
        training slot from here (Cancel takes it out of the queue)."""
        from demos.training_queue import refuse

        session = visitor_of(request)
        if session in training.TRAINING:
            refuse("your adapter is training: wait for it, or Cancel it (what it learnt is saved), then press again")
        if session in training.WAITING:
            refuse("your run is waiting for the training slot already: Cancel it first")
        cancel = training.CANCELS.setdefault(session, threading.Event())
        cancel.clear()  # (a Cancel of an earlier run's wait)
        if overtaken_cancel(session, "lora"):  # (a Cancel pressed right after this click, there first)
            cancel.set()
        training.WAITING.add(session)

    def waiting_line():
        """The status says which run holds the training slot, as the training panels' does, or that the run starts."""
        from demos.training_queue import slot_wait_line

        # (the timer runs until the run starts: the training panels' reason; the line said nothing while the base
        # model loaded, 8 s on a cold server)
        return slot_wait_line() or "starting: loading the base model and the images…", gr.Timer(active=True)

    timer = waiting_timer(status, lambda request: visitor_of(request) in training.WAITING)
    taught = endpoint(train.click, gpu_task(lora_train, duration=300),
                      [files, trigger, method, class_word, steps, rank, prior, seed_t, use_example, model, token,
                       text_lora], [status, plot, shots, adapter], api_name="lora_train", concurrency_limit=1,
                      page_fn=gpu_task(lora_train_on_the_page, duration=300), concurrency_id="train", check=waits,
                      before=waiting_line, before_output=[status, timer])
    taught_more = endpoint(more.click, gpu_task(lora_continue, duration=300), [adapter, steps, token],
                           [status, plot, shots, adapter], api_name="lora_continue", concurrency_limit=1,
                           page_fn=gpu_task(lora_continue_on_the_page, duration=300), concurrency_id="train",
                           check=waits, before=waiting_line, before_output=[status, timer])

    def adapter_info(request: gr.Request, name):
        from core.lora.service import adapter_folder, adapter_note

        if not name:
            return "Train an adapter on the left, or pick one."
        try:
            return adapter_note(adapter_folder(name, visitor_of(request)))
        except Exception as exc:  # an unknown or unreadable adapter: one line, nothing else changes
            return f"{exc}"

    def show_what_it_learnt(request: gr.Request, name, said, scale, seed):
        """Once a run has saved its adapter, the comparison draws it with its own prompt ("a sks circle"), set in the
        prompt box (the two images were emptied, the line saying to press Generate: in class the pictures seemed to
        vanish); nothing when the run saved nothing."""
        from core.lora.service import adapter_folder, read_meta

        if not name or f"saved **{name}**" not in str(said or ""):  # ("nothing was saved" names no adapter)
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        meta = read_meta(adapter_folder(name, visitor_of(request)))
        asked = f"a {meta['token']} {meta['class_word']}"
        return *lora_generate(request, name, asked, scale, seed), asked

    for event in (taught, taught_more):  # the note too: an adapter trained further keeps its name (no change event)
        event.then(last_line.put_back, outputs=status, api_visibility="private", queue=False)
        event.then(choices, outputs=[adapter, second], api_visibility="private").then(
            adapter_info, adapter, note, api_visibility="private", queue=False)
        event.then(warn_and_keep(4)(gpu_task(show_what_it_learnt)), [adapter, status, scale, seed],
                   [before, after, line, prompt], api_visibility="private", concurrency_limit=2,
                   concurrency_id="lora_generate")
    model.focus(lambda: gr.update(choices=list_models()), outputs=model, api_visibility="private", queue=False)
    # the box follows the uploads: ticked when there are none (the example is what it learns), cleared when there are
    files.change(lambda f: not f, files, use_example, api_visibility="private", queue=False)
    # a run still waiting for the slot leaves Gradio's queue (a training one is not in it: it stops and saves)
    stop.click(stop_training, since_train, status, api_visibility="private", queue=False,
               js=since_click_js(["lora-train", "lora-more"], 0)).then(
        queue_leaver([taught, taught_more]), api_visibility="private", queue=False)
    endpoint(go.click, gpu_task(lora_generate), [adapter, prompt, scale, seed, second, second_weight, fuse],
             [before, after, line], api_name="lora_generate", concurrency_limit=2,
             js=reveal_js("lora-generate", "lora-scale"))  # (the button is low on the first view: the images below)
    scale.release(warn_and_keep(3)(gpu_task(lora_generate)), [adapter, prompt, scale, seed, second, second_weight,
                  fuse], [before, after, line], api_visibility="private", concurrency_limit=2,
                  concurrency_id="lora_generate", trigger_mode="always_last")

    gr.on([adapter.change, *page_open()],
          adapter_info, adapter, note, api_visibility="private", queue=False)
    gr.on(page_open(), opening_view(ctx, METHOD, 3), outputs=[before, after, line], api_visibility="private",
          queue=False)

    def own_controls(request: gr.Request, name):
        """Delete and Put on the shared list apply to the visitor's own adapters only: off, and saying so, on a
        shared one (a click gave a warning after the fact)."""
        from core.lora.service import adapter_folder, is_own

        try:
            own = bool(name) and is_own(adapter_folder(name, visitor_of(request)), visitor_of(request))
        except ValueError:  # (a name typed that is no adapter: Generate says so)
            own = False
        return gr.update(interactive=own), gr.update(value="Delete" if own else NOT_YOURS, interactive=own)

    gr.on([adapter.change, *page_open()], own_controls, adapter, [share, delete], api_visibility="private",
          queue=False)

    def picked(name):
        """Another adapter: the last images, their line (naming the old one) and its file leave the screen; none
        picked (one deleted) leaves the line that says so (it was emptied at once)."""
        return (None, None, f"{name}: press *Generate* to compare it with its base model" if name else gr.skip(),
                gr.update(value=None, visible=False))

    adapter.change(picked, adapter, [before, after, line, file_out], api_visibility="private", queue=False)
    adapter.focus(choices, outputs=[adapter, second], api_visibility="private", queue=False)
    second.focus(choices, outputs=[adapter, second], api_visibility="private", queue=False)
    # a refused share, delete or download: one warning toast; the picker and the status line stay on screen (an
    # error would cover them with red badges)
    share.click(warn_and_keep(1)(share_it), [adapter, token], line, api_visibility="private")

    from gradio.context import Context

    if Context.root_block is not None:  # a visitor's adapters stay with their browser (remember_visitors), deleted
        from core.lora.service import sweep_sessions  # a day after their last use

        Context.root_block.unload(sweep_sessions)
    delete.click(warn_and_keep(3)(delete_it), adapter, [line, adapter, file_out], api_visibility="private")
    download.click(warn_and_keep(1)(download_it), adapter, file_out, api_visibility="private")


if __name__ == "__main__":
    run_standalone(build, TITLE)
