"""Are the Evaluate tab's error bars honest? Draw the same model with several seeds and compare the spread of each
metric across seeds with the mean error bar the tab shows (the delete-d jackknife of ``measure.WorldJudge``).

    python -m core.evaluation.calibration            # vae2d-digits and dcgan-digits, N = 100 and 500, 10 seeds

Prints a markdown table: per model, N and metric, the standard deviation over seeds and the mean error bar. A
calibrated error bar is about the seed-to-seed spread.
"""

from __future__ import annotations

import argparse
import statistics

METRICS = ("fid", "kid", "precision", "recall")


def calibrate(key: str, num: int, seeds: int = 10, world: str = "digits") -> dict[str, tuple[float, float]]:
    """{metric: (std over ``seeds`` seeds, mean error bar)} for checkpoint ``key`` at sample size ``num``."""
    from .measure import WorldJudge
    from .samplers import load, sample

    judge, model = WorldJudge(world, num), load(key)
    values, bars = {m: [] for m in METRICS}, {m: [] for m in METRICS}
    for seed in range(seeds):
        result = judge.measure(sample(key, num, seed, model=model).images, seed)
        for m in METRICS:
            values[m].append(result["values"][m])
            bars[m].append(result["std"][m])
    return {m: (statistics.stdev(values[m]), statistics.mean(bars[m])) for m in METRICS}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.evaluation.calibration", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", default="vae/vae2d-digits,gans/dcgan-digits")
    parser.add_argument("--num", default="100,500")
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args(argv)
    print("| checkpoint | N | metric | std over seeds | mean error bar |\n|---|---:|---|---:|---:|")
    for key in args.checkpoints.split(","):
        for num in (int(n) for n in args.num.split(",")):
            for m, (spread, bar) in calibrate(key, num, args.seeds).items():
                print(f"| {key} | {num} | {m} | {spread:.3g} | {bar:.3g} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
