"""What lets thirty students share one server: batched forward passes, per-request errors, atomic image files,
and one clear line for any number a widget cannot take."""

from __future__ import annotations

import math
import os
import threading
import time

import numpy as np
import pytest
import torch

from core.engine import AppContext
from core.engine.batching import MicroBatcher


def test_concurrent_requests_share_batches_and_keep_their_own_results_and_errors():
    calls = []

    def run_batch(key, items):
        calls.append((key, list(items)))
        time.sleep(0.05)  # a forward pass: the others queue meanwhile
        if "bad" in items:
            raise RuntimeError("batch failed")
        return [f"{key}:{item * 2}" for item in items]

    batcher = MicroBatcher(run_batch, max_batch=4)
    results, errors = {}, {}

    def student(i, key):
        try:
            results[i] = batcher.submit(key, i)
        except RuntimeError as exc:
            errors[i] = exc

    threads = [threading.Thread(target=student, args=(i, "a" if i % 3 else "b")) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {i: f"{'a' if i % 3 else 'b'}:{i * 2}" for i in range(12)} and not errors
    assert len(calls) < 12                                  # requests met in batches
    assert all(len(items) <= 4 and len({key}) == 1 for key, items in calls)
    assert sorted(i for _, items in calls for i in items) == list(range(12))  # each item computed once

    # an exception reaches the requests of its batch only
    threads = [threading.Thread(target=student, args=(i, "c")) for i in (100, 101)]
    bad = threading.Thread(target=lambda: errors.setdefault("bad", None) or _submit_bad(batcher, errors))
    for t in (*threads, bad):
        t.start()
    for t in (*threads, bad):
        t.join(10)
    assert isinstance(errors["bad"], RuntimeError)
    assert all(i in results or i in errors for i in (100, 101))
    assert batcher.submit("d", 1) == "d:2"                   # still serving after a failed batch


def _submit_bad(batcher, errors):
    try:
        batcher.submit("c", "bad")
    except RuntimeError as exc:
        errors["bad"] = exc


def test_a_lone_request_does_not_wait_for_a_batch():
    batcher = MicroBatcher(lambda key, items: items, max_batch=16)
    start = time.perf_counter()
    assert batcher.submit("k", 5) == 5
    assert time.perf_counter() - start < 0.05 and batcher.batches == 1


@pytest.fixture()
def stylegan_ctx(tmp_path, monkeypatch):
    from core.stylegan.generator import Generator

    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path))
    torch.manual_seed(0)
    G = Generator(resolution=16, z_dim=8, w_dim=8, mapping_layers=2, channels=[16, 8, 8])
    for name, p in G.named_parameters():
        if name.endswith("strength"):  # noise strengths start at 0: give the noise a visible effect
            p.data.fill_(0.5)
    G.save_pretrained(tmp_path / "stylegan" / "tiny")
    return AppContext()


def test_stylegan_generate_batches_a_classroom_and_keeps_each_students_error(stylegan_ctx):
    from core.stylegan.service import generate_image

    alone = {seed: np.asarray(generate_image(stylegan_ctx, "tiny", seed, 0.7)).astype(int) for seed in range(8)}
    got, failed = {}, {}

    def student(seed, psi):
        try:
            got[seed] = np.asarray(generate_image(stylegan_ctx, "tiny", seed, psi)).astype(int)
        except ValueError as exc:
            failed[seed] = str(exc)

    threads = [threading.Thread(target=student, args=(s, 0.7)) for s in range(8)]
    threads.append(threading.Thread(target=student, args=(99, float("nan"))))
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert set(got) == set(range(8)) and set(failed) == {99} and "psi" in failed[99]
    for seed in range(8):  # a batched image is the lone image, up to 1/255 of rounding
        assert np.abs(got[seed] - alone[seed]).max() <= 1


def test_random_noise_seed_0_is_not_the_stored_const_noise(stylegan_ctx):
    from core.stylegan.service import generate_image

    const = np.asarray(generate_image(stylegan_ctx, "tiny", 3, 1.0, 0, "const")).astype(int)
    random0 = np.asarray(generate_image(stylegan_ctx, "tiny", 3, 1.0, 0, "random", 0)).astype(int)
    assert np.abs(const - random0).max() > 0
    again = np.asarray(generate_image(stylegan_ctx, "tiny", 3, 1.0, 0, "random", 0)).astype(int)
    assert np.array_equal(random0, again)


