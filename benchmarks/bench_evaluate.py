"""Speed of the Evaluate tab (issue 24 budgets), medians over repeated runs, as a markdown table.

    python benchmarks/bench_evaluate.py            # in-process + through the running app
    python benchmarks/bench_evaluate.py --no-app

Budgets (CPU, 1 thread): every metric of 1,000 samples of a 32 px model in the world features (FID, KID,
precision / recall, density / coverage, score, the 20 subsets of the error bars; generation excluded) <= 30 s;
a cached result through the running app appears at once (<= 1 s for three models: table, charts, samples).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import median_ms, run_tab_benchmark, running_app  # noqa: E402

KEYS = ["vae/vae2d-digits", "gans/dcgan-digits", "gans/cgan-projection-ms-digits"]


def in_process(rows: list) -> None:
    from core.evaluation.measure import WorldJudge
    from core.evaluation.samplers import sample

    judge = WorldJudge("digits", 1000)
    images = sample("gans/dcgan-digits", 1000, 0).images
    rows.append(("every metric of 1,000 samples with error bars (gans/dcgan-digits, generation excluded)",
                 median_ms(lambda: judge.measure(images), 3, warmup=1), 30_000))
    rows.append(("1,000 samples of gans/dcgan-digits (generation alone)",
                 median_ms(lambda: sample("gans/dcgan-digits", 1000, 0), 3, warmup=1), None))


def through_app(rows: list) -> None:
    with running_app() as client:
        ask = lambda: client.predict("digits", KEYS, 1000, 0, "FID", "world", api_name="/evaluate")
        ask()  # measured once; every later request is served from the cache
        rows.append(("app: three cached models, 1,000 samples each (/evaluate: table, charts, samples)",
                     median_ms(ask, 10), 1000))


if __name__ == "__main__":
    sys.exit(run_tab_benchmark(__doc__.split("\n\n")[0], in_process, through_app))
