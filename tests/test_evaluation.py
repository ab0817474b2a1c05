"""The Evaluate tab as a service and an app: the request checks, the cache, visitors taking turns, Cancel, the
command line, the portfolio page and the endpoint through the running app."""

from __future__ import annotations

import time

import pytest


def test_requests_are_checked_with_one_clear_line():
    from core.evaluation.service import check_request

    with pytest.raises(ValueError, match="world must be one of"):
        check_request("moon", ["gans/dcgan-digits"], 500, 0)
    with pytest.raises(ValueError, match="choose 1 to 8 checkpoints"):
        check_request("digits", [], 500, 0)
    with pytest.raises(ValueError, match="trained on 'faces', not on 'digits'"):
        check_request("digits", ["vae/vae16-faces"], 500, 0)
    with pytest.raises(ValueError, match=r"sample size must be in \[100, 2000\]"):
        check_request("digits", ["vae/vae2d-digits"], 50, 0)
    with pytest.raises(ValueError, match="method/name"):
        check_request("digits", ["no-slash"], 500, 0)
    assert check_request("digits", "vae/vae2d-digits, vae/vae2d-digits", 2000, 0)[1] == ["vae/vae2d-digits"]


def test_results_are_cached_until_the_weights_or_the_judges_change(tmp_path, monkeypatch):
    import os
    import shutil
    from pathlib import Path

    from core.engine import AppContext
    from core.evaluation import service

    bundled = Path(__file__).resolve().parents[1] / "checkpoints"
    for folder in ("vae/vae2d-digits", "classifier/digits"):
        shutil.copytree(bundled / folder, tmp_path / "checkpoints" / folder)
    (tmp_path / "cache").mkdir()
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setattr(service, "cache_folder", lambda: tmp_path / "cache")
    monkeypatch.setattr(service, "_MEMORY", {})
    first = list(service.evaluate_stream(AppContext(), "digits", ["vae/vae2d-digits"], 100, 3))[-1][1]
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1
    service._MEMORY.clear()  # read back from the disk, as after a restart
    assert service.cached("vae/vae2d-digits", 100, 3)["values"] == first["vae/vae2d-digits"]["values"]
    for folder in ("vae/vae2d-digits", "classifier/digits"):  # new model weights, then a new judge
        service._MEMORY.clear()
        assert service.cached("vae/vae2d-digits", 100, 3) is not None
        weights = tmp_path / "checkpoints" / folder / "model.safetensors"
        os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
        assert service.cached("vae/vae2d-digits", 100, 3) is None
        service._store("vae/vae2d-digits", 100, 3, first["vae/vae2d-digits"])


def test_measure_through_the_running_app(app_client):
    status, table, asked, bars, pr, samples, why = app_client.predict(  # by position, as the tab sends them
        "digits", ["vae/vae2d-digits", "gans/cgan-digits"], 100, 1, "condition accuracy", "world", api_name="/evaluate")
    assert "done" in status
    rows = table["data"]
    assert [r[1] for r in rows][1:] == ["vae/vae2d-digits", "gans/cgan-digits"]
    assert rows[0][0] == "R" and all(" ±\u00a0" in str(cell) for cell in rows[1][2:-2])
    # the conditional GAN alone is asked whether its digits are the classes it was given
    assert [(r[1], r[3]) for r in asked["data"]] == [("gans/cgan-digits", "condition accuracy")]
    assert bars is not None
    twice = app_client.predict("digits", ["vae/vae2d-digits"] * 2, 100, 1, "FID", "world", api_name="/evaluate")
    assert [r[1] for r in twice[1]["data"]][1:] == ["vae/vae2d-digits"]  # measured (here: cached) once, and said
    assert "done: 1 checkpoint(s) (measured once each: 1 repeated name left out)" in twice[0], twice[0]
    with pytest.raises(Exception, match="trained on 'faces'"):
        app_client.predict("digits", ["vae/vae16-faces"], 100, 1, "FID", "world", api_name="/evaluate")
    n = r"samples per model \(N\) \(API: num\)"      # the label, and the parameter the client sent
    unknown = r"checkpoints \(1-8\): 'vae/nope-digits' is not a checkpoint Evaluate measures"
    for checkpoints, num, message in ((["vae/nope-digits"], 100, unknown),
                                      (None, 100, "choose 1 to 8 checkpoints"),
                                      (["vae/vae2d-digits"], 10**400, n + ": 10+… is out of range"),
                                      (["vae/vae2d-digits"], 150.5, n + ": 150.5 is not a whole number")):
        with pytest.raises(Exception, match=message):  # one line naming the control, not Gradio's dump
            app_client.predict("digits", checkpoints, num, 1, "FID", "world", api_name="/evaluate")
    from core.metrics.inception import find_weights

    if find_weights() is None:  # the standard FID is offered only with its weights on disk
        with pytest.raises(Exception, match="Inception-v3 weights are not on this machine"):
            app_client.predict("digits", ["vae/vae2d-digits"], 100, 1, "FID", "inception", api_name="/evaluate")


