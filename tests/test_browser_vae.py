"""The VAE tab in headless Chromium: its sketchpad at 1024x768 (label clear of the toolbar, each stroke encoded, a
refused upload), and what another checkpoint clears or changes in each sub-tab."""

from __future__ import annotations

from tests.browser import TAKE_TOASTS, draw_stroke, open_sketch_canvas, pick_option, wait_for_new_src


LABEL_UNDER_CANVAS_TOOLS = """(sel) => { const b = document.querySelector(sel);
    const l = b.querySelector('label[data-testid="block-label"]').getBoundingClientRect();
    const tools = [...b.querySelectorAll('button')].map(t => t.getBoundingClientRect()).filter(r => r.width > 0);
    return [tools.length, tools.filter(r => Math.min(l.right, r.right) > Math.max(l.left, r.left)
                                         && Math.min(l.bottom, r.bottom) > Math.max(l.top, r.top)).length]; }"""


def test_the_vae_sketchpad_label_is_clear_of_its_toolbar_and_encodes_each_stroke(page):
    """At 1024x768 the VAE's Draw canvas shows its label whole (its zoom / undo toolbar sat over a long label), a
    stroke is encoded when it ends, and a cleared canvas takes the next stroke."""
    page.set_viewport_size({"width": 1024, "height": 768})
    try:
        page.get_by_role("tab", name="VAE explorer").first.click()
        page.get_by_role("tab", name="Encode your own").first.click()
        page.get_by_role("tab", name="Draw").first.click()
        page.locator("#vae-sketch button[aria-label='Zoom out']").wait_for(timeout=10_000)
        tools, over_label = page.evaluate(LABEL_UNDER_CANVAS_TOOLS, "#vae-sketch")
        assert tools >= 4 and over_label == 0
        # a stroke is encoded as it ends, no button pressed (the button is below the fold at 1024x768)
        seen = page.locator("#vae-own-seen img")
        canvas = open_sketch_canvas(page, ["VAE explorer", "Encode your own", "Draw"], "#vae-sketch",
                                    other_tab="Upload")
        before = seen.get_attribute("src") if seen.count() else None  # (the page may have been reloaded)
        draw_stroke(page, canvas, (0.5, 0.2), (0.5, 0.7))
        seen.wait_for(timeout=40_000)
        wait_for_new_src(page, "#vae-own-seen img", before, timeout=40_000)
        # "Clear canvas": the outputs go, quietly (a red "draw something first" came while the last digit stayed),
        # and the brush is selected again (Gradio's editor dropped it: the next stroke drew nothing)
        page.locator("#vae-sketch button[aria-label='Clear canvas']").click()
        page.wait_for_function("() => !document.querySelector('#vae-own-seen img')", timeout=40_000)
        page.locator("#vae-sketch button[aria-label='Color']").wait_for(timeout=10_000)
        assert page.get_by_text("draw something on the sketchpad first").count() == 0
        draw_stroke(page, canvas, (0.3, 0.3), (0.7, 0.6))
        seen.wait_for(timeout=40_000)
        # another checkpoint encodes the drawing again (the old model's reconstruction and latent stayed under it)
        page.locator("#vae-own-rec img").wait_for(timeout=40_000)
        page.wait_for_timeout(500)
        before = page.locator("#vae-own-rec img").get_attribute("src")
        pick_option(page, "#vae-own-ckpt", "vae16-digits")
        wait_for_new_src(page, "#vae-own-rec img", before, timeout=40_000)
        page.wait_for_function("() => (document.querySelector('#vae-own-latent').innerText.match(/-?\\d+\\.\\d+/g) "
                               "|| []).length >= 12", timeout=20_000)  # the 16-D model's latent (the 2-D one: 2)
        pick_option(page, "#vae-own-ckpt", "vae2d-digits")
        # "Encode the upload" with no file: a warning, the outputs kept (an error badged three and kept the map's cross)
        page.get_by_role("tab", name="Upload", exact=True).first.click()
        page.get_by_role("button", name="Encode the upload").click()
        toast = page.locator(".toast-body").filter(has_text="upload an image (or draw one) first")
        toast.wait_for(timeout=20_000)
        assert "Warning" in toast.first.text_content() and seen.count() == 1
        # a file is encoded as it arrives, without the button (it waited for it, below the fold)
        from pathlib import Path

        before = page.locator("#vae-own-seen img").get_attribute("src")
        digit = Path(__file__).resolve().parents[1] / "core" / "data" / "handwritten" / "digit_00.png"
        page.locator("#vae-upload input[type=file]").set_input_files(str(digit))
        wait_for_new_src(page, "#vae-own-seen img", before, timeout=40_000)
        # then a file that is no image: one warning, and the digit's input and reconstruction leave (they stood
        # under the new file's name)
        import tempfile

        page.evaluate(TAKE_TOASTS)
        with tempfile.TemporaryDirectory() as folder:
            fake = Path(folder) / "notimage.png"
            fake.write_text("not an image")
            page.locator("#vae-upload button[aria-label='Clear']").click()   # (as a user: the file box holds one)
            page.locator("#vae-upload input[type=file]").set_input_files(str(fake))
            page.wait_for_function("() => !document.querySelector('#vae-own-seen img, #vae-own-rec img')",
                                   timeout=20_000)
        page.wait_for_timeout(1500)
        toasts = page.evaluate(TAKE_TOASTS)
        assert len(toasts) == 1 and "not a readable image" in toasts[0], toasts
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


