"""The DDPM / DDIM tab's endpoints through the running app (``app_client`` from tests/conftest.py).

/diffusion_forward: image, t, schedule, noise seed -> x_t (PNG).
/diffusion_sample: checkpoint, sampler, steps, eta, seed, class, guidance, schedule, guidance type
-> streamed (x_t, predicted noise, predicted x0, final image, filmstrip, status).
/diffusion_sdedit: image, t, seed, checkpoint, class, guidance, steps -> streamed (image, status).
"""

from __future__ import annotations

import re

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from core.engine import list_checkpoints


def _digit_png(tmp_path):
    from core.data import get_dataset, to_pil

    path = tmp_path / "digit.png"
    to_pil(get_dataset("digits", split="test")[3]["image"]).save(path)
    return path


def _checkpoint() -> str:
    names = list_checkpoints("diffusion")
    assert names, "no diffusion checkpoint in checkpoints/diffusion (the bundled ddpm-digits is missing)"
    return "ddpm-digits" if "ddpm-digits" in names else names[0]


def _array(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_forward_endpoint_matches_q_sample(app_client, tmp_path):
    from gradio_client import handle_file

    from core.data import load_user_image
    from core.diffusion.service import forward_noise

    png = _digit_png(tmp_path)
    x0 = load_user_image(Image.open(png), channels=1, size=28)
    for t, schedule in [(0, "linear"), (300, "cosine"), (1000, "sigmoid")]:
        out = _array(app_client.predict(handle_file(str(png)), t, schedule, 5, api_name="/diffusion_forward"))
        expected, _ = forward_noise(x0, t, schedule, 5)
        expected = (expected[0].numpy() * 255).round()
        got = out if out.ndim == 2 else out[..., 0]
        assert got.shape == (28, 28)
        assert np.abs(got.astype(float) - expected).max() <= 1.0
    clean = _array(app_client.predict(handle_file(str(png)), 0, "linear", 5, api_name="/diffusion_forward"))
    noisy = _array(app_client.predict(handle_file(str(png)), 1000, "linear", 5, api_name="/diffusion_forward"))
    assert abs(np.corrcoef(clean.reshape(-1).astype(float), noisy.reshape(-1).astype(float))[0, 1]) < 0.2


@pytest.mark.parametrize("t, schedule, message", [
    # out-of-range numbers are refused by the slider itself (gradio) or by core.diffusion.service
    (1001, "linear", "1001 is (outside 0..1000|out of range; give a (whole )?number in \\[0, 1000\\])"),
    (-5, "linear", "-5 is (outside 0..1000|out of range; give a (whole )?number in \\[0, 1000\\])"),
    # unknown names are refused by the dropdown (listing its choices) or by core.diffusion.schedules
    (10, "quadratic", r"quadratic.*(valid schedules: |one of the choices \().*linear.*cosine.*sigmoid.*scaled_linear"),
])
def test_forward_endpoint_refuses_bad_input_and_keeps_serving(app_client, tmp_path, t, schedule, message):
    from gradio_client import handle_file

    png = _digit_png(tmp_path)
    with pytest.raises(Exception, match=message):
        app_client.predict(handle_file(str(png)), t, schedule, 0, api_name="/diffusion_forward")
    assert _array(app_client.predict(handle_file(str(png)), 10, "linear", 0, api_name="/diffusion_forward")).shape[:2] == (28, 28)


def _sample(app_client, **changes):
    args = dict(checkpoint=_checkpoint(), sampler="ddim", steps=4, eta=0.0, seed=7, class_label="3", guidance=2.0,
                schedule="trained", guidance_type="classifier-free") | changes
    job = app_client.submit(*args.values(), api_name="/diffusion_sample")
    final = job.result()
    return job.outputs(), final


def test_sample_endpoint_streams_every_step_and_is_deterministic(app_client):
    outputs, final = _sample(app_client)
    assert len(outputs) >= 4, "one streamed frame per step"
    x_t, eps, x0, image, strip, status = final
    assert "step 4 / 4" in status and "done" in status
    first = _array(image)
    assert first.shape[:2] == (28, 28)
    assert len(strip) == 5  # 4 steps + the final sample
    _, again = _sample(app_client)
    assert np.array_equal(_array(again[3]), first), "same seed + eta 0 must give the same image"
    _, other = _sample(app_client, seed=8)
    assert not np.array_equal(_array(other[3]), first)
    # a class given by index is named as the model names it (the faces model's "0" read "class 0", not "short")
    assert "done (ddpm-faces32, DDIM, class short)" in _sample(app_client, checkpoint="ddpm-faces32", steps=1,
                                                               class_label="0")[1][5]
    assert "done (ddpm-digits, DDIM, class 3)" in status


@pytest.mark.parametrize("changes, message", [
    (dict(steps=0), "0 is (outside 1..1000|out of range; give a (whole )?number in \\[1, 1000\\])"),
    (dict(steps=100000), "100000 is (outside 1..1000|out of range; give a (whole )?number in \\[1, 1000\\])"),
    (dict(eta=1.5), "1.5 is (outside 0..1|out of range; give a (whole )?number in \\[0, 1\\])"),
    (dict(guidance=50.0), "50 is (outside 0..20|out of range; give a (whole )?number in \\[0, 20\\])"),
    (dict(sampler="euler"), r"euler.*(valid samplers: |one of the choices \().*ddpm.*ddim.*dpm\+\+"),
    (dict(schedule="quadratic"), r"quadratic.*(valid schedules: |one of the choices \().*trained.*linear.*cosine.*sigmoid"),
    (dict(class_label="cat"), "unknown class 'cat'"),
    (dict(guidance_type="magic"), r"magic.*(valid: |one of the choices \().*classifier-free.*classifier"),
    (dict(checkpoint="../../etc"), "not allowed"),
    (dict(checkpoint="no-such-model"), "unknown diffusion checkpoint"),
])
def test_sample_endpoint_refuses_bad_input_and_keeps_serving(app_client, changes, message):
    with pytest.raises(Exception, match=message):
        _sample(app_client, **changes)
    _, final = _sample(app_client, steps=2)
    assert "done" in final[5]


def test_compare_rows_follow_the_sampling_and_stop_when_the_stream_closes(monkeypatch):
    """Compare samplers says which row runs, its sampling step of the row's total and the time, while the table fills
    a row per setting; closed mid-row (the page gone) or stopped (Stop), its worker stops at the next step (it ran on
    for minutes)."""
    import re
    import threading
    import time

    import pandas as pd

    from demos import diffusion_compare
    from demos.common import AppContext
    from tests.test_diffusion_core import tiny_bundle

    bundle = tiny_bundle(num_classes=3)
    monkeypatch.setattr(diffusion_compare, "_bundle", lambda ctx, name: bundle)
    monkeypatch.setattr(diffusion_compare, "TICK_S", 0.01)
    monkeypatch.setattr(diffusion_compare, "_DONE", {})
    monkeypatch.setattr(diffusion_compare, "_done_key", lambda *args: args)  # (no weights file to stamp)
    frames = list(diffusion_compare.compare_rows(AppContext(), "tiny", 0, 10, 1.0))
    assert [len(t) for t, _, _ in frames if isinstance(t, pd.DataFrame)] == [1, 2, 3, 4, 5]  # no world: no floor
    lines = [line for *_, line in frames if isinstance(line, str)]
    assert any(re.fullmatch(r"row 1 of 5: DDPM 1000 steps, N = 10 · sampling step \d+ of 1,000 · .* elapsed", line)
               for line in lines), lines
    assert re.fullmatch(r"done: 5 rows in .* \(tiny, seed 0, N = 10, guidance 1\)", lines[-1])
    # the same settings again (a class pressing Run): the finished comparison at once, said to be shown again
    (again,) = list(diffusion_compare.compare_rows(AppContext(), "tiny", 0, 10, 1.0))
    assert again[0].equals(frames[-2][0]) and again[2].startswith(lines[-1] + " · measured earlier on this server")

    def workers():
        return [t for t in threading.enumerate() if t.name == "genlab-compare"]

    stream = diffusion_compare.compare_rows(AppContext(), "tiny", 1, 10, 1.0)  # (another seed: not measured yet)
    while not str(next(stream)[2]).startswith("row 1 of 5"):
        pass
    assert workers()
    stream.close()
    deadline = time.time() + 5
    while workers() and time.time() < deadline:
        time.sleep(0.05)
    assert not workers()
    # the page's Stop: the stream ends with "stopped at" its last line, and its worker stops
    stop = threading.Event()
    stream = diffusion_compare.compare_rows(AppContext(), "tiny", 2, 10, 1.0, stop)
    while not str(line := next(stream)[2]).startswith("row 1 of 5"):
        pass
    stop.set()
    assert [frame[2] for frame in stream] == [f"stopped at {line}"]
    deadline = time.time() + 5
    while workers() and time.time() < deadline:
        time.sleep(0.05)
    assert not workers()


def test_sdedit_keeps_the_image_at_small_t_and_redraws_it_at_large_t(app_client, tmp_path):
    """SDEdit through the app: t = 50 changes a held-out digit a little, t = 1000 replaces it (same seed), t = 0 gives
    it back; outside 0..1000 is refused."""
    from gradio_client import handle_file

    png = _digit_png(tmp_path)
    clean = _array(png).astype(float)
    diffs = {}
    for t in (50, 1000):
        edited, status = app_client.predict(handle_file(str(png)), t, 0, _checkpoint(), "none", 2.0, 20,
                                            api_name="/diffusion_sdedit")
        out = Image.open(edited).convert("L")
        assert out.width % 28 == 0 and "done" in status and f"from t = {t}" in status
        diffs[t] = np.abs(np.asarray(out.resize((28, 28), Image.NEAREST)).astype(float) - clean).mean()
    assert diffs[50] < 10 < diffs[1000], diffs
    same, status = app_client.predict(handle_file(str(png)), 0, 0, _checkpoint(), "none", 2.0, 20,
                                      api_name="/diffusion_sdedit")      # t = 0 (the slider's left end): no noise
    assert "nothing was noised" in status
    assert np.array_equal(np.asarray(Image.open(same).convert("L").resize((28, 28), Image.NEAREST)), clean)
    for t in (-5, 1001):
        with pytest.raises(Exception, match="(outside 0..1000|in \\[0, 1000\\])"):
            app_client.predict(handle_file(str(png)), t, 0, _checkpoint(), "none", 2.0, 20, api_name="/diffusion_sdedit")
    with pytest.raises(Exception, match="give an image"):
        app_client.predict(None, 300, 0, _checkpoint(), "none", 2.0, 20, api_name="/diffusion_sdedit")


def test_replay_shows_each_step_of_the_last_run():
    """The replay slider's handler: step k of the stored run, its status, and a clear message before any run."""
    from demos.diffusion import replay_slider, replay_step, sample_frames
    from core.engine import AppContext

    ctx = AppContext(device=__import__("torch").device("cpu"))
    *_, last = sample_frames(ctx, _checkpoint(), "ddim", 6, 0.0, 1, "4", 2.0)
    replay = last[-1]
    assert len(replay) == 6 and replay_slider(replay)["maximum"] == 6
    x_t, eps, x0, status = replay_step(replay, 2)
    assert status.startswith("replay: step 2 / 6")
    assert not np.array_equal(np.asarray(x_t), np.asarray(replay_step(replay, 6)[0]))
    assert replay_step(replay, 99)[3].startswith("replay: step 6 / 6")  # clamped to the run
    with pytest.raises(ValueError, match="press Sample first"):
        replay_step([], 1)
    *_, one = sample_frames(ctx, _checkpoint(), "dpm++", 1, 0.0, 1, "4", 2.0)  # 1 step: no slider from 1 to 1
    assert len(one[-1]) == 1 and replay_slider(one[-1])["visible"] is False


def test_the_reverse_process_opens_on_the_run_sample_makes_with_the_settings_shown(app_client):
    """After the warm-up the Reverse process tab opens on a finished run (it opened on empty boxes): Sample's outputs
    for the page's opening settings, the same x_0 as /diffusion_sample with its defaults, and the replay slider over
    its 50 steps; without a warm-up a page load leaves the outputs as they are."""
    from core.engine import AppContext
    from demos.diffusion import DEFAULT_CHECKPOINT, opened, warm_up

    ctx = AppContext()
    on_open = opened(ctx)  # (the tab's page-open event function)
    assert all(out == {"__type__": "update"} for out in on_open())
    warm_up(ctx)
    x_t, eps, x0, final, strip, status, replay, scrub = on_open()
    assert "drawn when the app started" in status and f"done ({DEFAULT_CHECKPOINT}, DDIM, class 0)" in status
    assert len(replay) == 50 and scrub["maximum"] == 50 and strip[-1][1] == "x_0 (final)"
    sampled = app_client.predict(api_name="/diffusion_sample")[3]
    assert np.array_equal(np.asarray(final.convert("L")), np.asarray(Image.open(sampled).convert("L")))


def test_sampling_and_sdedit_count_t_as_the_forward_view_does(tmp_path):
    """One t for one x_t: the reverse process's first DDIM step over 0..T and SDEdit from t = T on the same grid both
    say the same t (the sampler said the scheduler's 0-based index, one less than SDEdit and the forward view)."""
    import re

    from core.engine import AppContext
    from demos.diffusion import sample_frames, sdedit_frames

    ctx = AppContext(device=__import__("torch").device("cpu"))
    statuses = [out[5] for out in sample_frames(ctx, _checkpoint(), "ddim", 5, 0.0, 1, "none", 2.0)]
    sampled = [int(re.search(r"· t = (\d+)", s).group(1)) for s in statuses]
    edited = [s for _, s in sdedit_frames(ctx, str(_digit_png(tmp_path)), 1000, 0, _checkpoint(), "none", 2.0, 5)]
    assert re.search(r"\(t = (\d+)\)", edited[0]).group(1) == str(sampled[0])
    assert sampled == sorted(sampled, reverse=True) and sampled[-1] >= 1 and sampled[0] <= 1000
    # its last line: down to t = 0 (it read "step 5 / 5 (t = 200)"), and whether w acted (w = 0 and 20 gave the
    # same image with class none, without a word)
    assert "5 sampling steps down to t = 0" in edited[-1] and "unconditional, so w does not act" in edited[-1]
    guided = [s for _, s in sdedit_frames(ctx, str(_digit_png(tmp_path)), 1000, 0, _checkpoint(), "3", 2.0, 5)]
    assert "class 3, w = 2 ·" in guided[-1] and "does not act" not in guided[-1]


def test_t_has_one_listener_chain_so_a_held_thumb_sends_nothing():
    """Two always_last listeners of the forward view's t (the view, and the schedule plot through gr.on) re-triggered
    each other in the browser while a dragged thumb rested: a dozen requests a second for the same t, sometimes for
    good (tests/test_browser.py drives the drag). The plot now follows the view in one chain (.then)."""
    from app import build_demo

    config = build_demo(device="cpu").get_config_file()
    t_id = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "diffusion-t")
    listeners = [d for d in config["dependencies"] if [t_id, "change"] in [list(x) for x in d["targets"]]]
    assert [d["api_name"] for d in listeners] == ["diffusion_forward"]
    plot = [d for d in config["dependencies"] if d["trigger_after"] == listeners[0]["id"]]
    assert len(plot) == 1 and len(plot[0]["outputs"]) == 2  # the schedule chart and the line of numbers at t


