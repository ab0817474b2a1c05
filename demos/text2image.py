"""Text-to-image: a latent diffusion model that runs offline on the CPU; Stable Diffusion through the same tab.

A view over ``core.text2image.service`` and ``core.text2image.views``; it loads no model until used.
"""

from __future__ import annotations

import gradio as gr

from core.engine import MAX_SEED
from core.engine.hosting import gpu_task
from demos.common import (GALLERY_FIT, AppContext, Dropdown, ImageUpload, Radio, Number, Slider, endpoint, opening_view,
                          page_open, run_standalone, note_or_reason, seed_control, training_panel, ui_errors,
                          warn_and_keep)
from demos.page import reveal_js, show_image_js

TITLE = "Text-to-image"
TRY = """
1. Click the example **a large red circle** and press **Generate**; change *red* to *blue* and generate again.
2. Look at the **cross-attention maps**: each word lights up where the model draws it.
3. **X/Y grid**: guidance w against steps, to see what each does.
4. **Start from an image**: press *take image 1*, change *red* to *blue* in the prompt and generate (strength 0.6):
   the colour changes, the place stays; at strength 1 the circle is drawn anew, anywhere.
"""
ABOUT = """**Text-to-image (latent diffusion).** [Latent diffusion (Rombach et al. 2022)](https://arxiv.org/abs/2112.10752)
denoises in the small latent space of an autoencoder, conditioned on a prompt through cross-attention to a text
encoder's hidden states; [classifier-free guidance (Ho & Salimans 2022)](https://arxiv.org/abs/2207.12598) with a
negative prompt steers it. The bundled models were trained by GenLab on the `shapes` world's captions, one with the
project's own small [CLIP (Radford et al. 2021)](https://arxiv.org/abs/2103.00020) text encoder and one with the
pretrained MiniLM sentence encoder; each is a diffusers `StableDiffusionPipeline` folder, and a real Stable Diffusion
folder put in `checkpoints/text2image/` runs through the same tab."""

METHOD = "text2image"
DEFAULT_MODEL = "t2i-minilm-shapes"  # the pretrained encoder's: shapes as often as the CLIP model's (cards)
EXAMPLES = ["a large red circle", "a small blue star", "a large yellow heart to the left of a medium purple square",
            "a medium green diamond above a large orange hexagon", "a large red star",
            "a large pink cross below a medium cyan circle, and a small yellow square to the left of the medium cyan circle"]
IMAGE_SIZE = 384


def warm_up(ctx: AppContext) -> None:
    """Load the default model (3 s here) before the first visitor asks (``python app.py`` does, in the background),
    drawing the image the page opens with."""
    ctx.openings[METHOD] = opening_outputs(ctx)


def opening_outputs(ctx: AppContext) -> tuple:
    """Generate's outputs (gallery, status, readout, maps, how it works, state) for the settings the page opens with:
    the first example, seed 0, 25 DDIM steps at the default model's card w. Drawn once at start-up, so that the tab
    opens on an image and its cross-attention maps (it opened on an empty box) and thirty page loads cost nothing."""
    from core.text2image.service import card_guidance

    *_, (images, status, *rest) = text_to_image_frames(ctx, EXAMPLES[0], "", 25, card_guidance(DEFAULT_MODEL), 0,
                                                       "ddim", 1, DEFAULT_MODEL)
    return (images, f"{status} · drawn when the app started, with the settings shown: change the prompt and press "
            "**Generate**", *rest)


def opened(ctx: AppContext):
    """The page-open event function: :func:`opening_outputs` as drawn at warm-up, and the maps' step slider."""
    return opening_view(ctx, METHOD, 6, lambda view: attention_steps(view[-1]))


def _load(ctx: AppContext, name: str):
    from core.engine.checkpoint import cache_key
    from core.text2image.service import load_model

    return ctx.cache.get(cache_key(METHOD, str(name).strip()), lambda: load_model(name, ctx.device))


