"""Speed of the text-to-image tab (issue 20 budgets), medians over repeated runs, as a markdown table.

    python benchmarks/bench_text2image.py            # in-process + through the running app
    python benchmarks/bench_text2image.py --no-app   # in-process only

Budgets (CPU, 2 cores): one 64 px image, 25 DDIM steps with guidance, in-process <= 2 s; the first preview frame
through the running app (gradio_client ``submit`` of /text_to_image, time to its first streamed output) <= 400 ms;
the whole call through the app <= 2.5 s.
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

    for name in list_models():
        pipe = load_model(name)
        request = check_request(PROMPT, "", 25, 4.0, 0, "ddim", 1)
        rows.append((f"{name}: one 64 px image, 25 DDIM steps, w = 4 (in-process)",
                     median_ms(lambda: generate(pipe, request), 7), 2000))
        rows.append((f"{name}: the same with previews and attention maps (as the tab runs it)",
                     median_ms(lambda: list(generate_stream(pipe, request)), 5), None))
        first = lambda: next(iter(generate_stream(pipe, request)))
        rows.append((f"{name}: first preview frame (in-process)", median_ms(first, 7), None))


def through_app(rows: list) -> None:
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
        rows.append(("app: first preview frame streamed (/text_to_image, t2i-clip-shapes)", 1000 * times[len(times) // 2], 400))
        rows.append(("app: the whole call, 25 steps (/text_to_image, t2i-clip-shapes)",
                     median_ms(lambda: client.predict(prompt=PROMPT, api_name="/text_to_image"), 7), 2500))


def main(argv=None) -> int:
    return run_tab_benchmark(__doc__.splitlines()[0], in_process, through_app, argv)


if __name__ == "__main__":
    sys.exit(main())
