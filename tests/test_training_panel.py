"""The shared Train panel driven through a running Gradio app: live events, a checkpoint, cancel."""

from __future__ import annotations

import re
import time

import gradio as gr
import pytest

from demos.common import AppContext, training_panel

METHOD = "tests.toy_method:ToyMethod"
FIELDS = ["steps", "batch_size", "lr", "log_every", "sample_every", "checkpoint_every"]


@pytest.fixture
def client(tmp_path, monkeypatch):
    from gradio_client import Client

    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path))
    with gr.Blocks() as demo:
        training_panel(AppContext(), METHOD, FIELDS)
    demo.queue().launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield Client(demo.local_url, verbose=False)
    demo.close()


def test_training_from_the_ui_streams_losses_and_samples_and_saves(client, tmp_path):
    job = client.submit("run1", 60, 16, 0.01, 5, 30, 0, api_name="/train_toy")
    outputs = list(job)
    status, plot, gallery, over_time = job.result()
    assert len(outputs) >= 3  # streamed, not one final answer
    assert "done at step 60/60" in status
    assert (tmp_path / "toy" / "run1" / "model.safetensors").is_file()
    assert len(gallery) == 2  # sample grids at steps 30 and 60
    from PIL import Image

    assert Image.open(over_time).width == 4 + 2 * (128 + 4)  # two moments, steps 30 and 60: 8 px tiles enlarged 16x
    # every update of the chart, the first (empty) one included, has numeric axes; an empty table of object
    # columns once made the y axis categorical and the chart drew no lines
    charts = [out[1] for out in outputs  # the rest: gr.skip() (and, now and then, an update the client streams empty)
              if len(out) > 1 and isinstance(out[1], dict) and "data" in out[1]]
    assert charts and all(chart["datatypes"] == {"step": "quantitative", "value": "quantitative", "loss": "nominal"}
                          and chart["data"] for chart in charts)  # never an empty table (browser test: no lines)
    losses = [row[1] for row in plot["data"]]
    assert len(losses) == 12 and losses[-1] < 0.6 * losses[0]  # one point per log_every=5 steps


def _long_run(client, name: str):
    """A run of a million steps, once its first step is on screen: (job, deadline)."""
    job = client.submit(name, 1_000_000, 16, 0.01, 5, 0, 0, api_name="/train_toy")
    deadline = time.time() + 60
    while time.time() < deadline and not any("step" in str(o[0]) for o in job.outputs()):
        time.sleep(0.1)
    return job, deadline


def test_cancel_from_the_ui_stops_and_keeps_a_resumable_checkpoint(client, tmp_path):
    assert "nothing of yours is training" in client.predict(api_name="/cancel_toy")  # no run: says so
    job, _ = _long_run(client, "run2")
    assert "cancelling" in client.predict(api_name="/cancel_toy")
    status = job.result(timeout=60)[0]
    assert "cancelled at step" in status
    assert (tmp_path / "toy" / "run2" / "resume" / "trainer_state.json").is_file()


def test_a_resumed_run_charts_its_whole_curve_not_only_the_new_leg(client, tmp_path):
    job, _ = _long_run(client, "run4")
    client.predict(api_name="/cancel_toy")
    first = job.result(timeout=60)
    assert "cancelled at step" in first[0]
    first_steps = sorted({row[0] for row in first[1]["data"]})
    plot = client.predict("run4", first_steps[-1] + 10, 16, 0.01, 5, 0, 0, api_name="/train_toy")[1]
    steps = sorted({row[0] for row in plot["data"]})
    assert steps[:len(first_steps)] == first_steps and steps[-1] == first_steps[-1] + 10


