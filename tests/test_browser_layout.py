"""The real app in headless Chromium at projector size (1024x768): controls and their outputs on one screen, labels
clear of pixels and buttons, table headers and captions whole."""

from __future__ import annotations


def test_text_to_image_shows_its_image_whole_on_a_projector(page):
    """At 1024x768, from the top of the page, a click on Generate brings the whole image on screen with the button."""
    from demos.text2image import EXAMPLES

    page.set_viewport_size({"width": 1024, "height": 768})
    try:
        page.get_by_role("tab", name="Text-to-image").first.click()
        page.get_by_role("tab", name="Generate", exact=True).click()
        longest = max(EXAMPLES, key=len)  # an example prompt is shown and given whole (Gradio's cut at 60 characters)
        page.get_by_role("button", name=longest, exact=True).click()
        page.wait_for_function(f"document.querySelector('#t2i-prompt textarea').value === {longest!r}")
        page.locator("#t2i-seed input").fill("5")
        page.evaluate("window.scrollTo(0, 0)")
        page.locator("#t2i-go").click()
        page.locator("#t2i-status").get_by_text("seed 5:").wait_for(timeout=30_000)
        page.wait_for_timeout(800)  # the smooth scroll
        image, button = page.locator("#t2i-gallery img").bounding_box(), page.locator("#t2i-go").bounding_box()
        assert image["height"] >= 300 and 0 <= image["y"] and image["y"] + image["height"] <= 768, image
        assert 0 <= button["y"] and button["y"] + button["height"] <= 768, button
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


def test_low_buttons_bring_their_outputs_on_screen_and_first_views_show_the_main_control(page):
    """At 1024x768: LoRA's Generate, low on the first view, brings both images and the scale on screen with it; the
    VAE's prior sample sheet (532 px) comes whole on screen under its button; DDPM's forward process shows x_0, x_t
    and the t slider that mixes them without a scroll (t was below the fold); Evaluate's Measure brings its status
    line and the table's top on screen (they formed under the fold)."""
    page.set_viewport_size({"width": 1024, "height": 768})

    def on_screen(selector):
        box = page.locator(selector).bounding_box()
        return box and box["y"] >= 0 and box["y"] + box["height"] <= 769

    try:
        page.get_by_role("tab", name="DDPM / DDIM").first.click()
        page.get_by_role("tab", name="Forward process").click()
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(500)
        assert all(on_screen(s) for s in ("#diffusion-x0", "#diffusion-xt", "#diffusion-t"))
        page.get_by_role("tab", name="VAE explorer").first.click()
        page.get_by_role("tab", name="Traverse & sample").click()
        # the traversed dim ranges over the 16-D model's dims (it offered 1-32)
        page.wait_for_function("document.querySelector('#vae-trav-dim input').max === '16'", timeout=10_000)
        page.locator("#vae-sample-button").scroll_into_view_if_needed()
        page.locator("#vae-sample-button").click()
        page.wait_for_function("document.querySelector('#vae-samples img')?.naturalHeight > 500", timeout=30_000)
        page.wait_for_timeout(1500)  # the smooth scroll
        assert on_screen("#vae-samples") and on_screen("#vae-sample-button")
        page.get_by_role("tab", name="LoRA").first.click()
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(500)
        page.locator("#lora-generate").click()
        page.locator("#lora-personalised img").wait_for(timeout=60_000)
        page.wait_for_timeout(800)
        assert all(on_screen(s) for s in ("#lora-generate", "#lora-base", "#lora-personalised", "#lora-scale"))
        page.get_by_role("tab", name="Evaluate").first.click()
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(500)
        page.locator("#evaluate-go").click()
        page.wait_for_function("document.querySelector('#evaluate-status').innerText.trim().length > 0",
                               timeout=60_000)  # ("generating", or "measured" for models the app measured before)
        page.wait_for_timeout(800)
        table = page.locator("#evaluate-table").bounding_box()
        assert on_screen("#evaluate-go") and on_screen("#evaluate-status") and table["y"] + 100 <= 768, table
        page.locator("#evaluate-cancel").click()  # (a measurement the app has cached can be done before it)
        page.wait_for_function("/cancelled|done/.test(document.querySelector('#evaluate-status').innerText)",
                               timeout=60_000)
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


