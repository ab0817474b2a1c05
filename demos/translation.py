"""pix2pix & CycleGAN tab: draw or upload, translate, see the cycle; the loss comparison; training.

A view over ``core.translation.service`` and ``core.translation.compare``; it loads no model until used.
"""

from __future__ import annotations

import functools

import gradio as gr
import numpy as np

from core.engine import resolve_checkpoint
from demos.common import (GALLERY_FIT, USER_ERRORS, AppContext, ImageFile, Number, Radio, checkpoint_picker, endpoint,
                          page_open, run_standalone, seed_control, training_panel, ui_errors, warn_and_keep)
from demos.page import fresh_sketch_js

TITLE = "pix2pix & CycleGAN"
TRY = """
1. **pix2pix**: click a held-out example: a label map becomes a face. Then draw your own label map in **Draw**.
2. **CycleGAN**: translate black hair to blonde and back: the *cycle* image should match the input.
3. **Compare losses**: the same input through L1 only, GAN only and L1 + GAN: which is sharp, which is right?
"""
ABOUT = """**pix2pix and CycleGAN: image-to-image translation.** pix2pix learns a mapping from paired examples
(label map -> photo, edges -> photo) with a U-Net generator, whose skip connections carry the input's structure
to the output, and a conditional PatchGAN discriminator that judges overlapping patches (70 x 70 pixels each on
the paper's 256 px images; on GenLab's 64 px images each of its 6 x 6 verdicts sees nearly the whole image); its
loss is L1 + GAN
([Isola et al. 2017](https://arxiv.org/abs/1611.07004)). CycleGAN needs no pairs: two generators G: A -> B and
F: B -> A are trained so that F(G(a)) returns a (cycle consistency), with least-squares GAN losses
([Zhu et al. 2017](https://arxiv.org/abs/1703.10593); [Mao et al. 2017, LSGAN](https://arxiv.org/abs/1611.04076)).
The official pretrained files (`latest_net_G.pth` from the reference's download scripts) load as they are: put the
folder in `checkpoints/translation/`."""

METHOD = "translation"
DEFAULT_PIX2PIX = "pix2pix-labels2face"
DEFAULT_CYCLEGAN = "cyclegan-black2blonde-hair"
VIEW = 384                 # side the 64 px translations are enlarged to (crisp, 6x) and shown at (px)
EXAMPLES = 6
_EXAMPLE_CACHES: dict = {}  # per app: held-out example inputs by (checkpoint, direction)


def warm_up(ctx: AppContext) -> None:
    """Load the default checkpoints before the first visitor asks (``python app.py`` does, in the background)."""
    for name in (DEFAULT_PIX2PIX, DEFAULT_CYCLEGAN):
        _bundle(ctx, name)


def _bundle(ctx: AppContext, name):
    from core.translation.service import load_checkpoint

    from core.engine.checkpoint import cache_key, check_checkpoint_chosen

    name = check_checkpoint_chosen(METHOD, name)
    return ctx.cache.get(cache_key(METHOD, name), lambda: load_checkpoint(name, ctx.device))


