"""What the VAE tab shows, as plain functions of the app context and a checkpoint name (no gradio here).

Each returns PIL images, numbers or text, and raises ValueError with one line for a value it cannot take; the
tab (``demos/vae.py``) only wires them to widgets. Images are enlarged with visible pixels (``scale``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.engine import check_seed

from .service import (SCATTER_IMAGES, checkpoint_info, decode, derived, grid_image, is_vq, latent_to_plane,
                      load_model, load_upload, parse_latent, plane_to_latent, reconstruct, scatter, sketch_canvas,
                      stamp, test_set, to_image, train_config)

MAX_SLIDERS = 32  # the tab builds this many latent sliders; a larger latent shows its first 32 dims


def _dense(ctx, name):
    """(model, number of sliders) of an ae/dae/vae checkpoint; a VQ-VAE has no latent vector to move."""
    model = load_model(ctx, name)
    if is_vq(model):
        raise ValueError(f"{name!r} is a VQ-VAE: its latent is a grid of codes, not a vector of numbers; "
                         "pick an ae, dae or vae checkpoint (the Compare tab shows the VQ-VAE's codes)")
    return model, min(model.latent_dim, MAX_SLIDERS)


def _held_out(ctx, name, index):
    ds, i = test_set(ctx, name), int(index or 0)
    if not 0 <= i < len(ds):
        raise ValueError(f"held-out image # must be in [0, {len(ds) - 1}]")
    return ds[i]["image"]


def _thumb(model) -> int:
    """Enlargement of strips and grids: 28 px digits 4x, 64 px faces 2x (thumbnails a room can read; #18)."""
    return max(2, -(-112 // model.image_size))


def latent_text(z) -> str:
    """A latent as the text the tab's box and ``/vae_decode`` take: "0.5, -1.2, ..."."""
    return ", ".join(f"{float(v):.3g}" for v in z)


# ---------------------------------------------------------------------------------------------- latent map
@dataclass
class MapView:
    """The latent map of a checkpoint: its plot with a marker, the plane's range and axis names, and the point."""

    info: str
    image: object
    low: float
    high: float
    axes: tuple[str, str]
    point: object


def map_image(ctx, name, x: float | None, y: float | None, ends=()):
    """The held-out set encoded on the 2-D plane (z itself, or the PC1/PC2 plane of a larger latent), colour =
    class, with a marker at (x, y) (None: no marker) and the interpolation's ends A, B (plane points)."""
    model, s = scatter(ctx, name)
    shift = 0 if model.latent_dim == 2 else s["mean"] @ s["basis"]
    return s["map"].draw(s["xy"] - shift, s["labels"], getattr(test_set(ctx, name), "class_names", None),
                         marker=None if x is None else (float(x), float(y)), axis_names=_axes(model),
                         ends=[(float(a), float(b)) for a, b in ends])


def map_segment(ctx, name, a, b, steps: int = 10):
    """Decoded images at ``steps`` (2..16) evenly spaced points of the straight line from plane point A to B (ends
    included), in two rows read left to right: what a walk across the map looks like."""
    from .explore import decode_point

    steps = int(steps)
    if not 2 <= steps <= 16:
        raise ValueError(f"steps must be between 2 and 16, got {steps}")
    model, s = scatter(ctx, name)
    with torch.no_grad():
        images = torch.stack([decode_point(model, plane_to_latent(model, s, a[0] + k / (steps - 1) * (b[0] - a[0]),
                                                                   a[1] + k / (steps - 1) * (b[1] - a[1])))
                              for k in range(steps)])
    return grid_image(images, nrow=(steps + 1) // 2, scale=_thumb(model))


def _axes(model) -> tuple[str, str]:
    return ("z1", "z2") if model.latent_dim == 2 else ("PC1", "PC2")


def point_image(ctx, name, x: float, y: float):
    """The image decoded at the plane point (x, y)."""
    from .explore import decode_point

    model, s = scatter(ctx, name)
    return to_image(decode_point(model, plane_to_latent(model, s, float(x), float(y))))


def map_view(ctx, name) -> MapView:
    """The map of ``name`` centred on z = 0 (2-D) or the codes' mean (PC plane); ValueError for a VQ-VAE."""
    model = load_model(ctx, name)
    if is_vq(model):
        raise ValueError(f"{name!r} is a VQ-VAE: a grid of discrete codes, not a 2-D plane; the Compare tab shows "
                         "its codes")
    _, s = scatter(ctx, name)
    return MapView(checkpoint_info(name), map_image(ctx, name, 0.0, 0.0), round(s["map"].lo, 2),
                   round(s["map"].hi, 2), _axes(model), point_image(ctx, name, 0.0, 0.0))


def map_click(ctx, name, px: float, py: float) -> tuple[float, float]:
    """The plane point (x, y) under pixel (px, py) of the map image."""
    _, s = scatter(ctx, name)
    x, y = s["map"].to_latent(float(px), float(py))
    return round(x, 2), round(y, 2)


def manifold(ctx, name, n):
    """The n x n grid decoded over the plane (Kingma & Welling fig. 4): Gaussian quantiles for a 2-D VAE, the
    map's range for a 2-D AE, the PC1/PC2 plane through the codes' mean otherwise. The same for every student,
    so it is computed once per checkpoint version."""
    n = int(n)
    if not 5 <= n <= 30:
        raise ValueError(f"grid size must be between 5 and 30, got {n}")
    _, mtime = stamp(name)
    return derived(ctx).get(("vae-grid", name, mtime, n), lambda: _manifold(ctx, name, n))


def _manifold(ctx, name, n):
    from .explore import gaussian_quantiles, manifold_grid

    model, s = scatter(ctx, name)
    if model.latent_dim == 2:
        values = gaussian_quantiles(n) if model.model_type == "vae" else torch.linspace(s["map"].lo, s["map"].hi, n)
        images = manifold_grid(model, n, values=values)
    else:
        v = torch.linspace(s["map"].lo, s["map"].hi, n) * 0.8
        zs = [plane_to_latent(model, s, float(a), float(b)) for b in v.flip(0) for a in v]
        with torch.no_grad():
            images = model.decode(torch.tensor(zs, device=ctx.device))
    return grid_image(images, nrow=n, padding=0, scale=max(1, 640 // (n * model.image_size)))


# ---------------------------------------------------------------------------------------------- sliders
def slider_limit(ctx, name) -> float:
    """The sliders' range +-limit: where the encoded held-out images lie (99th percentile of |z|, 3 to 6)."""
    _, s = scatter(ctx, name)
    return float(min(6.0, max(3.0, math.ceil(float(s["z"].abs().quantile(0.99))))))


def latent_from_sliders(ctx, name, text, values) -> list[float]:
    """The latent in the box with its first dims replaced by the sliders' values."""
    model, n = _dense(ctx, name)
    z = parse_latent(text) if text else []
    z = (z + [0.0] * model.latent_dim)[:model.latent_dim]
    z[:n] = [float(v) for v in values[:n]]
    return z


def starting_latent(ctx, name, mode: str, seed=0, index=0) -> torch.Tensor:
    """z = 0, z ~ N(0, I) from ``seed``, or the code of held-out image ``index`` (mode "zero" | "prior" | "encode")."""
    model, _ = _dense(ctx, name)
    if mode == "zero":
        return torch.zeros(model.latent_dim)
    if mode == "prior":
        return torch.randn(model.latent_dim, generator=torch.Generator().manual_seed(check_seed(seed)))
    if mode == "encode":
        with torch.no_grad():
            return model.encode(_held_out(ctx, name, index)[None].to(ctx.device))[0].cpu()
    raise ValueError(f"mode {mode!r} is not one of 'zero', 'prior', 'encode'")


def traverse(ctx, name, text, dim, radius, steps):
    """One latent dim swept over [-radius, radius] in ``steps`` images, the others held at the box's latent."""
    from .explore import as_latent, traversal

    model, _ = _dense(ctx, name)
    z = as_latent(model, parse_latent(text))[0].tolist()
    d = int(dim) - 1
    if not 0 <= d < model.latent_dim:
        raise ValueError(f"traverse dim must be in [1, {model.latent_dim}]")
    values = torch.linspace(-float(radius), float(radius), int(steps)).tolist()
    return grid_image(traversal(model, z, d, values), nrow=len(values), scale=_thumb(model))


def samples(ctx, name, n, seed):
    """n images decoded from z ~ N(0, I) (an AE has no prior: they show where its codes are not)."""
    from .explore import prior_samples

    model = load_model(ctx, name)
    images = prior_samples(model, int(n), seed)
    return grid_image(images, nrow=max(1, round(len(images) ** 0.5)), scale=_thumb(model))


# ---------------------------------------------------------------------------------------------- interpolation
def interpolation_strips(ctx, name, index_a, index_b, file_a, file_b, steps):
    """(linear strip, spherical strip) from A to B: held-out images by index, or uploads when given."""
    from .explore import interpolate

    model = load_model(ctx, name)
    ends = [load_upload(model, f, train_config(name).dataset) if f else _held_out(ctx, name, i)
            for i, f in ((index_a, file_a), (index_b, file_b))]
    scale = _thumb(model)
    strips = []
    for mode in ("linear", "spherical"):
        images = interpolate(model, ends[0], ends[1], int(steps), mode).cpu()
        strips.append(grid_image(torch.cat([ends[0][None], images, ends[1][None]]), nrow=int(steps) + 2,
                                 scale=scale))
    return tuple(strips)


# ---------------------------------------------------------------------------------------------- your own image
def blank_drawing(sketch) -> bool:
    """Whether a Sketchpad value (``{"background", "layers", "composite"}``, numpy arrays) holds no ink: nothing
    (a cleared canvas) or one flat colour."""
    import numpy as np

    if not isinstance(sketch, dict):
        return sketch is None
    canvas = sketch_canvas(sketch)
    return canvas is None or np.ptp(np.asarray(canvas)) == 0


def has_map(name) -> bool:
    """Whether checkpoint ``name`` has a latent map (every model but a VQ-VAE, whose latent is a grid of codes); True
    for a name that is no checkpoint (its refusal is said elsewhere)."""
    from .service import train_config

    try:
        return train_config(name).model_type != "vqvae"
    except Exception:
        return True


def held_out_codes(ctx, name, index: int = 0) -> str:
    """A VQ-VAE's code grid for held-out image ``index``, row by row, as the text ``/vae_decode`` takes: decoded, it
    gives the image back as the model reconstructs it (the box held nothing, and z = 0 decoded code 0 everywhere:
    one flat colour)."""
    from .explore import code_index_map

    idx, _ = code_index_map(load_model(ctx, name), _held_out(ctx, name, index))
    return ", ".join(str(int(k)) for k in idx.flatten())


def is_vq_checkpoint(name) -> bool:
    """Whether checkpoint ``name`` is a VQ-VAE (read from its config; no model load)."""
    return not has_map(name)


def encode_own(ctx, name, src, blank_clears: bool = False):
    """(input as the model sees it, reconstruction, latent, map with the image's code marked or None).

    ``blank_clears``: a drawing with no ink (:func:`blank_drawing`: the canvas was cleared) gives (None, None, None,
    the map unmarked) instead of the ValueError that asks for a drawing."""
    if blank_clears and blank_drawing(src):
        return None, None, None, None if is_vq(load_model(ctx, name)) else map_image(ctx, name, None, None)
    seen, rec, latent = reconstruct(ctx, name, src)
    if is_vq(load_model(ctx, name)):
        return seen, rec, latent, None
    model, s = scatter(ctx, name)
    x, y = latent_to_plane(model, s, torch.tensor(latent["z"]))
    return seen, rec, latent, map_image(ctx, name, x, y)


# ---------------------------------------------------------------------------------------------- compare
def compare(ctx, names, n, seed):
    """(note, held-out images with each model's reconstruction below, one row of prior samples per model)."""
    from .explore import prior_samples

    models = [(name, load_model(ctx, name)) for name in names if name]
    if not models:
        raise ValueError("choose at least one checkpoint")
    if len({m.image_shape for _, m in models}) > 1:
        raise ValueError("the compared checkpoints must work on the same image size and channels; got "
                         + ", ".join(f"{name}: {m.image_shape}" for name, m in models))
    ds, n = test_set(ctx, models[0][0]), int(n)
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(check_seed(seed)))[:n].tolist()
    x = ds.get_batch(idx)["image"].to(ctx.device)
    rows, sample_rows = [x], []
    with torch.no_grad():
        for _, m in models:
            rows.append(m.reconstruct(x))
            sample_rows.append(prior_samples(m, n, seed))
    scale = _thumb(models[0][1])
    note = "Rows: " + ", ".join(["held-out"] + [f"**{name}** ({m.model_type})" for name, m in models])
    return note, grid_image(torch.cat(rows), nrow=n, scale=scale), grid_image(torch.cat(sample_rows), nrow=n,
                                                                             scale=scale)


def codebook_view(ctx, name, index):
    """:func:`codebook` with its usage rows as a pandas DataFrame (the tab's bar chart)."""
    import pandas as pd

    rows, *rest = codebook(ctx, name, index)
    return (pd.DataFrame(rows), *rest)


def codebook(ctx, name, index):
    """A VQ-VAE's codebook use: (usage table rows, held-out image, its code map, its decoding, note)."""
    from .explore import code_index_map, codebook_usage
    from .losses import perplexity

    model = load_model(ctx, name)
    if not is_vq(model):
        raise ValueError(f"{name!r} is not a VQ-VAE checkpoint")
    ds = test_set(ctx, name)
    x = _held_out(ctx, name, index)
    _, mtime = stamp(name)
    used = min(SCATTER_IMAGES, len(ds))
    counts = derived(ctx).get(("vae-usage", name, mtime), lambda: codebook_usage(
        model, ds.get_batch(list(range(used)))["image"]))
    order = torch.argsort(counts, descending=True)
    rows = {"rank": list(range(1, len(order) + 1)), "code": [int(k) for k in order], "count": counts[order].tolist()}
    idx, colour = code_index_map(model, x)
    with torch.no_grad():
        rec = model.decode_indices(idx[None].to(ctx.device))[0]
    note = (f"{int((counts > 0).sum())} of {model.num_codes} codes used on {used} held-out images; perplexity "
            f"{perplexity(counts):.1f} (the number of equally used codes with the same entropy). This image uses "
            f"{len(idx.unique())} distinct codes on its {idx.shape[0]}x{idx.shape[1]} grid.")
    return rows, to_image(x), to_image(colour), to_image(rec), note


__all__ = ["MAX_SLIDERS", "MapView", "latent_text", "map_image", "point_image", "map_view", "map_click", "manifold",
           "slider_limit", "latent_from_sliders", "starting_latent", "traverse", "samples", "interpolation_strips",
           "encode_own", "compare", "codebook", "decode"]