def test_the_xy_grid_comes_on_screen_when_it_is_made(page):
    """At 1024x768 the grid forms under the fold: once made, the page brings it on screen."""
    page.set_viewport_size({"width": 1024, "height": 768})
    try:
        page.get_by_role("tab", name="Text-to-image").first.click()
        page.get_by_role("tab", name="X/Y grid").first.click()
        page.get_by_label("guidance x steps").check()
        page.get_by_label("columns (x)").fill("0, 3")
        page.get_by_label("rows (y)").fill("2")
        page.evaluate("window.scrollTo(0, 0)")
        page.get_by_role("button", name="Make the grid").click()
        page.locator("#t2i-grid img").wait_for(timeout=60_000)
        page.wait_for_timeout(1000)  # the smooth scroll
        grid = page.locator("#t2i-grid img").bounding_box()
        assert grid["y"] >= 0 and grid["y"] + min(grid["height"], 300) <= 769, grid  # (sub-pixel rounding)
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})



PROJECTOR_PAIRS = [  # (tab, sub-tab, the control, the output it changes), the main ones of every tab
    ("VAE explorer", "Latent map", "#vae-map", "#vae-point"),
    ("VAE explorer", "Traverse & sample", "#vae-dim-0", "#vae-decoded"),
    ("GANs", None, "#gans-class", "#gans-image"),
    ("GANs", None, "#gans-truncation", "#gans-image"),
    ("StyleGAN", None, "#stylegan-seed-b", "#stylegan-image-mix"),
    ("StyleGAN", None, "#stylegan-psi", "#stylegan-image-mix"),
    ("pix2pix & CycleGAN", "pix2pix: draw or upload", "#translation-pix2pix-checkpoint", "#translation-pix2pix-output"),
    ("pix2pix & CycleGAN", "CycleGAN: A <-> B", "#translation-cyclegan-examples", "#translation-cyclegan-output"),
    ("DDPM / DDIM", "Forward process", "#diffusion-t", "#diffusion-xt"),
    ("DDPM / DDIM", "Forward process", "#diffusion-sdedit-button", "#diffusion-sdedit"),
    ("DDPM / DDIM", "Reverse process", "#diffusion-sample-button", "#diffusion-live-xt"),
    ("DDPM / DDIM", "Compare samplers", "#diffusion-compare-run", "#diffusion-compare-table"),
    ("Text-to-image", "Generate", "#t2i-go", "#t2i-gallery"),
    ("LoRA", None, "#lora-generate", "#lora-personalised"),
    ("LoRA", None, "#lora-scale", "#lora-personalised"),
    ("Evaluate", None, "#evaluate-go", "#evaluate-table"),
]


def test_projector_main_controls_share_the_screen_with_their_output(page):
    from app import tab_modules

    page.set_viewport_size({"width": 1024, "height": 768})
    try:
        for title in [m.TITLE for m in tab_modules()] + ["About"]:  # every tab in the bar, none in an overflow menu
            assert page.get_by_role("tab", name=title).first.is_visible(), title
        controls_share_the_screen_with_their_outputs(page)
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


def controls_share_the_screen_with_their_outputs(page):
    """At 1024 x 768, one scroll position shows each main control whole and at least half of its output."""
    for tab, sub, control, output in PROJECTOR_PAIRS:
        page.get_by_role("tab", name=tab).first.click()
        if sub:
            page.get_by_role("tab", name=sub).first.click()
        page.locator(output).scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        c, o = page.locator(control).bounding_box(), page.locator(output).bounding_box()
        assert c and o, (tab, sub, control, output, "not on the page")
        span = max(c["y"] + c["height"], o["y"] + o["height"] / 2) - min(c["y"], o["y"] + o["height"] / 2)
        assert span <= 768, (tab, control, output, c, o)
        assert max(c["x"] + c["width"], o["x"] + o["width"]) <= 1024, (output, o)  # nothing off the side


# visible controls cut by their own box: a slider's max label pushed out of its block, an upload box's icon and text
# running out of the box, a gallery showing part of its images (the rest scrolled inside it)
CUT_CONTROLS = """() => [...document.querySelectorAll('.block')].filter(b => b.offsetParent !== null).flatMap(b => {
    const box = b.getBoundingClientRect(), name = b.querySelector('[data-testid="block-info"], label')?.innerText
                                                  || b.id;
    const max = b.querySelector('.max_value'), text = b.querySelector('.upload-container [data-testid="upload-text"]');
    const grid = b.querySelector('.grid-wrap'), icon = b.querySelector('.upload-container [data-testid="upload-icon"]');
    const label = b.querySelector(':scope > label[data-testid="block-label"]');
    const cut = (max && max.getBoundingClientRect().right > box.right + 0.5)
        || (icon && label && (() => { const i = icon.getBoundingClientRect(), l = label.getBoundingClientRect();
            return i.top < l.bottom - 0.5 && i.left < l.right && i.right > l.left; })())
        || (grid && grid.scrollHeight > grid.clientHeight + 1) || (text && (() => {
        const c = text.parentElement.getBoundingClientRect(), t = [...text.children, text].map(e => e.getBoundingClientRect());
        return Math.min(...t.map(r => r.top)) < c.top - 0.5 || text.getBoundingClientRect().bottom > c.bottom + 0.5; })());
    return cut ? [name] : []; })"""