def test_sdedit_says_when_it_starts_from_another_schedule_than_the_view():
    """SDEdit noises with the model's own schedule: the note says when the forward view's x_t is drawn with another
    (at t = 600 the view's linear schedule showed pure noise while SDEdit kept the face)."""
    from core.diffusion.service import model_schedule
    from demos.diffusion_forward import sdedit_schedule_note

    own = model_schedule(_checkpoint())
    other = next(s for s in ("linear", "cosine") if s != own)
    assert f"pick {own} above" in sdedit_schedule_note(_checkpoint(), other)
    assert sdedit_schedule_note(_checkpoint(), own).startswith("SDEdit noises x_0 as the x_t shown")
    # and what it noises: x_0 as the model takes it (an upload's x_t shown is 64 px colour, the digits model takes
    # 28 px grey with dark ink inverted: the note said "SDEdit starts from the x_t shown")
    note = sdedit_schedule_note("ddpm-digits", own)
    assert "x_0 goes in as the model takes it, 28 px grey (dark ink on light paper inverted)" in note, note
    assert "as the model takes it, 32 px colour:" in sdedit_schedule_note("ddpm-faces32", "linear")


def test_stop_ends_a_running_stream_with_its_own_line_and_a_waiting_one_before_it_starts(monkeypatch):
    """Stop is a flag the page's run reads between two frames (Gradio's cancels= left red "Error" badges over the
    outputs under load): a running reverse process ends after its step with that step's views and "· stopped", its
    steps so far kept in the filmstrip and the replay; a
    comparison with "stopped at" its last line, its rows kept; a second click while the page's own run goes on is
    refused; a Stop with nothing of the page's running leaves the line alone."""
    import threading
    from types import SimpleNamespace

    from demos import diffusion_frames as diffusion
    from demos.common import AppContext
    from demos.page_stop import PageStop
    from tests.test_diffusion_core import tiny_bundle

    stop = threading.Event()
    monkeypatch.setattr(diffusion, "_bundle", lambda ctx, name: tiny_bundle(num_classes=3))
    frames = diffusion.sample_frames(AppContext(), "tiny", "ddim", 20, 0.0, 0, "0", 1.0, stop=stop)
    lines = [next(frames)[5] for _ in range(3)]
    stop.set()
    *views, final, strip, line, replay = next(frames)
    assert lines[-1].startswith("step 3 / 20 · ") and re.fullmatch(r"step 4 / 20 · t = 850 · .* s · stopped", line)
    assert all(v.size == views[0].size for v in views) and not isinstance(final, str)
    # the steps run stay: the filmstrip to the step it stopped at, and all four in the replay
    assert [caption for _, caption in strip][-1].startswith("t = 850") and len(replay) == 4
    assert replay[-1][0] == line.removesuffix(" · stopped")
    assert list(frames) == []
    stop.clear()  # stopped at step 5, between two filmstrip frames (steps 1, 4, 6, ...): that step ends the strip
    frames = diffusion.sample_frames(AppContext(), "tiny", "ddim", 20, 0.0, 0, "0", 1.0, stop=stop)
    [next(frames) for _ in range(4)]
    stop.set()
    *_, strip, line, replay = next(frames)
    assert [c for _, c in strip] == ["t = 1000", "t = 850", "t = 800 (stopped)"] and len(replay) == 5, strip

    from demos import page_stop

    page = PageStop("test", "busy")
    me = SimpleNamespace(session_hash="me")
    page.ask(me)
    with pytest.raises(gr.Error):
        page.ask(me)  # (a second click while the first is on its way to the queue)
    page.asked["me"] -= page_stop.JOIN_S
    page.ask(me)  # (the first click's run never got into the queue, which was full: it holds the page JOIN_S at most)
    with page.running(me) as flag:
        assert flag is not None and not flag.is_set()
        with pytest.raises(gr.Error):
            page.ask(me)  # (a second click while the first runs)
    page.flag("me").set()  # (a Stop after the run: nothing asked, the line stays; the next click clears it)
    page.ask(me)
    assert not page.flag("me").is_set()
    page.flag("me").set()  # (Stop while it waited, and it started all the same: it ends at once)
    with page.running(me) as flag:
        assert flag is None
    page.ask(me)  # (and the page may ask again)


