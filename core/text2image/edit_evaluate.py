"""Image-to-image measured on the ``shapes`` world: recolouring edits (SDEdit, Meng et al. 2022).

Each start image is a held-out one-object scene "a <size> <colour> <shape>"; the prompt asks for the same object in
another colour, one far from it in RGB (so the two colours' masks cannot overlap). Each edit is read from its pixels:

* recoloured: the bundled shapes classifier sees the new colour and no longer sees the old one;
* shape kept: it still sees the start image's shape;
* place kept: the object's mask in the edit (its new colour's, or its old one's where the new is not there) has its
  centroid within ``PLACE_TOLERANCE`` of the image side of the object's centroid in the start image
  (``evaluate.colour_mask``);
* edited: all three at once;
* background change: the mean absolute pixel change (0-1) away from the object (outside both masks, dilated by
  ``MARGIN`` px), beside the same figure for the start image's autoencoder round trip x -> D(E(x)), which no edit
  in this latent space can go below.

Strength is SDEdit's trade-off: the run starts from the start image noised to where the last ``strength`` of the
schedule begins, so a low strength keeps the image (and may keep its colour), a high one follows the prompt and loses
the layout. At strength 1 it starts from nearly pure noise: the place is kept only by chance, the baseline of what the
start image contributes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .evaluate import COLOUR_RADIUS, _rate, centroid, colour_mask, one_object_items, parse_prompt

EDIT_STRENGTHS = (0.2, 0.4, 0.6, 0.8, 1.0)
PLACE_TOLERANCE = 0.1     # of the image side
MARGIN = 2                # px around the object left out of the background change
FAR_APART = 2 * COLOUR_RADIUS


def far_colours(colour: int) -> list[int]:
    """Ids of the world's colours at least ``FAR_APART`` from colour ``colour`` in RGB (their masks are disjoint)."""
    from core.data.worlds.shapes import COLOUR_NAMES, COLOURS

    rgb = np.array([COLOURS[name] for name in COLOUR_NAMES], np.float32)
    return [k for k in range(len(rgb)) if np.linalg.norm(rgb[k] - rgb[colour]) >= FAR_APART]


def edit_scenes(num: int, start: int, resolution: int = 64, seed: int = 0) -> dict:
    """The first ``num`` one-object scenes of the test split from item ``start`` on, each with a new colour drawn
    (``seed``) among :func:`far_colours`: {"images" (N, 3, H, W) in [0, 1], "objects" (N, 3) shape, colour, size
    ids, "new_colours" (N,), "prompts" ["a <size> <new colour> <shape>", ...]}."""
    from core.data import get_dataset
    from core.data.worlds.shapes import COLOUR_NAMES, SHAPES, SIZE_NAMES

    items = one_object_items(get_dataset("shapes", split="test", resolution=resolution), start, num,
                             ("image", "objects"))
    objects = [parse_prompt(table)[0] for table in items["objects"]]
    g = torch.Generator().manual_seed(seed)
    new = []
    for _, colour, _ in objects:
        far = far_colours(colour)
        new.append(far[int(torch.randint(len(far), (1,), generator=g))])
    prompts = [f"a {SIZE_NAMES[z]} {COLOUR_NAMES[k]} {SHAPES[s]}" for (s, _, z), k in zip(objects, new)]
    return {"images": items["image"], "objects": torch.tensor(objects), "new_colours": torch.tensor(new),
            "prompts": prompts}


def _away_from_object(*masks: torch.Tensor) -> torch.Tensor:
    """(H, W) bool: pixels farther than ``MARGIN`` from every one of the (H, W) bool ``masks``."""
    near = torch.stack(masks).any(0).float()[None, None]
    return F.max_pool2d(near, 2 * MARGIN + 1, stride=1, padding=MARGIN)[0, 0] == 0


@torch.no_grad()
def read_edits(edits: torch.Tensor, starts: torch.Tensor, objects: torch.Tensor, new_colours: torch.Tensor,
               classifier) -> dict[str, list]:
    """Per edit: "recoloured", "shape_kept", "place_kept", "edited" (bools; place None when the object's colour is
    not found in its start image) and "background" (float), as the module docstring defines them.

    Args:
        edits, starts: (N, 3, H, W) in [0, 1], each edit and its start image; objects: (N, 3) shape, colour, size
            ids of the start images' one object; new_colours: (N,) the colour ids asked for; classifier: the shapes
            classifier (``core.metrics.load_classifier("shapes")``).
    """
    from core.data.worlds.shapes import COLOUR_NAMES
    from core.metrics import predict

    pred = predict(edits.cpu(), classifier=classifier)        # (N, 17): 8 has_shape, 8 has_colour, count
    out = {"recoloured": [], "shape_kept": [], "place_kept": [], "edited": [], "background": []}
    for p, edit, start, (shape, old, _), new in zip(pred, edits, starts, objects.tolist(), new_colours.tolist()):
        recoloured = bool(p[8 + new] == 1 and p[8 + old] == 0)
        shape_kept = bool(p[shape] == 1)
        start_mask = colour_mask(start[None], COLOUR_NAMES[old])[0]
        edit_mask, left_mask = (colour_mask(edit[None], COLOUR_NAMES[k])[0] for k in (new, old))
        a, b = centroid(start_mask), centroid(edit_mask) or centroid(left_mask)
        place = None if a is None else b is not None and max(abs(a[0] - b[0]), abs(a[1] - b[1])) <= PLACE_TOLERANCE
        away = _away_from_object(start_mask, edit_mask, left_mask)
        out["recoloured"].append(recoloured)
        out["shape_kept"].append(shape_kept)
        out["place_kept"].append(place)
        out["edited"].append(recoloured and shape_kept and bool(place))
        out["background"].append(float((edit - start).abs().mean(0)[away].mean()) if away.any() else None)
    return out


