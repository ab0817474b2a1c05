"""What the Evaluate tab measures per method: the conditional metrics against their floors, translators against
their targets (a CycleGAN against its target domain), text-to-image on held-out captions, and the samples sheet."""

from __future__ import annotations

import pytest
import torch


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
    asked = {(r[1], r[3]): float(r[4].split("±")[0]) for r in service.conditional_rows(results)}
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
