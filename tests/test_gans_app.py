"""/gan_generate (and the tab's comparison) through the running app, with the bundled GAN checkpoints; bad input
gives one clear line and the app keeps serving."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.engine import list_checkpoints

UNCONDITIONAL, CONDITIONAL = "dcgan-digits", "cgan-projection-ms-digits"

pytestmark = pytest.mark.skipif(not {UNCONDITIONAL, CONDITIONAL} <= set(list_checkpoints("gans")),
                                reason="the bundled GAN checkpoints are missing")


def generate(client, checkpoint=UNCONDITIONAL, **kw) -> np.ndarray:
    return np.asarray(Image.open(client.predict(checkpoint=checkpoint, api_name="/gan_generate", **kw)))


def test_generate_by_keyword_with_its_defaults(app_client):
    a = generate(app_client)
    assert a.shape == (32, 32) and a.dtype == np.uint8
    assert np.array_equal(generate(app_client, seed=7), a)  # the default seed (the tab's: 7); deterministic
    assert not np.array_equal(generate(app_client, seed=2), a)
    assert generate(app_client, seed=4294967295, truncation=4.0).shape == (32, 32)  # the ends of both ranges


def test_a_conditional_checkpoint_draws_the_class_it_is_asked_for(app_client):
    from core.metrics import predict

    images = [generate(app_client, CONDITIONAL, seed=7, class_label=str(k)) for k in range(10)]
    assert len({im.tobytes() for im in images}) == 10  # the label changes the image
    batch = np.stack(images)[:, None].astype(np.float32) / 255
    import torch

    read = predict(torch.from_numpy(batch), "digits")[:, 0].tolist()
    assert sum(r == k for k, r in enumerate(read)) >= 7, read  # the digits classifier reads most as asked
    truncated = [generate(app_client, CONDITIONAL, seed=s, class_label="3", truncation=0.3) for s in (1, 2)]
    assert not np.array_equal(*truncated)


@pytest.mark.parametrize("kw, message", [
    ({"truncation": 4.5}, r"truncation τ: 4.5 is out of range; give a number in \[0, 4\]"),
    ({"seed": -1}, r"-1 is out of range"),
    ({"class_label": "3"}, "unconditional"),
    ({"checkpoint": CONDITIONAL, "class_label": "11"}, r"class must be 'random' or 0-9, got '11'"),
    ({"checkpoint": CONDITIONAL, "class_label": "three"}, r"class must be 'random' or 0-9, got 'three'"),
    ({"checkpoint": ""}, "choose a checkpoint: one of cgan-digits"),
    ({"checkpoint": "no-such-gan"}, "unknown gans checkpoint"),
    ({"checkpoint": "../../etc"}, "not allowed"),
])
def test_bad_input_gives_one_clear_line_and_the_app_keeps_serving(app_client, kw, message):
    with pytest.raises(Exception, match=message):
        generate(app_client, **{"checkpoint": UNCONDITIONAL, **kw})
    assert generate(app_client, seed=3).shape == (32, 32)


def test_every_variant_side_by_side(app_client):
    from core.gans.service import variants

    grid, table, why, plot = app_client.predict("1, 2, 3", 0.0, "dcgan-digits",   # undocumented: by position
                                             api_name="/gan_compare")
    names = variants()
    assert len(table["data"]) == len(names) >= 2
    assert all(name in why for name in names)
    height = Image.open(grid).size[1]
    assert height >= 34 + len(names) * 64  # a row of 64 px cells per variant, under the column labels
    assert Image.open(plot).width == 900  # the curves of every variant, drawn with its legend
