"""The real app in headless Chromium, driven as a user: every tab renders with no console errors, and each tab's main
controls give their outputs (text-to-image and LoRA: tests/test_browser_text2image.py; training from the page:
tests/test_browser_training.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.browser import SOME_TOAST, TAKE_TOASTS, pick_option, type_number, wait_for_new_src

# the labels of the image boxes (outputs and uploads, not galleries) that lie over their own pixels
LABELS_OVER_PIXELS = """() => [...document.querySelectorAll('.block')].filter(b => b.offsetParent !== null).flatMap(b => {
    const label = b.querySelector(':scope > label[data-testid="block-label"]');
    const img = b.querySelector(':scope > .image-container img');
    if (!label || !img || !img.naturalWidth) return [];
    const l = label.getBoundingClientRect(), r = img.getBoundingClientRect();
    const over = Math.min(l.right, r.right) > Math.max(l.left, r.left) && Math.min(l.bottom, r.bottom) > Math.max(l.top, r.top);
    return over ? [label.innerText] : []; })"""


def test_every_tab_renders_without_console_errors(page):
    """Every tab opens with content and no console error; no image box's label lies over its pixels."""
    from app import tab_modules

    shots = Path(os.environ.get("GENLAB_SCREENSHOTS", "")) if os.environ.get("GENLAB_SCREENSHOTS") else None
    titles = [m.TITLE for m in tab_modules()] + ["About"]
    for title in titles:
        page.get_by_role("tab", name=title).click()
        page.wait_for_timeout(3000 if shots else 800)  # screenshots: let the first views arrive
        panel = page.locator("[role=tabpanel]:visible")
        assert panel.count() >= 1, title
        assert panel.first.inner_text().strip(), f"tab {title!r} is empty"
        assert page.evaluate(LABELS_OVER_PIXELS) == [], title
        if shots:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / f"{title.split()[0].lower()}.png"), full_page=True)
    assert page.errors == []
    assert "About GenLab" in page.locator("[role=tabpanel]:visible").first.inner_text()


def test_a_broken_x0_upload_warns_once_and_a_good_one_is_noised(page, tmp_path):
    """DDPM's x_0: x_t is there when the page opens; a broken upload is one warning (Gradio fires the picture's
    change twice per value: it warned twice) and x_t stays, the x_0 box showing the x_0 it came from again (it showed
    the browser's broken-image icon); a good upload gives a new x_t."""
    from PIL import Image

    page.get_by_role("tab", name="DDPM / DDIM").click()
    x_t = page.locator("#diffusion-xt img")
    x_t.wait_for(timeout=30_000)                        # the held-out digit's x_t, on page open
    before = x_t.get_attribute("src")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    page.evaluate(TAKE_TOASTS)
    page.locator("#diffusion-x0 input[type=file]").set_input_files(str(tmp_path / "broken.png"))
    page.wait_for_function(SOME_TOAST, timeout=20_000)
    page.wait_for_timeout(2000)
    toasts = page.evaluate(TAKE_TOASTS)
    assert len(toasts) == 1 and toasts[0].startswith("warning: ") and "is not a readable image" in toasts[0], toasts
    assert x_t.get_attribute("src") == before
    page.wait_for_function("() => { const img = document.querySelector('#diffusion-x0 img');"
                           " return img && img.complete && img.naturalWidth > 0; }", timeout=10_000)
    page.locator(".toast-body button").first.click()
    page.wait_for_function("() => !document.querySelector('.toast-body')", timeout=10_000)
    Image.new("RGB", (40, 30), (200, 30, 30)).save(tmp_path / "good.png")
    page.locator("#diffusion-x0 input[type=file]").set_input_files(str(tmp_path / "good.png"))
    page.wait_for_function(f"() => document.querySelector('#diffusion-xt img').src !== {before!r}", timeout=20_000)
    page.wait_for_timeout(1000)
    assert page.locator(".toast-body").count() == 0 and page.errors == []


def test_sdedits_result_leaves_when_x0_changes(page):
    """SDEdit's result belongs to its x_0 and t: another held-out image picked takes it away (a 6 denoised from
    t = 500 stood beside a newly picked 4)."""
    page.get_by_role("tab", name="DDPM / DDIM").click()
    page.get_by_role("tab", name="Forward process").first.click()
    page.get_by_role("button", name="Use it").click()
    page.wait_for_timeout(1500)
    page.locator("#diffusion-sdedit-button").click()
    page.locator("#diffusion-sdedit img").wait_for(timeout=60_000)
    page.wait_for_function("() => !document.querySelector('.progress-text')", timeout=60_000)
    page.locator("#diffusion-x0-index input").fill("5")
    page.get_by_role("button", name="Use it").click()
    page.wait_for_function("() => !document.querySelector('#diffusion-sdedit img')", timeout=10_000)
    assert page.errors == []


