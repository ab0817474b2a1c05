"""Training from the page in headless Chromium: the live loss chart, refused settings, Pause, Cancel while a run waits
for the one training slot, a picker's tick once runs were trained, and the samplers' waits (LoRA's training:
``test_browser_lora_training.py``)."""

from __future__ import annotations

import re

from tests.browser import pick_option, toy_training_page, type_number


def test_the_live_loss_chart_draws_its_lines(page, tmp_path, monkeypatch):
    """A training panel's chart, in the browser, while and after a run streams: coloured lines, one per loss.

    (An empty first table left Gradio's line plot drawing lines with no stroke for the whole run.)"""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    with toy_training_page(page, tmp_path, monkeypatch) as (_, tab):
        steps = tab.get_by_label("steps").first
        type_number(tab, steps, "400")
        tab.wait_for_timeout(500)
        expect(steps).to_have_value("400")
        tab.get_by_role("button", name="Train / resume").click()
        try:  # a few seconds alone; generous, since CI shares 2 cores with the rest of the suite
            tab.get_by_text("done at step").wait_for(timeout=180_000)
        except PlaywrightTimeout:
            raise AssertionError(f"no end of the run; the page says: {tab.locator('body').inner_text()[:600]!r}")
        assert "done at step 400/400" in tab.locator("body").inner_text()
        tab.wait_for_timeout(1000)
        strokes = tab.evaluate("() => [...document.querySelectorAll('[aria-roledescription=\"line mark\"]')]"
                               ".map(e => e.getAttribute('stroke'))")
        assert strokes and all(strokes), f"line marks without a stroke: {strokes}"
        # the legend names each line inside the chart's box (a chart given a height cut its legend off under it)
        shown = tab.evaluate("""() => [...document.querySelectorAll('.role-legend-label text')].map(e => {
            const box = e.getBoundingClientRect(), block = e.closest('.block'), style = getComputedStyle(block);
            const inner = block.getBoundingClientRect().bottom - parseFloat(style.paddingBottom)
                          - parseFloat(style.borderBottomWidth);
            return [e.textContent, box.height > 0 && box.bottom <= inner]; })""")
        assert shown and all(inside for _, inside in shown), f"legend labels cut off: {shown}"
        assert {"loss"} <= {name for name, _ in shown}


def test_train_brings_the_runs_chart_on_screen_under_the_button(page, tmp_path, monkeypatch):
    """Train pressed at the bottom of the screen: the page scrolls the chart on screen under the button (at 1024 x
    768 the GANs tab showed the status line only, the chart and samples forming below the fold)."""
    with toy_training_page(page, tmp_path, monkeypatch) as (_, tab):
        tab.set_viewport_size({"width": 1024, "height": 600})
        type_number(tab, tab.get_by_label("steps").first, "300")
        button = tab.get_by_role("button", name="Train / resume")
        tab.evaluate("() => { document.body.style.paddingTop = '900px'; }")  # the panel low on a long page
        tab.evaluate("(sel) => document.querySelector(sel).scrollIntoView({block: 'end'})", "#train-toy-start")
        tab.wait_for_timeout(500)
        chart = tab.locator("#train-toy-chart")
        assert chart.bounding_box()["y"] > 600                       # below the fold before the click
        button.click()
        tab.get_by_text("done at step").wait_for(timeout=120_000)
        tab.wait_for_timeout(1000)
        box, start = chart.bounding_box(), button.bounding_box()
        assert start["y"] >= 0 and box["y"] + 300 <= 600, (start, box)
        assert page.errors == []


