"""Helpers for the browser tests (``tests/test_browser*.py``; their ``page`` fixture is in conftest.py)."""

from __future__ import annotations


def wait_for_new_src(page, selector: str, old_src, timeout: int) -> None:
    """Wait until the image at ``selector`` shows something other than ``old_src`` (an output arrived)."""
    page.wait_for_function("([sel, old]) => { const i = document.querySelector(sel); return i && i.src !== old; }",
                           arg=[selector, old_src], timeout=timeout)