def test_a_seed_typed_key_by_key_redraws_once_it_is_whole_with_no_error(page):
    """The GANs seed redraws on change: its half-typed values ("" after a Backspace, "-", "-7") are held back until
    the box is left, then -7 becomes 0 (each had sent a request and got an "Error" toast)."""
    page.get_by_role("tab", name="GANs").click()
    seed = page.locator("#gans-seed input[type=number]")
    seed.click()
    seed.press("End")
    for key in ("Backspace", "-", "7"):
        seed.press(key)
        page.wait_for_timeout(300)
    page.keyboard.press("Tab")
    page.wait_for_timeout(1500)
    assert seed.input_value() == "0" and page.locator(".toast-body").count() == 0
    assert page.errors == []


def test_a_decimal_seed_and_a_slider_box_out_of_range_become_the_nearest_allowed_value_with_no_error(page):
    """DDPM's noise seed typed as 2.5 becomes 3 and t's box typed 5000 becomes 1000 as the box is left, with no toast
    and no "Error" badge, and the view goes on following t (the seed's 2.5 stayed in the box, refused again with every
    move of t: an "Error" badge over x_t and a t line that stopped)."""
    page.get_by_role("tab", name="DDPM / DDIM").click()
    x_t = page.locator("#diffusion-xt img")
    x_t.wait_for(timeout=30_000)
    page.evaluate(TAKE_TOASTS)
    seed, t = page.locator("#diffusion-noise-seed input"), page.locator("#diffusion-t input[type=number]")
    for box, typed, kept in ((seed, "2.5", "3"), (t, "5000", "1000")):
        before = x_t.get_attribute("src")
        box.click()
        box.press("Control+a")
        box.press_sequentially(typed, delay=100)
        box.press("Enter")
        wait_for_new_src(page, "#diffusion-xt img", before, timeout=10_000)
        assert box.input_value() == kept
    page.wait_for_timeout(1000)
    assert page.evaluate(TAKE_TOASTS) == [] and page.locator(".error").count() == 0 and page.errors == []


def test_a_gan_class_typed_that_is_no_class_warns_once(page):
    """A class typed into the GANs box that is none: one warning (the image and the interpolation strip each warned:
    "Warning (2)"), and the box goes back to the class it held (the typed one stayed: each later change of the seed
    warned again, and the image no longer followed the seed)."""
    page.get_by_role("tab", name="GANs").click()
    image = page.locator("#gans-image img")
    image.wait_for(timeout=30_000)
    before = image.get_attribute("src")
    pick_option(page, "#gans-checkpoint", "cgan-digits")
    wait_for_new_src(page, "#gans-image img", before, timeout=10_000)
    page.wait_for_timeout(1000)
    before = image.get_attribute("src")
    pick_option(page, "#gans-class", "3")
    wait_for_new_src(page, "#gans-image img", before, timeout=10_000)  # (the 3 drawn: its change was handled; 1.5 s
    page.wait_for_timeout(500)                                       # was short of it under load, and "abc" went
    page.evaluate(TAKE_TOASTS)                                       # back to the class before it)
    box = page.locator("#gans-class input")
    box.fill("abc")
    box.press("Enter")
    page.wait_for_function(SOME_TOAST, timeout=10_000)
    page.wait_for_timeout(1500)
    toasts = page.evaluate(TAKE_TOASTS)
    assert toasts == ["warning: class must be 'random' or 0-9, got 'abc'"], toasts
    assert box.input_value() == "3" and page.errors == []
    page.locator(".toast-body button").first.click()
    before = image.get_attribute("src")
    seed = page.locator("#gans-seed input[type=number]")
    seed.fill("5")
    seed.press("Enter")
    wait_for_new_src(page, "#gans-image img", before, timeout=10_000)   # the image follows the seed, unwarned
    page.wait_for_timeout(1000)
    assert page.evaluate(TAKE_TOASTS) == [] and page.errors == []
    pick_option(page, "#gans-class", "random")   # back to a class every checkpoint takes, for the tests after


