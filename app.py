"""GenLab: an interactive studio of image-generation methods.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--device auto] [--no-train] [--online] [--public]

Importing this module loads no model; each tab loads its checkpoint on first use.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import threading

import gradio as gr

from core.engine import resolve_device
from core.engine.cli import quiet_known_noise
from core.engine.hosting import public_mode
from demos import TABS
from demos.common import (APP_JS, CSS, AppContext, install_atomic_image_cache, large_images_switch, remember_visitors,
                          name_controls_by_api, one_line_file_errors)

TITLE = "# GenLab · image generation, hands on"
# one line at 1024 px (a projector's width): each tab's first view keeps the room for its images
HEADER = """
Real PyTorch models trained on built-in worlds, offline, on a CPU; each tab's **Train your own** panel trains yours.
"""

ABOUT_INTRO = """
## About GenLab
GenLab is a teaching studio: every method is implemented in `core/<method>` with the paper's
notation, trained by `python -m core.train <method>` and shown in its own tab. The worlds
(`digits`, `faces`, `shapes`) are generated on the fly, so everything works offline.
"""

def tab_modules():
    """The demos/<name>.py modules in tab order."""
    return [importlib.import_module(f"demos.{name}") for name in TABS]


PUBLIC_NOTE = """
*A public GenLab: what you upload, project and personalise stays in your browser session and is deleted
after an hour; training needs the owner's admin token.*
"""


def build_demo(device: str = "auto", allow_train: bool = True, public: bool = False) -> gr.Blocks:
    """The whole app as one ``gr.Blocks`` (queue configured; not launched).

    ``public``: a shared server (also on a Hugging Face Space, or with ``GENLAB_PUBLIC=1``): see
    ``core.engine.hosting``; Gradio's cached uploads and outputs older than an hour are deleted.
    """
    public = public_mode(public)
    ctx = AppContext(device=resolve_device(device), allow_train=allow_train, public=public)
    install_atomic_image_cache()
    modules = tab_modules()
    with gr.Blocks(title="GenLab", delete_cache=(1800, 3600) if public else None) as demo:
        with gr.Row(equal_height=True):  # the switch beside the title: each tab's first view has its row back
            with gr.Column(scale=3):
                gr.Markdown(TITLE, elem_id="genlab-title")
            with gr.Column(scale=1, min_width=260):
                large_images_switch()
        gr.Markdown(HEADER + (PUBLIC_NOTE if public else ""))
        remember_visitors()
        with gr.Tabs():
            for name, module in zip(TABS, modules):
                with gr.Tab(module.TITLE, id=name):
                    with gr.Accordion("First time here? Try this", open=False, elem_id=f"{name}-try", elem_classes="genlab-try"):
                        # a server that does not train for its visitors gets the tab's steps without training
                        visitors_train = ctx.allow_train and not public
                        gr.Markdown(module.TRY if visitors_train else getattr(module, "TRY_NO_TRAIN", module.TRY))
                    module.build(ctx)
            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT_INTRO + "\n\n".join(f"### {m.TITLE}\n{m.ABOUT.strip()}" for m in modules))
    # Thirty students on one link: requests wait in line (max_size) instead of failing,
    # two run at a time per endpoint by default; training is limited to one in its panel.
    name_controls_by_api(demo)
    one_line_file_errors(demo)
    demo.queue(default_concurrency_limit=2, max_size=64)
    demo.genlab_context = ctx  # for tests and scripts: the shared model cache lives here
    return demo


def theme() -> gr.themes.Base:
    """The app theme, with system fonts only (nothing fetched from the internet)."""
    return gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def launch(demo: gr.Blocks, **kwargs):
    """Launch with GenLab's theme and CSS (``launch()`` takes them in Gradio 6)."""
    return demo.launch(theme=theme(), css=CSS, js=APP_JS, show_error=True, **kwargs)


def parse_args(argv=None) -> argparse.Namespace:
    on_space = os.environ.get("SYSTEM") == "spaces"
    parser = argparse.ArgumentParser(description="GenLab: an interactive studio of image-generation methods")
    parser.add_argument("--host", default="0.0.0.0" if on_space else "127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--no-train", action="store_true", help="refuse training runs (for a shared server)")
    parser.add_argument("--online", action="store_true",
                        help="allow downloads the user asks for (a Stable Diffusion hub id in the text-to-image tab); "
                             "the same as GENLAB_ONLINE=1")
    parser.add_argument("--public", action="store_true",
                        help="a shared public server (automatic on a Hugging Face Space): training needs the admin "
                             "token in GENLAB_ADMIN_TOKEN, visitors' files stay private and are cleaned up")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads per process; 0 = 1 on machines with <= 4 cores, where two "
                             "requests run at once and more threads only fight (measured), else torch's default")
    parser.add_argument("--no-warm-up", action="store_true",
                        help="load each tab's models at its first use instead of in the background at start")
    return parser.parse_args(argv)


def set_cpu_threads(threads: int) -> None:
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    elif (os.cpu_count() or 1) <= 4:
        torch.set_num_threads(1)


def warm_up(ctx, modules=None) -> None:
    """Load each tab's default models (``warm_up(ctx)`` of the tab modules that have one) into the shared cache, so
    that the first visitor's click does not wait for them (text-to-image: 3 s of loading). A model that fails to
    load is left for its tab to report."""
    import time

    log = logging.getLogger("genlab")
    for module in modules or tab_modules():
        if hasattr(module, "warm_up"):
            start = time.perf_counter()
            try:
                module.warm_up(ctx)
            except Exception as exc:  # a missing or broken checkpoint: the tab says so when it is used
                log.warning("warm-up of %s: %s", module.__name__, exc)
                continue
            log.info("warm-up of %s: %.1f s", module.__name__, time.perf_counter() - start)


def main(argv=None) -> None:
    args = parse_args(argv)
    quiet_known_noise()
    if args.online:
        os.environ["GENLAB_ONLINE"] = "1"
    set_cpu_threads(args.threads)
    demo = build_demo(device=args.device, allow_train=not args.no_train, public=args.public)
    if not args.no_warm_up:  # while the server starts and the first page loads
        threading.Thread(target=warm_up, args=(demo.genlab_context,), name="genlab-warm-up", daemon=True).start()
    launch(demo, server_name=args.host, server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