def test_a_training_setting_out_of_range_is_refused_and_a_paused_run_is_not_queued_behind(page, tmp_path, monkeypatch):
    """On the page a setting out of its range is refused with its range before the run queues, and no output gets an
    "Error" badge (the value is not moved to a bound: a learning rate of 0 trained nothing); Train pressed while the
    page's own run is paused says so and queues nothing (it waited behind the paused run, silently)."""
    with toy_training_page(page, tmp_path, monkeypatch) as (_, tab):
        steps = tab.get_by_label("steps").first
        type_number(tab, steps, "0")
        tab.get_by_role("button", name="Train / resume").click()
        toast = tab.locator(".toast-body", has_text="steps: 0 is out of range; give a whole number in [1, ")
        toast.wait_for(timeout=20_000)
        assert steps.input_value() == "0" and tab.locator(".block").get_by_text("Error", exact=True).count() == 0
        # a warning as the panel's other refusals (a run name, a batch too large), not a red "Error" toast
        assert "warning" in toast.get_attribute("class"), toast.get_attribute("class")
        status = tab.locator("#train-toy-status")
        status.get_by_text("not started: steps: 0 is out of range").wait_for(timeout=10_000)  # (and once the toast
        tab.locator(".toast-body button").first.click()                                     # is gone)
        type_number(tab, steps, "2.5")
        tab.get_by_role("button", name="Train / resume").click()
        toast = tab.locator(".toast-body", has_text="steps: 2.5 is not a whole number")
        toast.wait_for(timeout=20_000)
        # the status line gives the new reason (it kept the first refusal's line)
        status.get_by_text("not started: steps: 2.5 is not a whole number").wait_for(timeout=10_000)
        assert "warning" in toast.get_attribute("class"), toast.get_attribute("class")
        assert "'steps" not in toast.inner_text()  # the message itself, not its Python repr in quotes
        tab.locator(".toast-body button").first.click()
        type_number(tab, steps, "1000000")
        tab.get_by_role("button", name="Train / resume").click()
        running = tab.get_by_text(re.compile(r"step \d+ / 1000000"))
        running.wait_for(timeout=60_000)
        # the run's status shows under the buttons (it came under every setting, off a projector's screen)
        button = tab.get_by_role("button", name="Train / resume").bounding_box()
        line = tab.locator("#train-toy-status").bounding_box()
        assert 0 <= line["y"] - (button["y"] + button["height"]) < 120, (button, line)
        tab.get_by_role("button", name="Pause").click()
        tab.get_by_text("paused").first.wait_for(timeout=20_000)
        tab.get_by_role("button", name="Train / resume").click()
        tab.get_by_text("your run is paused: press Resume to go on").wait_for(timeout=10_000)
        toast = tab.locator(".toast-body", has_text="your run is paused")
        assert toast.count() == 1 and "warning" in toast.get_attribute("class"), toast.get_attribute("class")
        tab.get_by_role("button", name="Cancel").click()
        tab.get_by_text("cancelled at step").wait_for(timeout=30_000)
        assert len(list((tmp_path / "toy").iterdir())) == 1  # one run: the refused one made no folder


