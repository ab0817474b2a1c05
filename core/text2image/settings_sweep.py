"""How a text-to-image model's one-object faithfulness moves with the sampler, the number of steps and guidance w.

``python -m core.text2image.settings_sweep --model checkpoints/text2image/t2i-minilm-shapes --start 3000
--settings ddim:25:2 ddim:25:4 ddim:25:8`` (about 3 min per setting for 400 prompts on 2 CPU cores)

Each setting ``sampler:steps:w`` draws one image for each of ``--num`` one-object held-out captions (those among the
test items from ``--start`` on; the cards use the ones from item 200 on, so ``--start 3000`` gives a set the cards'
figures were not read on) with the same seeds, and the shapes classifier reads them back
(:func:`core.text2image.evaluate.one_object_faithfulness`). Use it to choose settings on one set and report them on
another: a setting chosen on the card's own prompts would flatter the card.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .config import SAMPLERS

ATTRIBUTES = ("shape", "colour", "count", "size", "exact")


def parse_setting(spec: str) -> tuple[str, int, float]:
    """"ddim:25:4" -> ("ddim", 25, 4.0); ``ValueError`` naming the setting otherwise."""
    parts = spec.split(":")
    try:
        sampler, steps, w = parts[0], int(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        raise ValueError(f"setting {spec!r}: give sampler:steps:w, e.g. ddim:25:4") from None
    if len(parts) != 3 or sampler not in SAMPLERS or not 1 <= steps <= 1000 or not 0 <= w <= 20:
        raise ValueError(f"setting {spec!r}: sampler one of {', '.join(SAMPLERS)}, steps 1-1000, w 0-20")
    return sampler, steps, w


def main(argv=None) -> dict:
    from .evaluate import one_object_faithfulness
    from .method import Text2ImageMethod

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="checkpoints/text2image/t2i-minilm-shapes", help="a text-to-image folder")
    parser.add_argument("--start", type=int, default=3000, help="first held-out test item scanned for captions")
    parser.add_argument("--num", type=int, default=400, help="one-object captions per setting")
    parser.add_argument("--settings", nargs="+", default=["ddim:25:4"], help="sampler:steps:w, e.g. ddim:25:4")
    args = parser.parse_args(argv)
    settings = [parse_setting(s) for s in args.settings]

    method = Text2ImageMethod(Text2ImageMethod.config_class.load(Path(args.model) / "train_config.json"))
    unet = method.load_inference(args.model).eval()
    results = {}
    print(f"| sampler | steps | w | {' | '.join(ATTRIBUTES)} |\n|---|---:|---:|{'---:|' * len(ATTRIBUTES)}")
    for sampler, steps, w in settings:
        with torch.no_grad():
            m = one_object_faithfulness(method, unet, args.num, args.start, steps, w, sampler)
        results[f"{sampler}:{steps}:{w:g}"] = m
        print(f"| {sampler} | {steps} | {w:g} | " + " | ".join(f"{m[f'one_object/{a}']:.1%}" for a in ATTRIBUTES)
              + " |", flush=True)
    return results


if __name__ == "__main__":
    main()
