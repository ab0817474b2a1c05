"""App-level timings: `python app.py` until it serves (budget 10 s), and the first text-to-image call after a start
with and without the background warm-up of the tabs' default models.

    python benchmarks/bench_app.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import print_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def started_app(*flags: str):
    """``python app.py --port <free> *flags`` until its page serves: yields (port, seconds it took)."""
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), *flags], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ | {"GRADIO_ANALYTICS_ENABLED": "False"})
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 120:
                    raise RuntimeError("app did not start")
                time.sleep(0.05)
        yield port, time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait()


def boot_seconds() -> float:
    with started_app() as (_, seconds):
        return seconds


def first_text_to_image_seconds(*flags: str, visitor_delay: float = 8.0) -> float:
    """The first /text_to_image call (its defaults), ``visitor_delay`` s after the page serves (a visitor opens the
    tab and clicks): what the background warm-up saves the first visitor."""
    from gradio_client import Client

    with started_app(*flags) as (port, _):
        time.sleep(visitor_delay)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        t0 = time.perf_counter()
        client.predict(api_name="/text_to_image")
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    boots = [boot_seconds() for _ in range(args.repeats)]
    warm = [first_text_to_image_seconds() for _ in range(args.repeats)]
    cold = [first_text_to_image_seconds("--no-warm-up") for _ in range(args.repeats)]
    print_table([("python app.py until the page serves", statistics.median(boots), 10.0),
                 ("first /text_to_image, 8 s after the page serves", statistics.median(warm), 2.5),
                 ("the same with --no-warm-up (models load at the first click)", statistics.median(cold), None)],
                unit="s")


if __name__ == "__main__":
    main()
