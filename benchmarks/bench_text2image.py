"""Speed of the text-to-image tab (issue 20 budgets), medians over repeated runs, as a markdown table.

    python benchmarks/bench_text2image.py            # in-process + through the running app
    python benchmarks/bench_text2image.py --no-app   # in-process only

Budgets (CPU, 2 cores): one 64 px image, 25 DDIM steps with guidance, in-process <= 2 s; the first preview frame
through the running app (gradio_client ``submit`` of /text_to_image, time to its first streamed output) <= 400 ms;
the whole call through the app <= 2.5 s. Also (no budget): one training step of the bundled recipe (batch 32), with
the frozen autoencoder and text encoder run on every step (an uncached dataset) and with their outputs kept per item
(a cached dataset, every item already seen).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import median_ms, run_tab_benchmark, running_app  # noqa: E402

PROMPT = "a large yellow heart to the left of a medium purple square"


def in_process(rows: list) -> None:
    from core.text2image.service import check_request, generate, generate_stream, list_models, load_model

    training_step(rows)
    for name in list_models():
        pipe = load_model(name)
        request = check_request(PROMPT, "", 25, 4.0, 0, "ddim", 1)
        rows.append((f"{name}: one 64 px image, 25 DDIM steps, w = 4 (in-process)",
                     median_ms(lambda: generate(pipe, request), 7), 2000))
        rows.append((f"{name}: the same with previews and attention maps (as the tab runs it)",
                     median_ms(lambda: list(generate_stream(pipe, request)), 5), None))
        first = lambda: next(iter(generate_stream(pipe, request)))
        rows.append((f"{name}: first preview frame (in-process)", median_ms(first, 7), None))


def training_step(rows: list, batch_size: int = 32) -> None:
    import dataclasses
    from types import SimpleNamespace

    import torch

    from core.engine import StepContext
    from core.text2image.method import Text2ImageMethod
    from core.text2image.config import Text2ImageConfig

    folder = "checkpoints/text2image/t2i-minilm-shapes"
    config = Text2ImageConfig.load(f"{folder}/train_config.json")
    method = Text2ImageMethod(dataclasses.replace(config, cache_items=4 * batch_size))  # the recipe caches 40,000
    unet = method.load_inference(folder).train()
    opt = torch.optim.AdamW(unet.parameters(), 1e-6)
    ctx = StepContext(0, SimpleNamespace(device=torch.device("cpu")), {})
    cached = method.build_dataset("train").get_batch(list(range(batch_size)))
    live = {k: v for k, v in cached.items() if k != "item"}

    def step(batch):
        loss = method.training_step(unet, batch, ctx)["loss"]
        opt.zero_grad(); loss.backward(); opt.step()

    for name, batch in (("frozen parts run every step", live), ("frozen outputs kept per item", cached)):
        rows.append((f"training step, batch {batch_size}, t2i-minilm-shapes recipe: {name}",
                     median_ms(lambda: step(batch), 7), None))


def through_app(rows: list) -> None:
    from demos.text2image import DEFAULT_MODEL

    with running_app() as client:
        def first_frame():
            job = client.submit(prompt=PROMPT, api_name="/text_to_image")
            start = time.perf_counter()
            while not job.outputs() and not job.done():
                time.sleep(0.002)
            elapsed = time.perf_counter() - start
            job.result()
            return elapsed

        times = sorted(first_frame() for _ in range(9))
        rows.append((f"app: first preview frame streamed (/text_to_image, {DEFAULT_MODEL})", 1000 * times[len(times) // 2], 400))
        rows.append((f"app: the whole call, 25 steps (/text_to_image, {DEFAULT_MODEL})",
                     median_ms(lambda: client.predict(prompt=PROMPT, api_name="/text_to_image"), 7), 2500))


def main(argv=None) -> int:
    return run_tab_benchmark(__doc__.splitlines()[0], in_process, through_app, argv)


if __name__ == "__main__":
    sys.exit(main())