def _enlarge(image, side: int = VIEW):
    """Small translations shown large with crisp pixels (nearest neighbour to at least ``side``)."""
    from PIL import Image

    scale = max(1, side // max(image.size))
    return image if scale == 1 else image.resize((image.width * scale, image.height * scale), Image.NEAREST)


def pix2pix(ctx: AppContext, checkpoint: str, image, dropout_noise: bool = False, seed: int = 0,
            native: bool = False):
    """(input as the model sees it, translation) of one image through checkpoint's A -> B generator; ``native``:
    at the model's resolution, enlarged with crisp pixels (the page's view: a drawing's 256 px canvas came back
    as a bicubic blur of a 64 px result)."""
    from core.translation.service import translate

    out = translate(_bundle(ctx, checkpoint), image, "AtoB", dropout_noise, seed, native=native)
    return _enlarge(out["input"]), _enlarge(out["output"])


def cyclegan(ctx: AppContext, checkpoint: str, image, direction: str = "AtoB", native: bool = False):
    """(input as seen, translation, cycle reconstruction, one line with the cycle's L1 error); ``native`` as in
    :func:`pix2pix`."""
    from core.translation.service import translate

    bundle = _bundle(ctx, checkpoint)
    out = translate(bundle, image, direction, native=native)
    t = bundle.task
    src, dst = (t.get("a", "A"), t.get("b", "B")) if direction == "AtoB" else (t.get("b", "B"), t.get("a", "A"))
    if out["cycle"] is None:
        line = f"{src} -> {dst}. This model has one generator, so there is no way back (no cycle)."
        return _enlarge(out["input"]), _enlarge(out["output"]), None, line
    line = (f"{src} -> {dst} -> {src}: the cycle reconstruction differs from the input by a mean |error| of "
            f"**{out['cycle_l1']:.3f}** (pixel values 0-1; 0 = perfect cycle).")
    return _enlarge(out["input"]), _enlarge(out["output"]), _enlarge(out["cycle"]), line


def example_images(ctx: AppContext, checkpoint: str, direction: str = "AtoB") -> list:
    """The checkpoint's held-out inputs (PIL, empty for models without a built-in world), rendered once per
    (checkpoint, direction) and cached: the gallery, a click on it and the first example all read the same list."""
    from core.translation.service import example_inputs

    from core.engine import ModelCache

    cache = _EXAMPLE_CACHES.setdefault(id(ctx.cache), ModelCache(max_items=16))  # apart: models are not evicted
    return cache.get((checkpoint, direction), lambda: example_inputs(_bundle(ctx, checkpoint), EXAMPLES, direction))


def examples(ctx: AppContext, checkpoint: str, direction: str = "AtoB"):
    """The gallery of held-out inputs, enlarged (empty for an unknown or broken checkpoint: the buttons say why)."""
    try:
        images = example_images(ctx, checkpoint, direction)
    except Exception:
        images = []
    return [_enlarge(im, 128) for im in images]


def picked_index(evt: gr.SelectData) -> int:
    """The index of the gallery image just clicked."""
    return int(evt.index)


def describe(ctx: AppContext, checkpoint: str) -> str:
    from core.translation.service import checkpoint_note

    try:
        return checkpoint_note(_bundle(ctx, checkpoint))
    except Exception as exc:
        return f"Cannot load {checkpoint!r}: {exc}"


def sketch_brush(ctx: AppContext, checkpoint: str):
    """The Sketchpad's palette for the checkpoint's input: the label colours, or black ink for edges."""
    from core.translation.data import LABEL_COLOURS

    try:
        kind = _bundle(ctx, checkpoint).task.get("input", "photo")
    except Exception:
        kind = "photo"
    if kind == "labels":
        colours = ["#%02x%02x%02x" % rgb for _, rgb in LABEL_COLOURS.values()]
        return gr.update(brush=gr.Brush(colors=colours, default_color=colours[1], color_mode="fixed", default_size=12))
    return gr.update(brush=gr.Brush(colors=["#000000", "#ffffff"], default_color="#000000", color_mode="fixed",
                                    default_size=3))


def palette_legend() -> str:
    from core.translation.data import LABEL_COLOURS

    return "Label colours: " + " · ".join(
        f"<span style='background:#{r:02x}{g:02x}{b:02x};border:1px solid #888;padding:0 8px'>&nbsp;</span> "
        f"{name} ({colour})" for name, (colour, (r, g, b)) in LABEL_COLOURS.items())


def compare_view(ctx: AppContext, start: int = 0):
    """The four loss settings on the same held-out label maps (one row per input) and their measured table."""
    import pandas as pd
    import torch

    from core.data.labelled import sample_sheet
    from core.translation.compare import comparison_grid, comparison_rows

    titles, columns = comparison_grid(lambda name: _bundle(ctx, name), 4, int(start or 0))
    sheet = sample_sheet(torch.stack(columns, 1).flatten(0, 1), len(columns), cols=titles, min_width=900)
    return sheet, "Rows: held-out label maps; each column's setting is named above it.", pd.DataFrame(comparison_rows())


def build(ctx: AppContext) -> None:
    from core.translation.service import DIRECTIONS

    def directions_of(checkpoint):
        """The directions the checkpoint translates (AtoB alone for one generator); None for a name that loads
        nothing (the note under the picker says why)."""
        try:
            return _bundle(ctx, checkpoint).directions
        except Exception:
            return None

    def direction_for(checkpoint, direction):
        """``direction`` where the checkpoint translates it, else AtoB (a one-generator model picked while B -> A was
        set: its first example failed in red over every output)."""
        directions = directions_of(checkpoint)
        return direction if directions is None or direction in directions else "AtoB"

    def shown_example(run, outputs: int, with_direction: bool = False):
        """Translate the checkpoint's held-out example that is highlighted in its gallery (the one last clicked, the
        first on page open): a model switch shows the same input translated by the new model, never another one under
        a stale highlight (Gradio keeps a gallery's highlight when its images change). Blank outputs for a model
        without examples, and the outputs as they were for a name that is no checkpoint (the note under the picker
        says why)."""

        def show(ckpt, picked, *args):
            direction = direction_for(ckpt, args[0]) if with_direction else "AtoB"
            args = (direction,) if with_direction else args
            try:
                resolve_checkpoint(METHOD, ckpt)
            except USER_ERRORS:
                return (gr.update(),) * outputs
            try:
                images = example_images(ctx, ckpt, direction)
            except Exception:
                images = []
            return run(ckpt, images[picked if 0 <= picked < len(images) else 0], *args) if images else (None,) * outputs

        return show


    gr.Markdown("Translate an image into another: a label map or a drawing into a face (pix2pix, trained on pairs), "
                "or black hair into blonde and back (CycleGAN, trained without pairs).")
    with gr.Tab("pix2pix: draw or upload"):
        with gr.Row():
            with gr.Column(scale=1):
                ckpt_p = checkpoint_picker(METHOD, value=DEFAULT_PIX2PIX, elem_id="translation-pix2pix-checkpoint")
                about_p = gr.Markdown(label="about")
                with gr.Tabs():
                    with gr.Tab("Examples"):
                        # a picker, not an output: no buttons over the thumbnails' corners
                        gallery_p = gr.Gallery(show_label=False, columns=3, height="auto", allow_preview=False,
                                               object_fit="contain", format="png", buttons=[],
                                               elem_id="translation-pix2pix-examples", elem_classes=GALLERY_FIT)
                    with gr.Tab("Draw"):
                        sketch = gr.Sketchpad(label="draw", type="pil", image_mode="RGBA", canvas_size=(256, 256),
                                              elem_id="translation-sketch")
                        gr.Markdown(palette_legend())
                        draw_btn = gr.Button("Translate the drawing", variant="primary")
                    with gr.Tab("Upload"):
                        upload_p = ImageFile(label="an image (any size or mode)", height=170,
                                             elem_id="translation-pix2pix-upload")  # (its label covered the icon)
                        upload_btn = gr.Button("Translate the upload", variant="primary")
                with gr.Accordion("Advanced", open=False):
                    noise = gr.Checkbox(False, label="dropout noise (pix2pix's only randomness; off = deterministic)")
                    seed_p = seed_control("dropout seed", elem_id="translation-seed")
            with gr.Column(scale=1, elem_classes="genlab-sticky"):
                out_p = gr.Image(label="translation", type="pil", format="png", height=VIEW + 40, interactive=False,
                                 elem_id="translation-pix2pix-output")
                seen_p = gr.Image(label="input as the model sees it", type="pil", format="png", height=200,
                                  interactive=False, elem_id="translation-pix2pix-seen")
        def run_p(checkpoint: str, image, dropout_noise: bool = False, seed: int = 0):
            return pix2pix(ctx, checkpoint, image, dropout_noise, seed)

        show_p = functools.partial(pix2pix, ctx, native=True)  # ``run_p`` for the page: the model's pixels, enlarged

        endpoint(upload_btn.click, run_p, [ckpt_p, upload_p, noise, seed_p], [seen_p, out_p],
                 api_name="pix2pix", concurrency_limit=4, concurrency_id="translate", page_fn=show_p)
        # an upload is translated as it arrives (it showed only its name until the button was pressed); a file that
        # is no image empties the views (the last image's translation stood under the new file's name)
        upload_p.upload(warn_and_keep(2, restore=lambda *_: (None, None))(show_p), [ckpt_p, upload_p, noise, seed_p],
                        [seen_p, out_p], api_visibility="private", concurrency_limit=4, concurrency_id="translate")
        def draw_p(checkpoint, drawing, dropout_noise, seed, blank_clears=False):
            """The drawing's translation; a canvas with no ink asks for a drawing, or (as it is cleared) empties both
            views quietly (it warned "no image was given" and kept the erased drawing's translation)."""
            composite = drawing.get("composite") if isinstance(drawing, dict) else drawing
            if composite is None or np.ptp(np.asarray(composite)) == 0:
                if blank_clears:
                    return None, None
                raise ValueError("draw something first (or use Upload)")
            return show_p(checkpoint, drawing, dropout_noise, seed)

        for trigger, blank_clears in ((draw_btn.click, False), (sketch.change, True)):
            trigger(warn_and_keep(2)(functools.partial(draw_p, blank_clears=blank_clears)),
                    [ckpt_p, sketch, noise, seed_p], [seen_p, out_p], api_visibility="private",
                    trigger_mode="always_last", concurrency_limit=4, concurrency_id="translate",
                    js=fresh_sketch_js("translation-sketch", 1) if blank_clears else None)

        def pick_p(ckpt, dropout, seed, evt: gr.SelectData):
            return show_p(ckpt, example_images(ctx, ckpt, "AtoB")[evt.index], dropout, seed)

        # "always_last": a second pick while the first translates shows the second (the default "once" drops it)
        gallery_p.select(warn_and_keep(2)(pick_p), [ckpt_p, noise, seed_p], [seen_p, out_p], api_visibility="private",
                         trigger_mode="always_last")
        picked_p = gr.State(0)
        gallery_p.select(picked_index, None, picked_p, api_visibility="private", queue=False)
        on_open = page_open()
        gr.on([ckpt_p.change, *on_open], lambda c: (describe(ctx, c), examples(ctx, c), sketch_brush(ctx, c)),
              ckpt_p, [about_p, gallery_p, sketch], api_visibility="private")
        # on page open and on a model switch the outputs show the highlighted example (the first on open) translated
        # by the model picked, never a stale one
        gr.on([ckpt_p.change, *on_open], shown_example(show_p, 2), [ckpt_p, picked_p, noise, seed_p], [seen_p, out_p],
              api_visibility="private")

    with gr.Tab("CycleGAN: A <-> B"):
        with gr.Row():
            with gr.Column(scale=2):
                ckpt_c = checkpoint_picker(METHOD, value=DEFAULT_CYCLEGAN, elem_id="translation-cyclegan-checkpoint")
                about_c = gr.Markdown(label="about")
                direction = Radio([(v.replace("to", " -> "), v) for v in DIRECTIONS], value="AtoB", label="direction",
                                  elem_id="translation-cyclegan-direction")
                gr.Markdown("Held-out examples: click one")   # a label over the gallery covered its thumbnails
                gallery_c = gr.Gallery(show_label=False, columns=3, height="auto", allow_preview=False,
                                       object_fit="contain", format="png", buttons=[],
                                       elem_id="translation-cyclegan-examples", elem_classes=GALLERY_FIT)
                upload_c = ImageFile(label="or an image (any size or mode)", height=170,
                                     elem_id="translation-cyclegan-upload")  # (its label covered the icon)
                run_c_btn = gr.Button("Translate the upload", variant="primary")
            with gr.Column(scale=3, elem_classes="genlab-sticky"):
                out_c = gr.Image(label="translation", type="pil", format="png", height=VIEW + 40, interactive=False,
                                 elem_id="translation-cyclegan-output")
                with gr.Row():
                    seen_c = gr.Image(label="input", type="pil", format="png", height=VIEW // 2 + 20,
                                      interactive=False, elem_id="translation-cyclegan-seen")
                    cycle_c = gr.Image(label="cycle", type="pil", format="png", height=VIEW // 2 + 20,
                                       interactive=False, elem_id="translation-cyclegan-cycle")
                cycle_line = gr.Markdown(label="cycle consistency")
        def run_c(checkpoint: str, image, direction: str = "AtoB"):
            return cyclegan(ctx, checkpoint, image, direction)

        show_c = functools.partial(cyclegan, ctx, native=True)  # (as show_p)

        endpoint(run_c_btn.click, run_c, [ckpt_c, upload_c, direction], [seen_c, out_c, cycle_c, cycle_line],
                 api_name="cyclegan", concurrency_limit=4, concurrency_id="translate", page_fn=show_c)
        upload_c.upload(warn_and_keep(4, restore=lambda *_: (None, None, None, ""))(show_c),  # (as pix2pix's upload)
                        [ckpt_c, upload_c, direction], [seen_c, out_c, cycle_c, cycle_line], api_visibility="private",
                        concurrency_limit=4, concurrency_id="translate")

        def pick_c(ckpt, d, evt: gr.SelectData):
            return show_c(ckpt, example_images(ctx, ckpt, d)[evt.index], d)

        gallery_c.select(warn_and_keep(4)(pick_c), [ckpt_c, direction], [seen_c, out_c, cycle_c, cycle_line],
                         api_visibility="private", trigger_mode="always_last")
        picked_c = gr.State(0)
        gallery_c.select(picked_index, None, picked_c, api_visibility="private", queue=False)
        gr.on([ckpt_c.change, direction.change, *on_open],
              lambda c, d: (describe(ctx, c), examples(ctx, c, direction_for(c, d))), [ckpt_c, direction],
              [about_c, gallery_c], api_visibility="private")

        def follow_model(checkpoint, d):
            """The direction offers what the model translates (B -> A only for a CycleGAN: two generators), named by
            its domains ("A -> B: black hair -> blonde hair"; they read "AtoB" and "BtoA" on a projector)."""
            directions = directions_of(checkpoint)
            if directions is None:
                return gr.update()
            t = _bundle(ctx, checkpoint).task
            a, b = t.get("a", "A"), t.get("b", "B")
            names = {"AtoB": f"A -> B: {a} -> {b}", "BtoA": f"B -> A: {b} -> {a}"}
            return gr.update(choices=[(names[v], v) for v in directions], value=direction_for(checkpoint, d))

        gr.on([ckpt_c.change, *on_open], follow_model, [ckpt_c, direction], direction, api_visibility="private")
        gr.on([ckpt_c.change, direction.change, *on_open], shown_example(show_c, 4, with_direction=True),
              [ckpt_c, picked_c, direction], [seen_c, out_c, cycle_c, cycle_line], api_visibility="private")

    with gr.Tab("Compare losses"):
        gr.Markdown("The same small pix2pix (labels -> face, U-Net with ngf 16) trained four ways, with the same data, "
                    "steps and seed. **L1 only** gets every shape right but averages the colours it cannot know; "
                    "**GAN only** makes face-like textures that ignore the input; pix2pix's **L1 + GAN** mixes both. "
                    "The table holds each checkpoint's numbers measured on 500 held-out pairs (its model card).")
        with gr.Row():
            start = Number(0, label="first held-out pair #", precision=0, minimum=0, maximum=9000, scale=1)
            show = gr.Button("Show", variant="primary", scale=1)
        compare_cols = gr.Markdown(label="comparison")
        compare_img = gr.Image(show_label=False, type="pil", format="png", interactive=False,
                               elem_id="translation-compare")
        compare_table = gr.Dataframe(label="measured on 500 held-out pairs", interactive=False)
        gr.on([show.click, *on_open], ui_errors(lambda s: compare_view(ctx, s)), start,
              [compare_img, compare_cols, compare_table], api_visibility="private")

    training_panel(ctx, METHOD, ["model", "paired_input", "dataset", "steps", "batch_size", "lr"],
                   advanced=["official", "netG", "gan_mode", "lambda_L1", "lambda_parts", "eval_samples"],
                   # a lesson's run: at 0.001 faces show within 600 steps (~3 min on 2 CPU cores), where the papers'
                   # 0.0002 still gave one purple blur for every input (measured: SSIM 0.68 against 0.51 at 300 steps)
                   defaults={"steps": 600, "lr": 1e-3, "sample_every": 100, "eval_samples": 100},
                   pickers=(ckpt_p, ckpt_c),
                   shown_when={"paired_input": ("model", "pix2pix"), "lambda_L1": ("model", "pix2pix"),
                               "lambda_parts": ("model", "pix2pix"), "official": ("dataset", "official")})


if __name__ == "__main__":
    run_standalone(build, TITLE)