def test_cancel_reaches_a_run_still_waiting_in_the_queue(page, tmp_path, monkeypatch):
    """One training at a time: a run started while another trains waits in the queue, its status saying which run
    holds the slot. Cancel pressed then takes it out of the queue at once: its spinners stop while the other run
    goes on (they spun until that run ended), and it does not start when the slot frees."""
    import time

    from gradio_client import Client

    with toy_training_page(page, tmp_path, monkeypatch) as (demo, tab):
        other = Client(demo.local_url, verbose=False)  # another visitor's run holds the one training slot
        job = other.submit("theirs", 1_000_000, 5, 0, api_name="/train_toy")
        deadline = time.time() + 60
        while time.time() < deadline and not any("step" in str(o[0]) for o in job.outputs()):
            time.sleep(0.1)
        mine = tab.get_by_label("run name (saved in checkpoints/)").input_value()
        assert mine.startswith("my-toy-"), mine          # a page's own default name: no one else's run resumes
        tab.get_by_role("button", name="Train / resume").click()
        tab.get_by_text("waiting for the training slot: toy run theirs, step").wait_for(timeout=10_000)
        tab.wait_for_timeout(500)  # the queue's overlay is on the chart and samples, not over (greying) the line
        line = tab.locator("#train-toy-status")
        assert "queue:" not in line.inner_text()
        # the line follows the other run (it stayed at the step it read at the click)
        step = lambda: int(re.search(r"step ([\d,]+) of", line.inner_text()).group(1).replace(",", ""))  # noqa: E731
        first = step()
        tab.wait_for_timeout(5000)
        assert step() > first, line.inner_text()
        tab.get_by_role("button", name="Pause").click()  # nothing to pause yet: the line says so, and keeps saying it
        tab.get_by_text("Pause acts once your run has started").wait_for(timeout=5_000)
        tab.wait_for_timeout(2500)
        assert "Pause acts once your run has started" in line.inner_text() and step() > first
        tab.get_by_role("button", name="Cancel").click()
        tab.get_by_text("your run waiting in the queue will not start").wait_for(timeout=10_000)
        page.wait_for_function("() => !document.querySelector('.progress-text')", timeout=10_000)  # no queue spinner
        tab.wait_for_timeout(1500)
        assert tab.locator(".block").get_by_text("Error", exact=True).count() == 0  # Gradio's cancels= left 4, 1 in 2
        assert not job.done()                                          # while the other run still trains
        other.predict(api_name="/cancel_toy")
        assert "cancelled at step" in job.result(timeout=60)[0]
        page.wait_for_timeout(3000)
        assert tab.get_by_text("your run waiting in the queue will not start").is_visible()
        assert [p.name for p in (tmp_path / "toy").iterdir()] == ["theirs"]
        tab.get_by_role("button", name="Train / resume").click()            # the button is free again: a run starts
        tab.get_by_text(re.compile(r"done at step \d+/\d+; saved to checkpoints/toy/my-toy-")).wait_for(timeout=60_000)
        assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == sorted(["theirs", mine])


def test_a_run_clicked_just_after_another_says_it_waits_once_that_one_holds_the_slot(page, tmp_path, monkeypatch):
    """Two Train clicks close together (a class pressing Train at once): the first run has left the queue but does
    not hold the slot yet when the second is clicked, so the second page starts on "starting…"; once the first holds
    the slot, the second page's line says it waits for it (it said "starting" for the whole of the first run)."""
    import contextlib
    import time

    from gradio_client import Client

    from demos import training_panel, training_queue

    @contextlib.contextmanager
    def slow_to_hold(*args):  # the first run's data and model take 4 s before it holds the slot
        time.sleep(4)
        with training_queue.holding_the_slot(*args) as progress:
            yield progress

    monkeypatch.setattr(training_panel, "holding_the_slot", slow_to_hold)
    with toy_training_page(page, tmp_path, monkeypatch) as (demo, tab):
        other = Client(demo.local_url, verbose=False)
        job = other.submit("first", 1_000_000, 5, 0, api_name="/train_toy")
        time.sleep(1)  # (it has left the queue, and holds nothing yet)
        tab.get_by_role("button", name="Train / resume").click()
        tab.get_by_text("starting: reading the data").wait_for(timeout=5_000)
        tab.get_by_text("waiting for the training slot: toy run first").wait_for(timeout=15_000)
        tab.get_by_role("button", name="Cancel").click()
        tab.get_by_text("your run waiting in the queue will not start").wait_for(timeout=10_000)
        other.predict(api_name="/cancel_toy")
        assert "cancelled at step" in job.result(timeout=60)[0]


def test_a_run_stopped_by_a_reload_is_named_on_the_reloaded_page_and_resumes_from_it(page, tmp_path, monkeypatch):
    """An F5 in the middle of a run stops it and saves it (its page is gone); the reloaded page says which run stopped
    and at what step, with its name in the box, so Train / resume goes on from there (it opened on a new name and a
    blank line: the teacher had to remember the run's name)."""
    with toy_training_page(page, tmp_path, monkeypatch) as (_, tab):
        name = tab.get_by_label("run name (saved in checkpoints/)").input_value()
        type_number(tab, tab.get_by_label("steps").first, "1000000")
        tab.get_by_role("button", name="Train / resume").click()
        tab.get_by_text(re.compile(r"step \d+ / 1000000")).wait_for(timeout=60_000)
        tab.reload()
        line = tab.get_by_text(f"your run {name} stopped when its page was left")
        line.wait_for(timeout=20_000)
        text = tab.locator("#train-toy-status").inner_text()
        step = int(re.search(r"saved at step ([\d,]+)", text).group(1).replace(",", ""))
        assert step > 0 and tab.get_by_label("run name (saved in checkpoints/)").input_value() == name
        tab.reload()  # said once: the next page opens on a name of its own
        tab.get_by_text("Train your own").click()
        tab.wait_for_timeout(1500)
        assert tab.get_by_label("run name (saved in checkpoints/)").input_value() != name
        assert "stopped when its page was left" not in tab.locator("body").inner_text()