def test_narrow_sliders_and_upload_boxes_show_their_labels_whole_at_1024(page):
    """At 1024x768 the VAE's latent sliders (four to a row beside the image) keep their max label inside their box,
    the upload boxes (Interpolate's two, LoRA's images, the translation tabs') show their icon clear of their label
    (CycleGAN's label covered its icon) and "Click to Upload" whole
    (the slider's range kept 112 px and pushed "6" out; a 240 px text block was centred in a 90 px box), and the
    translation tabs' example galleries show all six examples (their second row was cut)."""
    page.set_viewport_size({"width": 1024, "height": 768})
    try:
        for tab, sub in (("VAE explorer", "Traverse & sample"), ("VAE explorer", "Interpolate"), ("LoRA", None),
                         ("pix2pix & CycleGAN", "pix2pix: draw or upload"), ("pix2pix & CycleGAN", "CycleGAN: A <-> B")):
            page.get_by_role("tab", name=tab).first.click()
            if sub:
                page.get_by_role("tab", name=sub).first.click()
            if tab.startswith("pix2pix"):
                gallery = "#translation-pix2pix-examples" if sub.startswith("pix2pix") else "#translation-cyclegan-examples"
                page.locator(f"{gallery} img").nth(5).wait_for(state="attached", timeout=30_000)
            page.wait_for_timeout(500)
            assert page.evaluate(CUT_CONTROLS) == [], (tab, sub)
        page.get_by_role("tab", name="pix2pix: draw or upload").first.click()
        page.locator("[role=tabpanel]:visible").get_by_role("tab", name="Upload", exact=True).click()
        page.wait_for_timeout(500)
        assert page.evaluate(CUT_CONTROLS) == [], "pix2pix upload"
        page.locator("[role=tabpanel]:visible").get_by_role("tab", name="Examples", exact=True).click()
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


LABEL_UNDER_BUTTONS = """() => [...document.querySelectorAll('.block')].filter(b => b.offsetParent !== null).flatMap(b => {
    const label = b.querySelector(':scope > label[data-testid="block-label"]');
    const buttons = b.querySelector('.icon-button-wrapper');
    if (!label || !buttons) return [];
    const l = label.getBoundingClientRect(), r = buttons.getBoundingClientRect();
    const overlap = Math.min(l.right, r.right) > Math.max(l.left, r.left) && Math.min(l.bottom, r.bottom) > Math.max(l.top, r.top);
    return overlap && r.width > 0 ? [label.innerText] : []; })"""


# a gallery whose label lies over its first thumbnail, or whose thumbnails or captions run out of its box
GALLERIES_COVERED = """() => [...document.querySelectorAll('.block')].filter(b => b.offsetParent !== null).flatMap(b => {
    const label = b.querySelector(':scope > label[data-testid="block-label"]');
    const items = [...b.querySelectorAll('.gallery-container .thumbnail-item')];
    if (!label || !items.length) return [];
    const l = label.getBoundingClientRect(), box = b.querySelector('.grid-wrap').getBoundingClientRect();
    const bad = items.filter(i => { const r = i.getBoundingClientRect();
        return (r.top < l.bottom && r.left < l.right) || r.right > box.right + 1; });
    const cut = [...b.querySelectorAll('.caption-label')].filter(c => c.innerText.endsWith('...') || c.scrollWidth > c.clientWidth + 1);
    return bad.length || cut.length ? [label.innerText] : []; })"""


def test_reverse_process_views_keep_their_labels_clear_of_their_buttons(page):
    """At 1024x768 the reverse process's three side-by-side views (x_t, predicted eps, predicted x_0) show their labels
    whole once they hold images: no image label on the page lies under its buttons; the filmstrip's frames sit under
    its label, inside its box, with their captions whole."""
    page.set_viewport_size({"width": 1024, "height": 768})
    try:
        page.get_by_role("tab", name="DDPM / DDIM").first.click()
        page.get_by_role("tab", name="Reverse process").first.click()
        page.locator("#diffusion-sample-button").click()
        page.locator("#diffusion-live-x0 img").wait_for(timeout=30_000)
        page.wait_for_timeout(300)
        assert page.evaluate(LABEL_UNDER_BUTTONS) == []
        page.get_by_text("x_0 (final)").wait_for(timeout=30_000)  # the filmstrip's last frame
        assert page.evaluate(GALLERIES_COVERED) == []
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


