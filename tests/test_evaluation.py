"""The Evaluate tab: each metric against its formula or torchmetrics on fixed features, the properties the issue
names (a set against itself, dropped modes), the request checks, the cache, and the endpoint through the app."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from core.evaluation.measure import frechet_from_features, kid_from_features
from core.metrics import density_coverage, precision_recall


def _clusters(num: int, modes: int = 10, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(10, 8, generator=torch.Generator().manual_seed(99)) * 10
    return centres[:modes].repeat_interleave(num // modes, 0) + torch.randn(num, 8, generator=g)


class _Identity(nn.Module):
    num_features = 8

    def forward(self, x):
        return x


def test_frechet_and_kid_match_torchmetrics_on_the_same_features():
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 8, generator=g, dtype=torch.float64)
    b = torch.randn(300, 8, generator=g, dtype=torch.float64) * 1.5 + 0.3
    fid = FrechetInceptionDistance(feature=_Identity())
    fid.update(a, real=True)
    fid.update(b, real=False)
    assert frechet_from_features(a, b) == pytest.approx(float(fid.compute()), rel=1e-6)
    assert abs(frechet_from_features(a, a)) < 1e-6  # a set against itself
    kid = KernelInceptionDistance(feature=_Identity(), subsets=50, subset_size=100)
    kid.update(a, real=True)
    kid.update(b, real=False)
    ours, _ = kid_from_features(a, b, subsets=50, size=100)
    assert ours == pytest.approx(float(kid.compute()[0]), rel=0.15)  # the same estimator on other random subsets


def test_precision_and_recall_of_a_set_against_itself_are_one_and_recall_falls_with_dropped_modes():
    real = _clusters(1000)
    assert precision_recall(real, real) == (1.0, 1.0)
    full = precision_recall(real, _clusters(1000, seed=1))
    half = precision_recall(real, _clusters(1000, modes=5, seed=2))  # half the modes, as many samples
    assert full[1] > 0.8 and half[1] < 0.55 * full[1]
    assert half[0] > 0.8  # what it draws still lies on the data: precision keeps up
    density, coverage = density_coverage(real, _clusters(1000, modes=5, seed=2))
    assert coverage < 0.55 and density > 0.8


def test_density_and_coverage_match_their_formulas_on_a_small_example():
    real = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    fake = torch.tensor([[0.5], [9.0], [20.0]])
    # k = 1: radii 1, 1, 1, 8; fake 0.5 is inside the balls of 0 and 1, fake 9 inside the ball of 10 only
    density, coverage = density_coverage(real, fake, k=1)
    assert density == pytest.approx((2 + 1 + 0) / (1 * 3))
    assert coverage == pytest.approx(3 / 4)  # real 0, 1 and 10 have a fake in their ball; real 2 has none


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
    status, table, asked, bars, pr, samples, why = app_client.predict(  # undocumented: by position
        "digits", ["vae/vae2d-digits", "gans/cgan-digits"], 100, 1, "condition accuracy", "world", api_name="/evaluate")
    assert "done" in status
    rows = table["data"]
    assert [r[1] for r in rows][1:] == ["vae/vae2d-digits", "gans/cgan-digits"]
    assert rows[0][0] == "R" and all(" ± " in str(cell) for cell in rows[1][2:-2])
    # the conditional GAN alone is asked whether its digits are the classes it was given
    assert [(r[1], r[3]) for r in asked["data"]] == [("gans/cgan-digits", "condition accuracy")]
    assert bars is not None
    with pytest.raises(Exception, match="trained on 'faces'"):
        app_client.predict("digits", ["vae/vae16-faces"], 100, 1, "FID", "world", api_name="/evaluate")
    for checkpoints, num, message in ((["vae/nope-digits"], 100, r"checkpoints \(1-8\): 'vae/nope-digits' is not one of"),
                                      (None, 100, "choose 1 to 8 checkpoints"),
                                      (["vae/vae2d-digits"], 10**400, r"samples per model \(N\): 10+… is out of range"),
                                      (["vae/vae2d-digits"], 150.5, r"samples per model \(N\): 150.5 is not a whole number")):
        with pytest.raises(Exception, match=message):  # one line naming the control, not Gradio's dump
            app_client.predict("digits", checkpoints, num, 1, "FID", "world", api_name="/evaluate")
    from core.metrics.inception import find_weights

    if find_weights() is None:  # the standard FID is offered only with its weights on disk
        with pytest.raises(Exception, match="Inception-v3 weights are not on this machine"):
            app_client.predict("digits", ["vae/vae2d-digits"], 100, 1, "FID", "inception", api_name="/evaluate")


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


def test_the_lpips_style_distance_is_zero_for_a_copy_and_grows_with_the_damage():
    from core.metrics import load_classifier
    from core.metrics.perceptual import feature_distance, paired_scores
    from torchmetrics.functional.image import peak_signal_noise_ratio

    from core.evaluation.measure import real_images

    faces = real_images("faces", 6)["image"]
    net = load_classifier("faces")
    g = torch.Generator().manual_seed(0)
    noisy = [(faces + s * torch.randn(faces.shape, generator=g)).clamp(0, 1) for s in (0.05, 0.2, 0.5)]
    d = [float(feature_distance(x, faces, net).mean()) for x in noisy]
    assert float(feature_distance(faces, faces, net).abs().max()) < 1e-6
    assert 0 < d[0] < d[1] < d[2] <= 4
    scores = paired_scores(noisy[1], faces, classifier=net)
    assert all(v.shape == (6,) for v in scores.values())
    one = peak_signal_noise_ratio(noisy[1][:1], faces[:1], data_range=1.0)  # per image: torchmetrics on that image
    assert float(scores["psnr"][0]) == pytest.approx(float(one), rel=1e-5)
    exact = paired_scores(faces, faces, classifier=net)
    assert torch.equal(exact["psnr"], torch.full((6,), 100.0)) and torch.allclose(exact["ssim"], torch.ones(6), atol=1e-3)


def test_conditional_metrics_read_real_data_as_their_floor_and_fall_when_the_condition_is_wrong():
    from core.evaluation.conditional import condition_floor, per_image_scores
    from core.evaluation.measure import WorldJudge, real_images

    judge = WorldJudge("digits", 200)
    real = real_images("digits", 200)
    right = per_image_scores(judge, real["image"], {"kind": "class", "labels": real["label"]})["class_accuracy"]
    wrong = per_image_scores(judge, real["image"], {"kind": "class", "labels": (real["label"] + 1) % 10})
    assert right.shape == (200,) and float(right.mean()) == pytest.approx(condition_floor(judge, {"kind": "class"})["class_accuracy"])
    assert float(right.mean()) > 0.9 and float(wrong["class_accuracy"].mean()) < 0.1

    shapes = WorldJudge("shapes", 100)
    scenes = real_images("shapes", 100)
    own = per_image_scores(shapes, scenes["image"], {"kind": "text", "prompts": scenes["text"]})["clip_score"]
    other = per_image_scores(shapes, scenes["image"], {"kind": "text", "prompts": scenes["text"][1:] + scenes["text"][:1]})
    assert float(own.mean()) > float(other["clip_score"].mean()) + 10  # a caption of another scene scores lower


def test_translators_are_measured_against_their_targets_and_cyclegan_against_its_target_domain():
    from core.engine import AppContext
    from core.evaluation import service

    keys = ["translation/pix2pix-labels2face", "translation/cyclegan-black2blonde-hair"]
    results = list(service.evaluate_stream(AppContext(), "faces", keys, 100, 5))[-1][1]
    rows = service.table_rows(results)
    assert [r[0] for r in rows] == ["R", "1", "2", "R2"] and "blonde" in rows[3][1]
    assert rows[0][2] != rows[3][2]  # the domain's own floor
    asked = {(r[1], r[3]): float(r[4].split(" ± ")[0]) for r in service.conditional_rows(results)}
    pix2pix = "translation/pix2pix-labels2face"
    assert 10 < asked[(pix2pix, "PSNR (dB)")] < 100 and 0 < asked[(pix2pix, "SSIM")] < 1
    assert 0 < asked[(pix2pix, "LPIPS-style distance")] < 4
    assert asked[("translation/cyclegan-black2blonde-hair", "in target domain")] > 0.5
    assert service.metric_chart(results, "SSIM") is not None  # a conditional metric's chart: the models it applies to
    assert all(len(r["input_thumbnails"]) == 8 for r in results.values())  # inputs above translations in the sheet
    assert service.samples_sheet(results).size[1] == 6 + 4 * (72 + 6)


def test_text_to_image_samples_come_from_the_worlds_held_out_captions(monkeypatch):
    from core.evaluation import samplers

    monkeypatch.setattr(samplers, "DIFFUSION_STEPS", 1)  # the sampler's wiring, not its quality
    drawn = samplers.sample("text2image/t2i-clip-shapes", 3, seed=2)
    again = samplers.sample("text2image/t2i-clip-shapes", 3, seed=2)
    assert drawn.images.shape == (3, 3, 64, 64) and torch.equal(drawn.images, again.images)
    from core.evaluation.measure import real_images

    assert drawn.condition == {"kind": "text", "prompts": list(real_images("shapes", 3, first=5000)["text"])}
    assert samplers.evaluable("shapes") == ["text2image/t2i-clip-shapes", "text2image/t2i-minilm-shapes"]


def test_text_to_image_thumbnails_keep_their_prompts_and_the_sheet_lists_them(monkeypatch):
    import numpy as np

    from core.engine import AppContext
    from core.evaluation import samplers, service

    monkeypatch.setattr(samplers, "DIFFUSION_STEPS", 1)
    monkeypatch.setattr(service, "cached", lambda *a: None)
    monkeypatch.setattr(service, "_store", lambda *a: None)

    class Judge:  # the wiring of the result, not the metrics
        description = "stub"

        def measure(self, images, seed, condition=None):
            return {}

    monkeypatch.setattr(service, "judge_for", lambda *a: Judge())
    result = service.measure_checkpoint(AppContext(), "shapes", "text2image/t2i-minilm-shapes", 10, 4)
    asked = samplers.sample("text2image/t2i-minilm-shapes", 10, seed=4).condition["prompts"]
    assert result["prompts"] == asked[:8] and len(result["thumbnails"]) == 8
    plain = {"vae/x": {"thumbnails": result["thumbnails"]}}
    with_prompts = {"text2image/t2i-minilm-shapes": result}
    short, long = service.samples_sheet(plain), service.samples_sheet(with_prompts)
    assert long.size[0] == short.size[0] and long.size[1] > short.size[1] + 8 * 18  # a line per prompt at least
    legend = np.asarray(long.convert("L"))[short.size[1] + 18:]
    assert (legend < 100).mean() > 0.005  # text below the grid


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


def test_the_fid_inception_has_the_published_layout_and_tensorflows_resize():
    from core.metrics.inception import InceptionFeatures, resize_like_tensorflow1

    shapes = {k: tuple(v.shape) for k, v in InceptionFeatures().state_dict().items()}
    # the parameter names and shapes of pt_inception-2015-12-05-6726825d.pth (checked once against torch-fidelity's
    # network with the same random weights: features equal to 6e-8)
    assert len(shapes) == 566 and shapes["fc.weight"] == (1008, 2048)
    assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3) and shapes["Conv2d_1a_3x3.bn.running_var"] == (32,)
    assert shapes["Mixed_6b.branch7x7dbl_5.conv.weight"] == (192, 128, 1, 7)
    assert shapes["Mixed_7c.branch3x3dbl_3b.conv.weight"] == (384, 384, 3, 1)
    assert shapes["Mixed_7c.branch_pool.conv.weight"] == (192, 2048, 1, 1) and "Mixed_6a.branch_pool.conv.weight" not in shapes
    # TF 1.x samples output pixel i at i * in / out, with no half-pixel offset: [a, b] -> [a, (a+b)/2, b, b]
    row = resize_like_tensorflow1(torch.tensor([[[[0.0, 8.0]]]]).repeat(1, 1, 2, 1), side=4)[0, 0, 0]
    assert row.tolist() == [0.0, 4.0, 8.0, 8.0]


def test_inception_features_are_used_only_when_their_weights_are_on_disk(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    from core.evaluation.measure import WorldJudge
    from core.evaluation.service import check_features
    from core.metrics.inception import InceptionFeatures, find_weights

    bundled = Path(__file__).resolve().parents[1] / "checkpoints"
    shutil.copytree(bundled / "classifier/digits", tmp_path / "checkpoints/classifier/digits")
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert find_weights() is None
    with pytest.raises(ValueError, match="Inception-v3 weights are not on this machine"):
        check_features("inception")
    (tmp_path / "checkpoints/metrics").mkdir()
    torch.manual_seed(0)
    torch.save(InceptionFeatures().state_dict(), tmp_path / "checkpoints/metrics/pt_inception-2015-12-05-6726825d.pth")
    assert check_features("inception") == "inception"
    judge = WorldJudge("digits", 12, features="inception")  # random weights: the wiring, not the values
    assert judge.real["features"].shape == (12, 2048) and judge.real["logits"].shape == (12, 1008)
    assert judge.real["classes"].max() < 10  # classes still come from the digits classifier
    from core.evaluation.measure import real_images

    result = judge.measure(real_images("digits", 12, first=100)["image"], repeats=2)
    assert set(result["values"]) >= {"fid", "precision", "score", "class_tv"}


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


def test_a_lone_cyclegan_gets_only_its_domains_floor_and_long_names_wrap_at_their_dashes():
    from core.data.labelled import wrap_text
    from core.engine import AppContext
    from core.evaluation import service

    results = list(service.evaluate_stream(AppContext(), "faces", ["translation/cyclegan-black2blonde-hair"], 100, 2))[-1][1]
    assert [r[0] for r in service.table_rows(results)] == ["1", "R1"]
    chart = service.metric_chart(results, "CLIP score")  # no measured model has it: a sentence, not a blank
    assert chart is not None and chart.size[0] == 900
    assert wrap_text("1. translation/cyclegan-black2blonde-hair", 27) == ["1. translation/cyclegan-", "black2blonde-hair"]
    assert wrap_text("plain words only here", 10) == ["plain", "words only", "here"]


@pytest.mark.slow
def test_the_error_bars_are_about_the_spread_over_seeds():
    from core.evaluation.calibration import calibrate

    for metric, (spread, bar) in calibrate("gans/dcgan-digits", 200, seeds=8).items():
        assert 0.4 * spread < bar < 2.5 * spread, (metric, spread, bar)


def test_openai_clip_is_used_when_it_is_on_disk_and_clip_features_plug_in(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    from core.evaluation.conditional import condition_floor, per_image_scores
    from core.evaluation.measure import WorldJudge, real_images
    from core.metrics import clip as clip_module

    bundled = Path(__file__).resolve().parents[1] / "checkpoints"
    for folder in ("classifier/shapes", "text2image/clip-shapes"):
        shutil.copytree(bundled / folder, tmp_path / "checkpoints" / folder)
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setattr(clip_module, "_LOADED", {})
    assert clip_module.load_clip("openai") is None  # not in checkpoints/metrics/, not in the (offline) cache
    monkeypatch.setattr(clip_module, "_LOADED", {})
    # a tiny stand-in with OpenAI's layout (its processor: 224 px, CLIP's normalisation)
    folder = tmp_path / "checkpoints/metrics/clip-vit-base-patch32"
    tokenizer = CLIPTokenizer.from_pretrained(bundled / "text2image/clip-shapes")
    torch.manual_seed(0)
    config = CLIPConfig(text_config={"vocab_size": tokenizer.vocab_size, "hidden_size": 32, "intermediate_size": 64,
                                     "num_hidden_layers": 1, "num_attention_heads": 2,
                                     "max_position_embeddings": tokenizer.model_max_length},
                        vision_config={"image_size": 224, "patch_size": 32, "hidden_size": 32, "intermediate_size": 64,
                                       "num_hidden_layers": 1, "num_attention_heads": 2}, projection_dim=16)
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor().save_pretrained(folder)
    assert clip_module.openai_folder() == folder and clip_module.load_clip("openai").name == "OpenAI CLIP ViT-B/32"

    scenes = real_images("shapes", 6, first=5000)
    scores = per_image_scores(None, scenes["image"], {"kind": "text", "prompts": scenes["text"]})
    assert set(scores) == {"clip_score", "clip_score_openai"} and scores["clip_score_openai"].shape == (6,)
    judge = WorldJudge("shapes", 6, features="clip")
    assert judge.real["features"].shape == (6, 16) and "OpenAI" in judge.description
    assert set(condition_floor(judge, {"kind": "text"})) == {"clip_score", "clip_score_openai"}
