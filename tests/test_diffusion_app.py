"""The DDPM / DDIM tab's endpoints through the running app (``app_client`` from tests/conftest.py).

/diffusion_forward: image, t, schedule, noise seed -> x_t (PNG).
/diffusion_sample: checkpoint, sampler, steps, eta, seed, class, guidance, schedule, guidance type
-> streamed (x_t, predicted x0, final image, filmstrip, status).
"""

from __future__ import annotations

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
    (1001, "linear", "1001 is (outside 0..1000|out of range; give a number in \\[0, 1000\\])"),
    (-5, "linear", "-5 is (outside 0..1000|out of range; give a number in \\[0, 1000\\])"),
    # unknown names are refused by the dropdown (listing its choices) or by core.diffusion.schedules
    (10, "quadratic", r"quadratic.*(valid schedules: |list of choices: ).*linear.*cosine.*sigmoid.*scaled_linear"),
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
    x_t, x0, image, strip, status = final
    assert "step 4 / 4" in status and "done" in status
    first = _array(image)
    assert first.shape[:2] == (28, 28)
    assert len(strip) == 5  # 4 steps + the final sample
    _, again = _sample(app_client)
    assert np.array_equal(_array(again[2]), first), "same seed + eta 0 must give the same image"
    _, other = _sample(app_client, seed=8)
    assert not np.array_equal(_array(other[2]), first)


@pytest.mark.parametrize("changes, message", [
    (dict(steps=0), "0 is (outside 1..1000|out of range; give a number in \\[1, 1000\\])"),
    (dict(steps=100000), "100000 is (outside 1..1000|out of range; give a number in \\[1, 1000\\])"),
    (dict(eta=1.5), "1.5 is (outside 0..1|out of range; give a number in \\[0, 1\\])"),
    (dict(guidance=50.0), "50 is (outside 0..20|out of range; give a number in \\[0, 20\\])"),
    (dict(sampler="euler"), r"euler.*(valid samplers: |list of choices: ).*ddpm.*ddim.*dpm\+\+"),
    (dict(schedule="quadratic"), r"quadratic.*(valid schedules: |list of choices: ).*trained.*linear.*cosine.*sigmoid"),
    (dict(class_label="cat"), "unknown class 'cat'"),
    (dict(guidance_type="magic"), r"magic.*(valid: |list of choices: ).*classifier-free.*classifier"),
    (dict(checkpoint="../../etc"), "not allowed"),
    (dict(checkpoint="no-such-model"), "unknown diffusion checkpoint"),
])
def test_sample_endpoint_refuses_bad_input_and_keeps_serving(app_client, changes, message):
    with pytest.raises(Exception, match=message):
        _sample(app_client, **changes)
    _, final = _sample(app_client, steps=2)
    assert "done" in final[4]


def test_compare_rows_report_progress_before_each_row(monkeypatch):
    """Compare samplers says which row runs next (sampler, steps, samples) while the table fills."""
    from demos import diffusion
    from demos.common import AppContext
    from tests.test_diffusion_core import tiny_bundle

    bundle = tiny_bundle(num_classes=3)
    monkeypatch.setattr(diffusion, "_bundle", lambda ctx, name: bundle)
    calls = []
    tables = [t for t, _ in diffusion.compare_rows(AppContext(), "tiny", 0, 10, 1.0,
                                                    progress=lambda *a, **k: calls.append(k["desc"]))]
    assert [len(t) for t in tables] == [1, 2, 3, 4, 5]               # a row per setting, shown as each finishes
    assert calls[0] == "row 1 of 5: DDPM 1000 steps, N = 10"          # no world: no held-out floor row
    assert calls[-1] == "row 5 of 5: DDIM 10 steps, N = 10"
