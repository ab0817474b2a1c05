"""DDPM / DDIM tab budgets (issue 4), medians over repeated runs on this machine.

    python benchmarks/bench_diffusion.py [--checkpoint ddpm-digits] [--rgb ddpm-shapes32] [--repeats 5] [--no-app]

In-process: DDIM 50 steps for ONE image (budget 1.0 s, for a 32 px model), with classifier-free guidance
(2 network passes per step) and without; the first streamed frame of a sample (budget 300 ms).
Through the running app (gradio_client, like a browser): the forward-process slider call (budget 150 ms)
and the first streamed frame of /diffusion_sample after the request (budget 300 ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import median_ms, print_table  # noqa: E402


def first_frame_ms(make_stream, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        stream = make_stream()
        next(stream)
        times.append((time.perf_counter() - t0) * 1000)
        stream.close()
    return statistics.median(times[1:])


def in_process(rows, name: str, repeats: int) -> None:
    import torch

    from core.diffusion.sampling import sample_images
    from core.diffusion.service import load_checkpoint, sample_stream

    bundle = load_checkpoint(name)
    size = f"{bundle.resolution} px, {bundle.channels} ch"
    label = 0 if bundle.num_classes else None
    for w, what in [(1.0, "conditional, 1 pass/step"), (2.0, "CFG w=2, 2 passes/step")]:
        ms = median_ms(lambda: sample_images(bundle, 1, sampler="ddim", steps=50, class_labels=label, guidance=w,
                                             generator=torch.Generator().manual_seed(0)), repeats, warmup=1)
        rows.append((f"{name} ({size}): DDIM 50 steps, 1 image, {what}", ms, 1000))
    ms = first_frame_ms(lambda: sample_stream(bundle, "ddim", 50, 0.0, 0, label, 2.0), repeats)
    rows.append((f"{name}: first reverse step yielded (in-process)", ms, 300))


def through_app(rows, name: str, repeats: int) -> None:
    from gradio_client import Client, handle_file

    from app import build_demo, launch
    from core.data import get_dataset, to_pil

    demo = build_demo(device="cpu")
    launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        with tempfile.TemporaryDirectory() as tmp:
            png = os.path.join(tmp, "x0.png")
            to_pil(get_dataset("digits", split="test")[0]["image"]).save(png)
            ts = iter(range(10_000))
            ms = median_ms(lambda: client.predict(handle_file(png), 1 + next(ts) % 999, "cosine", 0,
                                                  api_name="/diffusion_forward"), repeats * 4, warmup=2)
            rows.append(("/diffusion_forward through the app (28 px digit, PNG upload + x_t)", ms, 150))

        def first_app_frame():
            t0 = time.perf_counter()
            job = client.submit(name, "ddim", 50, 0.0, 0, "0", 2.0, "trained", "classifier-free",
                                api_name="/diffusion_sample")
            while not job.outputs() and not job.done():
                time.sleep(0.002)
            first = (time.perf_counter() - t0) * 1000
            job.result()
            return first

        first_app_frame()  # loads the checkpoint into the app's cache
        times = [first_app_frame() for _ in range(repeats)]
        rows.append(("/diffusion_sample: first streamed frame after the request (through the app)",
                     statistics.median(times), 300))
        t0 = time.perf_counter()
        client.predict(name, "ddim", 50, 0.0, 0, "0", 2.0, "trained", "classifier-free", api_name="/diffusion_sample")
        rows.append(("/diffusion_sample: DDIM 50 steps, CFG, all frames streamed (through the app)",
                     (time.perf_counter() - t0) * 1000, None))
    finally:
        demo.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="ddpm-digits")
    p.add_argument("--rgb", default="ddpm-faces32", help="a 32 px RGB checkpoint for the 32 px budget ('' skips)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-app", action="store_true")
    args = p.parse_args()
    import torch

    from core.engine import list_checkpoints

    rows: list = []
    names = [n for n in (args.rgb, args.checkpoint) if n and n in list_checkpoints("diffusion")]
    for name in names:
        in_process(rows, name, args.repeats)
    if not args.no_app:
        through_app(rows, args.checkpoint, args.repeats)
    print(f"torch threads: {torch.get_num_threads()}, load average: {os.getloadavg()[0]:.1f}\n")
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
