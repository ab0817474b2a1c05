"""StyleGAN tab: seeds A and B, style mixing over coarse / middle / fine layers, truncation, noise,
interpolation, the paper's mixing grid, projection of your own image, and training.

A view over ``core.stylegan.service``; it loads no model until used.
"""

from __future__ import annotations

import functools
import inspect

import gradio as gr
from gradio.context import Context

from core.stylegan.service import (METHOD, PRESETS, all_views, checkpoint_note, crossover_markdown, generate_image,
                                   grid_image, interpolation_gif, layer_layout, mix_image, mix_projection,
                                   preset_layers, preset_of_layers, project_stream, recommended_preset)

from core.engine import resolve_checkpoint
from core.engine.hosting import gpu_task
from demos.common import (AppContext, Radio, ImageUpload, Number, PIXELS, Slider, checkpoint_picker, endpoint,
                          note_or_reason, page_open, run_standalone, seed_control, session_of, training_panel, ui_errors,
                          warn_and_keep)

TITLE = "StyleGAN"
TRY = """
1. Change **Seed A** and **Seed B**: each seed is a new face; the third image takes some of B's styles.
2. Choose **coarse** in "take from B": the mix gets B's pose and head shape; choose **fine**: only colours.
3. Drag **truncation psi** towards 0: every face moves towards the average face (less variety, fewer glitches).
"""
ABOUT = """**StyleGAN: style mixing and truncation.** A mapping network turns a random z into an intermediate latent
w, and every layer of the synthesis network reads its own copy of w through modulated convolutions
([Karras et al. 2019, StyleGAN](https://arxiv.org/abs/1812.04948);
[Karras et al. 2020, StyleGAN2](https://arxiv.org/abs/1912.04958)).
Taking the w of some layers from another seed *mixes styles*: in the paper's 1024 px faces the coarse layers
(4-8 px) carry pose and head shape, the middle ones (16-32 px) features, the fine ones (64 px and up) colour and
texture. The truncation trick pulls w towards its average (psi 0 = the mean face). Projection optimises w to
reproduce your own image (StyleGAN2 §5; [Abdal et al. 2019, Image2StyleGAN](https://arxiv.org/abs/1904.03189) for w+).
Training uses the non-saturating loss with lazy R1 ([Mescheder et al. 2018](https://arxiv.org/abs/1801.04406)) and
[DiffAugment (Zhao et al. 2020)](https://arxiv.org/abs/2006.10738)."""

DEFAULT_CHECKPOINT = "stylegan-faces64-wide"  # the one whose mixing shows the paper's split (model cards)

PSI_INFO = ("w' = w_avg + psi (w - w_avg). psi 1 = no truncation; psi 0 gives the mean face (w_avg) for "
            "every seed; psi < 0 gives the 'anti-face' on the other side of the mean.")


# ---------------------------------------------------------------- the tab
# per open page session: how many dropped files were read as images: a projection under way stops at its next step
# once it changes (the step of the last image's projection came in beside a new image); forgotten as the page closes
IMAGES_READ: dict[str, int] = {}


def readable_upload(request: gr.Request, image, _last):
    """(the box, the last image read, then the projection's input, image, mix, status, w and checkpoint, emptied: they
    were of the last image) after an upload: ValueError for a file that is no readable image."""
    from core.data import open_image

    open_image(image, draft_size=256)
    session = session_of(request)
    IMAGES_READ[session] = IMAGES_READ.get(session, 0) + 1
    return gr.skip(), image, None, None, None, "", None, None


def forget_images_read(request: gr.Request) -> None:
    """As a page closes: its count in :data:`IMAGES_READ` goes."""
    IMAGES_READ.pop(session_of(request), None)


def projection_on_the_page(project):
    """``project`` (``project_stream`` bound to the app) for the page: each step's views, w and checkpoint, until the
    page reads another image (:data:`IMAGES_READ`); then outputs left as they are."""

    def project_on_the_page(request: gr.Request, checkpoint, image, space, steps):
        session = session_of(request)
        read = IMAGES_READ.get(session)
        for outputs in project(checkpoint, image, space, steps):
            if IMAGES_READ.get(session) != read:  # (the run's last message repeats its last outputs: none)
                yield (gr.skip(),) * 5
                return
            yield *outputs, checkpoint

    return project_on_the_page


