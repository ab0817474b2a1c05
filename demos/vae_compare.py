"""The VAE tab's Compare sub-tab: the same held-out images through three models (AE / VAE / VQ-VAE) and a VQ-VAE's
codebook; built inside the VAE explorer tab (``demos.vae.build``), a view over ``core.vae.views``."""

from __future__ import annotations

import gradio as gr

from core.vae import views
from demos.common import (HELD_OUT_LAST, ONE_BUTTON, PIXELS, AppContext, Number, Slider, checkpoint_picker,
                          seed_control, warn_and_keep)
from demos.page import reveal_js

COMPARE = ("ae16-faces", "vae16-faces", "vqvae-faces")


def build_compare(ctx: AppContext, pick) -> list:
    """Build the sub-tab's controls and events (inside an open ``gr.Tab``); ``pick(name)`` is the checkpoint a picker
    opens on. Returns its checkpoint pickers (the Train panel refreshes them)."""
    with gr.Row():
        cmp_pickers = [checkpoint_picker("vae", label=label, value=pick(default), elem_id=f"vae-cmp-{i}")
                       for i, (label, default) in enumerate(zip(("A", "B", "C"), COMPARE))]
    with gr.Row():
        cmp_n = Slider(2, 12, value=8, step=1, label="images")
        cmp_seed = seed_control("seed", elem_id="vae-cmp-seed")
        cmp_btn = gr.Button("Compare", variant="primary")
    cmp_note = gr.Markdown(label="note")
    cmp_rec = gr.Image(label="held-out images (top row), then each model's reconstruction", type="pil",
                       format="png", interactive=False, elem_id="vae-cmp-rec")
    cmp_samples = gr.Image(label="prior samples, one row per model (an AE has no prior: N(0, I) misses its codes; a "
                                 "VQ-VAE draws each code on its own, with no prior over the grid: textures, not faces)",
                           type="pil", format="png", interactive=False)
    gr.Markdown("### VQ-VAE codebook")
    with gr.Row():
        vq_ckpt = checkpoint_picker("vae", label="VQ-VAE checkpoint", value=pick(COMPARE[2]),
                                    only=views.is_vq_checkpoint, elem_id="vae-vq-ckpt")  # (VQ-VAEs only)
        vq_index = Number(value=0, precision=0, minimum=0, maximum=HELD_OUT_LAST, label="held-out image #")
        vq_btn = gr.Button("Codebook usage and code map", elem_id="vae-vq-go")
    # the chart over the page's width, the image, its codes and their decoding side by side under it (the
    # three were stacked in a column beside the chart: 1,200 px down)
    usage_plot = gr.BarPlot(x="rank", y="count", tooltip=["code", "count"], x_title="codes, most used first",
                            label="code usage on 1000 held-out images: codes by rank, most used first",
                            height=280)
    with gr.Row():
        vq_image = dict(type="pil", format="png", interactive=False, height=240, buttons=["fullscreen"],
                        elem_classes=[PIXELS, ONE_BUTTON])  # (three buttons wrapped the labels)
        vq_input = gr.Image(label="image", **vq_image)
        vq_map = gr.Image(label="its codes (a colour each)", **vq_image)
        vq_rec = gr.Image(label="decoded from the codes", elem_id="vae-vq-rec", **vq_image)
    vq_note = gr.Markdown(label="note")

    # a refusal, such as models of unlike sizes, is a warning and the outputs stay (it was red badges)
    cmp_btn.click(warn_and_keep(3)(lambda a, b, c, n, seed: views.compare(ctx, (a, b, c), n, seed)),
                  inputs=[*cmp_pickers, cmp_n, cmp_seed], outputs=[cmp_note, cmp_rec, cmp_samples],
                  api_visibility="private")

    def codebook(name, index):  # the bars from rank 1 to the codebook's size (the axis ran from -10)
        table, *rest = views.codebook_view(ctx, name, index)
        return gr.update(value=table, x_lim=[0, len(table) + 1]), *rest

    # at the click the page scrolls the chart and the three images on screen under the button (they formed below a
    # projector's fold, nothing changing in view for seconds); + 40 px: the chart grows as it fills
    vq_btn.click(warn_and_keep(5)(codebook), inputs=[vq_ckpt, vq_index],
                 outputs=[usage_plot, vq_input, vq_map, vq_rec, vq_note], api_visibility="private",
                 js=reveal_js("vae-vq-go", "vae-vq-rec", "b.getBoundingClientRect().bottom + 40"))
    forget_on_switch(cmp_pickers, [cmp_note, cmp_rec, cmp_samples])
    forget_on_switch([vq_ckpt], [usage_plot, vq_input, vq_map, vq_rec, vq_note])
    return [*cmp_pickers, vq_ckpt]


def forget_on_switch(pickers, outputs) -> None:
    """Another checkpoint in ``pickers``: the last one's ``outputs`` leave (they stayed under the new name)."""
    gr.on([p.change for p in pickers], lambda: (None,) * len(outputs), outputs=outputs, api_visibility="private",
          queue=False)
