"""GAN variants tab: DCGAN, LSGAN, WGAN, WGAN-GP, ProGAN and the conditional GAN (concat, projection, spectral norm,
feature matching), each from a bundled checkpoint; every variant side by side with its curves and measurements.

A view over ``core.gans.service``; it loads no model until used.
"""

from __future__ import annotations

import functools

import gradio as gr

from core.gans.service import (CURVES, MEASUREMENT_HEADERS, METHOD, RANDOM_CLASS, TRUNCATION_RANGE,
                               checkpoint_note, class_grid, compare_grid, curves_chart, generate_image,
                               interpolation_strip, measurements, num_classes, why_it_matters,
                               world_of)
from demos.common import (PIXELS, PIXELS_LARGE, STRIP, AppContext, Dropdown, Radio, Slider, checkpoint_picker, endpoint,
                          page_open, run_standalone, seed_control, training_panel, warn_and_keep, word_fit_widths)

TITLE = "GANs"
TRY = """
1. Change the **seed**: each seed is a new digit from the same generator.
2. Pick a **cGAN** checkpoint and choose a **class**: the same seed now draws the digit you ask for.
3. Open **Every variant side by side**: the same seeds through each loss, with the curves and the measured coverage.
"""
# every column of the measurements and every abbreviation of the variants' names, said where they are read (a class
# heard "class TV", "spread" and "MS" with no word on them)
MEASUREMENTS_GLOSSARY = """**score**: the Inception-Score-style score in the digits classifier (real digits: 9.5; higher: sharper
and more varied) · **FID**: the Fréchet distance to real digits in that classifier's features (lower is closer;
comparable within GenLab only) · **precision**: fidelity, **recall**: diversity (k-NN manifolds) · **class TV**: how
far the mix of digits drawn is from the real mix (total variation; 0 % = the same mix) · **rarest digit**: the share
of the least-drawn digit (real: about 10 %; near 0 %: a digit the generator dropped, mode collapse) · **spread**: how
different two samples of one digit are (real = 1) · **accuracy**: a cGAN's samples read as the digit asked for ·
**minutes**: training wall time on the card's hardware. In the names: **SN** spectral normalisation, **FM** feature
matching, **MS** mode seeking; concat / projection: how a cGAN's discriminator takes the class."""
ABOUT = """**GAN variants: one network family, many losses.** A generator G maps noise z to an image and a
discriminator D learns to tell G's images from real ones ([Goodfellow et al. 2014](https://arxiv.org/abs/1406.2661)).
GenLab trains the same small convolutional G and D ([DCGAN, Radford et al. 2016](https://arxiv.org/abs/1511.06434))
with different losses: least squares ([LSGAN, Mao et al. 2017](https://arxiv.org/abs/1611.04076)), the Wasserstein
critic with weight clipping ([WGAN, Arjovsky et al. 2017](https://arxiv.org/abs/1701.07875)) or a gradient penalty
([WGAN-GP, Gulrajani et al. 2017](https://arxiv.org/abs/1704.00028)), the hinge loss of BigGAN; conditional on the
digit ([Mirza & Osindero 2014](https://arxiv.org/abs/1411.1784); projection discriminator,
[Miyato & Koyama 2018](https://arxiv.org/abs/1802.05637)) with spectral normalisation
([Miyato et al. 2018](https://arxiv.org/abs/1802.05957)) and feature matching
([Salimans et al. 2016](https://arxiv.org/abs/1606.03498)); and progressive growing
([ProGAN, Karras et al. 2018](https://arxiv.org/abs/1710.10196)). TimeGAN (time series) is out of scope for an
image app; StarGAN (one generator for many domains) would belong with translation, and is not built."""

DEFAULT_CHECKPOINT = "cgan-projection-ms-digits"
def classes_of(k: int) -> list[str]:
    """The class box's choices for a generator of ``k`` classes (0: unconditional)."""
    return [RANDOM_CLASS] + [str(j) for j in range(k)]


CLASSES = classes_of(10)