def test_a_checkpoint_picker_ticks_its_value_when_runs_were_trained_since_the_app_started(page, tmp_path, monkeypatch):
    """A run saved after the app started (here "aaa", listed first) moved Gradio's tick: the picker's list was
    refreshed at its focus, and a dropdown whose choices change while focused keeps its tick at the old position (on
    the model after the right one). The list is refreshed as the page opens."""
    import json

    import gradio as gr

    from demos.common import checkpoint_picker

    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path))
    for name in ("mmm", "zzz"):
        (tmp_path / "toy" / name).mkdir(parents=True)
        (tmp_path / "toy" / name / "config.json").write_text(json.dumps({}))
    with gr.Blocks() as demo:
        checkpoint_picker("toy", value="zzz", elem_id="toy-picker", interactive=True)
    demo.queue().launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        (tmp_path / "toy" / "aaa").mkdir()
        (tmp_path / "toy" / "aaa" / "config.json").write_text(json.dumps({}))
        tab = page.context.browser.new_page()
        tab.goto(demo.local_url)
        tab.wait_for_load_state("networkidle")
        tab.locator("#toy-picker input").click()
        tab.get_by_role("option", name="aaa").wait_for()
        ticked = tab.evaluate("() => [...document.querySelectorAll('[role=option]')]"
                              ".filter(o => o.getAttribute('aria-selected') === 'true').map(o => o.textContent.trim())")
        assert [t.lstrip("✓ ") for t in ticked] == ["zzz"], ticked
        tab.close()
    finally:
        demo.close()


