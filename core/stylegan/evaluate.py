"""Model-card metrics of a generator: FID / KID in the world's classifier features (core.metrics).

The features come from GenLab's bundled world classifier, not Inception, so the numbers compare only
with other GenLab numbers in the same world. A real-vs-real FID (train split vs test split, same
count) is reported beside them as the floor that sample size alone gives.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from .generator import Generator

WORLDS = ("digits", "faces", "shapes")
log = logging.getLogger(__name__)


@torch.no_grad()
def generate_images(G: Generator, num: int, psi: float = 1.0, seed: int = 12345, batch: int = 64) -> torch.Tensor:
    """``num`` images (N, C, H, W) in [0, 1] from z ~ N(0, I) drawn with ``seed`` (constant noise)."""
    g = torch.Generator().manual_seed(seed)
    device = G.const.device
    out = []
    for start in range(0, num, batch):
        z = torch.randn(min(batch, num - start), G.z_dim, generator=g).to(device)
        out.append(((G(z, psi=psi, noise_mode="const") + 1) / 2).clamp(0, 1).cpu())
    return torch.cat(out)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)


@torch.no_grad()
def evaluate_generator(G: Generator, test_dataset, world: str, num: int) -> dict[str, float]:
    """FID (psi 1 and 0.7), KID, the real-vs-real FID floor and the attribute coverage of the psi-1 samples
    (``attribute_coverage``; ``attribute_tv``: its mean TV over attributes) with ``num`` images each.

    Returns {} (and logs why) when the world has no bundled classifier yet.
    """
    if world not in WORLDS:
        log.warning("no FID for dataset %r: GenLab's feature networks exist for %s only", world, WORLDS)
        return {}
    try:
        from core.metrics import (attribute_coverage, frechet_distance, kernel_inception_distance,
                                  load_feature_extractor)

        extractor = load_feature_extractor(world)
    except Exception as exc:  # missing classifier checkpoint or metrics package
        log.warning("no FID: cannot load the %s feature network (%s)", world, exc)
        return {}
    was_training = G.training
    G.eval()
    num = min(num, len(test_dataset))
    real = test_dataset.get_batch(list(range(num)))["image"]
    native = real.shape[-1]
    fake = _resize(generate_images(G, num), native)
    fake_psi07 = _resize(generate_images(G, num, psi=0.7), native)
    from core.data import get_dataset

    train_real = get_dataset(world, split="train", resolution=native).get_batch(list(range(num)))["image"]
    kid_mean, kid_std = kernel_inception_distance(real, fake, world=world, extractor=extractor)
    coverage = attribute_coverage(real, fake, classifier=extractor.classifier)
    G.train(was_training)
    return {
        "fid": frechet_distance(real, fake, world=world, extractor=extractor),
        "fid_psi0.7": frechet_distance(real, fake_psi07, world=world, extractor=extractor),
        "kid": kid_mean,
        "kid_std": kid_std,
        "fid_real_train_vs_test": frechet_distance(real, train_real, world=world, extractor=extractor),
        "eval_images": num,
        "attribute_tv": sum(c["tv"] for c in coverage.values()) / len(coverage),
        "attribute_coverage": coverage,
    }


MIXING_WORLDS = ("faces",)  # worlds whose classifier reads separate shape and colour attributes
SHAPE_ATTRIBUTES = ("head_shape", "pose", "hair_style", "glasses", "expression")
COLOUR_ATTRIBUTES = ("background", "hair_colour", "skin_tone", "shirt_colour", "eye_colour")


@torch.no_grad()
def mixing_transfer(G: Generator, layer_sets: dict[str, list[int]], num_pairs: int = 500, world: str = "faces",
                    seed: int = 2024, batch: int = 100) -> dict[str, dict[str, dict[str, float]]]:
    """What style mixing takes from B and what it keeps of A, measured by the world's attribute classifier.

    For ``num_pairs`` seed pairs (A, B) and each named layer set, the mix is A with B's w on those layers
    (psi 1, constant noise). Per attribute head, among the pairs whose A and B the classifier reads
    differently: the fraction of mixes it reads as B's value ("B") and as A's value ("A"). The rest of
    the mixes show a third value, belonging to neither seed.

    Returns:
        {layer set name: {attribute: {"B": fraction, "A": fraction}}} (NaN where no pair differs).
    """
    from core.metrics import predict
    from core.metrics.features import load_classifier

    from .explore import mix_styles, render

    net = load_classifier(world)
    g = torch.Generator().manual_seed(seed)
    preds = {"A": [], "B": [], **{name: [] for name in layer_sets}}
    for start in range(0, num_pairs, batch):
        n = min(batch, num_pairs - start)
        z = torch.randn(2 * n, G.z_dim, generator=g).to(G.const.device)
        ws = G.mapping_ws(z)
        ws_a, ws_b = ws[:n], ws[n:]
        views = {"A": ws_a, "B": ws_b, **{name: mix_styles(ws_a, ws_b, layers) for name, layers in layer_sets.items()}}
        for name, w in views.items():
            preds[name].append(predict(render(G, w, "const").cpu(), classifier=net))
    preds = {k: torch.cat(v) for k, v in preds.items()}  # (N, heads)
    differ = preds["A"] != preds["B"]
    count = differ.sum(0)

    def share(name: str, seed_name: str) -> list[float]:
        hits = ((preds[name] == preds[seed_name]) & differ).sum(0)
        return [float(hits[h] / count[h]) if count[h] else float("nan") for h in range(len(net.head_names))]

    return {name: {head: {"B": b, "A": a} for head, b, a in zip(net.head_names, share(name, "B"), share(name, "A"))}
            for name in layer_sets}


def mixing_sets(G: Generator) -> dict[str, list[int]]:
    """The layer sets the mixing measurement takes from B: the paper's three groups, middle + fine, and
    every layer from 8 px up (all but the 4x4 convolution)."""
    groups = G.style_groups()
    return {"coarse": groups["coarse"], "middle": groups["middle"], "fine": groups["fine"],
            "middle + fine": groups["middle"] + groups["fine"],
            "8 px and up": [i for i in range(G.num_ws) if G.layer_resolution(i) >= 8]}


SPLIT_SHAPES = ("head_shape", "pose", "hair_style")  # what the paper's coarse layers carry
SPLIT_COLOURS = ("background", "hair_colour", "skin_tone", "shirt_colour")


def split_score(cells: dict[str, dict[str, float]]) -> float:
    """How cleanly one layer set's mix keeps A's shapes and takes B's colours (cells: one ``mixing_transfer``
    entry): the smaller of the mean share of A's value over ``SPLIT_SHAPES`` and of B's over ``SPLIT_COLOURS``
    (NaN cells skipped; NaN if a side has none)."""
    def mean(heads, seed):
        values = [cells[h][seed] for h in heads if h in cells and cells[h][seed] == cells[h][seed]]
        return sum(values) / len(values) if values else float("nan")
    keeps_a, takes_b = mean(SPLIT_SHAPES, "A"), mean(SPLIT_COLOURS, "B")
    return min(keeps_a, takes_b) if keeps_a == keeps_a and takes_b == takes_b else float("nan")


def cleanest_split(transfer: dict) -> str | None:
    """The measured layer set with the highest ``split_score``; None if none can be scored."""
    scored = {name: split_score(cells) for name, cells in transfer.items()}
    scored = {name: s for name, s in scored.items() if s == s}
    return max(scored, key=scored.get) if scored else None


def crossover_sets(G: Generator) -> dict[str, list[int]]:
    """Layers w_k ... w_last from B for every crossover k >= 1: where along the layers each attribute switches."""
    last = G.num_ws - 1
    return {f"w{k}-w{last}": list(range(k, G.num_ws)) for k in range(1, G.num_ws)}


def mixing_table(transfer: dict, suffix: str = " layers from B") -> str:
    """Markdown: rows = attributes (shape-like first, then colours), columns = layer sets,
    cells = "% read as B's value / % read as A's value" (``mixing_transfer``)."""
    names = list(transfer)
    heads = list(next(iter(transfer.values())))
    order = [h for h in SHAPE_ATTRIBUTES if h in heads] + [h for h in COLOUR_ATTRIBUTES if h in heads]
    order += [h for h in heads if h not in order]
    lines = ["| attribute: % B's / % A's | " + " | ".join(f"{n}{suffix}" for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    pct = lambda v: "-" if v != v else f"{100 * v:.0f}"  # NaN: no pair differed
    for h in order:
        cells = [f"{pct(transfer[n][h]['B'])} / {pct(transfer[n][h]['A'])}" for n in names]
        lines.append(f"| {h.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def crossover_report(crossover: dict) -> str:
    """Markdown: how to read the crossover measurement (``crossover_sets``), then its table."""
    return ("Each column gives B's w to every layer from w_k on (A keeps w_0 ... w_k-1); each cell is how often the "
            "mix shows **B's value / A's value** (the rest show a value of neither seed). Read a row from the right: "
            "an attribute moves from A to B over the layers that decide it.\n\n"
            + mixing_table(crossover, suffix=" from B"))


def main(argv=None) -> int:
    """``python -m core.stylegan.evaluate --checkpoint stylegan-faces64``: the style-mixing transfer tables."""
    import argparse

    from .explore import load_generator

    p = argparse.ArgumentParser(description=mixing_transfer.__doc__.split("\n")[0])
    p.add_argument("--checkpoint", default="stylegan-faces64")
    p.add_argument("--pairs", type=int, default=500)
    p.add_argument("--world", default="faces")
    args = p.parse_args(argv)
    G = load_generator(args.checkpoint)
    print(mixing_table(mixing_transfer(G, mixing_sets(G), args.pairs, args.world)))
    print()
    print(crossover_report(mixing_transfer(G, crossover_sets(G), args.pairs, args.world)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
