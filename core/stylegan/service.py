"""The StyleGAN tab's plain functions: validated, cached, testable without gradio (``demos/stylegan.py`` is the view).

Each takes the app context (device and model cache) first. ``generate_image`` batches concurrent requests
(a classroom moving the same slider) into one forward pass with :class:`core.engine.batching.MicroBatcher`.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

METHOD = "stylegan"
PRESETS = ("coarse", "middle", "fine", "middle + fine", "8 px and up", "none")
DEFAULT_PRESET = "8 px and up"  # for a checkpoint that measured no mixing (else its ``recommended_preset``)
GRID_VIEW = 512
PROJECTION_VIEW = 192


def _generator(ctx, name):
    from core.stylegan.explore import load_generator

    from core.engine.checkpoint import cache_key, check_checkpoint_chosen

    name = check_checkpoint_chosen(METHOD, name)
    return ctx.cache.get(cache_key(METHOD, name), lambda: load_generator(name, ctx.device))


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
    labels = [f"w{i}: {shell.layer_resolution(i)} px" for i in range(shell.num_ws)]  # the crossover table's names
    return [(label, i) for i, label in enumerate(labels)], {**mixing_sets(shell), "none": []}, shell.num_ws


def _percent(transfer: dict, layer_set: str, attributes: tuple[str, ...], seed: str = "B") -> str:
    """"pose 82 %, ...": how often the mix shows ``seed``'s value of each attribute (``mixing_transfer``)."""
    values = transfer.get(layer_set, {})
    shares = {a: values[a].get(seed, float("nan")) if isinstance(values[a], dict) else float("nan")
              for a in attributes if a in values}
    return ", ".join(f"{a.replace('_', ' ')} {100 * v:.0f} %" for a, v in shares.items() if v == v)  # NaN: no pair


def _metrics(name) -> tuple[dict, dict, Path] | None:
    """(metrics.json, train_config.json, folder) of a checkpoint, or None when it has no config (or the name is not
    one); the metrics are {} for a run stopped before its measurement (a visitor's model had no note at all)."""
    from core.engine import resolve_checkpoint

    try:
        folder = resolve_checkpoint(METHOD, name)
        config = json.loads((folder / "train_config.json").read_text())
        int(config["steps"])
    except Exception:
        return None
    try:
        return json.loads((folder / "metrics.json").read_text()), config, folder
    except (OSError, ValueError):
        return {}, config, folder


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
    from core.engine import trained_steps
    from core.stylegan.evaluate import cleanest_split, split_score

    found = _metrics(name)
    if found is None:
        return ""
    metrics, config, folder = found
    steps, data = int(config["steps"]), {"faces": "cartoon faces"}.get(config.get("dataset"), config.get("dataset"))
    transfer = metrics.get("mixing_transfer")
    best = cleanest_split(transfer) if transfer else None
    trained = trained_steps(folder, steps)
    lead = f"**{name}**: a StyleGAN2 trained {trained} steps" + (f" on {data}." if data else ".")
    if best and split_score(transfer[best]) >= 0.5:
        lead += f" Its cleanest split of A's shapes from B's colours is **{best}**."
    elif best:  # (a thin model's best, 45 %, was called its "cleanest split" over a mix showing B with A's glasses)
        lead += (f" Its layers do not split A's shapes from B's colours cleanly: with the best preset, **{best}**, "
                 f"the mix keeps A's shapes, or takes B's colours, in only about "
                 f"{100 * split_score(transfer[best]):.0f} % of the measured pairs.")
    text = f"{trained} training steps"
    if "fid" in metrics:
        text += (f", FID {metrics['fid']:.0f} in GenLab's classifier features (real vs real gives "
                 f"{metrics.get('fid_real_train_vs_test', float('nan')):.0f}; lower is better)")
    text += ". Its model card says how it was trained." if metrics else (
        ": not measured (measured when its training reaches its last step).")
    if transfer:
        chosen = preset if preset in transfer and preset != "coarse" else best
        text += (f" Measured over {metrics.get('mixing_pairs', '?')} seed pairs that differ: with B's **coarse** "
                 f"layers the mix shows B's {_percent(transfer, 'coarse', ('pose', 'hair_style', 'head_shape'))}")
        if chosen and chosen != "coarse":
            text += (f"; with B's layers **{chosen}** it shows B's "
                     f"{_percent(transfer, chosen, ('background', 'shirt_colour', 'hair_colour'))} and keeps A's "
                     f"{_percent(transfer, chosen, ('pose', 'hair_style', 'head_shape'), seed='A')}")
        text += "."
    text += _under_drawn_note(metrics.get("attribute_coverage"))
    return f"{lead}\n\n<details><summary>measured figures</summary>\n\n{text.strip()}\n\n</details>"


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


def preset_of_layers(name, layers) -> str | None:
    """The preset (``PRESETS``) whose layer set is exactly ``layers`` for this checkpoint, or None."""
    chosen = sorted(int(str(v).split(":")[0].strip().lstrip("w")) for v in (layers or []))
    return next((p for p, ids in layer_layout(name)[1].items() if sorted(ids) == chosen and p in PRESETS), None)


