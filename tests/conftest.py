"""Shared fixtures: the real app booted once per test session, and a gradio_client on it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: needs GENLAB_SLOW=1")
    import torch

    torch.set_num_threads(1)  # tiny tensors: as `python app.py` on a 2-core box (app.set_cpu_threads)


def pytest_collection_modifyitems(config, items):
    if os.environ.get("GENLAB_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow check; set GENLAB_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def app_url():
    """The full GenLab app (``app.build_demo()``) served on 127.0.0.1 with the real checkpoints/."""
    from app import build_demo, launch

    demo = build_demo(device="cpu")
    launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield demo.local_url
    demo.close()


@pytest.fixture(scope="session")
def app_client(app_url):
    """A ``gradio_client.Client`` connected to :func:`app_url`."""
    from gradio_client import Client

    return Client(app_url, verbose=False)


CHROMIUM = os.environ.get("GENLAB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def page(app_url, tmp_path_factory):
    """The app in headless Chromium (one browser per test module), console errors collected in ``page.errors``,
    toasts in ``window.genlabToasts`` (``TAKE_TOASTS``)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Debian's chromium is needed for the browser test: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.errors = []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        from tests.browser import RECORD_TOASTS

        page.add_init_script(RECORD_TOASTS)
        page.goto(app_url)
        page.get_by_text("GenLab · image generation, hands on").wait_for(timeout=30_000)
        yield page
        browser.close()
