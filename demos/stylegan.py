"""StyleGAN tab: seeds A and B, style mixing over coarse / middle / fine layers, truncation, noise,
interpolation, the paper's mixing grid, projection of your own image, and training.

A view over ``core.stylegan.explore`` and ``core.stylegan.project``; it loads no model until used.
"""

from __future__ import annotations

import functools
import json
import tempfile
import time

import gradio as gr

from demos.common import (PIXELS, AppContext, checkpoint_picker, run_standalone, seed_control, training_panel,
                          ui_errors)

TITLE = "StyleGAN"
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

METHOD = "stylegan"
DEFAULT_CHECKPOINT = "stylegan-faces64-wide"  # the one whose mixing shows the paper's split (model cards)
PRESETS = ("coarse", "middle", "fine", "middle + fine", "8 px and up", "none")
DEFAULT_PRESET = "8 px and up"  # for a checkpoint that measured no mixing (else its ``recommended_preset``)
GRID_VIEW = 512
PROJECTION_VIEW = 192

PSI_INFO = ("w' = w_avg + psi (w - w_avg). psi 1 = no truncation; psi 0 gives the mean face (w_avg) for "
            "every seed; psi < 0 gives the 'anti-face' on the other side of the mean.")


# ---------------------------------------------------------------- helpers (plain functions)
def _generator(ctx: AppContext, name):
    from core.stylegan.explore import load_generator

    if not name or not isinstance(name, str):
        raise ValueError("choose a checkpoint (none is installed: train one in the Train panel)")
    return ctx.cache.get((METHOD, name), lambda: load_generator(name, ctx.device))


def layer_layout(name) -> tuple[list[tuple[str, int]], dict[str, list[int]], int]:
    """(checkbox choices, preset layer sets, num_ws) of a checkpoint, read from its config.json (no weights).

    The presets are the layer sets the mixing measurement uses (``mixing_sets``) plus "none".
    """
    from core.engine import resolve_checkpoint
    from core.stylegan.evaluate import mixing_sets
    from core.stylegan.generator import Generator

    resolution = 64
    try:
        resolution = int(json.loads((resolve_checkpoint(METHOD, name) / "config.json").read_text())["resolution"])
    except Exception:
        pass
    shell = Generator.__new__(Generator)  # only the layout helpers, no weights
    shell.resolution = resolution
    shell.num_ws = 2 * (resolution.bit_length() - 1) - 2
    labels = [f"{i}: {shell.layer_resolution(i)} px" for i in range(shell.num_ws)]
    return [(label, i) for i, label in enumerate(labels)], {**mixing_sets(shell), "none": []}, shell.num_ws


def _percent(transfer: dict, layer_set: str, attributes: tuple[str, ...], seed: str = "B") -> str:
    """"pose 82 %, ...": how often the mix shows ``seed``'s value of each attribute (``mixing_transfer``)."""
    values = transfer.get(layer_set, {})
    shares = {a: values[a].get(seed, float("nan")) if isinstance(values[a], dict) else float("nan")
              for a in attributes if a in values}
    return ", ".join(f"{a.replace('_', ' ')} {100 * v:.0f} %" for a, v in shares.items() if v == v)  # NaN: no pair


def _metrics(name) -> tuple[dict, int] | None:
    """(metrics.json, training steps) of a checkpoint, or None when it has none (or the name is not one)."""
    from core.engine import resolve_checkpoint

    try:
        folder = resolve_checkpoint(METHOD, name)
        return (json.loads((folder / "metrics.json").read_text()),
                json.loads((folder / "train_config.json").read_text())["steps"])
    except Exception:
        return None


def recommended_preset(name) -> str:
    """The preset whose measured mix best keeps A's shapes and takes B's colours (``cleanest_split``);
    ``DEFAULT_PRESET`` when the checkpoint measured none."""
    from core.stylegan.evaluate import cleanest_split

    found = _metrics(name)
    best = cleanest_split(found[0].get("mixing_transfer") or {}) if found else None
    return best if best in PRESETS else DEFAULT_PRESET


