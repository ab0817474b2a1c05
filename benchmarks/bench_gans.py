"""Speed of the GAN variants tab (issue 23 budgets), medians over repeated runs, as a markdown table.

    python benchmarks/bench_gans.py            # in-process + through the running app
    python benchmarks/bench_gans.py --no-app   # in-process only

Budgets (CPU, 1 thread as the app on a small box): one 32 px image <= 20 ms in-process; the tab's side-by-side grid
of every variant through the running app <= 1 s (a gradio_client call of the Compare button's endpoint).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import median_ms, run_tab_benchmark, running_app  # noqa: E402


def in_process(rows: list) -> None:
    from core.engine import AppContext
    from core.gans.service import compare_grid, generate_image, variants

    ctx, seeds = AppContext(), iter(range(10**6))
    for name in variants():
        generate_image(ctx, name, 0)  # loads it into the cache
        rows.append((f"{name}: one image (/gan_generate's function, PIL out)",
                     median_ms(lambda: generate_image(ctx, name, next(seeds)), 50), 20))
    rows.append((f"every variant side by side ({len(variants())} x 8 images, labelled sheet)",
                 median_ms(lambda: compare_grid(ctx), 10), None))
    training_steps(rows)


def training_steps(rows: list) -> None:
    """One training step of each bundled variant's own config (batch 64; n_critic D steps + one G step), the
    speed side of the trade-off table; ProGAN at its last stage (32 px)."""
    from accelerate import Accelerator

    from core.engine import StepContext, resolve_checkpoint
    from core.gans.method import GANConfig, GANMethod
    from core.gans.service import variants

    accelerator = Accelerator(cpu=True)
    for name in variants():
        config = GANConfig.load(resolve_checkpoint("gans", name) / "train_config.json").replace(device="cpu")
        method = GANMethod(config)
        model = method.build_model()
        optimizers = method.configure_optimizers(model)
        batch = method.build_dataset().get_batch(list(range(config.batch_size)))
        steps = iter(range(config.steps - 100, 10**6))
        rows.append((f"{name}: one training step ({method.n_critic} D + 1 G, batch {config.batch_size})",
                     median_ms(lambda: method.training_step(model, batch, StepContext(next(steps), accelerator,
                                                                                      optimizers)), 10), None))


def through_app(rows: list) -> None:
    with running_app() as client:
        seeds = iter(range(10**6))
        rows.append(("app: seed -> image (/gan_generate, dcgan-digits)",
                     median_ms(lambda: client.predict(checkpoint="dcgan-digits", seed=next(seeds),
                                                      api_name="/gan_generate"), 30), 250))
        rows.append(("app: every variant side by side (/gan_compare: grid, table, notes, curves)",
                     median_ms(lambda: client.predict("1, 2, 3, 4, 5, 6, 7, 8", 0.0, "dcgan-digits",
                                                      api_name="/gan_compare"), 10),
                     1000))


if __name__ == "__main__":
    sys.exit(run_tab_benchmark(__doc__.split("\n\n")[0], in_process, through_app))