def served_text_encoder(settings: dict) -> dict:
    """A training started on the server reads its text encoder from the server's checkpoints only: "minilm", or a
    CLIP folder under checkpoints/ (the CLI takes any folder; through the app a path named the server's folders:
    "/etc is not a CLIP checkpoint"); a bare name is a folder of checkpoints/text2image/ ("clip-shapes" was refused
    though the picker names checkpoints so). Returns {"text_encoder": the value as the config keeps it}; raises
    ``ValueError`` otherwise."""
    from core.engine.checkpoint import checkpoint_root, project_root
    from core.text2image.text_encoders import is_clip_checkpoint, project_path

    value = str(settings.get("text_encoder", "")).strip()
    if value == "minilm":
        return {"text_encoder": value}
    if value and "/" not in value and "\\" not in value and value not in (".", ".."):
        value = f"checkpoints/{METHOD}/{value}"
    path = project_path(value).resolve()
    if not any(path.is_relative_to(root) for root in (checkpoint_root(), (project_root() / "checkpoints").resolve())):
        raise ValueError(f"text_encoder: 'minilm' or a CLIP checkpoint folder under checkpoints/ (such as "
                         f"clip-shapes: checkpoints/text2image/clip-shapes), not {value[:80]!r}")
    if not is_clip_checkpoint(path):  # named as typed (the loader's message gives the server's full path)
        raise ValueError(f"text_encoder: {value[:80]!r} is not a CLIP checkpoint folder (config.json, weights and "
                         "tokenizer.json; python -m core.train clip makes one)")
    return {"text_encoder": value}


def model_choices():
    from core.text2image.service import list_models

    return gr.update(choices=list_models())


def text_to_image_frames(ctx: AppContext, prompt, negative_prompt, steps, guidance, seed, sampler, num_images, model,
                         init_image=None, strength=1.0):
    """Stream (gallery, status, readout, attention gallery, how-it-works, attention state) while sampling; with an
    ``init_image``, from that image (image-to-image, ``strength`` of the steps)."""
    from core.text2image.service import check_request, generate_stream
    from core.text2image.views import attention_sheet, classifier_readout, pipeline_story, to_pil

    request = check_request(prompt, negative_prompt, steps, guidance, seed, sampler, num_images, init_image, strength)
    pipe = _load(ctx, model)
    first = True
    for frame in generate_stream(pipe, request):
        if "preview" in frame:
            previews = [(to_pil(img, IMAGE_SIZE), f"predicted x0, step {frame['index'] + 1}") for img in frame["preview"]]
            # the last image's readout and maps leave with the first preview (they stood beside the new image)
            gone = ("", None) if first else (gr.skip(), gr.skip())
            first = False
            yield (previews, f"step {frame['index'] + 1} / {frame['num_steps']} (preview: the decoded predicted "
                   "clean latent z0-hat)", *gone, gr.skip(), gr.skip())
    r = frame["result"]
    ran = (f"{request.steps}" if request.init_image is None else
           f"from your image (strength {request.strength:g}): the last {r.info['num_steps']} of {request.steps}")
    status = (f"{str(model).strip()}, {ran} {request.sampler} step{'' if request.steps == 1 else 's'}, "
              f"w = {request.guidance:g}, "  # the model:
              f"seed {request.seed}: {r.info['elapsed']:.2f} s")  # another may be picked while this one draws
    for what, cut in (("prompt", r.truncated), ("negative prompt", r.info["negative_truncated"])):
        if cut:
            status += (f" · **the {what} was truncated**: {cut} token(s) beyond the encoder's limit of "
                       f"{r.info['max_length']} tokens were ignored")
    unknown = r.tokens.count(pipe.tokenizer.unk_token)  # (0 for a byte-level tokenizer, whose unk_token is None)
    if unknown:  # MiniLM's word pieces have no emoji and few scripts: such words reach the model as one blank token
        status += (f" · {unknown} word(s) unknown to this model's tokenizer, read as {pipe.tokenizer.unk_token} "
                   "(see How it works)")
    if not request.prompt.strip():
        status += " · empty prompt: the unconditional model"
    if request.init_image is not None and request.strength * request.steps < 1:  # (diffusers refuses such a run)
        status += (f" · strength x steps = {request.strength * request.steps:.2g} is under one step, so one ran, "
                   "as at any strength: more steps give a finer strength")
    images = [(to_pil(img, IMAGE_SIZE), f"image {i + 1}") for i, img in enumerate(r.images)]
    state = {"image": r.images[0], "maps": r.attention, "tokens": r.tokens}
    yield (images, status, classifier_readout(r.images, request.prompt),
           attention_sheet(r.images[0], r.attention, r.tokens), pipeline_story(pipe, r, request), state)