def checkpoint_note(name, preset=None) -> str:
    """What the checkpoint's training measured (its metrics.json): FID, what B's coarse layers bring, what the
    chosen preset (default: the cleanest split) brings and keeps, and which preset splits best; "" if unknown."""
    from core.stylegan.evaluate import cleanest_split

    found = _metrics(name)
    if found is None:
        return ""
    metrics, steps = found
    text = f"**`{name}`**: {steps:,} training steps"
    if "fid" in metrics:
        text += (f", FID {metrics['fid']:.0f} in GenLab's classifier features (real vs real gives "
                 f"{metrics.get('fid_real_train_vs_test', float('nan')):.0f}; lower is better)")
    text += ". Its model card says how it was trained."
    transfer = metrics.get("mixing_transfer")
    if transfer:
        best = cleanest_split(transfer)
        chosen = preset if preset in transfer and preset != "coarse" else best
        text += (f" Measured over {metrics.get('mixing_pairs', '?')} seed pairs that differ: with B's **coarse** "
                 f"layers the mix shows B's {_percent(transfer, 'coarse', ('pose', 'hair_style', 'head_shape'))}")
        if chosen and chosen != "coarse":
            text += (f"; with B's layers **{chosen}** it shows B's "
                     f"{_percent(transfer, chosen, ('background', 'shirt_colour', 'hair_colour'))} and keeps A's "
                     f"{_percent(transfer, chosen, ('pose', 'hair_style', 'head_shape'), seed='A')}")
        text += "."
        if best:
            text += f" The cleanest split of A's shapes from B's colours measured for this model: **{best}**."
    return text + _under_drawn_note(metrics.get("attribute_coverage"))


def _under_drawn_note(coverage) -> str:
    """" Its samples under-draw pose *turned left* (7 % vs 32 % of real images), ..." (at most three), or ""."""
    from core.metrics import under_drawn

    try:
        rows = under_drawn(coverage)[:3] if coverage else []
    except (KeyError, TypeError, ValueError):  # a metrics.json from elsewhere
        return ""
    if not rows:
        return ""
    items = [f"{a.replace('_', ' ')} *{v}* ({100 * g:.0f} % vs {100 * r:.0f} % of real images)" for a, v, g, r in rows]
    return " Its samples under-draw " + ", ".join(items) + "; the model card has the coverage table."


def crossover_markdown(name) -> str:
    """The checkpoint's measured crossover table (metrics.json, ``mixing_crossover``) for the tab, or why none."""
    from core.engine import resolve_checkpoint
    from core.stylegan.evaluate import crossover_report

    try:
        metrics = json.loads((resolve_checkpoint(METHOD, name) / "metrics.json").read_text())
        report = crossover_report(metrics["mixing_crossover"])
    except Exception:
        return "Not measured for this checkpoint (training measures it at its last step, on the faces world)."
    return (f"Measured when training ended, over {metrics.get('mixing_pairs', '?')} seed pairs that the attribute "
            f"classifier reads differently. {report}")


def preset_layers(name, preset):
    """The layer indices of a preset (one of ``PRESETS``) for a checkpoint."""
    if preset not in PRESETS:
        raise ValueError(f"preset {preset!r} is not one of {list(PRESETS)}")
    return layer_layout(name)[1][preset]


def generate_image(ctx, checkpoint, seed, psi, cutoff=0, noise_mode="const", noise_seed=0):
    """/stylegan_generate: one image for a seed at truncation psi."""
    from core.stylegan.explore import generate

    return generate(_generator(ctx, checkpoint), seed, psi, cutoff, noise_mode, noise_seed)


def _layer_list(layers_from_b):
    """Layer indices from the API: a list, or a string such as "0, 1"."""
    if isinstance(layers_from_b, str):
        return [p for p in layers_from_b.replace(",", " ").split() if p]
    return layers_from_b


def mix_image(ctx, checkpoint, seed_a, seed_b, layers_from_b, psi, cutoff=0, noise_mode="const", noise_seed=0):
    """/stylegan_mix: seed A with B's w on the listed layers."""
    from core.stylegan.explore import mix

    return mix(_generator(ctx, checkpoint), seed_a, seed_b, _layer_list(layers_from_b), psi, cutoff, noise_mode,
               noise_seed)