def test_gan_class_control_follows_the_checkpoint(page):
    """A conditional checkpoint draws the digit picked in the class box; an unconditional one disables the box and
    says why (a control that cannot apply is disabled, with a line saying why)."""
    page.get_by_role("tab", name="GANs").click()
    image = page.locator("#gans-image img")
    image.wait_for(timeout=30_000)
    before = image.get_attribute("src")
    pick_option(page, "#gans-class", "7")
    wait_for_new_src(page, "#gans-image img", before, timeout=10_000)
    pick_option(page, "#gans-checkpoint", "dcgan-digits")
    page.get_by_text("this checkpoint is unconditional").wait_for(timeout=10_000)
    assert page.locator("#gans-class input").is_disabled()
    assert page.errors == []


def test_stylegan_typed_name_that_is_no_checkpoint_warns_once_and_keeps_the_views(page):
    """A name typed into the StyleGAN picker that is no checkpoint: one warning, the reason in the note, the layer
    boxes as they were (a new layout redrew the mix for the typed name: an Error toast beside the warning)."""
    page.get_by_role("tab", name="StyleGAN").click()
    page.locator("#stylegan-image-mix img").wait_for(timeout=30_000)
    layers = page.locator("#stylegan-layers input:checked").count()
    box = page.locator("#stylegan-checkpoint input")
    page.evaluate(TAKE_TOASTS)
    box.fill("nope")
    box.press("Enter")
    page.locator("#stylegan-checkpoint-note").get_by_text("unknown stylegan checkpoint 'nope'").wait_for(timeout=10_000)
    page.wait_for_function(SOME_TOAST, timeout=10_000)
    page.wait_for_timeout(1500)  # (an Error toast would come with the redrawn mix)
    toasts = page.evaluate(TAKE_TOASTS)
    assert len(toasts) == 1 and toasts[0].startswith("warning: "), toasts
    assert page.locator("#stylegan-layers input:checked").count() == layers
    assert page.locator("#stylegan-image-mix img").count() == 1
    assert page.errors == []