def test_a_resumed_run_shows_its_samples_over_time_from_the_start(client, tmp_path):
    from PIL import Image

    from core.engine.sample_history import STRIP_COLUMNS, load_history
    from demos.samples_over_time import strip_tile

    job = client.submit("run5", 1_000_000, 16, 0.01, 5, 20, 0, api_name="/train_toy")
    deadline = time.time() + 60
    while time.time() < deadline and not any("step **4" in str(o[0]) for o in job.outputs()):
        time.sleep(0.1)                                      # past step 40: two sample moments
    client.predict(api_name="/cancel_toy")
    first = job.result(timeout=60)
    saved = load_history(tmp_path / "toy" / "run5", 10**9)
    steps = [s for s, _ in saved]  # from the first moment on (a late cancel may have thinned a long history)
    assert len(saved) >= 2 and steps[0] == 20 and steps == sorted(steps) and all(s % 20 == 0 for s in steps[:-1])
    assert saved[0][1].shape[0] <= 4
    end = saved[-1][0] + 20
    # another learning rate in the box (a new page shows the defaults): the run keeps its own, the steps as asked
    status, _, gallery, over_time = client.predict("run5", end, 16, 0.02, 5, 20, 0, api_name="/train_toy")
    import json

    saved_config = json.loads((tmp_path / "toy" / "run5" / "train_config.json").read_text())
    assert saved_config["lr"] == 0.01 and saved_config["steps"] == end and "done at step" in status
    # the gallery goes on from the last grid before the pause (it started empty), the new grids above it
    captions = [item["caption"] for item in gallery]
    assert captions[0] == f"step {end}" and captions[-1] == f"saved before the resume at step {saved[-1][0]:,}"
    after = load_history(tmp_path / "toy" / "run5", 10**9)
    assert [s for s, _ in after][:len(saved)] == [s for s, _ in saved] and after[-1][0] == end   # one history
    cols = lambda moments: min(len(moments), STRIP_COLUMNS)                                     # noqa: E731
    width = lambda moments: cols(moments) * (strip_tile(8, cols(moments)) + 4) + 4               # noqa: E731
    assert Image.open(first[3]).width == width(saved) and Image.open(over_time).width == width(after)


def test_bad_settings_and_names_give_clear_errors(client):
    with pytest.raises(Exception, match="is not allowed"):
        client.predict("../../etc", 10, 16, 0.01, 5, 0, 0, api_name="/train_toy")
    with pytest.raises(Exception, match="checkpoint name is empty: type 1-64 letters"):  # was "name '' is not allowed"
        client.predict("   ", 10, 16, 0.01, 5, 0, 0, api_name="/train_toy")
    with pytest.raises(Exception, match=r"steps: 0 is out of range; give a whole number in \[1, "):  # the widget's range check
        client.predict("ok-name", 0, 16, 0.01, 5, 0, 0, api_name="/train_toy")
    # a run that could take a CPU server's memory for everyone (4096 digits of 28 px a step) is refused, nothing starts
    with pytest.raises(Exception, match=r"batch_size 4096 x 28 x 28 px is more than a tab trains in one step"):
        client.predict("too-big", 5, 4096, 0.01, 5, 0, 0, api_name="/train_toy")
    status = client.predict(" ok-name ", 5, 16, 0.01, 5, 0, 0, api_name="/train_toy")[0]
    assert "done at step 5/5" in status and "ok-name" in status  # spaces around a typed name: trimmed
    with pytest.raises(Exception, match="'ok-name' has trained 5 steps already, and steps is 5: raise steps above 5"):
        client.predict("ok-name", 5, 16, 0.01, 5, 0, 0, api_name="/train_toy")  # it would only be measured again
    with pytest.raises(Exception, match="'ok-name' has trained 5 steps already, and steps is 3"):  # (not "all its")
        client.predict("ok-name", 3, 16, 0.01, 5, 0, 0, api_name="/train_toy")
    assert "done at step 8/8" in client.predict("ok-name", 8, 16, 0.01, 5, 0, 0, api_name="/train_toy")[0]


def test_durations_read_as_people_say_them():
    from demos.training_panel import rough_duration

    assert [rough_duration(s) for s in (0, 44.6, 61, 3599, 3600, 7 * 3600 + 5 * 60, 964989)] == [
        "0 s", "45 s", "1 min", "60 min", "1 h 00 min", "7 h 05 min", "11 days"]


def test_each_page_opens_on_a_run_name_no_run_has(tmp_path, monkeypatch):
    from demos.training_queue import fresh_run_name

    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path))
    names = {fresh_run_name("gans") for _ in range(50)}
    assert all(n.startswith("my-gans-") for n in names) and len(names) > 40
    taken = tmp_path / "gans"
    for n in range(1000, 10000):
        (taken / f"my-gans-{n}").mkdir(parents=True)
    assert len(fresh_run_name("gans")) == len("my-gans-") + 6   # every four-digit name taken: a longer one