def all_views(ctx, checkpoint, seed_a, seed_b, layers_from_b, psi, cutoff=0, noise_mode="const", noise_seed=0):
    """(A, B, mix) in one batch, for the controls that redraw all three."""
    from core.stylegan.explore import mix_views

    return mix_views(_generator(ctx, checkpoint), seed_a, seed_b, _layer_list(layers_from_b), psi, cutoff,
                     noise_mode, noise_seed)


def grid_image(ctx, checkpoint, row_seeds, col_seeds, layers_from_b, psi, cutoff, noise_mode, noise_seed):
    from core.stylegan.explore import mixing_grid, parse_seeds, upscale

    t0 = time.perf_counter()
    grid = mixing_grid(_generator(ctx, checkpoint), parse_seeds(row_seeds), parse_seeds(col_seeds), layers_from_b,
                       psi, cutoff, noise_mode, noise_seed)
    note = (f"Rows: seeds A, columns: seeds B; each cell is A with B's w on layers {list(layers_from_b) or 'none'}. "
            f"Rendered in {1000 * (time.perf_counter() - t0):.0f} ms.")
    return upscale(grid, GRID_VIEW), note


def interpolation_gif(ctx, checkpoint, seed_a, seed_b, space, method, frames, psi, noise_mode, noise_seed):
    from core.stylegan.explore import interpolation_frames, save_gif

    images = interpolation_frames(_generator(ctx, checkpoint), seed_a, seed_b, space, method, frames, psi,
                                  noise_mode, noise_seed)
    path = tempfile.NamedTemporaryFile(prefix="stylegan-", suffix=".gif", delete=False).name
    return str(save_gif(images, path))


def project_stream(ctx, checkpoint, image, space, steps):
    """Yield (current reconstruction, target, status, ws) while projecting ``image`` into w / w+."""
    from core.data import load_user_image
    from core.stylegan.explore import to_pil, upscale
    from core.stylegan.project import project

    if image is None:
        raise ValueError("upload an image to project")
    G = _generator(ctx, checkpoint)
    # any size or mode: decoded, transparency on white, centre-cropped and resized to the model's side
    target = load_user_image(image, channels=G.image_channels, size=G.resolution, background="white")
    target_view = upscale(to_pil(target), PROJECTION_VIEW)
    t0 = time.perf_counter()
    for report in project(G, target, steps=steps, space=space):
        status = (f"step {report.step} / {report.total} · loss {report.loss:.4f} · "
                  f"{time.perf_counter() - t0:.1f} s")
        yield upscale(to_pil(report.image[0]), PROJECTION_VIEW), target_view, status, report.ws
    yield (upscale(to_pil(report.image[0]), PROJECTION_VIEW), target_view,
           status + " · done: now mix it with seed B below", report.ws)


def mix_projection(ctx, checkpoint, ws, seed_b, layers_from_b, psi, noise_mode, noise_seed):
    from core.stylegan.explore import check_layers, mix_styles, render, to_pil, upscale, ws_from_seeds

    if ws is None:
        raise ValueError("project an image first")
    G = _generator(ctx, checkpoint)
    if ws.shape[1:] != (G.num_ws, G.w_dim):
        raise ValueError("the projection was made with another checkpoint; project again")
    ws_b = ws_from_seeds(G, [seed_b], psi)
    mixed = mix_styles(ws.to(ws_b.device), ws_b, check_layers(G, layers_from_b))
    return upscale(to_pil(render(G, mixed, noise_mode, noise_seed)[0]), PROJECTION_VIEW)


