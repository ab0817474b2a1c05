"""The validated plain functions behind the GAN tab and ``/gan_generate`` (no gradio here).

Each takes the app context (device and model cache) first; images come back as PIL at the model's resolution
(the tab enlarges them with visible pixels) or as labelled sheets enlarged with nearest-neighbour.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from core.engine import CheckpointError, check_seed, list_checkpoints, load_pretrained, resolve_checkpoint
from core.engine.checkpoint import cache_key, check_checkpoint_chosen, read_json
from core.engine.notes import percent, plain_note, read_metrics
from core.engine.seed import parse_seeds

METHOD = "gans"
TRUNCATION_RANGE = (0.0, 4.0)
RANDOM_CLASS = "random"
MAX_SEEDS = 8  # a class grid's and a comparison's columns
CELL = 64  # px of one image in the sheets (32 px models at 2x)
CURVES = {"G loss": "loss_g", "D loss": "loss_d", "Wasserstein estimate (critics)": "w_estimate",
          "D gradient norm": "d_grad_norm"}


def load_generator(folder) -> torch.nn.Module:
    """The generator in a GAN checkpoint folder (DCGAN-family or ProGAN, as its train_config.json says), eval mode.

    Raises:
        CheckpointError: a missing or unreadable folder, or one that is not a GAN checkpoint.
    """
    from .networks import Generator
    from .progressive import ProGenerator

    folder = Path(folder)
    config = read_json(folder / "train_config.json") if (folder / "train_config.json").is_file() else {}
    cls = ProGenerator if config.get("architecture") == "progan" else Generator
    return load_pretrained(cls, folder).float().eval().requires_grad_(False)


def _generator(ctx, name):
    name = check_checkpoint_chosen(METHOD, name)
    folder = resolve_checkpoint(METHOD, name)
    return ctx.cache.get(cache_key(METHOD, name), lambda: load_generator(folder).to(ctx.device))


def num_classes(ctx, checkpoint) -> int:
    """The number of classes a checkpoint's G is conditioned on (0: unconditional)."""
    return int(_generator(ctx, checkpoint).num_classes)


def check_truncation(truncation) -> float:
    """τ as a float in [0, 4] (0 = no truncation), else ValueError."""
    try:
        value = float(truncation)
    except (TypeError, ValueError):
        raise ValueError(f"truncation {truncation!r} is not a number") from None
    if math.isnan(value) or not TRUNCATION_RANGE[0] <= value <= TRUNCATION_RANGE[1]:
        raise ValueError(f"truncation must be in [{TRUNCATION_RANGE[0]:g}, {TRUNCATION_RANGE[1]:g}] "
                         f"(0 = none), got {truncation!r}")
    return value


def check_class(G, class_label, seed: int) -> int | None:
    """The class index G is asked for: "random" (or None / "") draws one from ``seed``; "0".."K-1" or an int picks
    it. None for an unconditional G, which refuses a specific class (ValueError)."""
    if class_label is None or str(class_label).strip().lower() in ("", RANDOM_CLASS):
        return int(torch.randint(G.num_classes, (1,), generator=torch.Generator().manual_seed(seed))) \
            if G.num_classes else None
    if not G.num_classes:
        raise ValueError(f"this checkpoint is unconditional: it draws no chosen class (got class {class_label!r}); "
                         f"use {RANDOM_CLASS!r}")
    try:
        k = int(str(class_label).strip())
    except ValueError:
        raise ValueError(f"class must be {RANDOM_CLASS!r} or 0-{G.num_classes - 1}, got {class_label!r}") from None
    if not 0 <= k < G.num_classes:
        raise ValueError(f"class must be {RANDOM_CLASS!r} or 0-{G.num_classes - 1}, got {class_label!r}")
    return k


@torch.no_grad()
def render(G, zs: torch.Tensor, labels: list[int | None]) -> list:
    """PIL images (the model's resolution, grey or RGB) of latents ``zs`` (N, z_dim) with ``labels``."""
    from core.data import to_pil

    device = next(G.parameters()).device
    y = torch.tensor(labels, device=device) if G.num_classes else None
    x = ((G(zs.to(device), y) + 1) / 2).clamp(0, 1).cpu()
    return [to_pil(img) for img in x]


