"""Small helpers for benchmark scripts: medians of repeated timings, printed as a table."""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from typing import Callable


def median_ms(fn: Callable[[], object], repeats: int = 10, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def print_table(rows: list[tuple[str, float, float | None]], unit: str = "ms") -> None:
    """Print ``(what, measured, budget)`` rows as a markdown table with a pass/fail column."""
    print(f"| measurement | median ({unit}) | budget ({unit}) | within budget |")
    print("|---|---:|---:|:---:|")
    for what, value, budget in rows:
        ok = "" if budget is None else ("yes" if value <= budget else "**no**")
        print(f"| {what} | {value:.1f} | {'' if budget is None else f'{budget:g}'} | {ok} |")


@contextlib.contextmanager
def running_app():
    """The whole app served on 127.0.0.1 (CPU), and a ``gradio_client.Client`` on it; closed afterwards."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from gradio_client import Client

    from app import build_demo, launch

    demo = build_demo(device="cpu")
    launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def run_tab_benchmark(description: str, in_process: Callable[[list], None], through_app: Callable[[list], None],
                      argv=None) -> int:
    """The usual bench main: in-process rows, then (unless ``--no-app``) rows through the running app, 1 thread."""
    import argparse

    import torch

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--no-app", action="store_true", help="skip the through-the-app timings")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as `python app.py` on a box with <= 4 cores
    rows: list = []
    in_process(rows)
    if not args.no_app:
        through_app(rows)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print_table(rows)
    return 0