def test_a_checkpoint_trained_after_the_app_started_is_measured_through_the_api(app_client):
    """The checkpoints a client may name are read at the request (the build's list refused a run trained since, as
    "not one of the choices", though the page measured it after a reload)."""
    import shutil

    from core.engine.checkpoint import checkpoint_root

    folder = checkpoint_root() / "vae" / "zz-evaluate-after-start"
    shutil.copytree(checkpoint_root() / "vae" / "vae2d-digits", folder)
    try:
        status, table, *_ = app_client.predict("digits", ["vae/zz-evaluate-after-start"], 100, 1, "FID", "world",
                                               api_name="/evaluate")
    finally:
        shutil.rmtree(folder)
    assert "done" in status and [r[1] for r in table["data"]][1:] == ["vae/zz-evaluate-after-start"]


def test_a_checkpoint_of_another_dataset_is_refused_with_why(app_client):
    """A run trained on MNIST (or any dataset that is not a world) named to /evaluate: the line says what it was
    trained on and what Evaluate measures (it said "is not one of the choices", with a visitor's run as example)."""
    import json
    import shutil

    from core.engine.checkpoint import checkpoint_root

    folder = checkpoint_root() / "vae" / "zz-evaluate-mnist"
    shutil.copytree(checkpoint_root() / "vae" / "vae2d-digits", folder)
    config = json.loads((folder / "train_config.json").read_text())
    (folder / "train_config.json").write_text(json.dumps(config | {"dataset": "mnist"}))
    model_config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(model_config | {"dataset": "mnist"}))
    try:
        with pytest.raises(Exception, match="vae/zz-evaluate-mnist was trained on mnist: Evaluate measures models of "
                                            "the digits, faces, shapes worlds"):
            app_client.predict("digits", ["vae/zz-evaluate-mnist"], 100, 1, "FID", "world", api_name="/evaluate")
    finally:
        shutil.rmtree(folder)
    with pytest.raises(Exception, match=r"'vae/zzz' is not a checkpoint Evaluate measures .* faces: 'vae/vae16-faces'"):
        app_client.predict("faces", ["vae/zzz"], 100, 1, "FID", "world", api_name="/evaluate")  # a faces example too


