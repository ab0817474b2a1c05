"""VAE latent explorer tab: walk a 2-D latent map, traverse latent dims, interpolate, encode your own
image, and compare AE / VAE / VQ-VAE. The tab is a view over ``core.vae.views`` and ``core.vae.service``.

Public endpoints (DESIGN.md §3): ``/vae_decode`` (checkpoint, latent -> image) and
``/vae_reconstruct`` (checkpoint, image file -> input as seen, reconstruction, latent).
"""

from __future__ import annotations

import functools

import gradio as gr
import torch

from core.engine import list_checkpoints
from core.vae import views
from core.vae.service import checkpoint_info, decode, is_vq, latent_values, load_model, reconstruct
from demos.common import (HELD_OUT_LAST, PIXELS, STRIP, USER_ERRORS, AppContext, ImageFile, Radio, Number, Slider,
                          checkpoint_picker, endpoint, page_open, run_standalone, seed_control,
                          training_panel, ui_errors, warn_and_keep)
from demos.page import CRISP, fresh_sketch_js, show_image_js

TITLE = "VAE explorer"
TRY = """
1. **Latent map**: move the mouse over the coloured map; the digit decoded under it appears beside it. Set
   *a click on the map* to "picks A, then B" and click two clusters: the strip shows one digit turning into another.
2. **Encode your own** > **Draw**: draw a digit (any size, anywhere), press *Encode the drawing*: the model
   sees it framed like its training digits, and the cross shows where it lands on the map.
3. **Compare AE / VAE / VQ-VAE**: the same images through three models: which blurs, which keeps detail?
"""
ABOUT = """**VAE latent explorer.** An autoencoder squeezes an image into a small code z and decodes it back.
A *variational* autoencoder ([Kingma & Welling 2014](https://arxiv.org/abs/1312.6114)) makes the encoder
output a distribution q(z|x) and pulls it towards the prior N(0, I) with a KL term, so the whole latent
space decodes to plausible images and you can sample from it; [beta-VAE](https://openreview.net/forum?id=Sy2fzU9gl)
(Higgins et al. 2017) weighs that pull more. [VQ-VAE](https://arxiv.org/abs/1711.00937) (van den Oord et
al. 2017) replaces the Gaussian code with a grid of entries from a learned codebook."""

MAP_MODES = ("decodes the point", "picks A, then B: walk between them")
MAX_DIMS = views.MAX_SLIDERS  # latent sliders built (shown: the model's latent size)
SLIDERS_NOTE = "One slider per latent dimension (hidden beyond the model's latent size)."
VQ_SLIDERS_NOTE = ("A VQ-VAE has no latent dimensions to slide: edit the code indices on the right (one per cell "
                   "of its grid) and press *Decode z*.")
# (after the card's <details> block a blank line: without one the markdown after it showed its asterisks)
VQ_SAMPLES_NOTE = ("\n\nVQ-VAE: no latent vector to slide; the box holds held-out image 0's grid of code indices, "
                   "row by row: change a few and press *Decode z* (its code map: *Compare*). *Sample* draws each "
                   "position's code on its own, as often as it is used: with no prior over the grid (van den Oord et "
                   "al. fit a PixelCNN) the samples are textures, not faces.")
DEFAULT_MAP = "vae2d-digits"
LATENT_LABEL = "latent z (comma-separated; |z| > 6 is clamped)"
DEFAULT_DENSE = "vae16-faces"
LERP_LABEL = "linear: (1 - t) z_A + t z_B"
SLERP_LABEL = "spherical (slerp): along the great circle, keeps |z| typical of the prior"
TRAIN_FIELDS = ["dataset", "model_type", "latent_dim", "beta", "steps", "lr", "batch_size"]
# no data_root: a folder of the server is for its command line (a page could probe its paths)
TRAIN_ADVANCED = ["download", "likelihood", "noise_std", "num_codes"]