def made_with(fn):
    """``fn`` (its first argument a checkpoint) returning its outputs and, last, that checkpoint: what
    :func:`forget_the_last_model` compares with the one picked."""

    def made(checkpoint, *args):
        outputs = fn(checkpoint, *args)
        return *(outputs if isinstance(outputs, tuple) else (outputs,)), checkpoint

    made.__name__ = getattr(getattr(fn, "func", fn), "__name__", "made")  # (a partial: its function's, for the log)
    made.__signature__ = inspect.signature(fn)
    return made


def forget_the_last_model(checkpoint, grid_of, gif_of, projection_of, ws):
    """At a checkpoint switch: empty the views made with another checkpoint (``*_of``: the one each was made with):
    the grid and its note, the GIF, the projection with its mix and w, and what each was made with; the status says
    why when there was a projection (its w belongs to that generator). A view made with the checkpoint now picked
    stays: a switch's handlers reach the server one after another, so under load this one came after a Project
    clicked just after the switch and emptied the new checkpoint's projection as if it were the last one's."""
    keep = gr.skip()
    grid = (keep,) * 3 if grid_of == checkpoint else (None, "", None)  # the grid, its note, its checkpoint
    gif = (keep,) * 2 if gif_of == checkpoint else (None, None)
    if projection_of == checkpoint:  # the projection, its mix, status, w and checkpoint
        return *grid, *gif, *(keep,) * 5
    said = "" if ws is None else "the projection was made with the last checkpoint: press *Project* for this one"
    return *grid, *gif, None, None, said, None, None