def test_the_portfolio_page_is_one_html_file_with_every_image_embedded(tmp_path):
    from html.parser import HTMLParser

    from core.report import main

    assert main(["vae/vae2d-digits", "--evaluate", "100", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "vae-vae2d-digits.html").read_text()

    VOID = ("img", "meta", "br", "hr", "input")

    class Check(HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.open, self.headings = [], [], []

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                self.images.append(dict(attrs).get("src", ""))
            if tag not in VOID:
                self.open.append(tag)

        def handle_endtag(self, tag):
            if tag not in VOID:
                assert self.open and self.open.pop() == tag, f"</{tag}> closes another element"

        def handle_data(self, data):
            if self.open and self.open[-1] in ("h1", "h2"):
                self.headings.append(data.strip())

    check = Check()
    check.feed(text)
    assert text.startswith("<!DOCTYPE html>") and check.open == []
    assert len(check.images) >= 5 and all(src.startswith("data:image/") for src in check.images)
    for part in ("Reproduce it", "Training curves", "Samples", "Measurements", "Model card"):
        assert part in check.headings, part
    assert "python -m core.train vae" in text


def test_the_command_lines_answer_a_mistake_with_one_error_line(capsys):
    from core.evaluation.__main__ import main as evaluate_main
    from core.report import main as report_main

    assert report_main(["nope"]) == 2
    assert evaluate_main(["--world", "moon"]) == 2
    assert evaluate_main(["--world", "digits", "--checkpoints", "gans/dcgan-digits", "--num", "50"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: give the checkpoint as method/name, got 'nope'",
                   "error: world must be one of ['digits', 'faces', 'shapes'], got 'moon'",
                   "error: sample size must be in [100, 2000], got 50"]


def test_visitors_measure_one_at_a_time_but_measured_results_never_wait(monkeypatch):
    import threading

    from core.engine import AppContext
    from core.evaluation import service

    class Judge:
        description = "stub"

    measured = {"gans/dcgan-digits"}
    monkeypatch.setattr(service, "judge_for", lambda *a, **k: Judge())
    monkeypatch.setattr(service, "cached", lambda key, *a: {"images": 100} if key in measured else None)
    monkeypatch.setattr(service, "measure_checkpoint", lambda ctx, world, key, *a: {"images": 100})
    service._TURN.acquire()  # another visitor's measurement is generating
    try:
        lines = [line for line, _ in service.evaluate_stream(AppContext(), "digits", ["gans/dcgan-digits"], 100, 0)]
        assert lines[-1].startswith("done") and not any("waiting" in line for line in lines)  # measured: no wait
        stream = service.evaluate_stream(AppContext(), "digits", ["vae/vae2d-digits"], 100, 0)
        assert "waiting for another visitor" in [next(stream), next(stream)][1][0]
        finished = []
        reader = threading.Thread(target=lambda: finished.extend(line for line, _ in stream))
        reader.start()
        reader.join(0.6)
        assert reader.is_alive() and not finished  # still waiting its turn
    finally:
        service._TURN.release()
    reader.join(5)
    assert finished[-1].startswith("done") and any("generating" in line for line in finished)
    assert service._TURN.acquire(blocking=False)  # its turn given back
    service._TURN.release()
    cancel = threading.Event()
    service._TURN.acquire()
    try:
        stream = service.evaluate_stream(AppContext(), "digits", ["vae/vae2d-digits"], 100, 0, cancel)
        next(stream), next(stream)
        cancel.set()  # Cancel while waiting
        assert [line for line, _ in stream][-1].startswith("cancelled while waiting")
    finally:
        service._TURN.release()


def test_cancel_stops_inside_the_generation_and_the_progress_follows_each_batch(monkeypatch):
    import threading

    from core.engine import AppContext
    from core.evaluation import service

    monkeypatch.setattr(service, "_MEMORY", {})
    monkeypatch.setattr(service, "cached", lambda *a: None)  # measure, whatever the disk holds
    cancel, seen = threading.Event(), []

    def progress(fraction, text):
        seen.append((round(fraction, 3), text))
        cancel.set()  # the user presses Cancel after the first batch

    lines = [line for line, _ in service.evaluate_stream(AppContext(), "digits", ["gans/dcgan-digits", "vae/vae2d-digits"],
                                                         300, 0, cancel, progress)]
    assert seen == [(0.167, "gans/dcgan-digits: 100/300 images")]
    assert lines[-1].startswith("cancelled while generating gans/dcgan-digits: 0 of 2")


def test_cancel_stops_a_diffusion_model_between_two_sampling_steps(monkeypatch):
    """A diffusion model's batch is many sampling steps (seconds at N = 500): Cancel stops it at the next step, not
    at the end of the batch."""
    import threading

    from core.engine import AppContext
    from core.evaluation import service

    class CancelAfter(threading.Event):  # pressed after the loop's first check and two sampling steps
        checks = 0

        def is_set(self):
            self.checks += 1
            return self.checks > 3

    monkeypatch.setattr(service, "_MEMORY", {})
    monkeypatch.setattr(service, "cached", lambda *a: None)
    seen = []
    lines = [line for line, _ in service.evaluate_stream(AppContext(), "digits", ["diffusion/ddpm-digits"], 100, 0,
                                                         CancelAfter(), lambda *a: seen.append(a))]
    assert seen == [] and lines[-1].startswith("cancelled while generating diffusion/ddpm-digits: 0 of 1")


def test_cancel_stops_only_the_measurement_of_the_visitor_who_pressed_it(app_url):
    """In a classroom every visitor has their own Cancel: another's press leaves a run alone, one's own stops it."""
    import random

    import httpx
    from gradio_client import Client

    app_url = app_url.rstrip("/")
    config = httpx.get(f"{app_url}/config").json()
    button = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "evaluate-cancel")
    fn_index = next(i for i, d in enumerate(config["dependencies"])
                    if any(t[0] == button for t in d["targets"]))

    def press_cancel(session_hash):
        httpx.post(f"{app_url}/gradio_api/run/predict",
                   json={"fn_index": fn_index, "data": [], "session_hash": session_hash}).raise_for_status()

    keys = ["gans/dcgan-digits", "gans/lsgan-digits"]
    a, b = Client(app_url, verbose=False), Client(app_url, verbose=False)
    for who_cancels, expected in ((b, "done:"), (a, "cancelled")):
        seed = random.randrange(10**6, 2**31)  # nothing cached: each run generates and measures
        job = a.submit("digits", keys, 500, seed, "FID", "world", api_name="/evaluate")
        deadline = time.time() + 240
        while not job.done() and time.time() < deadline:  # Cancel pressed again and again while the run lasts
            press_cancel(who_cancels.session_hash)
            time.sleep(0.2)
        status = job.result(timeout=300)[0]
        assert status.startswith(expected), status


def test_a_world_whose_real_sets_lie_far_apart_reads_each_fid_against_its_floor():
    """Faces' classifier features put two real sets ~400 apart in FID (digits': ~1): the "why" then reads each model's
    FID as a multiple of the floor row (faces' 2.63k beside digits' 2 looked like a catastrophe, without a word);
    a world with a small floor, and a CycleGAN's own domain floor, get no such line."""
    from core.evaluation.service import disagreements

    def result(fid, floor_fid, reference=None):
        values = {"fid": fid, "kid": 0.0, "precision": 0.7, "recall": 0.7, "score": 1.0}
        floor = {"fid": floor_fid, "kid": 0.0, "precision": 0.7, "recall": 0.7, "score": 5.0}
        return {"values": values, "std": {"fid": 1.0}, "floor": floor, "reference": reference}

    why = disagreements({"vae/a": result(2630.0, 395.0), "stylegan/b": result(1095.0, 395.0)})
    assert "row R reads FID 395" in why and "**vae/a** 6.7x, **stylegan/b** 2.8x" in why
    assert "row R" not in disagreements({"gans/c": result(2.1, 0.9)})
    assert "row R" not in disagreements({"translation/d": result(900.0, 300.0, reference="B")})