def test_pause_holds_the_run_between_steps_and_resume_goes_on(client, tmp_path):
    said = client.predict(api_name="/pause_toy")  # no run: says so, and the button stays "Pause"
    assert "nothing to pause" in str(said) and "Resume" not in str(said), said
    job, deadline = _long_run(client, "run3")
    client.predict(api_name="/pause_toy")
    while time.time() < deadline and not any("paused" in str(o[0]) for o in job.outputs()):
        time.sleep(0.1)
    assert "**paused** at step" in job.outputs()[-1][0]
    count = len(job.outputs())
    time.sleep(1.5)
    assert len(job.outputs()) == count, "a paused run sends nothing (it trains nothing)"
    client.predict(api_name="/pause_toy")  # resume
    while time.time() < deadline and len(job.outputs()) == count:
        time.sleep(0.1)
    assert len(job.outputs()) > count
    client.predict(api_name="/cancel_toy")
    assert "cancelled at step" in job.result(timeout=60)[0]


def test_a_run_cancelled_while_paused_never_shows_the_paused_line_again(client, tmp_path):
    """Cancel pressed on a paused run: from then on the line says it is cancelling, then cancelled (the samples drawn
    before the save re-sent the "paused" line for seconds, as if the Cancel were lost)."""
    job = client.submit("run6", 1_000_000, 16, 0.01, 5, 20, 0, api_name="/train_toy")   # samples every 20 steps
    deadline = time.time() + 60
    while time.time() < deadline and not any("step" in str(o[0]) for o in job.outputs()):
        time.sleep(0.1)
    client.predict(api_name="/pause_toy")
    while time.time() < deadline and not any("paused" in str(o[0]) for o in job.outputs()):
        time.sleep(0.1)
    count = len(job.outputs())
    assert "cancelling" in client.predict(api_name="/cancel_toy")
    assert "cancelled at step" in job.result(timeout=60)[0]
    after = [str(o[0]) for o in job.outputs()[count:]]
    assert after and not any("paused" in line or "resumed" in line for line in after), after


def test_samples_over_time_spreads_columns_over_the_run():
    import torch

    from core.engine.sample_history import STRIP_COLUMNS
    from demos.samples_over_time import samples_over_time, strip_tile

    history = [(10 * (i + 1), torch.full((6, 1, 8, 8), i / 40)) for i in range(40)]
    sheet = samples_over_time(history)
    tile, top = 64, 24  # 8 px enlarged 8x, under a row of step labels
    assert sheet.width == 4 + STRIP_COLUMNS * (tile + 4) and sheet.height == top + 4 * (tile + 4)
    last_x = 4 + (STRIP_COLUMNS - 1) * (tile + 4)
    first, last = sheet.getpixel((4 + 10, top + 10)), sheet.getpixel((last_x + 10, top + 10))
    assert first[0] == 0 and last[0] == round(39 / 40 * 255)  # the first and the last moment are shown
    assert samples_over_time([]) is None
    few = samples_over_time(history[:3])  # three moments: enlarged (crisp: a multiple of 8) within a screen's height
    assert few.width == 4 + 3 * (128 + 4) and few.height == top + 4 * (128 + 4) <= 560
    assert strip_tile(64, 6, rows=1) == 128 and strip_tile(28, 12) == 84 and strip_tile(100, 1) == 100
    assert strip_tile(32, 1) == 128 and strip_tile(64, 1) == 128 and strip_tile(28, 1) == 112  # one moment of four:
    # a column that fits a projector's screen (it was 192 px tiles, 808 px tall)