def readable_or_none(path):
    """The start image as uploaded, or none (with a warning saying why) when the project's loader cannot read it."""
    from core.data import open_image

    try:
        open_image(path, draft_size=64)  # (a large JPEG is read at a fraction of its size: a check, not the image)
    except (ValueError, FileNotFoundError) as exc:
        gr.Warning(str(exc))
        return None
    return gr.skip()


def first_image(state):
    """The last run's first image, at the model's own size, as the start image of an image-to-image run."""
    from core.text2image.views import to_pil

    if not state:
        raise ValueError("generate an image first: its first image becomes the start image")
    return to_pil(state["image"], state["image"].shape[-1])


def attention_at_step(state, step):
    from core.text2image.views import attention_sheet

    if not state:
        return None
    return attention_sheet(state["image"], state["maps"], state["tokens"], int(step))


def attention_steps(state):
    """The step slider of the maps: 0 (the mean, as a run shows its maps) to the last step of the run they come from
    (it followed the steps box: past a 25-step run's last step the maps gave way to a bare "Error")."""
    last = len(state["maps"]) if state and state.get("maps") is not None else 0
    return gr.update(maximum=max(last, 1), value=0)


def xy_grid_image(ctx, mode, x_values, y_values, prompt, model, seed, steps, guidance, sampler):
    from core.text2image.service import xy_grid
    from core.text2image.views import labelled_grid

    if "model" not in mode:  # the grid tab has no model box: say where the model comes from
        try:
            _load(ctx, model)
        except ValueError as exc:
            raise ValueError(f"the model picked on the Generate tab: {exc}") from None
    rows, row_labels, col_labels, shared = xy_grid(lambda name: _load(ctx, name), mode, x_values, y_values, prompt,
                                                   model, seed, steps, guidance, sampler)
    return labelled_grid(rows, row_labels, col_labels), f"Every cell: {shared}."


# A click on Generate scrolls the page (only if needed) so that the images (at most a square as wide as the gallery)
# end on screen with the status line above them, on a 1024 x 768 projector
SHOW_GALLERY = reveal_js("t2i-status", "t2i-gallery", "b.getBoundingClientRect().top + b.getBoundingClientRect().width + 52")

SHOW_GRID = show_image_js("t2i-grid")

XY_DEFAULTS = {"guidance x steps": ("0, 1, 3, 7", "5, 25"), "seed x prompt": ("0, 1, 2, 3", "a large red circle; a small blue star"),
               "model x prompt": ("t2i-clip-shapes; t2i-minilm-shapes", "a large yellow heart; a large red star")}