def latent(G, seed: int, truncation: float) -> torch.Tensor:
    """z (1, z_dim) of ``seed``, with BigGAN's truncation τ (0 = none)."""
    from .networks import sample_z

    return sample_z(1, G.z_dim, torch.Generator().manual_seed(check_seed(seed)), check_truncation(truncation))


def generate_image(ctx, checkpoint, seed=0, class_label=RANDOM_CLASS, truncation=0.0):
    """/gan_generate: one image (PIL, the model's resolution, e.g. 32 x 32) from ``seed`` (0 .. 2**32-1).

    ``class_label``: "random" or a class index (conditional checkpoints); ``truncation`` τ in [0, 4]: every z
    component beyond ±τ is drawn again (BigGAN's truncation trick; 0 = none). ValueError names a bad value.
    """
    G = _generator(ctx, checkpoint)
    seed = check_seed(seed)
    return render(G, latent(G, seed, truncation), [check_class(G, class_label, seed)])[0]


def interpolation_strip(ctx, checkpoint, seed_a=0, seed_b=1, class_label=RANDOM_CLASS, truncation=0.0, frames=8):
    """Seed A to seed B along the sphere in z, ``frames`` images (2-16) side by side (the class stays A's)."""
    from core.data.labelled import labelled_grid
    from core.stylegan.explore import slerp  # per row, on the great circle, the norm interpolated

    G = _generator(ctx, checkpoint)
    frames = int(frames)
    if not 2 <= frames <= 16:
        raise ValueError(f"frames must be in [2, 16], got {frames}")
    za, zb = latent(G, seed_a, truncation), latent(G, seed_b, truncation)
    y = check_class(G, class_label, check_seed(seed_a))
    zs = torch.cat([slerp(za, zb, i / (frames - 1)) for i in range(frames)])
    cells = [_cell(img) for img in render(G, zs, [y] * frames)]
    cols = ["A"] + [""] * (frames - 2) + ["B"]
    return labelled_grid([cells], [""], cols, left=4, top=24)


def class_grid(ctx, checkpoint, seeds="0, 1, 2, 3, 4", truncation=0.0):
    """A conditional checkpoint's class-by-seed grid: a row per seed (1-8 seeds), a column per class."""
    from core.data.labelled import labelled_grid

    G = _generator(ctx, checkpoint)
    if not G.num_classes:
        raise ValueError("this checkpoint is unconditional: it has no classes to lay out (pick a cGAN)")
    seeds = parse_seeds(seeds, MAX_SEEDS)
    k = G.num_classes
    zs = torch.cat([latent(G, s, truncation) for s in seeds]).repeat_interleave(k, 0)
    images = render(G, zs, list(range(k)) * len(seeds))
    cells = [[_cell(images[i * k + j]) for j in range(k)] for i in range(len(seeds))]
    return labelled_grid(cells, [f"seed {s}" for s in seeds], [str(j) for j in range(k)], left=70)