def test_samples_over_time_names_each_rows_prompt_in_a_margin():
    """A text-to-image run's strip says which prompt each row follows (it was a column of unnamed tiles), in a white
    margin left of the tiles; the tiles stay where the steps say and whole."""
    import numpy as np
    import torch

    from core.methods import get_method_class
    from core.text2image.method import SAMPLE_PROMPTS
    from demos.samples_over_time import CAPTION_LEFT, samples_over_time

    def method(name):
        cls = get_method_class(name)
        return cls(cls.config_class())

    captions = method("text2image").sample_captions(4)
    assert captions == list(SAMPLE_PROMPTS[:4]) and method("vae").sample_captions(4) == []
    history = [(10, torch.zeros(4, 3, 32, 32)), (20, torch.ones(4, 3, 32, 32))]
    plain, named = samples_over_time(history), samples_over_time(history, captions)
    assert named.width == plain.width - 4 + CAPTION_LEFT and named.height == plain.height
    margin = np.asarray(named.convert("L"))[24:, :CAPTION_LEFT]
    assert all((row < 128).any() for row in np.array_split(margin, 4))  # a prompt beside each row, dark on white
    assert (margin > 127).mean() > 0.8
    tile = np.asarray(named)[24 + 10, CAPTION_LEFT + 10]
    assert tuple(tile) == (0, 0, 0)  # the first moment's (black) tile starts right after the margin


def test_the_panel_offers_only_the_datasets_it_can_train_on(tmp_path, monkeypatch):
    """No choice that can only fail: "folder" needs --data-root (a server folder: CLI only); a standard dataset is
    offered when its files are on disk or the app is online (it then downloads); pix2pix's official sets online."""
    from core.data import standard
    from demos.training_panel import tab_datasets

    every = ("digits", "faces", "shapes", "folder", "mnist", "fashion_mnist", "cifar10")
    monkeypatch.delenv("GENLAB_ONLINE", raising=False)
    monkeypatch.setattr(standard, "default_root", lambda name: tmp_path / name)
    assert tab_datasets(every) == ["digits", "faces", "shapes"] and tab_datasets(("faces", "folder", "official")) == [
        "faces"]
    (tmp_path / "mnist").mkdir()
    for stem in standard.IDX_FILES["train"]:
        (tmp_path / "mnist" / stem).write_bytes(b"")
    assert tab_datasets(every) == ["digits", "faces", "shapes", "mnist"]
    monkeypatch.setenv("GENLAB_ONLINE", "1")
    assert tab_datasets(every) == ["digits", "faces", "shapes", "mnist", "fashion_mnist", "cifar10"]
    assert tab_datasets(("faces", "folder", "official")) == ["faces", "official"]


def test_a_setting_the_chosen_model_does_not_read_is_out_of_sight():
    """``shown_when``: pix2pix's input map shows for pix2pix only (a CycleGAN run does not read it)."""
    with gr.Blocks() as demo:
        training_panel(AppContext(), "translation", ["model", "paired_input", "steps"],
                       shown_when={"paired_input": ("model", "pix2pix")})
    paired = next(b for b in demo.blocks.values() if getattr(b, "label", None) == "paired input")
    assert paired.visible  # the default model is pix2pix
    toggle = next(f for f in demo.fns.values() if [o._id for o in f.outputs] == [paired._id])
    assert toggle.fn("cyclegan")["visible"] is False and toggle.fn("pix2pix")["visible"] is True


def test_a_tab_run_on_a_cpu_server_is_held_to_a_pixel_budget_per_step():
    """batch_size x side^2 at most CPU_PIXELS_PER_STEP on a CPU server (the dataset's own side when resolution is 0);
    at the bound it runs; a GPU server is not held to it."""
    import torch

    from core.methods import get_method_class
    from core.engine.hosting import CPU_PIXELS_PER_STEP, check_tab_budget

    vae = get_method_class("vae").config_class
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    check_tab_budget(cpu, vae.from_dict({"dataset": "faces", "batch_size": 128}))  # the tab's default, 64 px
    check_tab_budget(cpu, vae.from_dict({"dataset": "digits", "resolution": 1024, "batch_size": 1}))  # at the bound
    assert CPU_PIXELS_PER_STEP == 1024 * 1024
    for settings in ({"dataset": "digits", "batch_size": 4096}, {"dataset": "digits", "resolution": 1024,
                                                                  "batch_size": 2}):
        with pytest.raises(ValueError, match="more than a tab trains in one step on this CPU server"):
            check_tab_budget(cpu, vae.from_dict(settings))
        check_tab_budget(gpu, vae.from_dict(settings))



