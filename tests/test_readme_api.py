"""The README's API section: it names every public endpoint, and its examples run as written against the app.

(The pix2pix & CycleGAN, text-to-image and LoRA examples are run, with closer checks, by their tabs' tests.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

README = Path(__file__).resolve().parents[1] / "README.md"
RUN_HERE = ("Training through the API", "VAE latent explorer", "GAN variants", "StyleGAN", "DDPM / DDIM step viewer",
            "Evaluate")


def _api_section() -> str:
    text = README.read_text()
    return text.split("## Tabs and their API", 1)[1].split("\n## ", 1)[0]


def _examples() -> dict[str, str]:
    """{subsection title: its first python block}."""
    out = {}
    for part in _api_section().split("\n### ")[1:]:
        title, body = part.split("\n", 1)
        if "```python" in body:
            out[title.strip()] = body.split("```python", 1)[1].split("```", 1)[0]
    return out


def test_the_readme_names_every_public_endpoint_with_an_example(app_client):
    info = app_client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    section = _api_section()
    missing = [name for name in info if not re.search(rf"`{re.escape(name)}`|api_name=\"{re.escape(name)}\"", section)]
    assert not missing, f"endpoints the README does not list: {missing}"
    in_examples = set(re.findall(r'api_name="(/\w+)"', "".join(_examples().values())))
    without = [n for n in info if n not in in_examples and not n.startswith("/train_")]
    assert not without, f"endpoints with no gradio_client example: {without}"
    assert "/train_vae" in in_examples  # the training endpoints share one example (same parameters: the config)


@pytest.mark.parametrize("title", RUN_HERE)
def test_readme_example_runs_as_written(title, app_url, tmp_path, monkeypatch):
    code = _examples()[title]
    for name in set(re.findall(r'handle_file\("([^"]+)"\)', code)):  # the files an example reads: a drawn digit
        image = Image.new("L", (28, 28), 0)
        ImageDraw.Draw(image).ellipse((7, 4, 21, 24), outline=255, width=3)
        image.save(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    if title == "Training through the API":  # trains into a temporary checkpoints/ (the bundled ones stay clean)
        monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    from gradio_client import Client

    scope: dict = {"client": Client(app_url, verbose=False)}  # for examples that continue an earlier one
    exec(compile(code.replace("http://127.0.0.1:7860/", app_url), f"README.md ({title})", "exec"), scope)
    client = scope["client"]
    if title == "Training through the API":
        assert "my-digits-vae" in scope["status"] and "/tmp" not in scope["status"]
        width, height = Image.open(scope["image"]).size
        assert width == height and width % 28 == 0  # 28 px digits, enlarged with visible pixels
    elif title == "VAE latent explorer":
        assert Image.open(scope["image"]).size[0] >= 28 and "z" in scope["latent"]
    elif title == "GAN variants":
        assert Image.open(scope["image"]).size == (32, 32)
    elif title == "StyleGAN":
        assert Image.open(scope["img"]).size == Image.open(scope["mixed"]).size == (64, 64)
    elif title == "Evaluate":
        assert "done" in scope["status"] and list(scope["fid"])[1:] == ["vae/vae2d-digits", "gans/cgan-digits"]
        assert scope["table"]["headers"][2] == "FID" and all(" ±" in v for v in list(scope["fid"].values())[1:])
        assert Image.open(scope["sheet"]).width > 0 and Image.open(scope["bars"]).width > 0
    else:
        assert Image.open(scope["final_png"]).size == (28, 28) and "step" in scope["status"].lower()
        assert Image.open(scope["edited"]).width % 28 == 0 and "SDEdit" in scope["status"]
    monkeypatch.undo()
    assert client.predict(api_name="/stylegan_generate")  # the app still serves
