"""/stylegan_generate, /stylegan_mix and /stylegan_grid through the running app (the ``app_client`` fixture), with the
bundled checkpoint; bad input gives a clear error and the app keeps serving."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.engine import list_checkpoints

CHECKPOINT = "stylegan-faces64"

pytestmark = pytest.mark.skipif(CHECKPOINT not in list_checkpoints("stylegan"),
                                reason=f"bundled checkpoint {CHECKPOINT} is missing")


def read(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.int16)


def generate(client, seed, psi, **kw):
    return read(client.predict(CHECKPOINT, seed, psi, api_name="/stylegan_generate", **kw))


def mix(client, seed_a, seed_b, layers, psi=1.0, **kw):
    return read(client.predict(CHECKPOINT, seed_a, seed_b, layers, psi, api_name="/stylegan_mix", **kw))


def test_generate_endpoint(app_client):
    a = generate(app_client, 1, 1.0)
    assert a.shape == (64, 64, 3)
    assert np.array_equal(generate(app_client, 1, 1.0), a)  # deterministic per seed
    assert not np.array_equal(generate(app_client, 2, 1.0), a)
    assert np.array_equal(generate(app_client, 1, 0.0), generate(app_client, 999, 0.0))  # psi 0: the mean face


def test_mix_endpoint(app_client):
    a, b = generate(app_client, 3, 0.8), generate(app_client, 4, 0.8)
    assert np.array_equal(mix(app_client, 3, 4, [], 0.8), a)
    assert np.array_equal(mix(app_client, 3, 3, [0, 1, 2], 0.8), a)
    assert np.array_equal(mix(app_client, 3, 4, list(range(10)), 0.8), b)
    coarse = mix(app_client, 3, 4, [0, 1, 2], 0.8)
    assert not np.array_equal(coarse, a) and not np.array_equal(coarse, b)


def test_the_grid_takes_the_layers_as_the_mix_does(app_client):
    """/stylegan_grid reads its layers as /stylegan_mix: indices, the page's labels ("w0: 4 px") or a string (it
    gave Gradio's "not in the list of choices" for a label, with a traceback); a bad one is one line."""
    def grid(layers):
        image, note = app_client.predict(CHECKPOINT, "3", "4", layers, 0.8, 0, "const", 0, api_name="/stylegan_grid")
        return read(image), note

    by_index, note = grid([0, 1])
    assert "layers [0, 1]" in note
    # each seed is written in a white margin: above the B column, left of the A row (the grid had no numbers)
    top, left = by_index[:30].astype(int), by_index[30:, :96].astype(int)
    assert (top.min(axis=2) < 100).any() and (left.min(axis=2) < 100).any() and np.median(left) == 255
    for same in (["w0: 4 px", "w1: 4 px"], "0, 1", "0 1", "[0,1]", "['w0: 4 px', 'w1: 4 px']"):  # "[0,1]": "layer '[0'"
        assert np.array_equal(grid(same)[0], by_index)
    with pytest.raises(Exception, match="not a layer index"):
        grid(["coarse"])


@pytest.mark.parametrize("call, message", [
    (lambda c: generate(c, 2**32, 1.0), r"4294967296 is out of range.*\[0, 4294967295\]"),
    (lambda c: generate(c, -5, 1.0), r"Seed A \(API: seed, seed_a\): -5 is out of range"),   # the name the client sent
    (lambda c: generate(c, 1, 1.6), r"truncation psi \(API: psi\): 1.6 is out of range.*\[-1, 1.5\]"),
    (lambda c: generate(c, 1, -1.2), r"\(API: psi\): -1.2 is out of range"),
    (lambda c: mix(c, 1, 2, [0, 10]), "does not exist"),
    (lambda c: mix(c, 1, 2, ["coarse"]), "not a layer index"),
    (lambda c: read(c.predict("no-such-model", 1, 1.0, api_name="/stylegan_generate")), "unknown stylegan checkpoint"),
    (lambda c: read(c.predict("../../etc", 1, 1.0, api_name="/stylegan_generate")), "not allowed"),
])
def test_bad_input_gives_clear_errors_and_the_app_keeps_serving(app_client, call, message):
    with pytest.raises(Exception, match=message):
        call(app_client)
    assert generate(app_client, 5, 0.7).shape == (64, 64, 3)
