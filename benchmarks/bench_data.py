"""Images per second of the procedural worlds on one CPU core; prints a markdown table.

    python benchmarks/bench_data.py [--repeats 5] [--batch 256] [--resolutions 28 32 64]

Columns: median over ``--repeats`` runs of ``get_batch`` (the path the trainer uses) and of
one-at-a-time ``ds[i]``; "first batch" is the very first ``get_batch`` of a fresh dataset at that
resolution (it includes one-off work such as the faces' sprite cache). The target is >= 2,000
images/s at 32 px for every world.

Rates are images per second of this process's CPU time (``time.process_time``), so they measure
one core's throughput even when other jobs share the machine; the wall-clock rate of
``get_batch`` is shown too (equal to it on an idle core).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.data import get_dataset  # noqa: E402

WORLDS = ("digits", "faces", "shapes")


def rate(fn, n: int, clock=time.process_time) -> float:
    """Images per second of ``fn`` (which makes ``n`` images), by ``clock``."""
    start = clock()
    fn()
    return n / max(clock() - start, 1e-9)


def bench(name: str, resolution: int, repeats: int, batch: int) -> tuple[float, float, float, float]:
    """(first batch, median get_batch, median get_batch wall-clock, median ds[i]) images per second."""
    ds = get_dataset(name, resolution=resolution)
    first = rate(lambda: ds.get_batch(range(batch)), batch)
    batched, wall = [], []
    for k in range(1, repeats + 1):
        start = time.perf_counter()
        batched.append(rate(lambda k=k: ds.get_batch(range(k * batch, (k + 1) * batch)), batch))
        wall.append(batch / (time.perf_counter() - start))
    single_n = max(32, batch // 4)
    singles = [rate(lambda k=k: [ds[i] for i in range(k * single_n, (k + 1) * single_n)], single_n)
               for k in range(1, repeats + 1)]
    return first, statistics.median(batched), statistics.median(wall), statistics.median(singles)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[28, 32, 64])
    parser.add_argument("--worlds", nargs="+", default=list(WORLDS), choices=WORLDS)
    parser.add_argument("--cpu", type=int, default=0, help="pin to this core (-1: do not pin)")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"one core ({platform.processor() or platform.machine()}), torch threads 1, batch {args.batch}, "
          f"median of {args.repeats} runs, load average {load:.1f}\n")
    print("| world | px | get_batch img/s | get_batch wall-clock img/s | ds[i] img/s | first batch img/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.worlds:
        for resolution in args.resolutions:
            first, batched, wall, single = bench(name, resolution, args.repeats, args.batch)
            print(f"| {name} | {resolution} | {batched:,.0f} | {wall:,.0f} | {single:,.0f} | {first:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
