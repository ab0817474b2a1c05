"""Text-to-image and LoRA in headless Chromium, driven as a user: generating with attention maps, the guidance that
follows the model, the X/Y grid's prompt box, image-to-image from the start image box, LoRA's base beside the
personalised model."""

from __future__ import annotations

import re

from tests.browser import SOME_TOAST, TAKE_TOASTS, pick_option


def test_text_to_image_generates_with_attention_maps(page):
    """A click on Generate streams previews, then the image, the classifier's reading and one map per word. The image
    is shown whole and square in its box with its caption under it; the "large images" switch does not shrink the
    sheet of maps, which is already taller than the switch's 390 px. A seed typed out of range is taken as the nearest
    bound when the click leaves its box, as a slider's box does (Gradio refused it with "Error" over every output)."""
    page.get_by_role("tab", name="Text-to-image").click()
    page.get_by_role("tab", name="Generate", exact=True).click()
    page.locator("#t2i-prompt textarea").fill("a large blue circle to the left of a small red star, and a small green heart below a large pink square")
    seed = page.locator("#t2i-seed input[type=number]")
    seed.fill("-7")
    page.locator("#t2i-go").click()
    page.locator("#t2i-status").get_by_text("ddim steps").wait_for(timeout=30_000)
    assert seed.input_value() == "0" and "seed 0" in page.locator("#t2i-status").inner_text()
    assert page.locator(".toast-body").count() == 0
    page.wait_for_timeout(800)  # the page's smooth scroll to the image ends before anything is measured
    assert page.locator("#t2i-gallery img").count() == 1
    assert page.locator("#t2i-attention img").count() == 1        # the sheet of maps, one per token
    assert "blue" in page.locator("#t2i-readout").inner_text()
    image, box = page.locator("#t2i-gallery img").bounding_box(), page.locator("#t2i-gallery").bounding_box()
    assert image["height"] >= 300 and abs(image["width"] - image["height"]) < 2, image       # large, not stretched
    assert box["y"] <= image["y"] and image["y"] + image["height"] <= box["y"] + box["height"], (image, box)  # whole
    caption = page.locator("#t2i-gallery .caption-label").bounding_box()
    assert caption["y"] >= image["y"] + image["height"] - 1, (caption, image)            # under the pixels
    maps = page.locator("#t2i-attention img")
    before = maps.bounding_box()
    assert before["height"] > 390, before                       # 21 tokens: three rows of maps
    page.locator("#genlab-large-switch input").check()
    try:
        after = maps.bounding_box()
        assert after["height"] >= before["height"] - 1 and after["width"] >= before["width"] - 1, (before, after)
    finally:
        page.locator("#genlab-large-switch input").uncheck()
    # the maps' step slider spans the run they come from, not the steps box (at 80 of a 25-step run the maps gave way
    # to a bare "Error")
    page.locator("#t2i-steps input[type=number]").fill("100")
    page.locator("#t2i-steps input[type=number]").press("Enter")
    page.wait_for_timeout(500)
    step_box = page.locator("#t2i-att-step input[type=number]")
    assert step_box.get_attribute("max") == "25"
    step_box.fill("80")
    step_box.press("Enter")
    page.wait_for_timeout(1000)
    assert step_box.input_value() == "25" and maps.count() == 1 and page.locator(".error").count() == 0
    assert page.errors == []


def test_the_guidance_slider_follows_the_picked_model(page):
    """Picking a text-to-image model sets the guidance slider to the w its card was measured with, and the note says
    so; picking the first model again sets its own back."""
    from core.text2image.service import card_guidance

    page.get_by_role("tab", name="Text-to-image").first.click()
    page.get_by_role("tab", name="Generate", exact=True).click()
    number = page.locator("#t2i-guidance input[type=number]")
    first = page.locator("#t2i-model input").input_value()
    assert card_guidance(first) != card_guidance("t2i-clip-shapes"), "the test needs two models measured at two w"
    for name in ("t2i-clip-shapes", first):
        pick_option(page, "#t2i-model", name)
        page.locator("#t2i-model-note").get_by_text(name).first.wait_for(timeout=10_000)
        page.wait_for_function(f"() => document.querySelector('#t2i-guidance input[type=number]').value == "
                               f"'{card_guidance(name):g}'", timeout=10_000)
        assert f"guidance w = {card_guidance(name):g}" in page.locator("#t2i-model-note").inner_text()
    assert number.input_value() == f"{card_guidance(first):g}"
    assert page.errors == []