def _cell(image):
    from PIL import Image

    return image.resize((CELL, CELL * image.height // image.width), Image.NEAREST)


# ---------------------------------------------------------------- every variant side by side
def world_of(name: str) -> str:
    """The dataset checkpoint ``name`` was trained on ("digits" when its config cannot be read)."""
    from .method import GANConfig

    try:
        return GANConfig.load(resolve_checkpoint(METHOD, name) / "train_config.json").dataset
    except (OSError, ValueError, CheckpointError):
        return "digits"


def variants(world: str = "digits") -> list[str]:
    """The installed GAN checkpoints of ``world`` whose training finished (they have metrics), in the README's order
    (a comparison of one world: a faces GAN beside the digits ones compares nothing)."""
    order = ["dcgan", "lsgan", "wgan-digits", "wgan-gp", "progan", "cgan-digits", "cgan-ms", "cgan-sn-ms", "cgan-sn-fm",
             "cgan-projection"]
    names = [n for n in list_checkpoints(METHOD)
             if read_metrics(resolve_checkpoint(METHOD, n)) and world_of(n) == world]
    rank = lambda n: next((i for i, key in enumerate(order) if n.startswith(key)), len(order))
    return sorted(names, key=lambda n: (rank(n), n))


def variant_label(name: str) -> str:
    """ "WGAN-GP · wgan-gp-digits": the variant's usual name read from its config, and the checkpoint name."""
    from .method import GANConfig, variant_name

    try:
        config = GANConfig.load(resolve_checkpoint(METHOD, name) / "train_config.json")
        return f"{variant_name(config)} · {name}"
    except (OSError, ValueError, CheckpointError):
        return name


def compare_grid(ctx, seeds="1, 2, 3, 4, 5, 6, 7, 8", truncation=0.0, world: str = "digits"):
    """Every finished variant of ``world`` on the same seeds: a row per checkpoint (conditional ones draw class =
    column % K, said under each column's seed)."""
    from core.data.labelled import labelled_grid

    seeds = parse_seeds(seeds, MAX_SEEDS)
    names = variants(world)
    if not names:
        raise ValueError(f"no finished GAN checkpoint of {world!r} is installed: train one in the Train panel")
    rows, classes = [], 0
    for name in names:
        G = _generator(ctx, name)
        zs = torch.cat([latent(G, s, truncation) for s in seeds])
        labels = [j % G.num_classes for j in range(len(seeds))] if G.num_classes else [None] * len(seeds)
        rows.append([_cell(img) for img in render(G, zs, labels)])
        classes = classes or G.num_classes
    # the class each column asks a conditional model for, under its seed ("seed 1" over a cGAN's 0 misled)
    cols = [f"seed {s}" + (f"\ncGAN: {j % classes}" if classes else "") for j, s in enumerate(seeds)]
    return labelled_grid(rows, [variant_label(n) for n in names], cols, left=290)


def measurements(world: str = "digits") -> list[list]:
    """One row per finished variant of ``world``: the card's measured figures (a table for the tab and the README)."""
    rows = []
    for name in variants(world):
        folder = resolve_checkpoint(METHOD, name)
        m = read_metrics(folder)
        state = read_json(folder / "trainer_state.json")
        nan = float("nan")
        rows.append([variant_label(name), round(m.get("classifier_score", nan), 2), round(m.get("fid", nan), 2),
                     round(m.get("precision", nan), 2), round(m.get("recall", nan), 2),
                     percent(m.get("class_tv", 0)), percent(m.get("min_class_share", 0)),
                     round(m.get("within_class_spread", nan), 2),
                     percent(m["class_accuracy"]) if "class_accuracy" in m else "-",
                     round(float(state.get("wall_time", 0)) / 60, 1)])
    return rows


MEASUREMENT_HEADERS = ["variant", "score", "FID", "precision", "recall", "class TV", "rarest digit", "spread",
                       "accuracy", "minutes"]


def curves(curve: str = "D loss", smooth: int = 10, world: str = "digits"):
    """A DataFrame (step, value, variant) of one training curve of every finished variant of ``world`` (named by its
    checkpoint without the "-<world>" suffix), a running mean over ``smooth`` logged points; ``curve`` is a key of
    ``CURVES``."""
    import pandas as pd

    from core.engine.loss_log import read_loss_log

    if curve not in CURVES:
        raise ValueError(f"curve must be one of {list(CURVES)}, got {curve!r}")
    key, frames = CURVES[curve], []
    for name in variants(world):
        rows = read_loss_log(resolve_checkpoint(METHOD, name))
        points = [(r["step"], r[key]) for r in rows if key in r]
        if points:
            frame = pd.DataFrame(points, columns=["step", "value"])
            frame["value"] = frame["value"].rolling(smooth, min_periods=1).mean()
            frame["variant"] = name.removesuffix(f"-{world}")  # the chart's title names the world
            frames.append(frame)
    if not frames:
        return pd.DataFrame({"step": pd.Series(dtype="int64"), "value": pd.Series(dtype="float64"),
                             "variant": pd.Series(dtype="str")})
    return pd.concat(frames, ignore_index=True)


def curves_chart(curve: str = "D loss", smooth: int = 10, world: str = "digits"):
    """:func:`curves` drawn as one chart (PIL, 900 px wide, a legend naming every variant beside it), or, where the
    variants' values are on unlike scales (G losses of different objectives: 0.3 for LSGAN, 44 for feature
    matching), one small chart per variant on its own axis (on one axis all but one were flat lines)."""
    from core.evaluation.charts import line_chart, small_multiples, unlike_scales

    frame = curves(curve, smooth, world)
    series = {name: list(zip(rows["step"], rows["value"])) for name, rows in frame.groupby("variant", sort=False)}
    title = f"{curve} of every {world} variant (running mean over {smooth} logged points)"
    if unlike_scales(series):
        return small_multiples(series, title + ", each on its own scale; x: training step")
    return line_chart(series, title)


def why_it_matters(world: str = "digits") -> str:
    """What the measurements say about mode collapse and stability, variant by variant, in plain words."""
    lines = []
    for name in variants(world):
        m = read_metrics(resolve_checkpoint(METHOD, name))
        label = variant_label(name)
        shares = m.get("class_shares", {})
        dropped = [c for c, v in zip(shares.get("classes", []), shares.get("generated", [])) if v < 0.02]
        if dropped:
            verdict = f"mode collapse: digits {', '.join(dropped)} appear in under 2 % of its samples"
        elif m.get("class_tv", 1) < 0.1:
            verdict = "covers every digit at close to the real frequency"
        else:
            verdict = f"covers every digit, unevenly (TV {percent(m.get('class_tv', 0))} from the real mix)"
        spread = m.get("within_class_spread", 1.0)
        if spread < 0.35:
            verdict += (f"; but it ignores z: two samples of one digit differ {spread:.0%} as much as two real ones "
                        "(collapse within each class)")
        acc = f"; draws the asked digit {percent(m['class_accuracy'])} of the time" if "class_accuracy" in m else ""
        lines.append(f"- **{label}**: {verdict}{acc}; classifier score {m.get('classifier_score', 0):.2f} of 10"
                     f"{_critic_trend(name)}.")
    return "\n".join(lines) or "No finished GAN checkpoint is installed."


def _critic_trend(name) -> str:
    """For a critic (WGAN, WGAN-GP): how its Wasserstein estimate moved from the first to the last tenth of the run."""
    from core.engine.loss_log import read_loss_log

    rows = read_loss_log(resolve_checkpoint(METHOD, name))
    w = [r["w_estimate"] for r in rows if "w_estimate" in r]
    if len(w) < 20:
        return ""
    tenth = len(w) // 10
    early, late = sum(w[:tenth]) / tenth, sum(w[-tenth:]) / tenth
    if late < early:
        return (f"; its critic's Wasserstein estimate fell from {early:.3g} (first tenth of the run) to {late:.3g} "
                "(last tenth): the critic finds G's images closer to the real ones")
    return (f"; its critic's Wasserstein estimate rose from {early:.3g} (first tenth of the run) to {late:.3g} (last "
            "tenth): the critic tells G's images from real ones more easily (for ProGAN, each new resolution is "
            "a new task for it)")


def checkpoint_note(name) -> str:
    """The picker's note: the variant in one plain sentence, the measured figures behind a toggle."""
    try:
        folder = resolve_checkpoint(METHOD, name)
    except CheckpointError as exc:
        return f"**{exc}**"
    m = read_metrics(folder)
    label = variant_label(name)
    if not m:
        return f"**{label}**: not measured yet (its training has not finished)."
    cond = " It draws the digit you ask for." if "class_accuracy" in m else " It draws a digit of its own choice."
    sentence = (f"**{label}**: its samples score {m['classifier_score']:.1f} of 10 on the digits classifier "
                f"(real digits: {m['classifier_score_real']:.1f}).{cond}")
    figures = [f"FID {m['fid']:.1f} in digits-classifier features (real-vs-real floor "
               f"{m['fid_real_train_vs_test']:.2f})", f"rarest digit: {percent(m['min_class_share'])} of samples",
               f"class mix TV from the real one: {percent(m['class_tv'])}"]
    if "class_accuracy" in m:
        figures.append(f"class accuracy {percent(m['class_accuracy'])}")
    return plain_note(sentence, figures)