def test_an_identical_image_output_never_rewrites_a_file_being_downloaded(tmp_path):
    """Gradio rewrote a cached output in place when two students got the same image; a download in flight then
    broke ("Too little data for declared Content-Length"). Now an identical output leaves the file alone and a
    new one appears by an atomic rename."""
    from gradio import processing_utils
    from PIL import Image

    from demos.common import install_atomic_image_cache

    install_atomic_image_cache()
    image = Image.new("RGB", (8, 8), (10, 20, 30))
    def identity(path):
        st = os.stat(path)
        return st.st_ino, st.st_mtime_ns

    path = processing_utils.save_pil_to_cache(image, str(tmp_path), format="png")
    before = identity(path)
    time.sleep(0.01)
    assert processing_utils.save_pil_to_cache(image, str(tmp_path), format="png") == path
    assert identity(path) == before
    assert Image.open(path).getpixel((0, 0)) == (10, 20, 30)
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no staging file left behind


@pytest.mark.parametrize("value, message", [
    (None, "no number"), ("abc", "not a number"), (float("nan"), "not a finite"), (math.inf, "not a finite"),
    (1e30, "out of range"), (-1, "out of range"), (2.5, "not a whole number"), (True, "bool True is not a number"),
    ([3], r"list \[3\] is not a number"), (2**63, "9223372036854775808 is out of range"),
])
def test_a_number_a_widget_cannot_take_gets_one_line_naming_the_control(value, message):
    import gradio as gr

    from demos.common import check_number

    with pytest.raises(gr.Error, match=message) as caught:
        check_number(value, "seed", 0, 2**32 - 1, integer=True)
    assert str(caught.value.message).startswith("seed: ") and "4294967295" in caught.value.message
    assert check_number(" 7 ", "seed", 0, 10, integer=True) == 7.0


def test_a_view_refresh_with_an_unknown_checkpoint_warns_once_and_keeps_every_output(caplog):
    import gradio as gr

    from demos.common import warn_and_keep

    @warn_and_keep(3)
    def refresh(name):
        raise KeyError(f"unknown vae checkpoint {name!r}")

    with pytest.warns(UserWarning, match="unknown vae checkpoint 'nope'"):
        outputs = refresh("nope")
    assert len(outputs) == 3 and all(o == gr.update() for o in outputs)

    @warn_and_keep(1)
    def fault(name):
        raise ZeroDivisionError

    with pytest.raises(gr.Error, match="fault failed: ZeroDivisionError.*fault of the app"):  # not hidden
        fault("x")


def test_a_refused_stream_warns_and_keeps_what_it_showed():
    import gradio as gr

    from demos.common import warn_and_keep

    @warn_and_keep(2)
    def stream(steps):
        yield "frame 1", "running"
        raise ValueError(f"steps: {steps} is out of range")

    with pytest.warns(UserWarning, match="steps: 0 is out of range"):
        frames = list(stream(0))
    assert frames == [("frame 1", "running"), [gr.update(), gr.update()]]


def test_an_endpoint_refuses_for_a_client_and_warns_on_the_page():
    """One function, two events: the API's (hidden trigger, named, an error for the client) and the page's (private,
    a warning that keeps the outputs); one concurrency queue for both."""
    import gradio as gr

    from demos.common import endpoint

    def translate(image: str):
        raise ValueError("no image given")

    with gr.Blocks() as demo:
        box, out = gr.Textbox(), gr.Image()
        button = gr.Button("Translate")
        endpoint(button.click, translate, [box], out, api_name="translate", concurrency_limit=2)
    api = [d for d in demo.fns.values() if d.api_name == "translate"]
    page = [d for d in demo.fns.values() if (button._id, "click") in d.targets]
    assert len(api) == 1 and len(page) == 1 and page[0].api_visibility == "private"
    assert api[0].concurrency_id == page[0].concurrency_id == "translate"
    with pytest.raises(gr.Error, match="no image given"):
        api[0].fn("")
    with pytest.warns(UserWarning, match="no image given"):
        assert page[0].fn("") == gr.update()