BROKEN_HEADER_WORDS = """(sel) => { const ctx = document.createElement('canvas').getContext('2d');
    const spans = [...document.querySelectorAll(sel + ' th span.header')].filter(s => s.parentElement.clientWidth > 0);
    const broken = spans.flatMap(span => {   // the span shrinks to its text: the room is its parent's
        ctx.font = getComputedStyle(span).font;
        const room = span.parentElement.clientWidth + 0.5;
        return span.innerText.replace(/-/g, '- ').split(/\\s+/).filter(w => w && ctx.measureText(w).width > room);
    });
    return [spans.length, broken]; }"""


def test_table_headers_keep_their_words_whole_at_1024(page):
    """At 1024x768 the GANs' measurements and the Evaluate table's headers break between words, not inside them
    (evenly split columns showed "precis / ion", "accura / cy")."""
    page.set_viewport_size({"width": 1024, "height": 768})
    try:
        page.get_by_role("tab", name="GANs").first.click()
        if not page.locator("#gans-measurements").is_visible():
            page.get_by_text("Every variant side by side").first.click()
        for tab, table, columns in (("GANs", "#gans-measurements", 10), ("Evaluate", "#evaluate-table", 12)):
            page.get_by_role("tab", name=tab).first.click()
            page.locator(f"{table} th").first.wait_for(timeout=10_000)
            page.wait_for_timeout(300)
            assert page.evaluate(BROKEN_HEADER_WORDS, table) == [columns, []], table
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


def test_large_images_switch_makes_side_by_side_outputs_projector_sized(page):
    """The header's switch: StyleGAN's A / B / mix, the diffusion x_t and the GAN image at least 384 px on screen, and
    every main control still shares the screen with its output."""
    page.set_viewport_size({"width": 1024, "height": 768})
    switch = page.locator("#genlab-large-switch input")
    try:
        switch.check()
        for tab, sub, image in (("StyleGAN", None, "#stylegan-image-a"), ("StyleGAN", None, "#stylegan-image-mix"),
                                ("DDPM / DDIM", "Forward process", "#diffusion-xt"), ("GANs", None, "#gans-image")):
            page.get_by_role("tab", name=tab).first.click()
            if sub:
                page.get_by_role("tab", name=sub).first.click()
            img = page.locator(f"{image} img")
            img.wait_for(timeout=30_000)
            img.scroll_into_view_if_needed()
            box = img.bounding_box()
            assert box["width"] >= 384 and box["height"] >= 384, (image, box)
            assert box["x"] + box["width"] <= 1024, (image, box)
        controls_share_the_screen_with_their_outputs(page)  # the larger images still leave each control in reach
    finally:
        switch.uncheck()
        page.set_viewport_size({"width": 1400, "height": 1000})


def test_a_training_panels_sample_sheet_shows_at_its_own_shape(page, tmp_path):
    """A panel's samples gallery (GALLERY_FIT, one a row) shows a sheet that is not square (text-to-image's captioned
    grid, a translation's rows of three) at its own width-to-height ratio: every thumbnail was drawn square, the sheet
    letterboxed between grey bands."""
    import gradio as gr
    from PIL import Image

    from demos.common import CSS
    from demos.page import GALLERY_FIT

    sheet = tmp_path / "sheet.png"
    Image.new("RGB", (552, 276), "white").save(sheet)
    with gr.Blocks() as demo:
        gr.Gallery(value=[(str(sheet), "step 30")], label="samples (newest first)", columns=1, height="auto",
                   preview=False, elem_classes=GALLERY_FIT, elem_id="sheet-gallery")
    demo.queue().launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, css=CSS)
    tab = page.context.browser.new_page(viewport={"width": 1024, "height": 768})
    try:
        tab.goto(demo.local_url)
        tab.locator("#sheet-gallery img").wait_for(timeout=30_000)
        tab.wait_for_timeout(300)
        box = tab.locator("#sheet-gallery img").bounding_box()
        assert abs(box["width"] / box["height"] - 2.0) < 0.03, box
    finally:
        tab.close()
        demo.close()