def test_a_file_that_is_no_image_is_refused_as_it_is_dropped_for_projection(page, tmp_path):
    """StyleGAN's "your image": a broken file is one warning as it is dropped and the box shows no broken image (it
    did until Project was pressed); a good one is shown large, pixels visible."""
    from PIL import Image

    page.get_by_role("tab", name="StyleGAN").click()
    page.get_by_text("Project your own image").click()
    box = page.locator("#stylegan-your-image")
    (tmp_path / "text.png").write_text("not an image")
    page.evaluate(TAKE_TOASTS)
    box.locator("input[type=file]").set_input_files(str(tmp_path / "text.png"))
    page.wait_for_function(SOME_TOAST, timeout=20_000)
    page.wait_for_timeout(1500)
    toasts = page.evaluate(TAKE_TOASTS)
    assert len(toasts) == 1 and toasts[0].startswith("warning: ") and "not a readable image" in toasts[0], toasts
    assert page.evaluate("() => [...document.querySelectorAll('#stylegan-your-image img')]"
                         ".every(img => img.complete && img.naturalWidth > 0)")
    Image.new("RGB", (64, 64), (200, 150, 90)).save(tmp_path / "face.png")
    box.locator("input[type=file]").set_input_files(str(tmp_path / "face.png"))
    image = box.locator("img")
    image.wait_for(timeout=20_000)
    page.wait_for_timeout(500)
    assert image.bounding_box()["height"] >= 200       # 64 px shown large (it was 64 px in a 220 px box)
    # projected and mixed, then another checkpoint: the projection and its mix leave, and Mix asks for a new
    # projection (the last model's w went into the new generator, a "mix" of colour blobs, without a word)
    pick_option(page, "#stylegan-checkpoint", "stylegan-faces64-wide")  # (the test before left a typed "nope")
    type_number(page, page.locator("#stylegan-projection-steps input[type=number]"), "20")
    page.locator("#stylegan-project").click()
    page.locator("#stylegan-projection-status").get_by_text("· done").wait_for(timeout=120_000)
    page.locator("#stylegan-project-mix").click()
    page.locator("#stylegan-projection-mix img").wait_for(timeout=30_000)
    pick_option(page, "#stylegan-checkpoint", "stylegan-faces64")
    page.get_by_text("the projection was made with the last checkpoint").wait_for(timeout=10_000)
    assert page.locator("#stylegan-projection img, #stylegan-projection-mix img").count() == 0
    page.evaluate(TAKE_TOASTS)
    page.locator("#stylegan-project-mix").click()
    page.wait_for_function(SOME_TOAST, timeout=10_000)
    assert page.evaluate(TAKE_TOASTS) == ["warning: project an image first"]
    pick_option(page, "#stylegan-checkpoint", "stylegan-faces64-wide")   # (as the tests after expect it)
    # a new projection's mix is made from it: the last mix leaves as Project is pressed (a green mix stood beside a
    # red projection); a new image takes the last one's projection away, a refused file keeps it
    page.locator("#stylegan-project").click()
    page.locator("#stylegan-projection-status").get_by_text("· done").wait_for(timeout=120_000)  # (its w is kept)
    page.wait_for_function("() => !document.querySelector('.progress-text')", timeout=60_000)
    page.evaluate(TAKE_TOASTS)
    page.locator("#stylegan-project-mix").click()
    page.wait_for_function(f"() => document.querySelector('#stylegan-projection-mix img') || ({SOME_TOAST})()",
                           timeout=60_000)
    assert page.evaluate(TAKE_TOASTS) == [] and page.locator("#stylegan-projection-mix img").count() == 1
    # a refused file keeps the projection; a new image takes it away and stops a projection under way (one that
    # ended after the new image was dropped came in beside it)
    box.locator("input[type=file]").set_input_files(str(tmp_path / "text.png"))
    page.wait_for_function(SOME_TOAST, timeout=20_000)
    assert page.locator("#stylegan-projection img").count() == 1
    type_number(page, page.locator("#stylegan-projection-steps input[type=number]"), "500")
    page.locator("#stylegan-project").click()
    page.wait_for_function("() => !document.querySelector('#stylegan-projection-mix img')", timeout=3_000)
    status = page.locator("#stylegan-projection-status")
    status.get_by_text("/ 500").wait_for(timeout=60_000)
    Image.new("RGB", (64, 64), (40, 160, 60)).save(tmp_path / "green.png")
    box.locator("input[type=file]").set_input_files(str(tmp_path / "green.png"))
    page.wait_for_function("() => !document.querySelector('#stylegan-projection img')", timeout=10_000)
    page.wait_for_timeout(3_000)  # (500 steps take far longer: a projection not stopped shows its next step)
    assert page.locator("#stylegan-projection img").count() == 0 and "/ 500" not in status.inner_text()
    assert page.locator("[role=tabpanel]:visible .block").get_by_text("Error", exact=True).count() == 0
    assert page.errors == []


def test_vae_map_decodes_under_the_mouse_and_walks_from_a_to_b(page):
    """Hovering the latent map decodes the point under the mouse; in the two-point mode two clicks draw the walk."""
    page.get_by_role("tab", name="VAE explorer").click()
    page.get_by_role("tab", name="Latent map").click()
    img = page.locator("#vae-map img")
    img.wait_for(timeout=30_000)
    img.scroll_into_view_if_needed()
    box = img.bounding_box()
    point = page.locator("#vae-point img")
    before = point.get_attribute("src")
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.25)
    wait_for_new_src(page, "#vae-point img", before, timeout=30_000)
    page.locator("#vae-map-mode label", has_text="picks A").click()
    # the radio's new value must be in the page before the click that reads it (a person is never this fast)
    page.locator("#vae-map-mode label", has_text="picks A").locator("input").wait_for(state="attached")
    page.wait_for_function("() => document.querySelectorAll('#vae-map-mode input')[1].checked", timeout=30_000)
    page.mouse.click(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
    # A's click has returned when z1 leaves 0 (only a click sets it; a late redraw of the map on page load also
    # changes the map's src, and B clicked before A returns would read the picks without A)
    page.wait_for_function("() => Number(document.querySelector('#vae-z1 input[type=number]').value) !== 0",
                           timeout=30_000)
    # ... and the map it returned (A marked) is in place: B clicked while the new image loads hits no image and
    # selects nothing (about one run in three)
    page.wait_for_function("() => { const i = document.querySelector('#vae-map img');"
                           " return i !== null && i.complete && i.naturalWidth > 0; }", timeout=30_000)
    assert page.locator("#vae-segment img").count() == 0        # A alone: no walk yet
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.85)
    page.locator("#vae-segment img").wait_for(timeout=30_000)
    page.locator("#vae-map-mode label", has_text="decodes the point").click()
    page.locator("#vae-segment img").wait_for(state="detached", timeout=30_000)
    assert page.errors == []


