"""python -m core.evaluation --world digits --checkpoints vae/vae2d-digits,gans/dcgan-digits --num 1000

Measures the checkpoints as the Evaluate tab does and prints the table (markdown); the same seed gives the same
numbers. Without --checkpoints: every evaluable checkpoint of the world (at most 8 at a time, so in groups).
"""

from __future__ import annotations

import argparse

from core.engine import AppContext

from .samplers import evaluable
from .service import CONDITIONAL_HEADERS, HEADERS, MOST, WORLDS, conditional_rows, evaluate_stream, table_rows


def main(argv=None) -> int:
    """The command line; a user error (bad name, range, world) is one ``error:`` line and exit status 2."""
    from core.engine.cli import run_cli

    return run_cli(_main, argv)


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.evaluation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", default="digits")
    parser.add_argument("--checkpoints", default="", help="method/name,... (default: all of the world's)")
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--features", default="world", choices=["world", "inception", "clip"],
                        help="inception: the standard FID, when the Inception-v3 weights are on disk; clip: CLIP "
                             "image embeddings (OpenAI's when on disk, else GenLab's)")
    args = parser.parse_args(argv)
    if args.world not in WORLDS:
        raise ValueError(f"world must be one of {list(WORLDS)}, got {args.world!r}")
    keys = [k.strip() for k in args.checkpoints.split(",") if k.strip()]
    if args.checkpoints.strip() and not keys:
        raise ValueError(f"--checkpoints names no checkpoint: {args.checkpoints!r} (leave it out for all of the world's)")
    keys = keys or evaluable(args.world)
    if not keys:
        raise ValueError(f"no installed checkpoint was trained on {args.world!r}")
    results: dict = {}
    ctx = AppContext()
    for start in range(0, len(keys), MOST):
        for line, part in evaluate_stream(ctx, args.world, keys[start:start + MOST], args.num, args.seed,
                                          features=args.features):
            print(line.replace("**", ""), flush=True)
        results.update(part)
    for headers, rows in ((HEADERS, table_rows(results)), (CONDITIONAL_HEADERS, conditional_rows(results))):
        if rows:
            print("\n| " + " | ".join(headers) + " |\n" + "|---" * len(headers) + "|")
            print("\n".join("| " + " | ".join(str(c) for c in row) + " |" for row in rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