def build(ctx: AppContext) -> None:
    from core.text2image.service import (DEFAULT_GUIDANCE, DEFAULT_STRENGTH, MAX_GUIDANCE, MAX_IMAGES, MAX_STEPS,
                                         SAMPLERS, XY_MODES, list_models)

    gr.Markdown("Type a prompt about the shapes world (8 shapes, 8 colours, 3 sizes, left / right / above / below) and "
                "watch the predicted image sharpen while the model denoises. The same seed gives the same image.")
    models = list_models()
    with gr.Tab("Generate"):
        with gr.Row():
            with gr.Column(scale=2):
                prompt = gr.Textbox(EXAMPLES[0], label="prompt", lines=2, elem_id="t2i-prompt")
                go = gr.Button("Generate", variant="primary", elem_id="t2i-go")  # on screen beside the images
                with gr.Row():
                    steps = Slider(1, MAX_STEPS, value=25, step=1, label="steps", elem_id="t2i-steps")
                    guidance = Slider(0, MAX_GUIDANCE, value=DEFAULT_GUIDANCE, step=0.5, label="guidance w", elem_id="t2i-guidance")
                seed = seed_control("seed", elem_id="t2i-seed")
                # sampler and number of images next to the other settings, not under the model's note
                with gr.Accordion("Advanced: negative prompt, sampler, images", open=False,
                                  elem_id="t2i-advanced"):
                    negative = gr.Textbox("", label="negative prompt (replaces the empty prompt in guidance)",
                                          elem_id="t2i-negative")
                    with gr.Row():
                        sampler = Dropdown(list(SAMPLERS), value="ddim", label="sampler", min_width=100)
                        num = Slider(1, MAX_IMAGES, value=1, step=1, label="images")
                with gr.Accordion("Start from an image (image-to-image)", open=False, elem_id="t2i-img2img"):
                    gr.Markdown("The image is encoded, noised part of the way and denoised towards the prompt "
                                "(SDEdit): a small strength keeps more of it, 1 almost nothing. Try it on an image "
                                "of the model's world: take image 1, change a colour word of the prompt (*red* to "
                                "*blue*) and generate at 0.4-0.6 (on held-out scenes, 0.4 recolours the object and keeps its "
                                "place in about 4 of 5: the model's card). Clear the box to start from noise again.")
                    reuse = gr.Button("take image 1 as the start image", size="sm", elem_id="t2i-reuse")
                    # the box above the slider, as wide as the column (beside it, its label wrapped and its drop
                    # zone was 110 px wide at 1024 x 768)
                    init_image = ImageUpload(label="start image", height=160, sources=["upload", "clipboard"],
                                             elem_id="t2i-init-image")
                    strength = Slider(0.05, 1, value=DEFAULT_STRENGTH, step=0.05, label="strength",
                                      info="the share of the steps run from the image", elem_id="t2i-strength")
                # the model and its note under the prompt's controls: Generate stays on a 768 px screen
                model = Dropdown(models, value=DEFAULT_MODEL if DEFAULT_MODEL in models else (models[0] if models else None),
                                 label="model (text encoder)", allow_custom_value=True, elem_id="t2i-model",
                                 info="a folder in checkpoints/text2image; a hub id with --online")
                note = gr.Markdown(elem_id="t2i-model-note", label="model note")
                # buttons, not gr.Examples: Gradio cuts an example's text after 60 characters (a three-object
                # prompt is twice that)
                gr.Markdown('**prompts that work** ("a large red star" was never seen in training)')
                with gr.Row(elem_classes="genlab-examples"):
                    for text in EXAMPLES:
                        gr.Button(text, size="sm", min_width=0, scale=0).click(
                            lambda text=text: text, outputs=prompt, api_visibility="private", queue=False)
            with gr.Column(scale=3, elem_classes="genlab-sticky"):
                # the line above the images: "step k / 25" stays on screen while eight images form below it
                status = gr.Markdown(elem_id="t2i-status", label="status")
                gallery = gr.Gallery(label="images", columns=2, height="auto", format="png", object_fit="contain",
                                     elem_id="t2i-gallery", elem_classes=GALLERY_FIT, preview=False)
                readout = gr.Markdown(elem_id="t2i-readout", label="classifier readout")
        with gr.Accordion("Cross-attention maps: where each word looks (image 1)", open=True):
            att_step = Slider(0, 25, value=0, step=1, label="denoising step (0 = mean over all steps)",
                              elem_id="t2i-att-step")
            att_gallery = gr.Image(type="pil", format="png", label="one map per token, mean over heads and layers",
                                   interactive=False, elem_id="t2i-attention")
        with gr.Accordion("How it works: the pipeline as it ran", open=False):
            story = gr.Markdown("Generate an image to see each stage with its shapes.", label="how it works")
        state = gr.State(None)

        def text_to_image(prompt: str = EXAMPLES[0], negative_prompt: str = "", steps: int = 25, guidance: float = 4.0,
                          seed: int = 0, sampler: str = "ddim", num_images: int = 1, model: str = DEFAULT_MODEL,
                          init_image: str | None = None, strength: float = DEFAULT_STRENGTH):
            yield from text_to_image_frames(ctx, prompt, negative_prompt, steps, guidance, seed, sampler, num_images, model,
                                            init_image, strength)

        generated = endpoint([go.click, prompt.submit], gpu_task(text_to_image), [prompt, negative, steps, guidance,
                             seed, sampler, num, model, init_image, strength],
                             [gallery, status, readout, att_gallery, story, state],
                             api_name="text_to_image", concurrency_limit=2, js=SHOW_GALLERY)
        generated.success(attention_steps, state, att_step, api_visibility="private", queue=False)
        gr.on(page_open(), opened(ctx), outputs=[gallery, status, readout, att_gallery, story, state, att_step],
              api_visibility="private", queue=False)
        reuse.click(warn_and_keep(1)(first_image), state, init_image, api_visibility="private", concurrency_limit=None)
        # a file that is no image is said as it is dropped, and leaves the box (it showed a broken-image icon)
        init_image.upload(readable_or_none, init_image, init_image, api_visibility="private", concurrency_limit=None)
        # more than four images: four a row, two rows on a 768 px screen (two a row made four rows, 1,200 px)
        num.change(lambda n: gr.update(columns=2 if int(n or 1) <= 4 else 4), num, gallery, api_visibility="private",
                   queue=False)
        att_step.change(ui_errors(attention_at_step), [state, att_step], att_gallery, api_visibility="private",
                        queue=False, trigger_mode="always_last")
        model.focus(model_choices, outputs=model, api_visibility="private", queue=False)
        from core.text2image.service import card_guidance, checkpoint_note

        # the model's note (or why the name is not a model) and the guidance w its card was measured with (a name
        # that is not a model leaves the slider as it was)
        gr.on([model.change, *page_open()], note_or_reason(checkpoint_note), model, note, api_visibility="private",
              queue=False)
        gr.on([model.change, *page_open()], warn_and_keep(1)(card_guidance), model, guidance,
              api_visibility="private", queue=False)

    with gr.Tab("X/Y grid"):
        gr.Markdown("One prompt through many settings: guidance against steps, seeds against prompts, or models (text "
                    "encoders) against prompts. Lists: numbers separated by commas, prompts and models by semicolons.")
        with gr.Row():
            mode = Radio(list(XY_MODES), value=XY_MODES[0], label="grid")
            x_values = gr.Textbox(XY_DEFAULTS[XY_MODES[0]][0], label="columns (x)")
            y_values = gr.Textbox(XY_DEFAULTS[XY_MODES[0]][1], label="rows (y)")
        with gr.Row():
            xy_prompt = gr.Textbox("a large yellow heart to the left of a medium purple square", label="prompt",
                                   scale=3, elem_id="t2i-grid-prompt")
            xy_seed = Number(0, label="seed", precision=0, minimum=0, maximum=MAX_SEED, scale=1)
            xy_go = gr.Button("Make the grid", variant="primary", scale=1)
        grid = gr.Image(type="pil", format="png", label="grid", interactive=False, elem_id="t2i-grid")
        grid_note = gr.Markdown("Every cell uses the Generate tab's model, steps, guidance w and sampler, but for what "
                                "the axes vary (in *model x prompt* each model draws at its card's w).",
                                elem_id="t2i-grid-note")

        def on_mode(m):   # the prompt and seed boxes only where they are not one of the axes
            return *XY_DEFAULTS[m], gr.update(visible="prompt" not in m), gr.update(visible="seed" not in m)

        mode.change(on_mode, mode, [x_values, y_values, xy_prompt, xy_seed], api_visibility="private", queue=False)

        def xy(mode, x_values, y_values, prompt, model, seed, steps, guidance, sampler):
            return xy_grid_image(ctx, mode, x_values, y_values, prompt, model, seed, steps, guidance, sampler)

        xy_go.click(warn_and_keep(2)(xy), [mode, x_values, y_values, xy_prompt, model, xy_seed, steps, guidance, sampler],
                    [grid, grid_note],
                    api_visibility="private", concurrency_limit=1, concurrency_id="t2i_grid").then(
            None, js=SHOW_GRID, api_visibility="private", queue=False)  # the grid forms under the fold of a projector

    training_panel(ctx, METHOD, ["text_encoder", "steps", "batch_size", "lr"], check=served_text_encoder,
                   advanced=["widths", "caption_dropout", "holdout", "eval_prompts", "eval_one_object", "eval_edits"],
                   # a lesson's run measures 40 prompts and 40 edits, not the card's 600 and 400 (420 prompts took 95 s)
                   defaults={"steps": 200, "batch_size": 16, "widths": "32,64", "sample_every": 100, "num_samples": 8,
                             "eval_prompts": 20, "eval_one_object": 20, "eval_edits": 10, "sample_steps": 10})


if __name__ == "__main__":
    run_standalone(build, TITLE)
