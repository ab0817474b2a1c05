"""LoRA's training from the page in headless Chromium: Cancel pressed at once, Cancel of a run waiting for the one
training slot, a second Train refused, Delete, and an adapter kept across a reload."""

from __future__ import annotations

import re

from tests.browser import pick_option

def test_lora_cancel_pressed_right_after_train_stops_it_and_the_line_says_so(page):
    """Cancel pressed at once after Train: the run stops before it trains, nothing is saved, and the status line says
    so (the Cancel was lost while the model loaded, and the whole run trained and saved; a cancel a second later
    was said in a toast only, the line kept "training")."""
    page.get_by_role("tab", name="LoRA").click()
    before = page.locator("#lora-adapter input").input_value()
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_role("button", name="Cancel").click()
    line = page.get_by_text("cancelled before the first step: nothing was saved")
    line.wait_for(timeout=60_000)
    page.wait_for_timeout(3000)
    assert line.is_visible() and page.get_by_text(re.compile(r"saved \*?\*?sks-")).count() == 0
    assert page.locator("#lora-adapter input").input_value() == before and page.errors == []


def test_lora_deleting_ones_own_adapter_says_so_and_its_file_leaves(page):
    """A visitor's own adapter, trained, shown beside its base, downloaded and deleted: the line says it was deleted
    and the download box empties (the line was emptied at once, and the deleted adapter's file stayed offered)."""
    page.get_by_role("tab", name="LoRA").click()
    # a shared adapter is not the visitor's to delete or share: both buttons are off, and the label says why
    assert page.locator("#lora-delete").is_disabled() and page.locator("#lora-share").is_disabled()
    assert page.locator("#lora-delete").inner_text() == "Delete (yours only)"
    box = page.locator("#lora-steps input[type=number]")
    box.fill("3")
    box.press("Enter")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"saved sks-lora-\d+ \(3 steps")).wait_for(timeout=120_000)
    name = page.locator("#lora-adapter input").input_value()
    assert name.startswith("sks-lora-")
    page.wait_for_function("!document.querySelector('#lora-delete').disabled", timeout=10_000)  # one's own: on
    assert page.locator("#lora-share").is_enabled()
    # what it learnt is drawn at once, with its own prompt (the two images were emptied, the line said to press
    # Generate: the pictures seemed to vanish)
    page.locator("#lora-personalised img").wait_for(timeout=60_000)
    page.get_by_text(f"{name} on ").first.wait_for(timeout=10_000)
    assert page.locator("#lora-base img").count() == 1
    page.locator("#lora-download").click()
    page.locator("#lora-adapter-file a").first.wait_for(timeout=10_000)
    page.get_by_role("button", name="Delete").click()
    page.get_by_text(f"deleted {name}").wait_for(timeout=10_000)
    page.wait_for_timeout(1000)
    assert page.get_by_text(f"deleted {name}").is_visible() and page.locator("#lora-adapter-file a").count() == 0
    box.fill("300")
    box.press("Enter")
    pick_option(page, "#lora-adapter", "purple-circle-lora")  # (as the tests after expect it)
    page.wait_for_function("document.querySelector('#lora-delete').disabled", timeout=10_000)
    assert page.errors == []


def test_lora_cancel_takes_a_waiting_run_out_of_the_queue(page, app_url):
    """Another visitor's LoRA holds the one training slot: this page's Train waits, saying which run holds the slot;
    Train more pressed meanwhile is refused (it queued behind it); Cancel takes it out of the queue at once (spinners
    stop, the line says so) and it never trains, while the other run goes on. Train pressed while the page's own run
    trains is refused too."""
    import time

    from gradio_client import Client

    page.get_by_role("tab", name="LoRA").click()
    other = Client(app_url, verbose=False)
    job = other.submit(trigger="qxv", steps=2000, api_name="/lora_train")
    deadline = time.time() + 120
    while time.time() < deadline and not any("step" in str(o[0]) for o in job.outputs()):
        time.sleep(0.2)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"waiting for the training slot: LoRA adapter qxv-lora-1, step \d")).wait_for(
        timeout=10_000)                                   # which run holds the slot, as the training panels say
    page.wait_for_function("() => document.querySelector('.progress-text')", timeout=10_000)  # queued
    page.get_by_role("button", name="Train more").click()
    page.get_by_text("your run is waiting for the training slot already: Cancel it first").wait_for(timeout=10_000)
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("cancelled: your run waiting for the training slot will not start").wait_for(timeout=10_000)
    page.wait_for_function("() => !document.querySelector('.progress-text')", timeout=10_000)
    page.wait_for_timeout(1500)
    assert page.locator(".block").get_by_text("Error", exact=True).count() == 0  # (as Gradio's cancels= left)
    assert not job.done()
    job.cancel()  # the other visitor leaves (its run stops unsaved)
    deadline = time.time() + 60
    while time.time() < deadline and not job.done():
        time.sleep(0.2)
    page.wait_for_timeout(3000)  # the slot is free: the cancelled run did not start
    assert page.get_by_text("cancelled: your run waiting for the training slot will not start").is_visible()
    assert page.locator(".progress-text").count() == 0 and page.errors == []
    page.get_by_role("button", name="Train", exact=True).click()   # its own run trains: a second Train is refused
    page.get_by_text(re.compile(r"step \d+ / 300")).wait_for(timeout=60_000)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("your adapter is training: wait for it, or Cancel it").wait_for(timeout=10_000)
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text(re.compile(r"cancelled at step \d+ of 300")).wait_for(timeout=60_000)
    page.locator("#lora-personalised img").wait_for(timeout=60_000)   # what it learnt before the Cancel, drawn
    page.wait_for_function("() => !document.querySelector('.progress-text')", timeout=30_000)
    assert page.errors == []
    # what it learnt stays with the browser: after a reload (F5) the adapter is still in the picker (the page's
    # session ended and its folder was deleted)
    mine = page.locator("#lora-adapter input").input_value()
    assert re.fullmatch(r"sks-(lora|ti)-\d+", mine), mine
    page.reload()
    page.get_by_text("GenLab · image generation, hands on").wait_for(timeout=30_000)
    page.get_by_role("tab", name="LoRA").click()
    page.wait_for_timeout(1500)
    page.locator("#lora-adapter input").click()
    page.get_by_role("option", name=mine, exact=True).wait_for(timeout=10_000)
    page.keyboard.press("Escape")