def test_sdedits_model_follows_the_dataset_picked():
    """A face picked in the forward process is denoised by the faces model (the digits model, left as it was, gave a
    grey blob and "done"); with no model of the world (shapes) the model stays and the note says what it does."""
    from core.diffusion.service import model_for_world, model_world
    from demos.diffusion_forward import sdedit_schedule_note

    assert model_world("ddpm-digits") == "digits" and model_world("ddpm-faces32") == "faces"
    assert model_for_world("faces", "ddpm-digits") == "ddpm-faces32"
    assert model_for_world("digits", "ddpm-faces32") == "ddpm-digits"
    assert model_for_world("digits", "ddpm-digits") == "ddpm-digits"
    assert model_for_world("shapes", "ddpm-digits") == "ddpm-digits"
    note = sdedit_schedule_note("ddpm-digits", "cosine", "shapes")
    assert ("**ddpm-digits** was trained on digits, the dataset picked is shapes: it redraws an image unlike its "
            "digits as one of them") in note  # true of a shape picked and of an upload since (it spoke of "the image")
    assert "trained on" not in sdedit_schedule_note("ddpm-digits", "cosine", "digits")


def test_the_forward_process_noises_a_square_x0_it_shows():
    """An odd-shaped upload: x_t is of its centre square (at most 64 px), and the x_0 box shows that square (it kept
    the whole 3000x20 strip); a 1x1 upload gives a 16 px x_t with visible noise (it gave 1x1); a 28 px digit stays."""
    from PIL import Image

    from demos.diffusion_forward import forward_x0

    strip = Image.new("RGB", (3000, 20), (200, 30, 30))
    shown, x_t, _ = forward_x0(strip, 250, "linear", 0, None)
    assert shown.size == x_t.size == (20, 20)
    shown, x_t, _ = forward_x0(Image.new("L", (1, 1), 128), 250, "linear", 0, None)
    assert shown.size == x_t.size == (16, 16) and np.asarray(x_t).std() > 10
    shown, x_t, _ = forward_x0(Image.new("L", (28, 28), 0), 250, "linear", 0, None)
    assert isinstance(shown, type(gr.skip())) and x_t.size == (28, 28)
