"""Control-to-image latency in a real browser (headless Chromium driving the running app), medians.

    python benchmarks/bench_browser.py [--repeats 15]

What a user feels: the time from a slider moving (or a button click) in the page until the new image has
arrived and is decoded in the page, measured in the page with ``performance.now()``. Budgets from the issues:
the diffusion forward-process t slider 150 ms (#4), the first streamed reverse frame 300 ms (#4), the
StyleGAN psi slider 250 ms (#5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import print_table  # noqa: E402

CHROMIUM = os.environ.get("GENLAB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

# Moves a slider (a drag step: input + change; with ``release`` also the pointerup that ends a drag or a click
# on the track), or clicks a button (value null), and resolves with the ms until the <img> inside ``image`` has a new,
# fully decoded src. Polls every 2 ms so the timer's resolution is far below the budgets.
MEASURE_JS = """
async ([control, image, value, release]) => {
  const img = () => document.querySelector(`${image} img`);
  const before = img() ? img().src : null;
  const t0 = performance.now();
  const el = document.querySelector(control);
  if (value === null) {
    el.click();
  } else {
    const range = el.querySelector('input[type=range]');
    const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
    setter.call(range, String(value));
    range.dispatchEvent(new Event('input', {bubbles: true}));
    range.dispatchEvent(new Event('change', {bubbles: true}));
    if (release) range.dispatchEvent(new PointerEvent('pointerup', {bubbles: true}));  // Gradio's "release"
  }
  while (true) {
    const i = img();
    if (i && i.src && i.src !== before && i.complete && i.naturalWidth > 0) return performance.now() - t0;
    if (performance.now() - t0 > 30000) return -1;
    await new Promise(r => setTimeout(r, 2));
  }
}
"""


def measure(page, control: str, image: str, values, release: bool, settle_ms: int = 150) -> float:
    times = []
    for v in values:
        ms = page.evaluate(MEASURE_JS, [control, image, v, release])
        if ms < 0:
            raise RuntimeError(f"no new image in {image} after changing {control}")
        times.append(ms)
        page.wait_for_timeout(settle_ms)  # let any trailing event of this change finish
    return statistics.median(times[1:])  # the first call warms caches


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    from app import build_demo, launch, set_cpu_threads

    set_cpu_threads(0)  # what `python app.py` does
    demo = build_demo(device="cpu")
    launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    rows = []
    n = args.repeats + 1
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(demo.local_url)
            page.get_by_text("GenLab · image generation, hands on").wait_for(timeout=30_000)

            page.get_by_role("tab", name="DDPM / DDIM").click()
            page.get_by_role("button", name="Use it").click()
            page.locator("#diffusion-x0 img").wait_for(timeout=10_000)
            page.wait_for_timeout(500)
            for release, what in [(False, "dragged"), (True, "clicked / released; the plot marker moves too")]:
                ms = measure(page, "#diffusion-t", "#diffusion-xt", [100 + 37 * i for i in range(n)], release)
                rows.append((f"diffusion: t slider {what} -> x_t shown (28 px digit)", ms, 150))

            page.get_by_role("tab", name="Reverse process").click()
            page.wait_for_timeout(300)
            button = "#diffusion-sample-button"
            page.evaluate("""() => { [...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Sample')
                                     .id = 'diffusion-sample-button'; }""")
            times = []
            for _ in range(max(4, args.repeats // 3)):
                times.append(page.evaluate(MEASURE_JS, [button, "#diffusion-live-xt", None, False]))
                page.get_by_text("· done").wait_for(timeout=60_000)  # the 50-step run finishes
            rows.append(("diffusion: Sample click -> first x_t frame shown (DDIM 50, CFG)",
                         statistics.median(times[1:]), 300))

            page.get_by_role("tab", name="StyleGAN").click()
            page.locator("#stylegan-image-a img").wait_for(timeout=30_000)
            page.wait_for_timeout(500)
            ms = measure(page, "#stylegan-psi", "#stylegan-image-a", [round(0.2 + 0.05 * i, 2) for i in range(n)], True)
            rows.append(("stylegan: psi slider released -> image A shown (64 px; A, B, mix redrawn)", ms, 250))
            browser.close()
    finally:
        demo.close()
    import torch

    print(f"torch threads: {torch.get_num_threads()}, load average: {os.getloadavg()[0]:.1f}\n")
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