def test_a_sample_waiting_for_a_free_sampler_says_so_and_stop_ends_a_run_or_a_wait(page, app_url):
    """Two other visitors' reverse processes take both samplers: this page's Sample says it waits for one (Gradio's
    overlay alone said "queue: 1/1"), and Stop takes it out of the queue; then its own long run is stopped mid-way,
    its frames kept, and the status names what a finished run drew."""
    from gradio_client import Client

    page.get_by_role("tab", name="DDPM / DDIM").click()
    page.get_by_role("tab", name="Reverse process").click()
    others = [Client(app_url, verbose=False).submit("ddpm-digits", "ddim", 1000, api_name="/diffusion_sample")
              for _ in range(2)]
    try:
        page.wait_for_timeout(3000)   # both running
        page.locator("#diffusion-sample-button").click()
        page.get_by_text("waiting: 2 other samples are running on this server").wait_for(timeout=10_000)
        page.wait_for_timeout(500)  # the queue's overlay ("queue: 1/1") is on the views, not over (greying) the line
        assert "queue:" not in page.locator("#diffusion-status").inner_text()
        page.locator("#diffusion-stop-button").click()
        page.get_by_text("stopped before it started").wait_for(timeout=10_000)
        page.wait_for_function("() => !document.querySelector('#diffusion-live-xt .progress-text')", timeout=10_000)
    finally:
        for job in others:
            job.cancel()
    steps = page.locator("#diffusion-steps input[type=number]")
    steps.fill("1000")
    steps.press("Enter")
    page.locator("#diffusion-sample-button").click()
    page.get_by_text(re.compile(r"step \d+ / 1000")).wait_for(timeout=60_000)
    page.locator("#diffusion-stop-button").click()
    page.get_by_text(re.compile(r"step \d+ / 1000 .* · stopped")).wait_for(timeout=10_000)
    page.wait_for_timeout(2000)   # nothing more arrives
    assert re.search(r"step \d+ / 1000 .* · stopped$", page.locator("#diffusion-status").inner_text().strip())
    # the steps run stay to be looked at: the filmstrip to the step it stopped at, and the replay slider
    assert page.locator("#diffusion-replay").is_visible() and page.locator("#diffusion-final img").count() == 0
    assert page.locator("#diffusion-filmstrip img").count() >= 1
    steps.fill("10")
    steps.press("Enter")
    page.locator("#diffusion-sample-button").click()
    page.get_by_text(re.compile(r"step 10 / 10 .* · done \(ddpm-digits, DDIM, class 0\)")).wait_for(timeout=60_000)
    page.locator("#diffusion-replay").wait_for(timeout=10_000)
    steps.fill("1000")   # a new run: the finished one's replay and x_0 leave (after a Stop they stayed)
    steps.press("Enter")
    page.locator("#diffusion-sample-button").click()
    page.get_by_text(re.compile(r"step \d+ / 1000")).wait_for(timeout=60_000)
    # cleared in the run's own chain, before its first frame (a separate unqueued event came after them under load)
    assert page.locator("#diffusion-final img").count() == 0 and not page.locator("#diffusion-replay").is_visible()
    page.locator("#diffusion-stop-button").click()
    page.locator("#diffusion-stop-button").click()   # a second Stop leaves the line alone
    page.get_by_text(re.compile(r"step \d+ / 1000 .* · stopped")).wait_for(timeout=10_000)
    page.wait_for_timeout(1500)
    assert page.locator("#diffusion-status").inner_text().strip().count("stopped") == 1
    # Stop is the run's own flag: no red badge over the frames or the line (Gradio's cancels= left some under load)
    assert page.locator("[role=tabpanel]:visible .block").get_by_text("Error", exact=True).count() == 0
    # Sample pressed again while its run goes on: refused in a warning, with no red badge over the line (one stayed
    # there until the run ended). (Once it runs: a second click while the first one's check is still on its way is
    # dropped by the page itself, Gradio's trigger_mode "once", which under load made a double click say nothing.)
    page.locator("#diffusion-sample-button").click()
    page.wait_for_function("() => /step \\d+ \\/ 1000/.test(document.querySelector('#diffusion-status').innerText)"
                           " && !document.querySelector('#diffusion-status').innerText.includes('stopped')",
                           timeout=60_000)
    page.locator("#diffusion-sample-button").click()
    page.get_by_text("your sample is running: wait for it, or Stop it, then press again").first.wait_for(timeout=10_000)
    page.wait_for_timeout(1000)
    assert page.locator("[role=tabpanel]:visible .block").get_by_text("Error", exact=True).count() == 0
    page.locator("#diffusion-stop-button").click()
    page.get_by_text(re.compile(r"step \d+ / 1000 .* · stopped")).wait_for(timeout=10_000)
    # Stop with nothing running, then Sample at once: the sample runs (the Stop came first in the page)
    steps.fill("10")
    steps.press("Enter")
    page.wait_for_timeout(500)
    page.locator("#diffusion-stop-button").click()
    page.locator("#diffusion-sample-button").click()
    page.get_by_text(re.compile(r"step 10 / 10 .* · done")).wait_for(timeout=60_000)
    # another checkpoint picked while a run goes on: the run's frames, filmstrip and x_0 all stay; picked with nothing
    # running, all leave (x_t and "done (ddpm-digits ...)" stayed under the new name beside an emptied x_0), unless
    # the run was made with the checkpoint picked (the emptying could reach the server after a run clicked at once)
    # (1000 steps: with 400, a loaded CI machine once picked after the run had ended, and the pick rightly cleared
    # the x_0 the test then waited for)
    steps.fill("1000")
    steps.press("Enter")
    page.locator("#diffusion-sample-button").click()
    page.get_by_text(re.compile(r"step \d+ / 1000")).wait_for(timeout=60_000)
    pick_option(page, "#diffusion-checkpoint", "ddpm-faces32")
    assert page.locator("#diffusion-status").get_by_text(re.compile(r"· done")).count() == 0  # (picked mid-run)
    page.get_by_text(re.compile(r"step 1000 / 1000 .* · done \(ddpm-digits")).wait_for(timeout=180_000)
    page.locator("#diffusion-final img").wait_for(timeout=10_000)
    assert page.locator("#diffusion-replay").is_visible()
    pick_option(page, "#diffusion-checkpoint", "ddpm-digits")
    page.wait_for_timeout(1500)
    assert page.locator("#diffusion-final img").count() == 1 and "done (ddpm-digits" in page.locator(
        "#diffusion-status").inner_text()
    pick_option(page, "#diffusion-checkpoint", "ddpm-faces32")
    page.wait_for_function("() => !document.querySelector('#diffusion-final img, #diffusion-live-xt img')",
                           timeout=10_000)
    assert "done" not in page.locator("#diffusion-status").inner_text()
    assert page.errors == []