# ---------------------------------------------------------------------------------------------- the tab
def build(ctx: AppContext) -> None:
    names = list_checkpoints("vae")

    def pick(preferred):
        return preferred if preferred in names else (names[0] if names else None)

    gr.Markdown("Why is a VAE's latent space smooth and an AE's not? What does beta trade away? What is a "
                "VQ-VAE codebook? Pick a checkpoint and explore; everything runs on CPU in milliseconds.")
    with gr.Tabs():
        # ------------------------------------------------------------------ latent map (2-D)
        with gr.Tab("Latent map"):
            with gr.Row():
                # the note wide, in few lines: the map and the decoded digit start higher on a projector
                map_ckpt = checkpoint_picker("vae", value=pick(DEFAULT_MAP), elem_id="vae-map-ckpt", scale=1)
                map_info = gr.Markdown(label="map info", scale=2)
            with gr.Row():
                map_img = gr.Image(label="latent map: held-out images, colour = class",
                                   type="pil", format="png", interactive=False, elem_id="vae-map")
                with gr.Column():
                    # (hovering moved the picture while the cross and z1, z2 stayed: a click fixes them)
                    point_img = gr.Image(label="decoded under the mouse (a click fixes z1, z2 and the cross)",
                                         type="pil", format="png", interactive=False, elem_id="vae-point", height=320)
                    segment_img = gr.Image(label="from A to B along the line on the map", type="pil",
                                           format="png", interactive=False, elem_id="vae-segment", visible=False)
                    click_mode = Radio(list(MAP_MODES), value=MAP_MODES[0], label="a click on the map",
                                       elem_id="vae-map-mode")
                    z1 = Slider(-3, 3, value=0, step=0.01, label="z1", elem_id="vae-z1")
                    z2 = Slider(-3, 3, value=0, step=0.01, label="z2", elem_id="vae-z2")
            # the map's hover position in image pixels ("x,y"), written by HOVER_JS; hidden by CSS, not by
            # visible=False (a component that is not rendered cannot receive the browser's input events)
            hover = gr.Textbox(elem_id="vae-map-hover", elem_classes="genlab-hidden", show_label=False)
            ends = gr.State({})   # {"for": [checkpoint, mode], "points": [A] or [A, B]}
            gr.Markdown("For models with more than 2 latent dims the map shows the first two principal axes "
                        "(PC1, PC2) of the encoded held-out set, and a point decodes z = mean + x PC1 + y PC2.")
            with gr.Row():
                grid_n = Slider(5, 30, value=20, step=1, label="manifold grid size", elem_id="vae-grid-n")
                grid_btn = gr.Button("Decode the latent plane (manifold)")
            grid_img = gr.Image(label="decoded grid over the latent plane (rows: z2 high -> low; columns: z1 low -> high)",
                                type="pil", format="png", interactive=False,
                                elem_classes=CRISP)  # (a 5 x 5 grid, enlarged, was a smooth blur)

        # ------------------------------------------------------------------ traversal / samples
        with gr.Tab("Traverse & sample"):
            with gr.Row():
                dense_ckpt = checkpoint_picker("vae", value=pick(DEFAULT_DENSE), elem_id="vae-dense-ckpt", scale=1)
                dense_info = gr.Markdown(label="info", scale=2, elem_id="vae-dense-info")
            with gr.Row():
                with gr.Column(scale=3):
                    slider_note = gr.Markdown(SLIDERS_NOTE, elem_id="vae-slider-note")
                    sliders = []
                    for first in range(0, MAX_DIMS, 4):  # four to a row: 16 dims fit beside the image
                        with gr.Row():
                            sliders += [Slider(-3, 3, value=0, step=0.05, label=f"z{i + 1}", visible=i < 16,
                                               min_width=110, elem_id=f"vae-dim-{i}") for i in range(first, first + 4)]
                with gr.Column(scale=2, elem_classes="genlab-sticky"):  # stays on screen while sliders move
                    dense_img = gr.Image(label="decoded z", type="pil", format="png", interactive=False,
                                         elem_id="vae-decoded", elem_classes=PIXELS, height=260)
                    latent_box = gr.Textbox(label=LATENT_LABEL, value="",
                                            placeholder="empty: z = 0, the centre of the latent space",
                                            elem_id="vae-latent")
                    decode_btn = gr.Button("Decode z", variant="primary")
                    with gr.Row():
                        zero_btn = gr.Button("z = 0")
                        prior_btn = gr.Button("z from the prior")
                    with gr.Row():
                        test_index = Number(value=0, precision=0, minimum=0, maximum=HELD_OUT_LAST, label="held-out image #", scale=2)
                        encode_btn = gr.Button("encode it", scale=1)
                    z_seed = seed_control("seed for z", elem_id="vae-z-seed")
            with gr.Row():
                trav_dim = Number(value=1, precision=0, minimum=1, maximum=MAX_DIMS, label="traverse dim",
                                  elem_id="vae-trav-dim")
                trav_range = Slider(0.5, 6, value=3, step=0.5, label="from -r to +r")
                trav_steps = Slider(3, 15, value=9, step=1, label="steps")
                trav_btn = gr.Button("Traverse from the current z")
            trav_img = gr.Image(label="traversal", type="pil", format="png", interactive=False, elem_classes=STRIP)
            with gr.Row():
                n_samples = Slider(1, 64, value=16, step=1, label="prior samples")
                sample_seed = seed_control("seed", elem_id="vae-sample-seed")
                sample_btn = gr.Button("Sample z ~ p(z) and decode", elem_id="vae-sample-button")
            samples_img = gr.Image(label="samples from the prior", type="pil", format="png", interactive=False,
                                   elem_id="vae-samples")
            gr.Markdown("Samples are only as good as the match between p(z) = N(0, I) and where the encoder puts real "
                        "images: the KL term pays for that match (a larger beta pays more, and blurs reconstructions); "
                        "an AE never pays it, so its 'prior samples' decode codes it has never seen.")

        # ------------------------------------------------------------------ interpolation
        with gr.Tab("Interpolate"):
            with gr.Row():
                interp_ckpt = checkpoint_picker("vae", value=pick(DEFAULT_DENSE), elem_id="vae-interp-ckpt", scale=3)
                index_a = Number(value=0, precision=0, minimum=0, maximum=HELD_OUT_LAST, label="held-out image A #")
                index_b = Number(value=3, precision=0, minimum=0, maximum=HELD_OUT_LAST, label="held-out image B #")
                interp_steps = Slider(2, 16, value=10, step=1,
                                      label="steps between A and B (A and B added at the ends)")
            with gr.Row():
                upload_a = ImageFile(label="or upload A", height=120)
                upload_b = ImageFile(label="or upload B", height=120)
            interp_btn = gr.Button("Interpolate", variant="primary")
            lerp_img = gr.Image(label=LERP_LABEL, type="pil", format="png", interactive=False,
                                elem_classes=STRIP, elem_id="vae-lerp")
            slerp_img = gr.Image(label=SLERP_LABEL,
                                 type="pil", format="png", interactive=False, elem_classes=STRIP)

        # ------------------------------------------------------------------ encode your own
        with gr.Tab("Encode your own"):
            with gr.Row():
                own_ckpt = checkpoint_picker("vae", value=pick(DEFAULT_MAP), elem_id="vae-own-ckpt", scale=3)
            with gr.Row():
                with gr.Column():
                    with gr.Tabs():
                        with gr.Tab("Upload"):
                            gr.Markdown("Any size or mode, encoded as it arrives. Grey models see dark ink on white "
                                        "inverted, like their digits; digit models frame it as their training digits.")
                            upload = ImageFile(label="an image",  # a short label:
                                               elem_id="vae-upload")  # a long one ran under the box's clear button
                            upload_btn = gr.Button("Encode the upload", variant="primary")
                        with gr.Tab("Draw"):
                            gr.Markdown("Each stroke is encoded as you draw. Grey models see dark ink on white "
                                        "inverted, like their digits.")
                            sketch = gr.Sketchpad(label="draw",   # a short label: the canvas's toolbar sits beside it
                                                  canvas_size=(280, 280), type="numpy", image_mode="RGB",
                                                  brush=gr.Brush(colors=["#000000", "#e0402a", "#f2c230", "#3a7bd5",
                                                                         "#3cb371", "#ffffff"],
                                                                 default_color="#000000", default_size=14),
                                                  elem_id="vae-sketch")
                            sketch_btn = gr.Button("Encode the drawing", variant="primary")
                with gr.Column():
                    with gr.Row():  # one-line labels: the two images stay level
                        seen_img = gr.Image(label="model input", type="pil", format="png",
                                            interactive=False, elem_id="vae-own-seen")
                        rec_img = gr.Image(label="reconstruction", type="pil", format="png", interactive=False,
                                           elem_id="vae-own-rec")
                    # at most 240 px, scrolled inside (a VQ-VAE's 16 x 16 codes, one a line, ran 290 lines down)
                    latent_json = gr.JSON(label="latent", elem_id="vae-own-latent", max_height=240)
            # the map below, the page's width: a third of it made its axes and legend 5 px on a projector
            own_map = gr.Image(label="where it lands on the map", type="pil", format="png", interactive=False,
                               elem_id="vae-own-map")

        with gr.Tab("Compare AE / VAE / VQ-VAE"):  # (demos/vae_compare.py)
            from demos.vae_compare import build_compare

            compare_pickers = build_compare(ctx, pick)

    all_pickers = [map_ckpt, dense_ckpt, interp_ckpt, own_ckpt, *compare_pickers]
    training_panel(ctx, "vae", TRAIN_FIELDS, defaults={"steps": 1000, "channels": 16, "sample_every": 100},
                   pickers=tuple(all_pickers), advanced=TRAIN_ADVANCED)

    # ============================================================================ events
    # ---- latent map: a VQ-VAE (no 2-D plane) turns the sliders and the grid button off, with a line saying why
    @warn_and_keep(9)
    def on_map_checkpoint(name):
        off = [gr.update(interactive=False)] * 2
        if not name:  # (the grid button, the grid's size and the click mode off too, as for a VQ-VAE)
            return ["No checkpoint yet: train one below.", None, *off, None, None, *[gr.update(interactive=False)] * 3]
        if is_vq(load_model(ctx, name)):
            return [checkpoint_info(name) + "\n\nA VQ-VAE has a grid of discrete codes, not a 2-D plane: the map, its "
                    "sliders and the manifold grid are off. *Compare AE / VAE / VQ-VAE* shows its codes.",
                    None, *off, None, None, *[gr.update(interactive=False)] * 3]
        view = views.map_view(ctx, name)
        upd = dict(minimum=view.low, maximum=view.high, value=0.0, interactive=True)
        return [view.info, view.image, gr.update(label=view.axes[0], **upd), gr.update(label=view.axes[1], **upd),
                view.point, None, *[gr.update(interactive=True)] * 3]  # None: the old model's manifold grid goes

    gr.on(triggers=None, fn=on_map_checkpoint, inputs=map_ckpt,  # load + change
          outputs=[map_info, map_img, z1, z2, point_img, grid_img, grid_btn, grid_n, click_mode],
          api_visibility="private")
    map_ckpt.change(lambda: gr.update(visible=False, value=None), None, segment_img,
                    api_visibility="private", queue=False)  # the old model's walk goes
    for slider in (z1, z2):
        slider.input(ui_errors(functools.partial(views.point_image, ctx)), inputs=[map_ckpt, z1, z2],
                     outputs=point_img, api_visibility="private", trigger_mode="always_last", show_progress="hidden")
        slider.release(ui_errors(functools.partial(views.map_image, ctx)), inputs=[map_ckpt, z1, z2],
                       outputs=map_img, api_visibility="private", trigger_mode="always_last", show_progress="hidden")

    @ui_errors
    def on_map_click(name, mode, picked, evt: gr.SelectData):
        """Decode the clicked point; in the two-point mode the first click is A, the second B (and the strip)."""
        from core.engine.checkpoint import check_checkpoint_chosen

        name = check_checkpoint_chosen("vae", name)
        if not isinstance(evt.index, (list, tuple)):
            raise ValueError("click a point of the map")
        x, y = views.map_click(ctx, name, *evt.index)
        point = views.point_image(ctx, name, x, y)
        if mode == MAP_MODES[0]:
            return x, y, point, views.map_image(ctx, name, x, y), {}, gr.update(visible=False)
        # picks made under another mode or model are forgotten here, in the click's own event: a separate reset
        # event could land between A and B on a busy server and wipe A
        earlier = picked.get("points", []) if picked.get("for") == [name, mode] else []
        points = [earlier[0], (x, y)] if len(earlier) == 1 else [(x, y)]
        strip = views.map_segment(ctx, name, *points) if len(points) == 2 else None
        return (x, y, point, views.map_image(ctx, name, None, None, ends=points), {"for": [name, mode],
                "points": points}, gr.update(visible=strip is not None, value=strip))

    # "multiple": B clicked while A is still decoding is queued, not dropped (the default "once" drops it)
    map_img.select(on_map_click, inputs=[map_ckpt, click_mode, ends], outputs=[z1, z2, point_img, map_img, ends,
                                                                             segment_img],
                   api_visibility="private", show_progress="hidden", trigger_mode="multiple")

    @ui_errors
    def on_map_hover(name, position):
        """The point under the mouse, decoded; a passing mouse says nothing where there is nothing to decode (over a
        VQ-VAE's switched-off map it answered an error, a console 500)."""
        try:
            px, py = (float(v) for v in position.split(","))
            return views.point_image(ctx, name, *views.map_click(ctx, name, px, py))
        except USER_ERRORS:
            return gr.skip()

    hover.change(on_map_hover, inputs=[map_ckpt, hover], outputs=point_img, api_visibility="private",
                trigger_mode="always_last", show_progress="hidden", queue=False)
    click_mode.change(lambda: gr.update(visible=False, value=None), None, segment_img,
                      api_visibility="private", queue=False)
    grid_btn.click(warn_and_keep(1)(functools.partial(views.manifold, ctx)), inputs=[map_ckpt, grid_n],
                   outputs=grid_img, api_visibility="private")

    # ---- traversal / samples
    def slider_updates(model, z, limit=None):
        n = min(model.latent_dim, MAX_DIMS)
        rng = {} if limit is None else {"minimum": -limit, "maximum": limit}
        return [gr.update(visible=i < n, value=round(float(z[i]), 2) if i < n else 0.0, **(rng if i < n else {}))
                for i in range(MAX_DIMS)]

    @warn_and_keep(7 + MAX_DIMS)
    def on_dense_checkpoint(name, dim):  # the old model's traversal and samples go
        if not name:
            return ["No checkpoint yet.", None, "", None, None, gr.update(), gr.update()] + [gr.update()] * MAX_DIMS
        model = load_model(ctx, name)
        if is_vq(model):  # the codes of held-out image 0, decoded: edit them and press Decode
            codes = gr.update(value=views.held_out_codes(ctx, name), label=f"{model.grid_size} x {model.grid_size} "
                              f"code indices, row by row (0-{model.num_codes - 1})")
            return ([checkpoint_info(name) + VQ_SAMPLES_NOTE, decode(ctx, name, codes["value"]), codes, None, None,
                     gr.update(), VQ_SLIDERS_NOTE]
                    + [gr.update(visible=False)] * MAX_DIMS)
        z = torch.zeros(model.latent_dim)
        note = "" if model.latent_dim <= MAX_DIMS else f"\n\n(sliders for the first {MAX_DIMS} dims)"
        # the traversed dim ranges over the model's dims (it offered 1-32 to a 2-D model, and refused 3)
        dim = gr.update(maximum=model.latent_dim, value=min(max(int(dim or 1), 1), model.latent_dim))
        return ([checkpoint_info(name) + note, decode(ctx, name, z.tolist()),
                 gr.update(value=views.latent_text(z), label=LATENT_LABEL), None, None, dim, SLIDERS_NOTE]
                + slider_updates(model, z, views.slider_limit(ctx, name)))

    gr.on([dense_ckpt.change, *page_open()], on_dense_checkpoint, inputs=[dense_ckpt, trav_dim],
          outputs=[dense_info, dense_img, latent_box, trav_img, samples_img, trav_dim, slider_note, *sliders],
          api_visibility="private")

    @ui_errors
    def on_slider(name, text, *values):
        z = views.latent_from_sliders(ctx, name, text, values)
        return decode(ctx, name, z), views.latent_text(z)

    for s_ in sliders:
        s_.input(on_slider, inputs=[dense_ckpt, latent_box, *sliders], outputs=[dense_img, latent_box],
                 api_visibility="private", trigger_mode="always_last", show_progress="hidden")

    def on_decode_text(name, text):
        model = load_model(ctx, name)
        image = decode(ctx, name, text)
        if is_vq(model):
            return [image] + [gr.update()] * MAX_DIMS
        from core.vae.explore import as_latent

        return [image] + slider_updates(model, as_latent(model, latent_values(model, text))[0])

    def vae_decode(checkpoint: str, latent: str):
        """Decode a latent: "z1, z2, ..." for ae/dae/vae (|z| > 6 clamped), or h*w code indices for a VQ-VAE; empty
        decodes z = 0 (a VQ-VAE: code 0 everywhere)."""
        return decode(ctx, checkpoint, latent)

    # the public endpoint: checkpoint + latent -> image (on the page the sliders follow)
    endpoint(decode_btn.click, vae_decode, [dense_ckpt, latent_box], dense_img, api_name="vae_decode",
             page_fn=on_decode_text, page_outputs=[dense_img, *sliders])

    def set_z(mode):
        @warn_and_keep(2 + MAX_DIMS)
        def handler(name, seed, index):
            z = views.starting_latent(ctx, name, mode, seed, index)
            return [decode(ctx, name, z.tolist()), views.latent_text(z)] + slider_updates(load_model(ctx, name), z)

        return handler

    for button, mode in ((zero_btn, "zero"), (prior_btn, "prior"), (encode_btn, "encode")):
        button.click(set_z(mode), inputs=[dense_ckpt, z_seed, test_index], outputs=[dense_img, latent_box, *sliders],
                     api_visibility="private")
    trav_btn.click(warn_and_keep(1)(functools.partial(views.traverse, ctx)),
                   inputs=[dense_ckpt, latent_box, trav_dim, trav_range, trav_steps], outputs=trav_img,
                   api_visibility="private")
    sample_btn.click(warn_and_keep(1)(functools.partial(views.samples, ctx)), inputs=[dense_ckpt, n_samples, sample_seed],
                     outputs=samples_img, api_visibility="private").then(
        None, js=show_image_js("vae-samples"), api_visibility="private", queue=False)  # (it formed below the fold)

    # ---- interpolation
    interp_btn.click(warn_and_keep(2)(functools.partial(views.interpolation_strips, ctx)),
                     inputs=[interp_ckpt, index_a, index_b, upload_a, upload_b, interp_steps],
                     outputs=[lerp_img, slerp_img], api_visibility="private")

    # ---- encode your own
    def vae_reconstruct(checkpoint: str, image: str):
        """Encode and decode an image file: (the input as the model sees it, its reconstruction, the latent)."""
        return reconstruct(ctx, checkpoint, image)

    # on the page a refused input (no file, a broken one) is one warning and the outputs stay (with the map's cross)
    own_outputs = [seen_img, rec_img, latent_json, own_map]
    endpoint(upload_btn.click, vae_reconstruct, [own_ckpt, upload], [seen_img, rec_img, latent_json],
             api_name="vae_reconstruct", page_fn=functools.partial(views.encode_own, ctx), page_outputs=own_outputs)
    # a file is encoded as it arrives (it waited for the button, below the fold on a projector); a file that is no
    # image empties the outputs (the last image's reconstruction stood under the new file's name)
    upload.upload(warn_and_keep(len(own_outputs), restore=lambda *_: (None,) * len(own_outputs))(
        functools.partial(views.encode_own, ctx)), [own_ckpt, upload], own_outputs, api_visibility="private")
    own = warn_and_keep(len(own_outputs))(functools.partial(views.encode_own, ctx))
    sketch_btn.click(own, inputs=[own_ckpt, sketch], outputs=own_outputs, api_visibility="private",
                     trigger_mode="always_last", show_progress="hidden")
    # each stroke encodes too (the button may be below the fold); a cleared canvas clears the outputs, quietly
    sketch.change(ui_errors(functools.partial(views.encode_own, ctx, blank_clears=True)), inputs=[own_ckpt, sketch],
                  outputs=own_outputs, api_visibility="private", trigger_mode="always_last", show_progress="hidden",
                  js=fresh_sketch_js("vae-sketch", 1))
    # another checkpoint encodes again what was encoded last (the drawing or the upload): the old model's input,
    # reconstruction, latent and map stayed under the new name
    encoded = gr.State("")
    for trigger, which in ((upload.upload, "upload"), (upload_btn.click, "upload"), (sketch_btn.click, "draw"),
                           (sketch.change, "draw")):
        trigger((lambda w: lambda: w)(which), outputs=encoded, api_visibility="private", queue=False)

    def encode_again(name, which, drawing, path):
        src = {"draw": drawing, "upload": path}.get(which)
        return views.encode_own(ctx, name, src, blank_clears=True)

    own_ckpt.change(warn_and_keep(len(own_outputs))(encode_again), [own_ckpt, encoded, sketch, upload], own_outputs,
                    api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    # a VQ-VAE has no latent plane: no map (an empty box said "where it lands on the map")
    own_ckpt.change(lambda name: gr.update(visible=views.has_map(name)), own_ckpt, own_map, api_visibility="private",
                    queue=False)

    def interpolation_strips_for(name):
        """Another checkpoint (or the page's first): the last one's strips leave (they stayed under the new name), and
        the labels say what is interpolated: a VQ-VAE its encoder's z_e, re-quantised (no prior to keep |z| typical
        of)."""
        if views.has_map(name):
            return gr.update(value=None, label=LERP_LABEL), gr.update(value=None, label=SLERP_LABEL)
        return (gr.update(value=None, label="linear: (1 - t) z_e,A + t z_e,B, each position re-quantised to its "
                                            "nearest code"),
                gr.update(value=None, label="spherical (slerp) between z_e,A and z_e,B, re-quantised (a VQ-VAE has "
                                            "no prior)"))

    gr.on([interp_ckpt.change, *page_open()], interpolation_strips_for, interp_ckpt, [lerp_img, slerp_img],
          api_visibility="private", queue=False)

if __name__ == "__main__":
    run_standalone(build, TITLE)
