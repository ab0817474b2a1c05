"""Speed of the VAE explorer (issue 3 budgets), medians over repeated runs, as a markdown table.

    python benchmarks/bench_vae.py            # in-process + through the running app
    python benchmarks/bench_vae.py --no-app   # in-process only
    python benchmarks/bench_vae.py --train 300 --no-app   # + time 300 steps of the bundled digits run

Budgets (CPU, 2 cores): decode one image <= 10 ms; the 20x20 manifold grid <= 300 ms; slider ->
image through the running app <= 250 ms (measured as a gradio_client call of /vae_decode, the same
work a slider event does: parse, decode, PNG encode, HTTP round trip).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.common import median_ms, print_table, running_app  # noqa: E402


def in_process(rows: list) -> None:
    from core.engine import list_checkpoints, resolve_checkpoint
    from core.vae import load_vae
    from core.vae.explore import decode_point, manifold_grid, prior_samples, reconstruct

    names = list_checkpoints("vae")
    for name in names:
        model = load_vae(resolve_checkpoint("vae", name))
        if model.model_type == "vqvae":
            idx = torch.zeros(1, model.grid_size, model.grid_size, dtype=torch.long)
            with torch.no_grad():
                rows.append((f"{name}: decode one image (code grid)", median_ms(lambda: model.decode_indices(idx), 100), 10))
        else:
            z = [0.3] * model.latent_dim
            rows.append((f"{name}: decode one image", median_ms(lambda: decode_point(model, z), 200), 10))
        if getattr(model, "latent_dim", 0) == 2:
            rows.append((f"{name}: 20x20 manifold grid", median_ms(lambda: manifold_grid(model, 20), 20), 300))
        x = torch.rand(model.in_channels, model.image_size, model.image_size)
        rows.append((f"{name}: reconstruct one image", median_ms(lambda: reconstruct(model, x), 50), None))
        rows.append((f"{name}: 16 prior samples", median_ms(lambda: prior_samples(model, 16, 0), 20), None))


def through_app(rows: list) -> None:
    with running_app() as client:
        values = iter(torch.linspace(-2, 2, 1000).tolist())
        rows.append(("app: slider -> image (/vae_decode, vae2d-digits)",
                     median_ms(lambda: client.predict("vae2d-digits", f"{next(values):.3f}, 0.5",
                                                      api_name="/vae_decode"), 30), 250))
        rows.append(("app: /vae_decode vae16-faces (16-D)",
                     median_ms(lambda: client.predict("vae16-faces", ", ".join(["0.1"] * 16),
                                                      api_name="/vae_decode"), 30), 250))


def train_speed(rows: list, steps: int) -> None:
    """Time ``steps`` steps of checkpoints/vae/vae2d-digits' own config (1 thread, from scratch) and
    extrapolate to its full length; CPU seconds are shown too (wall time depends on other load)."""
    import os
    import tempfile

    from core.engine import Trainer, resolve_checkpoint
    from core.vae import VAEConfig
    from core.vae.method import VAEMethod

    torch.set_num_threads(1)
    config = VAEConfig.load(resolve_checkpoint("vae", "vae2d-digits") / "train_config.json")
    full = config.steps
    short = config.replace(steps=steps, sample_every=0, checkpoint_every=0)
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        for event in Trainer(VAEMethod(short), os.path.join(tmp, "run"), resume=False).run():
            pass
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows.append((f"train vae2d-digits: {steps} steps + evaluate, wall", wall * 1000, None))
    rows.append((f"train vae2d-digits: {steps} steps + evaluate, CPU", cpu * 1000, None))
    rows.append((f"train vae2d-digits: {full} steps extrapolated (CPU)", cpu * full / steps * 1000, 600_000))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-app", action="store_true", help="skip the through-the-app timings")
    parser.add_argument("--train", type=int, default=0, help="also time this many training steps")
    args = parser.parse_args(argv)
    rows: list = []
    in_process(rows)
    if args.train:
        train_speed(rows, args.train)
    if not args.no_app:
        through_app(rows)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