def test_vae_outputs_of_another_model_leave_and_a_refused_comparison_is_a_warning(page):
    """Interpolate and Compare: another checkpoint picked clears the last model's strips and comparison (they stayed
    under the new name); models of unlike sizes compared: one warning, no red "Error" badges (there were three)."""
    from playwright.sync_api import expect

    from tests.browser import SOME_TOAST, TAKE_TOASTS, pick_option

    page.get_by_role("tab", name="VAE explorer").first.click()
    page.get_by_role("tab", name="Interpolate").first.click()
    page.get_by_role("button", name="Interpolate", exact=True).click()
    page.locator("#vae-lerp img").wait_for(timeout=30_000)
    pick_option(page, "#vae-interp-ckpt", "vae2d-digits")
    page.wait_for_function("() => !document.querySelector('#vae-lerp img')", timeout=10_000)
    # a VQ-VAE's strips say what is interpolated: its encoder's z_e, re-quantised (no prior)
    pick_option(page, "#vae-interp-ckpt", "vqvae-faces")
    expect(page.locator("#vae-lerp")).to_contain_text("re-quantised", timeout=10_000)
    pick_option(page, "#vae-interp-ckpt", "vae2d-digits")
    expect(page.locator("#vae-lerp")).to_contain_text("(1 - t) z_A + t z_B", timeout=10_000)
    page.get_by_role("tab", name="Compare AE / VAE / VQ-VAE").first.click()
    page.get_by_role("button", name="Compare", exact=True).click()
    page.locator("#vae-cmp-rec img").wait_for(timeout=30_000)
    pick_option(page, "#vae-cmp-1", "vae2d-digits")
    page.wait_for_function("() => !document.querySelector('#vae-cmp-rec img')", timeout=10_000)
    page.evaluate(TAKE_TOASTS)
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_function(SOME_TOAST, timeout=20_000)
    page.wait_for_timeout(1000)
    toasts = page.evaluate(TAKE_TOASTS)
    assert len(toasts) == 1 and toasts[0].startswith("warning: ") and "same image size" in toasts[0], toasts
    assert page.locator("[role=tabpanel]:visible .block").get_by_text("Error", exact=True).count() == 0
    pick_option(page, "#vae-cmp-1", "vae16-faces")   # (as the tests after expect it)
    # a VQ-VAE on Traverse & sample: its box holds code indices, said in its label, and its note's markdown renders
    # (after the card's <details> block its asterisks showed)
    page.get_by_role("tab", name="Traverse & sample").first.click()
    pick_option(page, "#vae-dense-ckpt", "vqvae-faces")
    expect(page.locator("#vae-latent")).to_contain_text("16 x 16 code indices", timeout=15_000)
    assert "*" not in page.locator("#vae-dense-info").inner_text()
    assert page.locator("#vae-dense-info em").count() >= 2
    # and the line above the (hidden) sliders says what to do instead ("One slider per latent dimension" stood alone)
    expect(page.locator("#vae-slider-note")).to_contain_text("no latent dimensions to slide")
    pick_option(page, "#vae-dense-ckpt", "vae16-faces")
    expect(page.locator("#vae-latent")).to_contain_text("latent z (comma-separated", timeout=15_000)
    expect(page.locator("#vae-slider-note")).to_contain_text("One slider per latent dimension")
    # the latent map of a VQ-VAE: every control of the plane is off, the grid's size and the click mode too (they
    # stayed active over no map)
    page.get_by_role("tab", name="Latent map").first.click()
    pick_option(page, "#vae-map-ckpt", "vqvae-faces")
    expect(page.locator("#vae-map-mode input").first).to_be_disabled(timeout=15_000)
    expect(page.locator("#vae-grid-n input[type=range]")).to_be_disabled()
    pick_option(page, "#vae-map-ckpt", "vae2d-digits")
    expect(page.locator("#vae-map-mode input").first).to_be_enabled(timeout=15_000)
    expect(page.locator("#vae-grid-n input[type=range]")).to_be_enabled()
    assert page.errors == []


def test_the_codebook_comes_on_screen_under_its_button_at_1024(page):
    """Codebook usage pressed at the bottom of a projector's screen: the chart and the three images come on screen
    under the button (they formed below the fold, nothing changing in view for seconds)."""
    page.set_viewport_size({"width": 1024, "height": 768})
    try:
        page.get_by_role("tab", name="VAE explorer").first.click()
        page.get_by_role("tab", name="Compare AE / VAE / VQ-VAE").first.click()
        page.evaluate("(sel) => document.querySelector(sel).scrollIntoView({block: 'end'})", "#vae-vq-go")
        page.wait_for_timeout(500)
        assert page.locator("#vae-vq-rec").bounding_box()["y"] > 768
        page.locator("#vae-vq-go").click()
        page.locator("#vae-vq-rec img").wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        go, rec = page.locator("#vae-vq-go").bounding_box(), page.locator("#vae-vq-rec").bounding_box()
        assert go["y"] >= 0 and rec["y"] + rec["height"] <= 768, (go, rec)
        assert page.errors == []
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})
