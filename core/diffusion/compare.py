"""Sampling quality vs speed: one seed through DDPM (1000 steps) and DDIM (100, 50, 20, 10 steps).

For each setting: wall time to sample one image (batch 1, in-process), the sample of that seed, and
quality on ``num`` class-balanced samples: the bundled world classifier's accuracy on the class asked
for, and FID against ``num`` held-out test images **in the penultimate features of the bundled world
classifier** (``checkpoints/classifier/<world>``, see ``core.metrics``), not Inception. FID is biased
upwards for small ``num``, so the table also gives the floor: FID of ``num`` held-out images against
``num`` other held-out images.

    python -m core.diffusion.compare --checkpoint ddpm-digits --num 100     # writes compare.md/json beside it
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Iterator

import torch

SETTINGS = (("ddpm", 1000), ("ddim", 100), ("ddim", 50), ("ddim", 20), ("ddim", 10))
NUM_CHOICES = (10, 25, 50, 100, 200, 500)


def row_steps(steps: int, num: int, with_metrics: bool, batch_size: int = 100) -> int:
    """Sampling steps :func:`run_comparison` takes for one setting: the seed's image, then ``num`` samples in
    batches of ``batch_size`` when quality is measured (each step one ``core.engine.events.stop_point``)."""
    return steps * (1 + (-(-int(num) // batch_size) if with_metrics else 0))


def _world(bundle) -> str | None:
    return bundle.dataset if bundle.dataset in ("digits", "faces", "shapes") else None


def run_comparison(bundle, seed: int = 0, num: int = 50, guidance: float = 2.0, settings=SETTINGS,
                   batch_size: int = 100) -> Iterator[dict]:
    """Yield one row per setting: sampler, steps, seconds per image, accuracy, FID, and the seed's image.

    The first row is the held-out floor (no sampler) when a world classifier is available.
    """
    from core.engine import check_seed

    from .sampling import sample_images

    seed = check_seed(seed)
    if int(num) not in NUM_CHOICES:
        raise ValueError(f"num {num!r} must be one of {list(NUM_CHOICES)}")
    num = int(num)
    world = _world(bundle)
    metrics_ok = world is not None
    real = real2 = extractor = None
    if metrics_ok:
        try:
            from core.metrics import frechet_distance, load_feature_extractor, reference_images

            ref = reference_images(world, 2 * num, resolution=bundle.resolution)
            real, real2 = ref[:num], ref[num:]
            extractor = load_feature_extractor(world)
            yield {"setting": "real vs real (two held-out sets of N)", "steps": 0, "seconds_per_image": None,
                   "class_accuracy": None, "fid": frechet_distance(real, real2, extractor=extractor), "image": None}
        except Exception as exc:  # no bundled classifier: times and images only
            metrics_ok = False
            print(f"quality metrics unavailable: {exc}", flush=True)
    K = bundle.num_classes
    label_one = 0 if K else None
    for sampler, steps in settings:
        cfg = dict(sampler=sampler, steps=steps, eta=0.0, guidance=guidance if K else 1.0)
        start = time.perf_counter()
        one = sample_images(bundle, 1, generator=torch.Generator().manual_seed(seed), class_labels=label_one, **cfg)
        seconds = time.perf_counter() - start
        row = {"setting": f"{sampler.upper()} {steps} steps", "sampler": sampler, "steps": steps,
               "seconds_per_image": seconds, "class_accuracy": None, "fid": None, "image": one[0]}
        if metrics_ok:
            from core.metrics import LABEL_HEADS, frechet_distance, label_accuracy

            labels = torch.arange(num) % K if K else None
            g = torch.Generator().manual_seed(seed + 1)
            fakes = torch.cat([sample_images(bundle, len(lab), generator=g, class_labels=lab, **cfg)
                               for lab in (labels.split(batch_size) if K else [None] * ((num + batch_size - 1) // batch_size))])[:num]
            row["fid"] = frechet_distance(real, fakes, extractor=extractor)
            if K and world in LABEL_HEADS:
                row["class_accuracy"] = label_accuracy(fakes, labels, world)["class_accuracy"]
        yield row


def markdown_table(rows: list[dict], num: int, world: str | None) -> str:
    feats = f"penultimate features of the bundled `{world}` classifier (not Inception)" if world else "n/a"
    lines = [f"| setting | seconds / image (batch 1) | class accuracy ({num} samples) | FID ({num} vs {num}; {feats}) |",
             "|---|---|---|---|"]
    for r in rows:
        s = "" if r["seconds_per_image"] is None else f"{r['seconds_per_image']:.2f}"
        a = "" if r["class_accuracy"] is None else f"{100 * r['class_accuracy']:.1f} %"
        f = "" if r["fid"] is None else f"{r['fid']:.2f}"
        lines.append(f"| {r['setting']} | {s} | {a} | {f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from core.data import make_grid, to_pil

    from .service import load_checkpoint

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="ddpm-digits")
    p.add_argument("--num", type=int, default=100, choices=NUM_CHOICES)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--guidance", type=float, default=2.0)
    args = p.parse_args(argv)
    bundle = load_checkpoint(args.checkpoint)
    rows = []
    for row in run_comparison(bundle, args.seed, args.num, args.guidance):
        print({k: v for k, v in row.items() if k != "image"}, flush=True)
        rows.append(row)
    folder = Path(bundle.path)
    table = markdown_table(rows, args.num, _world(bundle))
    (folder / "compare.md").write_text(
        f"Sampling quality vs speed, `python -m core.diffusion.compare --checkpoint {args.checkpoint} --num {args.num} "
        f"--seed {args.seed} --guidance {args.guidance:g}` (eta 0, classifier-free guidance {args.guidance:g}, "
        f"{torch.get_num_threads()} torch threads):\n\n{table}\n\n![same seed](compare.png)\n")
    (folder / "compare.json").write_text(json.dumps(
        {"num": args.num, "seed": args.seed, "guidance": args.guidance,
         "rows": [{k: v for k, v in r.items() if k != "image"} for r in rows]}, indent=2) + "\n")
    images = [r["image"] for r in rows if r["image"] is not None]
    to_pil(make_grid(torch.stack(images), nrow=len(images))).save(folder / "compare.png")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