# ---------------------------------------------------------------- the tab
def build(ctx: AppContext) -> None:
    gr.Markdown("Pick two seeds. The mixed image keeps A's w on every layer except the checked ones, which "
                "take B's w. Early layers carry pose and head shape, later ones the colours; where the split falls "
                "depends on the model, and the note below says what was measured for this one.")
    picker = checkpoint_picker(METHOD, value=DEFAULT_CHECKPOINT, elem_id="stylegan-checkpoint")
    first_preset = recommended_preset(picker.value)
    note = gr.Markdown(checkpoint_note(picker.value, first_preset), elem_id="stylegan-checkpoint-note")
    choices, groups, num_ws = layer_layout(picker.value)

    with gr.Row():
        with gr.Column():
            seed_a = seed_control("Seed A", value=1, elem_id="stylegan-seed-a")
            img_a = gr.Image(label="A", format="png", type="pil", height=256, elem_id="stylegan-image-a",
                             elem_classes=PIXELS, interactive=False)
        with gr.Column():
            seed_b = seed_control("Seed B", value=2, elem_id="stylegan-seed-b")
            img_b = gr.Image(label="B", format="png", type="pil", height=256, elem_id="stylegan-image-b",
                             elem_classes=PIXELS, interactive=False)
        with gr.Column():
            preset = gr.Radio(list(PRESETS), value=first_preset, label="take from B", elem_id="stylegan-preset")
            img_mix = gr.Image(label="A with B's styles", format="png", type="pil", height=256,
                               elem_id="stylegan-image-mix", elem_classes=PIXELS, interactive=False)
    layers = gr.CheckboxGroup(choices=choices, value=groups[first_preset], label="layers that take B's w",
                              info="index: the resolution the layer acts on", elem_id="stylegan-layers")
    layers_api = gr.JSON(value=groups[first_preset], visible=False)  # what the endpoint reads (any checkpoint)
    with gr.Row():
        psi = gr.Slider(-1.0, 1.5, value=1.0, step=0.05, label="truncation psi", info=PSI_INFO, elem_id="stylegan-psi")
        cutoff = gr.Slider(0, num_ws, value=0, step=1, label="truncation layer cutoff",
                           info=f"truncate only layers < cutoff (0 = all {num_ws} layers)", elem_id="stylegan-cutoff")
    with gr.Row():
        noise_mode = gr.Radio(["const", "random", "none"], value="const", label="noise inputs",
                              info="const: the stored noise images; random: drawn from the noise seed; none: off")
        noise_seed = gr.Number(value=0, precision=0, minimum=0, maximum=2**32 - 1, label="noise seed")

    common = [psi, cutoff, noise_mode, noise_seed]
    gr.on([seed_a.change], ui_errors(functools.partial(generate_image, ctx)), inputs=[picker, seed_a, *common],
          outputs=img_a, api_name="stylegan_generate", trigger_mode="always_last", show_progress="hidden")
    gr.on([seed_b.change], ui_errors(functools.partial(generate_image, ctx)), inputs=[picker, seed_b, *common],
          outputs=img_b, api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    gr.on([seed_a.change, seed_b.change, layers_api.change], ui_errors(functools.partial(mix_image, ctx)),
          inputs=[picker, seed_a, seed_b, layers_api, *common], outputs=img_mix, api_name="stylegan_mix",
          trigger_mode="always_last", show_progress="hidden")
    # controls that change all three views: one request, one batched forward pass
    from gradio.context import Context

    view_triggers = [picker.change, psi.release, cutoff.release, noise_mode.change, noise_seed.submit]
    if Context.root_block is not None:  # first view when the page opens (the model loads then, not at build)
        view_triggers.append(Context.root_block.load)
    gr.on(view_triggers, ui_errors(functools.partial(all_views, ctx)),
          inputs=[picker, seed_a, seed_b, layers_api, *common], outputs=[img_a, img_b, img_mix],
          api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    layers.change(lambda v: v, inputs=layers, outputs=layers_api, api_visibility="private", queue=False)
    preset.input(ui_errors(preset_layers), inputs=[picker, preset], outputs=layers, api_visibility="private",
                 queue=False)

    def relayout(name):  # a new checkpoint opens on its own cleanest split
        new_choices, new_groups, n = layer_layout(name)
        chosen = recommended_preset(name)
        return (gr.update(choices=new_choices, value=new_groups[chosen]), chosen, checkpoint_note(name, chosen),
                gr.update(maximum=n, value=0, info=f"truncate only layers < cutoff (0 = all {n} layers)"))

    picker.change(relayout, inputs=picker, outputs=[layers, preset, note, cutoff], api_visibility="private",
                  queue=False)
    preset.input(checkpoint_note, inputs=[picker, preset], outputs=note, api_visibility="private", queue=False)

    with gr.Accordion("What each layer decides (measured crossover)", open=False):
        crossover = gr.Markdown(crossover_markdown(picker.value), elem_id="stylegan-crossover")
    picker.change(crossover_markdown, inputs=picker, outputs=crossover, api_visibility="private", queue=False)

    with gr.Accordion("Mixing grid (the paper's figure 3)", open=False):
        with gr.Row():
            row_seeds = gr.Textbox(value="1, 2, 3, 4", label="seeds A (rows, 1-5)")
            col_seeds = gr.Textbox(value="5, 6, 7, 8", label="seeds B (columns, 1-5)")
            grid_btn = gr.Button("Draw grid", variant="primary")
        grid = gr.Image(label="mixing grid", format="png", type="pil", interactive=False)
        grid_note = gr.Markdown()
        grid_btn.click(ui_errors(functools.partial(grid_image, ctx)),
                       inputs=[picker, row_seeds, col_seeds, layers, *common], outputs=[grid, grid_note],
                       api_name="stylegan_grid", api_visibility="undocumented")

    with gr.Accordion("Interpolation (animated GIF)", open=False):
        with gr.Row():
            space = gr.Radio(["z", "w"], value="w", label="space",
                             info="z: interpolate the input noise; w: interpolate after the mapping network")
            method = gr.Radio(["lerp", "slerp"], value="lerp", label="path",
                              info="slerp follows the sphere; natural for Gaussian z")
            frames = gr.Slider(4, 60, value=24, step=1, label="frames")
            interp_btn = gr.Button("Make GIF A -> B", variant="primary")
        gif = gr.Image(label="A -> B -> A", type="filepath", interactive=False, height=280)
        interp_btn.click(ui_errors(functools.partial(interpolation_gif, ctx)),
                         inputs=[picker, seed_a, seed_b, space, method, frames, psi, noise_mode, noise_seed],
                         outputs=gif, api_name="stylegan_interpolate", api_visibility="undocumented")

    with gr.Accordion("Project your own image", open=False):
        gr.Markdown("Optimises w (one for all layers) or w+ (one per layer) so that the generator reproduces "
                    "your image; any size or mode is converted to the model's square RGB input. Then mix the "
                    "projection with seed B on the checked layers.")
        with gr.Row():
            upload = gr.Image(label="your image", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                              height=220)  # the file as uploaded: alpha, bit depth, palette go to core's loader
            proj_target = gr.Image(label="target (as the model sees it)", format="png", interactive=False, height=220)
            proj_image = gr.Image(label="projection", format="png", interactive=False, height=220)
            proj_mix = gr.Image(label="projection with B's styles", format="png", interactive=False, height=220)
        with gr.Row():
            proj_space = gr.Radio(["w", "w+"], value="w+", label="latent space")
            proj_steps = gr.Slider(20, 500, value=150, step=10, label="optimisation steps")
            proj_btn = gr.Button("Project", variant="primary")
            proj_mix_btn = gr.Button("Mix projection with seed B")
        proj_status = gr.Markdown()
        proj_ws = gr.State(None)
        proj_btn.click(ui_errors(functools.partial(project_stream, ctx)),
                       inputs=[picker, upload, proj_space, proj_steps],
                       outputs=[proj_image, proj_target, proj_status, proj_ws],
                       api_name="stylegan_project", api_visibility="undocumented", concurrency_limit=1)
        proj_mix_btn.click(ui_errors(functools.partial(mix_projection, ctx)),
                           inputs=[picker, proj_ws, seed_b, layers, psi, noise_mode, noise_seed], outputs=proj_mix,
                           api_visibility="private")

    training_panel(ctx, METHOD, ["dataset", "resolution", "steps", "batch_size", "lr", "channel_max", "w_dim",
                                 "mapping_layers", "r1_gamma", "mixing_prob", "diffaug"],
                   defaults={"steps": 500, "sample_every": 100, "checkpoint_every": 100, "eval_samples": 500},
                   pickers=(picker,))


if __name__ == "__main__":
    run_standalone(build, TITLE)