def test_a_tab_run_on_a_cpu_server_is_held_to_a_width_budget():
    """A network given its channel widths (a DDPM's channels, a text-to-image UNet's widths) trains from a tab on a
    CPU server with widths up to CPU_MAX_WIDTH and widths x pixels up to CPU_WIDTH_PIXELS (channels of 4096 took the
    server's memory and the system ended the app); the tabs' defaults and the bundled recipes pass; any config
    refuses a width over MAX_WIDTH."""
    import torch

    from core.engine.config import MAX_WIDTH
    from core.engine.hosting import CPU_MAX_WIDTH, check_tab_budget
    from core.methods import get_method_class

    ddpm, t2i = (get_method_class(m).config_class for m in ("diffusion", "text2image"))
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    check_tab_budget(cpu, ddpm.from_dict({"dataset": "digits", "batch_size": 64}))  # the tab's defaults
    check_tab_budget(cpu, ddpm.from_dict({"dataset": "digits", "batch_size": 64, "channels": f"{CPU_MAX_WIDTH}"}))
    check_tab_budget(cpu, t2i.from_dict({"batch_size": 32, "widths": "64,96,128"}))  # the bundled models' recipe
    for config, match in ((ddpm.from_dict({"dataset": "digits", "channels": "512"}), "channels: a width of 512"),
                          (t2i.from_dict({"batch_size": 16, "widths": "64,1024"}), "widths: a width of 1024"),
                          (ddpm.from_dict({"dataset": "digits", "batch_size": 256, "channels": "256"}),
                           "channels up to 256 at batch_size 256")):
        with pytest.raises(ValueError, match=match):
            check_tab_budget(cpu, config)
        check_tab_budget(gpu, config)
    with pytest.raises(ValueError, match=f"each a multiple of 4 up to {MAX_WIDTH}"):
        ddpm.from_dict({"channels": "4096"})


def test_the_loss_chart_waits_for_two_steps_to_join():
    """One logged step drew empty axes with one tick ("10.000000") until the next: the chart's first data has two
    steps (each loss a row); LoRA's chart follows the same rule."""
    from demos.lora_training import _losses
    from demos.training_panel import charted, loss_table, over_the_whole_run

    first = [{"step": 5, "value": 0.5, "loss": "loss"}, {"step": 5, "value": 0.2, "loss": "kl"}]
    assert isinstance(loss_table([]), type(gr.skip()))
    assert isinstance(loss_table(first), type(gr.skip()))
    table = loss_table(first + [{"step": 10, "value": 0.4, "loss": "loss"}])
    assert list(table["step"]) == [5, 5, 10] and str(table["value"].dtype) == "float64"
    # on the page its x axis spans the whole run (fitted to the steps so far, "500" and "550" ran together)
    spanned = over_the_whole_run(table, "3000")
    assert spanned["x_lim"] == [0, 3000] and spanned["value"].equals(table)
    assert isinstance(over_the_whole_run(gr.skip(), 3000), type(gr.skip()))
    # losses only: not the learning rate, gradient norms or the DDPM's noisy classifier's accuracy (0-1)
    assert [k for k in ("loss", "kl", "classifier_loss", "lr", "D_grad_norm", "classifier_acc") if charted(k)] == \
        ["loss", "kl", "classifier_loss"]
    assert isinstance(_losses([{"step": 1, "loss": 0.3}]), type(gr.skip()))
    assert list(_losses([{"step": 1, "loss": 0.3}, {"step": 2, "loss": 0.2}])["loss"]) == [0.3, 0.2]


@pytest.mark.parametrize("method, settings, message", [
    ("stylegan", {"resolution": 48}, "resolution must be 0 (the data's own, rounded up to a power of two) or a power "
                                     "of two >= 8, got 48"),
    ("stylegan", {"resolution": 4}, "got 4"),
    ("diffusion", {"resolution": 30}, "resolution 30 is not divisible by 4, which 3 UNet levels"),
    ("diffusion", {"resolution": 36, "channels": "32,64,64,128"}, "not divisible by 8"),
])
def test_a_resolution_the_model_cannot_take_is_refused_with_the_settings(method, settings, message):
    """Checked with the config, so the panel refuses it at the click (it waited for the training slot, behind another
    visitor's run, to say so); the largest and smallest that work pass."""
    from core.methods import get_method_class

    config = get_method_class(method).config_class
    with pytest.raises(ValueError, match=re.escape(message)):
        config.from_dict(settings)
    for ok in (0, 8 if method == "stylegan" else 64, 1024):
        config.from_dict({**settings, "resolution": ok})