def class_control(ctx, name):
    """The class dropdown's state for a checkpoint: enabled with its classes, or disabled with a line saying why."""
    try:
        k = num_classes(ctx, name)
    except Exception:  # an unknown name: the view's warning says so
        return gr.update()
    if not k:
        return gr.update(choices=[RANDOM_CLASS], value=RANDOM_CLASS, interactive=False,
                         info="this checkpoint is unconditional: it picks the digit itself")
    return gr.update(choices=classes_of(k), interactive=True,
                     info="the digit a conditional G is asked for")


def typed_class(ctx, name, value, last):
    """(the class box, the last class it held that the checkpoint has): a class typed into the box that the
    checkpoint does not have goes back to the last one (it stayed: every later change warned again, and the image no
    longer matched the seed); the image's own event says why, once."""
    try:
        valid = classes_of(num_classes(ctx, name))
    except Exception:  # an unknown checkpoint: its own warning says so
        return gr.skip(), gr.skip()
    typed = str(value if value is not None else "").strip().lower()
    if typed in valid:
        return (typed if typed != value else gr.skip()), typed
    return (last if last in valid else RANDOM_CLASS), gr.skip()


def build(ctx: AppContext) -> None:
    gr.Markdown("Pick a checkpoint and a seed. Every checkpoint is the same small generator trained with another "
                "loss or switch for the same number of steps on the `digits` world; the note says how it measured.")
    with gr.Row():  # controls left, the image right: both on a 1024 x 768 projector screen
        with gr.Column(min_width=260):
            picker = checkpoint_picker(METHOD, value=DEFAULT_CHECKPOINT, elem_id="gans-checkpoint")
            note = gr.Markdown(checkpoint_note(picker.value) if picker.value else "", elem_id="gans-checkpoint-note",
                               label="checkpoint note")
            seed = seed_control("Seed", value=7, elem_id="gans-seed")  # the default model draws a clean 5 there
            label = Dropdown(CLASSES, value=RANDOM_CLASS, label="class", elem_id="gans-class",
                             info="the digit a conditional G is asked for",
                             allow_custom_value=True)  # the API's value is checked by check_class, in one line
            truncation = Slider(*TRUNCATION_RANGE, value=0.0, step=0.1, label="truncation τ",
                                elem_id="gans-truncation",
                                info="0 = off. Else every z component beyond ±τ is drawn again (BigGAN): a small τ "
                                     "gives more typical digits and less variety.")
        with gr.Column(min_width=300):
            image = gr.Image(label="G(z)", format="png", type="pil", height=384, elem_id="gans-image",
                             elem_classes=[PIXELS, PIXELS_LARGE], interactive=False)
    seed_b = seed_control("Seed B (interpolation)", value=2, elem_id="gans-seed-b")
    strip = gr.Image(label="from Seed to Seed B along the sphere in z (slerp)", format="png", type="pil",
                     interactive=False, elem_id="gans-interpolation", elem_classes=STRIP)

    common = [picker, seed, label, truncation]
    strip_inputs = [picker, seed, seed_b, label, truncation]
    strip_view = lambda name, a, b, y, tau: interpolation_strip(ctx, name, a, b, y, tau)
    quiet = dict(trigger_mode="always_last", show_progress="hidden")
    endpoint([seed.change, label.change, truncation.change], functools.partial(generate_image, ctx), common, image,
             api_name="gan_generate", **quiet)
    # the strip's refusal of a value the image's event refuses too is silent (a typed class 'abc' warned twice)
    gr.on([seed.change, label.change, truncation.change], warn_and_keep(1, quiet=True)(strip_view),
          inputs=strip_inputs, outputs=strip, api_visibility="private", **quiet)
    seed_b.change(warn_and_keep(1)(strip_view), inputs=strip_inputs, outputs=strip, api_visibility="private", **quiet)

    # a new checkpoint (or the page opening): both views at once; a bad typed name warns and keeps them
    def both(name, a, b, y, tau):  # the class picked for the last checkpoint may not apply to this one
        y = y if num_classes(ctx, name) else RANDOM_CLASS
        return generate_image(ctx, name, a, y, tau), strip_view(name, a, b, y, tau)

    gr.on([picker.change, *page_open()], warn_and_keep(2)(both), inputs=strip_inputs, outputs=[image, strip],
          api_visibility="private", **quiet)
    gr.on([picker.change, *page_open()], functools.partial(class_control, ctx), inputs=picker, outputs=label,
          api_visibility="private", queue=False)
    picker.change(checkpoint_note, inputs=picker, outputs=note, api_visibility="private", queue=False)
    last_class = gr.State(RANDOM_CLASS)
    label.change(functools.partial(typed_class, ctx), [picker, label, last_class], [label, last_class],
                 api_visibility="private", queue=False)

    with gr.Accordion("Class by seed (conditional checkpoints)", open=False):
        with gr.Row():
            grid_seeds = gr.Textbox(value="0, 1, 2, 3, 4", label="seeds (rows, 1-8)", scale=3)
            grid_btn = gr.Button("Draw the grid", variant="primary", scale=1)
        grid = gr.Image(label="a row per seed, a column per class", format="png", type="pil", interactive=False)
        endpoint(grid_btn.click, functools.partial(class_grid, ctx), [picker, grid_seeds, truncation], grid,
                 api_name="gan_class_grid", api_visibility="undocumented")

    with gr.Accordion("Every variant side by side", open=False):
        gr.Markdown("The same seeds through every finished checkpoint of the picked one's world (conditional ones "
                    "draw the digit written under each seed); then each card's measurements, its training curves, "
                    "and what they say about mode collapse.")
        with gr.Row():
            compare_seeds = gr.Textbox(value="1, 2, 3, 4, 5, 6, 7, 8", label="seeds (columns, 1-8)", scale=3)
            compare_btn = gr.Button("Compare", variant="primary", scale=1, elem_id="gans-compare")
        compare = gr.Image(label="every variant, the same seeds", format="png", type="pil", interactive=False,
                           elem_id="gans-compare-grid")
        table = gr.Dataframe(headers=MEASUREMENT_HEADERS, label="measured on 2,000 samples (the cards' figures)",
                             interactive=False, wrap=True,
                             column_widths=word_fit_widths(MEASUREMENT_HEADERS, flexible=0),
                             max_height=760,  # every variant's row at 1024 x 768 (500 px cut one in half)
                             elem_id="gans-measurements")
        gr.Markdown(MEASUREMENTS_GLOSSARY, elem_id="gans-glossary")
        why = gr.Markdown(elem_id="gans-why", label="why")
        curve = Radio(list(CURVES), value="D loss", label="training curve")
        # a picture, not a gr.LinePlot: Gradio's puts the legend on one line under the chart, and eleven variants'
        # names ran off its side
        plot = gr.Image(label="training curves", type="pil", format="png", interactive=False, elem_id="gans-curves",
                        buttons=["fullscreen", "download"])

        def compare_all(seeds="1, 2, 3, 4, 5, 6, 7, 8", truncation=0.0, checkpoint: str = DEFAULT_CHECKPOINT):
            """Every finished variant of the picked checkpoint's world, on the same seeds."""
            world = world_of(checkpoint)
            return (compare_grid(ctx, seeds, truncation, world), measurements(world), why_it_matters(world),
                    curves_chart("D loss", world=world))

        def world_curves(curve, checkpoint):
            return curves_chart(curve, world=world_of(checkpoint))

        endpoint(compare_btn.click, compare_all, [compare_seeds, truncation, picker], [compare, table, why, plot],
                 api_name="gan_compare", api_visibility="undocumented")
        compare_btn.click(lambda: "D loss", outputs=curve, api_visibility="private", queue=False)
        curve.input(warn_and_keep(1)(world_curves), inputs=[curve, picker], outputs=plot, api_visibility="private")

    training_panel(ctx, METHOD, ["loss", "conditional", "dataset", "steps"],
                   advanced=["architecture", "conditioning", "spectral_norm", "feature_matching", "minibatch_std",
                             "batch_size", "n_critic", "lr", "d_lr_ratio", "z_dim", "ngf", "ndf", "eval_samples"],
                   defaults={"steps": 1000, "sample_every": 100, "checkpoint_every": 250, "eval_samples": 500},
                   pickers=(picker,))


if __name__ == "__main__":
    run_standalone(build, TITLE)