def test_compare_samplers_follows_its_sampling_and_stop_ends_its_work(page):
    """Compare samplers' status follows the sampling step of the row that runs (Gradio's progress never showed and
    the table stayed at its first row for minutes); Stop ends the comparison and its work on the server (it ran on,
    at full CPU, after every page had gone), or takes one waiting for another visitor's out of the queue."""
    import threading
    import time

    def compare_tab(tab):
        tab.get_by_role("tab", name="DDPM / DDIM").click()
        tab.get_by_role("tab", name="Compare samplers").click()
        return tab.locator("#diffusion-compare-status")

    status = compare_tab(page)
    # another visitor's comparison runs: this page's waits, and Stop takes it out of the queue, its spinners gone
    other = page.context.browser.new_page(viewport={"width": 1024, "height": 768})
    other.goto(page.url)
    other.get_by_text("GenLab · image generation, hands on").wait_for(timeout=30_000)
    theirs = compare_tab(other)
    other.locator("#diffusion-compare-run").click()
    theirs.get_by_text(re.compile(r"row \d of 6")).wait_for(timeout=60_000)
    page.locator("#diffusion-compare-run").click()
    status.get_by_text("waiting: another visitor's comparison is running").wait_for(timeout=10_000)
    page.locator("#diffusion-compare-run").click()  # again while it waits in the queue: refused
    page.get_by_text("your comparison is running: wait for it, or Stop it").first.wait_for(timeout=10_000)
    page.locator(".toast-body button").first.click()  # (closed: the refusal while it runs below is its own)
    page.locator("#diffusion-compare-stop").click()
    status.get_by_text("stopped before it started").wait_for(timeout=10_000)
    page.wait_for_function("() => !document.querySelector('#diffusion-compare-table .progress-text')",
                           timeout=10_000)
    other.locator("#diffusion-compare-stop").click()
    theirs.get_by_text(re.compile(r"^stopped at row")).wait_for(timeout=10_000)
    other.close()
    page.locator("#diffusion-compare-run").click()
    status.get_by_text(re.compile(r"row 2 of 6: DDPM 1000 steps, N = 10 · sampling step \d+ of 2,000")).wait_for(
        timeout=60_000)
    page.locator("#diffusion-compare-run").click()  # again while it runs: refused (it queued behind its own run)
    page.get_by_text("your comparison is running: wait for it, or Stop it").first.wait_for(timeout=10_000)
    page.locator("#diffusion-compare-stop").click()
    status.get_by_text(re.compile(r"stopped at row 2 of 6: DDPM 1000 steps, N = 10 · sampling step")).wait_for(
        timeout=10_000)
    page.wait_for_timeout(1500)   # nothing more arrives, and no red "Error" badge (Stop's cancels= left three)
    assert page.locator("[role=tabpanel]:visible .block").get_by_text("Error", exact=True).count() == 0
    assert status.inner_text().strip().startswith("stopped at row 2 of 6")
    deadline = time.time() + 10
    while any(t.name == "genlab-compare" for t in threading.enumerate()) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(t.name == "genlab-compare" for t in threading.enumerate())
    assert page.errors == []