def test_the_line_for_those_waiting_says_when_the_run_measures_its_model(tmp_path, monkeypatch):
    """After the last step a run measures its model for the card: the line a waiting visitor reads says so (it kept
    "step 300 of 300, about 0 s left")."""
    import threading

    from demos.common import AppContext
    from demos.training_panel import start_training

    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path))
    progress, lines = ["starting"], []
    settings = {"steps": 4, "batch_size": 4, "log_every": 1, "sample_every": 0, "checkpoint_every": 1000}
    for _ in start_training(AppContext(), METHOD, "measured", settings, threading.Event(), progress=progress):
        lines.append(progress[0])
    assert any("step 4 of 4" in line for line in lines)
    assert lines[-1] == "toy run measured, trained: measuring the model for its card"


def test_a_cancel_that_overtakes_its_click_still_stops_that_run(monkeypatch):
    """A run's click goes through Gradio's queue, Cancel and Stop do not: under load a Cancel pressed right after Train
    came first, found nothing and was lost (the whole run trained and saved). A Cancel or Stop that finds nothing,
    pressed at most OVERTAKEN_S after the page clicked the run's button (measured in the page), stops that click when
    it arrives, once; one pressed before the click (Stop, then Sample) or long after it stops nothing."""
    import time
    from types import SimpleNamespace

    from demos import training_queue
    from demos.page_stop import PageStop

    me = SimpleNamespace(session_hash="overtaken")
    cancel = training_queue.cancel_button("vae")
    assert cancel(me, "", 300) == "nothing of yours is training here: no run to cancel"
    assert training_queue.overtaken_cancel("overtaken", "vae")
    assert not training_queue.overtaken_cancel("overtaken", "vae")  # (once)
    assert not training_queue.overtaken_cancel("overtaken", "diffusion")  # (another method's click)
    for since_click_ms in (-1, None, 5000):  # no click before it (Stop, then Sample), an API call, a click long ago
        cancel(me, "", since_click_ms)
        assert not training_queue.overtaken_cancel("overtaken", "vae"), since_click_ms
    cancel(me, "", 300)
    later = time.monotonic() + training_queue.OVERTAKEN_S + 0.5
    monkeypatch.setattr(training_queue.time, "monotonic", lambda: later)
    assert not training_queue.overtaken_cancel("overtaken", "vae")
    monkeypatch.undo()

    page = PageStop("test-overtaken", "busy")
    assert not isinstance(page.stop(me, 300), str)  # nothing asked: the line stays
    page.ask(me)  # the Sample click it overtook
    with page.running(me) as stop:
        assert stop is None  # stopped before it started
    page.ask(me)  # a later click runs
    with page.running(me) as stop:
        assert stop is not None and not stop.is_set()


def test_a_runs_last_line_is_put_back_once_its_stream_ends():
    """A Cancel answers "cancelling…" at once, before the run's own last line; under load that answer reached the page
    after it and stayed. The run's chain puts back the line its stream ended on: the page's own (not another page's),
    once, nothing for a run that streamed none (refused before it began), nothing after a page went away."""
    from types import SimpleNamespace

    from demos.training_queue import LastLine

    me, other = SimpleNamespace(session_hash="me"), SimpleNamespace(session_hash="other")
    last = LastLine()
    frames = [("step 1 / 9", 1), ("cancelled at step 2/9; saved", 2)]
    assert list(last.follow(me, iter(frames))) == frames
    assert list(last.follow(other, iter([("theirs", 0)]))) == [("theirs", 0)]
    assert last.put_back(me) == "cancelled at step 2/9; saved"
    assert not isinstance(last.put_back(me), str)  # (once: gr.skip())
    assert list(last.follow(me, iter([]))) == [] and not isinstance(last.put_back(me), str)
    stream = last.follow(me, iter(frames))
    next(stream)
    stream.close()  # the page closed mid-run
    assert not isinstance(last.put_back(me), str) and last.put_back(other) == "theirs"