def build(ctx: AppContext) -> None:
    gr.Markdown("Pick two seeds: the mix keeps A's w on every layer except the checked ones, which take B's w. "
                "Early layers carry pose and head shape, later ones the colours; the note says where this model "
                "splits them.")
    # a 1024 x 768 projector's first view: A, B and the mix side by side and aligned, each under its control (the
    # seeds, the checkpoint), the note and the split's controls under them (the faces began below the first view)
    with gr.Row():
        with gr.Column(min_width=240):
            seed_a = seed_control("Seed A", value=1, elem_id="stylegan-seed-a")
            img_a = gr.Image(label="A", format="png", type="pil", height=256, elem_id="stylegan-image-a",
                             elem_classes=PIXELS, interactive=False)
        with gr.Column(min_width=240):
            seed_b = seed_control("Seed B", value=2, elem_id="stylegan-seed-b")
            img_b = gr.Image(label="B", format="png", type="pil", height=256, elem_id="stylegan-image-b",
                             elem_classes=PIXELS, interactive=False)
        with gr.Column(min_width=240):
            picker = checkpoint_picker(METHOD, value=DEFAULT_CHECKPOINT, elem_id="stylegan-checkpoint")
            img_mix = gr.Image(label="A with B's styles", format="png", type="pil", height=256,
                               elem_id="stylegan-image-mix", elem_classes=PIXELS, interactive=False)
    first_preset = recommended_preset(picker.value)
    note = gr.Markdown(checkpoint_note(picker.value, first_preset), elem_id="stylegan-checkpoint-note",
                       label="checkpoint note")
    choices, groups, num_ws = layer_layout(picker.value)
    with gr.Row():
        preset = Radio(list(PRESETS), value=first_preset, label="take from B", elem_id="stylegan-preset", scale=1)
        layers = gr.CheckboxGroup(choices=choices, value=groups[first_preset], label="layers that take B's w",
                                  info="w_k: the style input of layer k, and the resolution it acts on",
                                  elem_id="stylegan-layers", scale=2)
    layers_api = gr.JSON(value=groups[first_preset], visible=False,  # what the endpoint reads (any checkpoint)
                         label="layers taken from seed B (indices k of w_k)")
    psi = Slider(-1.0, 1.5, value=1.0, step=0.05, label="truncation psi", info=PSI_INFO, elem_id="stylegan-psi")
    with gr.Accordion("Advanced (defaults: truncate every layer; the stored noise)", open=False):
        with gr.Row():
            cutoff = Slider(0, num_ws, value=0, step=1, label="truncation layer cutoff",
                            info=f"truncate only layers < cutoff (0 = all {num_ws} layers)", elem_id="stylegan-cutoff")
            noise_mode = Radio(["const", "random", "none"], value="const", label="noise inputs",
                               info="const: the stored noise images; random: drawn from the noise seed; none: off")
            noise_seed = Number(value=0, precision=0, minimum=0, maximum=2**32 - 1, label="noise seed")

    common = [psi, cutoff, noise_mode, noise_seed]
    # up to 16 requests enter at once, so a classroom's requests meet in one batched forward pass (MicroBatcher)
    batched = dict(concurrency_limit=16, concurrency_id="stylegan_generate", trigger_mode="always_last",
                   show_progress="hidden")
    endpoint(seed_a.change, functools.partial(generate_image, ctx), [picker, seed_a, *common], img_a,
             api_name="stylegan_generate", **batched)
    seed_b.change(warn_and_keep(1)(functools.partial(generate_image, ctx)), inputs=[picker, seed_b, *common],
                  outputs=img_b, api_visibility="private", **batched)
    endpoint([seed_a.change, seed_b.change, layers_api.change], functools.partial(mix_image, ctx),
             [picker, seed_a, seed_b, layers_api, *common], img_mix, api_name="stylegan_mix",
             trigger_mode="always_last", show_progress="hidden")
    # controls that change all three views: one request, one batched forward pass
    # .change, not .release: a value typed and confirmed with Enter, or moved with the arrow keys, redraws too
    # (always_last keeps one request in flight while dragging; concurrent ones share a batch)
    # the first view comes when the page opens (the model loads then, not at build)
    view_triggers = [picker.change, psi.change, cutoff.change, noise_mode.change, noise_seed.change, *page_open()]
    gr.on(view_triggers, warn_and_keep(3)(functools.partial(all_views, ctx)),  # a bad checkpoint: one warning
          inputs=[picker, seed_a, seed_b, layers_api, *common], outputs=[img_a, img_b, img_mix],
          api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    layers.change(lambda v: v, inputs=layers, outputs=layers_api, api_visibility="private", queue=False)
    # a layer ticked by hand selects the preset it now equals, or none
    layers.input(preset_of_layers, inputs=[picker, layers], outputs=preset, api_visibility="private", queue=False)
    preset.input(ui_errors(preset_layers), inputs=[picker, preset], outputs=layers, api_visibility="private",
                 queue=False)

    def relayout(name):  # a new checkpoint opens on its own cleanest split; a typed name that is none changes nothing
        resolve_checkpoint(METHOD, name)  # (new layers would redraw the mix for it: an Error toast beside the warning)
        new_choices, new_groups, n = layer_layout(name)
        chosen = recommended_preset(name)
        return (checkpoint_note(name, chosen), gr.update(choices=new_choices, value=new_groups[chosen]), chosen,
                gr.update(maximum=n, value=0, info=f"truncate only layers < cutoff (0 = all {n} layers)"))

    picker.change(note_or_reason(relayout, keep=3), inputs=picker, outputs=[note, layers, preset, cutoff],
                  api_visibility="private", queue=False)
    preset.input(checkpoint_note, inputs=[picker, preset], outputs=note, api_visibility="private", queue=False)

    with gr.Accordion("What each layer decides (measured crossover)", open=False):
        crossover = gr.Markdown(crossover_markdown(picker.value), elem_id="stylegan-crossover", label="crossover")
    picker.change(crossover_markdown, inputs=picker, outputs=crossover, api_visibility="private", queue=False)

    with gr.Accordion("Mixing grid (the paper's figure 3)", open=False):
        with gr.Row():
            row_seeds = gr.Textbox(value="1, 2, 3, 4", label="seeds A (rows, 1-5)")
            col_seeds = gr.Textbox(value="5, 6, 7, 8", label="seeds B (columns, 1-5)")
            grid_btn = gr.Button("Draw grid", variant="primary")
        grid = gr.Image(label="mixing grid", format="png", type="pil", interactive=False)
        grid_note = gr.Markdown(label="grid note")
        grid_of = gr.State(None)  # the checkpoint the grid was made with
        grid_fn = functools.partial(grid_image, ctx)
        endpoint(grid_btn.click, grid_fn, [picker, row_seeds, col_seeds, layers_api, *common], [grid, grid_note],
                 api_name="stylegan_grid", api_visibility="undocumented", page_fn=made_with(grid_fn),
                 page_outputs=[grid, grid_note, grid_of])

    with gr.Accordion("Interpolation (animated GIF)", open=False):
        with gr.Row():
            space = Radio(["z", "w"], value="w", label="space",
                          info="z: interpolate the input noise; w: interpolate after the mapping network")
            method = Radio(["lerp", "slerp"], value="lerp", label="path",
                           info="slerp follows the sphere; natural for Gaussian z")
            frames = Slider(4, 60, value=24, step=1, label="frames")
            interp_btn = gr.Button("Make GIF A -> B", variant="primary")
        gif = gr.Image(label="A -> B -> A", type="filepath", interactive=False, height=280)
        gif_of = gr.State(None)  # the checkpoint the GIF was made with
        gif_fn = functools.partial(interpolation_gif, ctx)
        endpoint(interp_btn.click, gif_fn,
                 [picker, seed_a, seed_b, space, method, frames, psi, noise_mode, noise_seed, cutoff], gif,
                 api_name="stylegan_interpolate", api_visibility="undocumented", page_fn=made_with(gif_fn),
                 page_outputs=[gif, gif_of])

    with gr.Accordion("Project your own image", open=False):
        gr.Markdown("Optimises w (one for all layers) or w+ (one per layer) so that the generator reproduces "
                    "your image; any size or mode is converted to the model's square RGB input. Then mix the "
                    "projection with seed B on the checked layers.")
        with gr.Row():
            upload = ImageUpload(label="your image", sources=["upload", "clipboard"], height=220, elem_classes=PIXELS,
                                 elem_id="stylegan-your-image")
            # short labels (a three-line one pushed its image below the others), the same crisp 224 px as the upload
            proj_target = gr.Image(label="input", format="png", interactive=False, elem_classes=PIXELS)
            proj_image = gr.Image(label="projection", format="png", interactive=False, elem_classes=PIXELS,
                                  elem_id="stylegan-projection")
            proj_mix = gr.Image(label="mixed", format="png", interactive=False, elem_classes=PIXELS,
                                elem_id="stylegan-projection-mix")
        with gr.Row():
            proj_space = Radio(["w", "w+"], value="w+", label="latent space")
            proj_steps = Slider(20, 500, value=150, step=10, label="optimisation steps",
                                elem_id="stylegan-projection-steps")
            proj_btn = gr.Button("Project", variant="primary", elem_id="stylegan-project")
            proj_mix_btn = gr.Button("Mix projection with seed B", elem_id="stylegan-project-mix")
        proj_status = gr.Markdown(label="status", elem_id="stylegan-projection-status")
        proj_ws = gr.State(None)
        proj_of = gr.State(None)  # the checkpoint the projection was made with
        # a new projection's mix is made from it: the last one's leaves (a green mix stood beside a red projection)
        proj_btn.click(lambda: None, None, proj_mix, api_visibility="private", queue=False)
        project = gpu_task(functools.partial(project_stream, ctx))
        endpoint(proj_btn.click, project, [picker, upload, proj_space, proj_steps],
                 [proj_image, proj_target, proj_status, proj_ws], api_name="stylegan_project",
                 api_visibility="undocumented", concurrency_limit=1, page_fn=projection_on_the_page(project),
                 page_outputs=[proj_image, proj_target, proj_status, proj_ws, proj_of])
        # a file that is no image is refused as it is dropped, the box showing the last one read (it showed a broken
        # image until Project was pressed); a new image stops a projection under way (Gradio's cancels= left red
        # "Error" badges over the projection's views under load)
        last_upload = gr.State(None)
        Context.root_block.unload(forget_images_read)
        upload.upload(warn_and_keep(8, restore=lambda _request, _image, last: (last,) + (gr.skip(),) * 7)(
                      readable_upload), [upload, last_upload], [upload, last_upload, proj_target, proj_image,
                                                                 proj_mix, proj_status, proj_ws, proj_of],
                      api_visibility="private")
        proj_mix_btn.click(warn_and_keep(1)(functools.partial(mix_projection, ctx)),
                           inputs=[picker, proj_ws, seed_b, layers, psi, noise_mode, noise_seed], outputs=proj_mix,
                           api_visibility="private")
    # another checkpoint: the grid, the GIF and the projection of the last one leave (they stayed under its name,
    # and the projection's w went into the new generator as a "mix" of colour blobs)
    picker.change(forget_the_last_model, [picker, grid_of, gif_of, proj_of, proj_ws],
                  [grid, grid_note, grid_of, gif, gif_of, proj_image, proj_mix, proj_status, proj_ws, proj_of],
                  api_visibility="private", queue=False)

    training_panel(ctx, METHOD, ["dataset", "steps", "batch_size", "lr"],
                   advanced=["resolution", "channel_max", "w_dim", "mapping_layers", "r1_gamma", "mixing_prob",
                             "diffaug", "eval_samples"],
                   defaults={"steps": 500, "sample_every": 100, "checkpoint_every": 100, "eval_samples": 500},
                   pickers=(picker,))


if __name__ == "__main__":
    run_standalone(build, TITLE)