def generate_image(ctx, checkpoint, seed, psi, cutoff=0, noise_mode="const", noise_seed=0):
    """/stylegan_generate: the image (PIL, the model's resolution) of ``seed`` (0 .. 2**32-1) with truncation psi
    in [-1, 1.5] on the layers below ``cutoff`` (0 = all); ValueError names a bad value.

    Concurrent requests with the same checkpoint and settings share one forward pass (up to 8 seeds): a pixel
    may then differ by 1/255 from a lone request's, as any batched convolution may round differently.
    """
    from core.engine import check_seed
    from core.stylegan.explore import check_cutoff, check_noise_mode, check_psi

    G = _generator(ctx, checkpoint)
    mode = check_noise_mode(noise_mode)
    key = (checkpoint, check_psi(psi), check_cutoff(G, cutoff), mode, check_seed(noise_seed) if mode == "random" else 0)
    return ctx.batcher("stylegan_generate", functools.partial(_render_seeds, ctx)).submit(key, check_seed(seed))


def _render_seeds(ctx, key, seeds):
    """One forward pass for the seeds of concurrent requests that share ``key`` (checkpoint and settings)."""
    from core.stylegan.explore import render, to_pil, ws_from_seeds

    checkpoint, psi, cutoff, noise_mode, noise_seed = key
    G = _generator(ctx, checkpoint)
    return [to_pil(img) for img in render(G, ws_from_seeds(G, seeds, psi, cutoff), noise_mode, noise_seed)]


def mix_image(ctx, checkpoint, seed_a, seed_b, layers_from_b, psi, cutoff=0, noise_mode="const", noise_seed=0):
    """/stylegan_mix: seed A with B's w on the listed layers."""
    from core.stylegan.explore import mix

    return mix(_generator(ctx, checkpoint), seed_a, seed_b, layers_from_b, psi, cutoff, noise_mode,
               noise_seed)


def all_views(ctx, checkpoint, seed_a, seed_b, layers_from_b, psi, cutoff=0, noise_mode="const", noise_seed=0):
    """(A, B, mix) in one batch, for the controls that redraw all three."""
    from core.stylegan.explore import mix_views

    return mix_views(_generator(ctx, checkpoint), seed_a, seed_b, layers_from_b, psi, cutoff,
                     noise_mode, noise_seed)


def grid_image(ctx, checkpoint, row_seeds, col_seeds, layers_from_b, psi, cutoff, noise_mode, noise_seed):
    """/stylegan_grid: the paper's figure 3, seeds A (rows) with B's w (columns) on the listed layers, as
    /stylegan_mix takes them."""
    from core.engine.seed import parse_seeds
    from core.stylegan.explore import MAX_GRID_SEEDS, check_layers, mixing_grid, upscale

    t0 = time.perf_counter()
    G = _generator(ctx, checkpoint)
    layers = check_layers(G, layers_from_b)
    rows = parse_seeds(row_seeds, MAX_GRID_SEEDS, what="seeds A (rows)")
    columns = parse_seeds(col_seeds, MAX_GRID_SEEDS, what="seeds B (columns)")
    grid = mixing_grid(G, rows, columns, layers, psi, cutoff, noise_mode, noise_seed)
    note = (f"Rows: seeds A, columns: seeds B; each cell is A with B's w on layers {layers or 'none'}. "
            f"Rendered in {1000 * (time.perf_counter() - t0):.0f} ms.")
    return _seed_margins(upscale(grid, GRID_VIEW), rows, columns), note


def _seed_margins(grid, rows: list[int], columns: list[int]):
    """The mixing grid with each seed written beside its image, in white margins (the top row holds the B seeds, the
    left column the A seeds; the corner is empty)."""
    from PIL import Image, ImageDraw

    from core.data.labelled import font

    step = grid.width / (len(columns) + 1)  # (the grid's cells, padding included, are equal)
    left, top = 96, 30
    sheet = Image.new("RGB", (grid.width + left, grid.height + top), "white")
    sheet.paste(grid, (left, top))
    draw, face = ImageDraw.Draw(sheet), font(16)
    for j, seed in enumerate(columns, start=1):
        draw.text((left + (j + 0.5) * step, top / 2), f"B: seed {seed}", fill="black", font=face, anchor="mm")
    for i, seed in enumerate(rows, start=1):
        draw.text((left - 8, top + (i + 0.5) * step), f"A: seed {seed}", fill="black", font=face, anchor="rm")
    return sheet


def interpolation_gif(ctx, checkpoint, seed_a, seed_b, space, method, frames, psi, noise_mode, noise_seed,
                      cutoff=0):
    """/stylegan_interpolate: A -> B -> A as a GIF file, truncated as the still images (psi below ``cutoff``)."""
    from core.engine.hosting import scratch_file
    from core.stylegan.explore import interpolation_frames, save_gif

    images = interpolation_frames(_generator(ctx, checkpoint), seed_a, seed_b, space, method, frames, psi,
                                  noise_mode, noise_seed, cutoff)
    return str(save_gif(images, scratch_file(".gif", prefix="stylegan-")))  # deleted after an hour


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
           status + " · done: now mix it with seed B (the button beside Project)", report.ws)


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