def _edits(method, unet, scenes: dict, strength: float, steps: int | None = None, guidance: float | None = None):
    """The scenes' prompts drawn from their images at ``strength`` (DDIM, the config's steps and w unless given,
    seed + 17): (N, 3, H, W) in [0, 1]."""
    from core.engine import make_generator

    c = method.config
    return method.generate(unet, scenes["prompts"], make_generator(c.seed + 17, unet.device), steps or c.sample_steps,
                           guidance, init_images=scenes["images"].to(unet.device), strength=strength)


@torch.no_grad()
def recolour_edits(method, unet, num: int = 100, start: int = 5000, strengths=EDIT_STRENGTHS,
                   steps: int | None = None, guidance: float | None = None) -> dict:
    """Recolour ``num`` held-out one-object scenes (:func:`edit_scenes` from test item ``start``) at each strength,
    DDIM with the config's steps and w unless given, seed + 17; read them with :func:`read_edits`.

    Returns ``edit_prompts``, ``edit_<strength>/<recoloured|shape_kept|place_kept|edited|background>`` and
    ``edit_autoencoder/background`` (the start images' round trip through the autoencoder).
    """
    from core.metrics import load_classifier

    from .autoencoder_method import reconstruct

    c = method.config
    device = unet.device
    scenes = edit_scenes(num, start, c.resolution or 64)
    classifier = load_classifier("shapes", None, device)
    metrics = {"edit_prompts": len(scenes["prompts"])}
    for strength in strengths:
        edits = _edits(method, unet, scenes, strength, steps, guidance)
        read = read_edits(edits, scenes["images"], scenes["objects"], scenes["new_colours"], classifier)
        metrics.update({f"edit_{strength:g}/{name}": _rate(values) for name, values in read.items()})
    round_trip = reconstruct(method.frozen(device)[0], scenes["images"]).cpu()
    floor = read_edits(round_trip, scenes["images"], scenes["objects"], scenes["objects"][:, 1], classifier)
    metrics["edit_autoencoder/background"] = _rate(floor["background"])
    return {k: v for k, v in metrics.items() if v is not None}


def edits_markdown(metrics: dict) -> str:
    """The card's image-to-image table: one row per strength."""
    rows = sorted({k.split("/")[0] for k in metrics if k.startswith("edit_") and k[5].isdigit()},
                  key=lambda k: float(k[5:]))
    if not rows:
        return ""
    pct = lambda v: "-" if v is None else f"{100 * v:.0f} %"
    table = ["| strength | recoloured | shape kept | place kept | all three | background change |",
             "|---:|---:|---:|---:|---:|---:|"]
    for key in rows:
        m = lambda name: metrics.get(f"{key}/{name}")
        background = m("background")
        table.append(f"| {key[5:]} | {pct(m('recoloured'))} | {pct(m('shape_kept'))} | {pct(m('place_kept'))} | "
                     f"**{pct(m('edited'))}** | {'-' if background is None else f'{background:.3f}'} |")
    floor = metrics.get("edit_autoencoder/background")
    return (f"\n### Image-to-image: recolouring ({metrics['edit_prompts']} held-out one-object scenes)\n\n"
            "Each held-out scene \"a <size> <colour> <shape>\" is the start image of the prompt asking for the same "
            "object in a colour far from its own (`core/text2image/edit_evaluate.py`, seed + 17): recoloured (the "
            "shapes classifier sees the new colour, not the old), its shape and place (the object's mask centroid, "
            "in either colour, within 10 % of the side) kept, and the mean pixel change away from the object"
            + (f" (the autoencoder's round trip alone: {floor:.3f})" if floor is not None else "")
            + ". Strength 1 starts from nearly pure noise: its place is kept by chance.\n\n" + "\n".join(table) + "\n")


@torch.no_grad()
def edit_sheet(method, unet, num: int = 6, start: int = 5000, strengths=EDIT_STRENGTHS, scale: int = 2):
    """A PIL sheet of the first ``num`` edits of :func:`recolour_edits` (the same scenes, prompts and seed): per row
    the start image, then one edit per strength, labelled by its prompt and strengths, each upscaled ``scale`` x."""
    from PIL import Image

    from core.data import to_pil
    from core.data.labelled import labelled_grid

    scenes = edit_scenes(num, start, method.config.resolution or 64)
    columns = [scenes["images"]] + [_edits(method, unet, scenes, strength) for strength in strengths]
    big = lambda x: to_pil(x).resize((x.shape[-1] * scale, x.shape[-2] * scale), Image.Resampling.NEAREST)
    cells = [[big(column[i]) for column in columns] for i in range(len(scenes["prompts"]))]
    return labelled_grid(cells, scenes["prompts"], ["start image"] + [f"strength {s:g}" for s in strengths])