def test_dragging_t_asks_for_each_value_once_and_stops_when_the_thumb_rests(page):
    """Held still mid-drag, the forward view sends nothing new: with the schedule plot as a second always_last
    listener of t.change the two events re-triggered each other, a dozen requests a second for the same t, and
    after a drag to t = 1000 x_t never settled (a teacher's first step in the tab)."""
    from collections import Counter

    page.get_by_role("tab", name="DDPM / DDIM").first.click()
    page.get_by_role("tab", name="Forward process").first.click()
    slider = page.locator("#diffusion-t input[type=range]")
    slider.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    sent = []  # the forward view's requests only: (t, schedule, ...) with or without x_0 before them
    view = re.compile(r'"data":\[(?:\{.*?\}\},)?(\d+),"(?:linear|cosine|sigmoid|scaled_linear)",.*"fn_index":(\d+)')
    listen = lambda r: sent.append(r.post_data) if r.method == "POST" and view.search(r.post_data or "") else None  # noqa: E731
    page.on("request", listen)
    try:
        page.mouse.move(box["x"] + box["width"] * 0.25, y)
        page.mouse.down()
        held = []
        for f in (0.5, 0.8, 1.0):
            page.mouse.move(box["x"] + box["width"] * f, y, steps=3)
            page.wait_for_timeout(800)  # the last answers of the move arrive
            n = len(sent)
            page.wait_for_timeout(1500)
            held.append(len(sent) - n)
        page.mouse.up()
        page.wait_for_timeout(800)
        n = len(sent)
        page.wait_for_timeout(1500)
        after = len(sent) - n
    finally:
        page.remove_listener("request", listen)
    # each held window: at most a few late requests for the move's last value (view, plot, a repeated plot when
    # the app is slow); the loop sent the same t over and over, 6 to 12 requests a second for as long as it lasted
    asked = Counter(view.search(d).groups() for d in sent)
    assert max(held) <= 4 and after <= 4 and max(asked.values()) <= 3, (held, after, asked.most_common(3))
    assert ("1000", min(fn for _, fn in asked)) in asked  # the drag's end was drawn
    assert page.locator("#diffusion-xt img").count() == 1


def test_a_ninth_checkpoint_ticked_in_evaluate_goes_back_with_a_warning(page):
    """Evaluate measures up to eight checkpoints: a ninth tick is undone at once, with one warning (it stayed ticked
    until Measure refused the whole set)."""
    page.get_by_role("tab", name="Evaluate").click()
    boxes = page.locator("#evaluate-checkpoints input[type=checkbox]")
    boxes.first.wait_for(timeout=10_000)
    page.evaluate(TAKE_TOASTS)
    for i in range(boxes.count()):
        if len([b for b in boxes.all() if b.is_checked()]) == 8:
            break
        if not boxes.nth(i).is_checked():
            boxes.nth(i).check()
            page.wait_for_timeout(300)
    ninth = next(b for b in boxes.all() if not b.is_checked())
    ninth.click()
    page.wait_for_function(SOME_TOAST, timeout=10_000)
    page.wait_for_timeout(1000)
    assert page.evaluate(TAKE_TOASTS) == ["warning: at most 8 checkpoints at once: untick one to add another"]
    assert not ninth.is_checked() and len([b for b in boxes.all() if b.is_checked()]) == 8 and page.errors == []
    # one model measured, then another world: the measurement leaves with its world (its table, charts and samples
    # stayed beside the new world's ticks)
    for box in boxes.all():
        if box.is_checked():
            box.uncheck()
    page.get_by_label("gans/dcgan-digits", exact=True).check()
    type_number(page, page.locator("#evaluate-n input[type=number]"), "100")
    page.locator("#evaluate-go").click()
    page.wait_for_function("/done/.test(document.querySelector('#evaluate-status').innerText)", timeout=120_000)
    page.locator("#evaluate-samples img").wait_for(timeout=10_000)
    assert "dcgan-digits" in page.locator("#evaluate-table").inner_text()
    page.get_by_role("radio", name="faces").check()
    page.wait_for_function("() => !document.querySelector('#evaluate-samples img, #evaluate-bars img')",
                           timeout=10_000)
    assert page.locator("#evaluate-status").inner_text().strip() == ""
    assert "dcgan" not in page.locator("#evaluate-table").inner_text() and page.errors == []
