"""The VAE tab's public endpoints through the running app (``app_client`` from conftest), with bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from core.engine import list_checkpoints



def needs(*names):
    missing = set(names) - set(list_checkpoints("vae"))
    return pytest.mark.skipif(bool(missing), reason=f"bundled checkpoint(s) {sorted(missing)} not trained yet")


pytestmark = needs("vae2d-digits")


def _image(path):
    return np.asarray(Image.open(path))


def test_vae_decode_endpoint(app_client):
    a = _image(app_client.predict("vae2d-digits", "0.5, -1.0", api_name="/vae_decode"))
    b = _image(app_client.predict("vae2d-digits", "[0.5, -1.0]", api_name="/vae_decode"))
    c = _image(app_client.predict("vae2d-digits", "-2, 2", api_name="/vae_decode"))
    assert a.shape[:2] == (252, 252) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.std() > 10  # a digit, not a blank image
    # out-of-range values are clamped to +-6, not extrapolated
    far = _image(app_client.predict("vae2d-digits", "100, -100", api_name="/vae_decode"))
    edge = _image(app_client.predict("vae2d-digits", "6, -6", api_name="/vae_decode"))
    assert np.array_equal(far, edge)


@pytest.mark.parametrize("latent,message", [
    ("1, 2, 3", "2-D latent"),
    ("nan, 0", "finite"),
    ("one, two", "not a number"),
    (",, ;", "enter latent values"),
])
def test_vae_decode_bad_input_then_serves_again(app_client, latent, message):
    with pytest.raises(Exception, match=message):
        app_client.predict("vae2d-digits", latent, api_name="/vae_decode")
    assert _image(app_client.predict("vae2d-digits", "0, 0", api_name="/vae_decode")).std() > 10
    origin = _image(app_client.predict("vae2d-digits", "0, 0", api_name="/vae_decode"))
    assert np.array_equal(_image(app_client.predict("vae2d-digits", "", api_name="/vae_decode")), origin)  # empty: z = 0


@needs("vqvae-faces")
def test_vae_decode_unknown_checkpoint_and_vq_codes(app_client):
    with pytest.raises(Exception, match="unknown vae checkpoint"):
        app_client.predict("no-such-model", "0, 0", api_name="/vae_decode")
    with pytest.raises(Exception, match="not allowed"):
        app_client.predict("../../etc", "0, 0", api_name="/vae_decode")
    with pytest.raises(Exception, match="grid of code indices"):
        app_client.predict("vqvae-faces", "0, 0", api_name="/vae_decode")
    codes = ", ".join(["3"] * 256)
    assert _image(app_client.predict("vqvae-faces", codes, api_name="/vae_decode")).shape[-1] == 3


def _write(path, image):
    image.save(path)
    return str(path)


def test_vae_reconstruct_endpoint_with_odd_uploads(app_client, tmp_path):
    from gradio_client import handle_file

    from core.data import get_dataset

    digit = get_dataset("digits", split="test")[3]["image"]  # a held-out digit, white on black
    arr = (digit[0].numpy() * 255).astype(np.uint8)
    files = {
        "plain.png": Image.fromarray(arr),
        "rgba.png": Image.fromarray(np.stack([arr] * 3 + [np.full_like(arr, 255)], -1), "RGBA"),
        "palette.png": Image.fromarray(arr).convert("P"),
        "sixteen.png": Image.fromarray(arr.astype(np.uint16) * 257),
    }
    wide = _write(tmp_path / "wide.png", Image.fromarray(arr).resize((10_000, 28)))  # fitted to 224 px: 0.6 px tall
    with pytest.raises(Exception, match="no digit found"):
        app_client.predict("vae2d-digits", handle_file(wide), api_name="/vae_reconstruct")
    recs = {}
    for name, im in files.items():
        seen, rec, latent = app_client.predict("vae2d-digits", handle_file(_write(tmp_path / name, im)),
                                               api_name="/vae_reconstruct")
        latent = latent if isinstance(latent, dict) else json.load(open(latent))
        assert len(latent["z"]) == 2 and all(np.isfinite(latent["z"]))
        recs[name] = _image(rec)
        assert _image(seen).shape == recs[name].shape
    # the same digit in PNG / RGBA / palette / 16-bit lands at the same place
    assert np.abs(recs["plain.png"].astype(int) - recs["sixteen.png"].astype(int)).mean() < 8
    assert np.abs(recs["plain.png"].astype(int) - recs["palette.png"].astype(int)).mean() < 8


@needs("vqvae-faces")
def test_vae_reconstruct_corrupt_file_then_serves_again(app_client, tmp_path):
    from gradio_client import handle_file

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with pytest.raises(Exception, match="(?i)image"):
        app_client.predict("vae2d-digits", handle_file(str(bad)), api_name="/vae_reconstruct")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(Exception, match="(?i)image"):
        app_client.predict("vae2d-digits", handle_file(str(text)), api_name="/vae_reconstruct")
    for colour in (0, 200, 255):  # a blank page, black, grey or white: no digit to frame and encode (the grey one
        blank = _write(tmp_path / f"blank{colour}.png", Image.new("L", (60, 40), colour))  # was framed as ink)
        with pytest.raises(Exception, match="no digit found in the image: it is one colour"):
            app_client.predict("vae2d-digits", handle_file(blank), api_name="/vae_reconstruct")
    good = _write(tmp_path / "ok.png", Image.new("L", (40, 40), 0))  # a faces model takes a plain image as it is
    _, rec, _ = app_client.predict("vqvae-faces", handle_file(good), api_name="/vae_reconstruct")
    assert _image(rec).shape[-1] == 3
