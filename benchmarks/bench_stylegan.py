"""StyleGAN tab speed: medians over repeated runs, printed as a markdown table.

    python benchmarks/bench_stylegan.py [--checkpoint stylegan-faces64] [--repeats 20] [--no-app]

Budgets (issue 5, CPU, 2 cores): one 64x64 image <= 40 ms in-process; a 4x4 mixing grid <= 600 ms;
slider -> image through the running app <= 250 ms (a gradio_client call of /stylegan_generate with a new psi).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import median_ms, print_table  # noqa: E402


def boot_app():
    """The full app if it builds, else the StyleGAN tab alone (said in the table)."""
    import gradio as gr

    try:
        from app import build_demo, launch

        demo = build_demo(device="cpu")
        launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
        return demo, "full app"
    except Exception as exc:  # another tab missing while the app is being written
        from demos import stylegan
        from demos.common import AppContext

        with gr.Blocks() as demo:
            with gr.Tab(stylegan.TITLE):
                stylegan.build(AppContext())
        demo.queue(default_concurrency_limit=2, max_size=64)
        demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
        return demo, f"StyleGAN tab alone (full app failed: {type(exc).__name__})"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="stylegan-faces64")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-app", action="store_true", help="skip the through-the-app timings")
    args = parser.parse_args(argv)

    from core.stylegan import explore

    G = explore.load_generator(args.checkpoint)
    seeds = iter(range(10**6))
    rows = [
        ("one image (generate, PIL out)", median_ms(lambda: explore.generate(G, next(seeds), 0.7), args.repeats), 40),
        ("style mix A+B (PIL out)", median_ms(lambda: explore.mix(G, next(seeds), next(seeds), [0, 1, 2], 0.7),
                                              args.repeats), None),
        ("4x4 mixing grid (24 images)", median_ms(lambda: explore.mixing_grid(G, [1, 2, 3, 4], [5, 6, 7, 8],
                                                                              [0, 1, 2], 0.7), args.repeats), 600),
        ("interpolation GIF, 24 frames", median_ms(lambda: explore.interpolation_frames(G, 1, 2, "w", "slerp", 24),
                                                   max(3, args.repeats // 4)), None),
    ]
    print(f"StyleGAN benchmarks · checkpoint `{args.checkpoint}` ({G.resolution}x{G.resolution}, "
          f"{sum(p.numel() for p in G.parameters()) / 1e6:.2f} M params) · torch threads {torch.get_num_threads()}\n")
    rows = [(f"{name} (in-process)", ms, budget) for name, ms, budget in rows]
    if not args.no_app:
        from gradio_client import Client

        demo, label = boot_app()
        try:
            client = Client(demo.local_url, verbose=False)
            psis = iter([0.5 + 0.01 * (i % 100) for i in range(10**6)])
            gen = median_ms(lambda: client.predict(args.checkpoint, 7, next(psis), api_name="/stylegan_generate"),
                            args.repeats)
            mixed = median_ms(lambda: client.predict(args.checkpoint, 7, 8, [0, 1, 2], next(psis),
                                                     api_name="/stylegan_mix"), args.repeats)
            rows += [(f"slider -> image, /stylegan_generate ({label}, gradio_client)", gen, 250),
                     (f"slider -> mixed image, /stylegan_mix ({label}, gradio_client)", mixed, 250)]
        finally:
            demo.close()
    print_table(rows)


if __name__ == "__main__":
    main()