def test_the_xy_grid_shows_the_prompt_box_only_where_the_prompt_is_not_an_axis(page):
    page.get_by_role("tab", name="Text-to-image").first.click()
    page.get_by_role("tab", name="X/Y grid").first.click()
    box = page.locator("#t2i-grid-prompt")
    box.wait_for(timeout=10_000)
    from playwright.sync_api import expect

    for mode, shown in (("seed x prompt", False), ("model x prompt", False), ("guidance x steps", True)):
        page.get_by_label(mode).check()
        # the box follows within a few seconds on a loaded CI machine (a fixed 300 ms wait failed there once)
        (expect(box).to_be_visible if shown else expect(box).to_be_hidden)(timeout=5_000)


def test_lora_compares_base_and_personalised(page):
    """The LoRA tab opens on a bundled adapter; one click shows the base and the personalised image side by side."""
    page.get_by_role("tab", name="LoRA").click()
    page.get_by_role("button", name="Generate base and personalised").click()
    page.get_by_text("purple-circle-lora on t2i-clip-shapes: LoRA scale 1").wait_for(timeout=30_000)
    panel = page.locator("[role=tabpanel]:visible").first
    assert panel.locator("img").count() >= 2
    # a scale typed into the slider's box and confirmed with Enter redraws, as letting go of the slider does
    box = page.locator("#lora-scale input[type=number]")
    box.fill("0.5")
    box.press("Enter")
    page.get_by_text("purple-circle-lora on t2i-clip-shapes: LoRA scale 0.5").wait_for(timeout=30_000)
    # a shared adapter cannot be deleted from the app: the button is off and says so (a click gave a toast after
    # the fact), the picker as it was, no red badges
    delete = page.locator("#lora-delete")
    assert delete.is_disabled() and delete.inner_text() == "Delete (yours only)"
    assert page.locator("#lora-adapter input").input_value() == "purple-circle-lora"
    assert page.locator("[role=tabpanel]:visible .error").count() == 0
    # another adapter picked: the images of the last one (and its line, naming it) leave the screen
    pick_option(page, "#lora-adapter", "purple-circle-ti")
    page.get_by_text("purple-circle-ti: press Generate").wait_for(timeout=10_000)
    assert page.locator("#lora-personalised img").count() == 0 and page.locator("#lora-base img").count() == 0
    assert page.get_by_text("purple-circle-lora on t2i-clip-shapes").count() == 0
    pick_option(page, "#lora-adapter", "purple-circle-lora")  # the tab's default again, for the tests after
    assert page.errors == []


def test_text_to_image_edits_its_own_image_from_the_start_image_box(page, tmp_path):
    """Image-to-image on the page: a file that is no image is refused as it is dropped; "take image 1" with nothing
    generated warns; after a Generate it fills the start image, and the next Generate runs the last strength x steps
    from it, said in the status line."""
    page.get_by_role("tab", name="Text-to-image").first.click()
    page.get_by_role("tab", name="Generate", exact=True).click()
    page.get_by_text("Start from an image (image-to-image)").click()
    page.evaluate(TAKE_TOASTS)
    fake = tmp_path / "fake.png"  # a file that is no image: said as it is dropped, and it leaves the box
    fake.write_bytes(b"hello, I am a text file renamed .png")
    page.locator("#t2i-init-image input[type=file]").set_input_files(str(fake))
    page.wait_for_function(SOME_TOAST, timeout=10_000)
    page.wait_for_timeout(1000)
    assert page.evaluate(TAKE_TOASTS) == ["warning: file 'fake.png' is not a readable image (unknown format or corrupt "
                                          "data)"]
    assert page.locator("#t2i-init-image img").count() == 0
    if page.locator("#t2i-gallery img").count() == 0:  # (an earlier test may have generated already)
        page.locator("#t2i-reuse").click()
        page.wait_for_function(SOME_TOAST, timeout=10_000)
        assert page.evaluate(TAKE_TOASTS) == ["warning: generate an image first: its first image becomes the start "
                                              "image"]
        page.locator("#t2i-go").click()
        page.locator("#t2i-status").get_by_text(re.compile(r"seed \d+: ")).wait_for(timeout=60_000)
    page.locator("#t2i-reuse").click()
    page.locator("#t2i-init-image img").wait_for(timeout=10_000)
    strength = page.locator("#t2i-strength input[type=number]")
    strength.fill("0.3")
    strength.press("Enter")
    page.wait_for_timeout(500)
    page.locator("#t2i-go").click()
    line = page.locator("#t2i-status").get_by_text(re.compile(r"\(strength 0\.3\): the last \d+ of \d+ "))
    line.wait_for(timeout=60_000)  # (of the steps an earlier test may have left in the box)
    last, steps = map(int, re.search(r"the last (\d+) of (\d+)", line.inner_text()).groups())
    assert last == max(1, int(steps * 0.3))
    page.locator("#t2i-init-image button[aria-label='Remove Image']").click()  # back to noise for the tests after
    page.wait_for_function("() => !document.querySelector('#t2i-init-image img')", timeout=10_000)
    assert page.errors == []
