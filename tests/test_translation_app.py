"""The pix2pix & CycleGAN tab's endpoints through the running app (``app_client`` from tests/conftest.py).

/pix2pix: checkpoint, image, dropout_noise, seed -> (input as the model sees it, translation).
/cyclegan: checkpoint, image, direction -> (input, translation, cycle reconstruction, cycle L1 line).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.engine import list_checkpoints

CASES = Path(__file__).resolve().parent / "cases" / "uploads"  # copies of the shared cases


def needs(*names):
    missing = [n for n in names if n not in list_checkpoints("translation")]
    return pytest.mark.skipif(bool(missing), reason=f"bundled checkpoint(s) missing: {missing}")


def _array(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _face_inputs(tmp_path):
    from core.data import to_pil
    from core.translation.data import FacePairs

    batch = FacePairs("labels", "test", 64).get_batch([0])
    to_pil(batch["A"][0]).save(tmp_path / "labels.png")
    to_pil(batch["B"][0]).save(tmp_path / "face.png")
    return tmp_path / "labels.png", batch


def _param_names(app_client, endpoint):
    api = app_client.view_api(return_format="dict", print_info=False)
    return [p["parameter_name"] for p in api["named_endpoints"][endpoint]["parameters"]]


@needs("pix2pix-labels2face")
def test_pix2pix_endpoint_by_keyword_with_defaults(app_client, tmp_path):
    from gradio_client import handle_file

    from core.translation.inference import translate_batch
    from core.translation.service import load_checkpoint

    assert _param_names(app_client, "/pix2pix") == ["checkpoint", "image", "dropout_noise", "seed"]
    png, batch = _face_inputs(tmp_path)
    seen, out = app_client.predict(image=handle_file(str(png)), api_name="/pix2pix")   # default checkpoint
    got = _array(out)
    assert got.shape == (384, 384, 3)                          # 64 px shown 6x, crisp (nearest neighbour)
    expected = translate_batch(load_checkpoint("pix2pix-labels2face").translator, batch["A"])[0]
    small = got[::6, ::6]
    assert np.abs(small - expected.permute(1, 2, 0).numpy() * 255).mean() < 2
    # the translation looks like the target more than the input does
    target = batch["B"][0].permute(1, 2, 0).numpy() * 255
    assert np.abs(small - target).mean() < np.abs(_array(seen)[::6, ::6] - target).mean()
    a = _array(app_client.predict(image=handle_file(str(png)), dropout_noise=True, seed=1, api_name="/pix2pix")[1])
    b = _array(app_client.predict(image=handle_file(str(png)), dropout_noise=True, seed=1, api_name="/pix2pix")[1])
    c = _array(app_client.predict(image=handle_file(str(png)), dropout_noise=True, seed=2, api_name="/pix2pix")[1])
    assert np.array_equal(a, b) and not np.array_equal(a, c)   # dropout noise: seeded


@needs("cyclegan-black2blonde-hair")
def test_cyclegan_endpoint_both_directions(app_client, tmp_path):
    from gradio_client import handle_file

    from core.translation.service import example_inputs, load_checkpoint

    assert _param_names(app_client, "/cyclegan") == ["checkpoint", "image", "direction"]
    face = example_inputs(load_checkpoint("cyclegan-black2blonde-hair"), 1)[0]
    path = tmp_path / "black.png"
    face.save(path)
    for direction in ("AtoB", "BtoA"):
        seen, out, cycle, line = app_client.predict(image=handle_file(str(path)), direction=direction,
                                                    api_name="/cyclegan")
        assert _array(out).shape == _array(cycle).shape == _array(seen).shape
        assert "mean |error|" in line
    seen, out, cycle, line = app_client.predict(image=handle_file(str(path)), api_name="/cyclegan")
    assert np.abs(_array(cycle) - _array(seen)).mean() < np.abs(_array(out) - _array(seen)).mean()
    with pytest.raises(Exception, match="one generator"):
        app_client.predict("pix2pix-labels2face", handle_file(str(path)), "BtoA", api_name="/cyclegan")
    with pytest.raises(Exception, match="AtoB"):
        app_client.predict(image=handle_file(str(path)), direction="up", api_name="/cyclegan")


def _odd_files(tmp_path) -> dict[str, Path]:
    from tests.bad_inputs import odd_files

    return {name: path for name, path in odd_files(tmp_path).items() if name != "animated.gif"}


@needs("pix2pix-labels2face", "cyclegan-black2blonde-hair")
def test_odd_uploads_are_converted_and_bad_ones_get_one_message(app_client, tmp_path):
    from gradio_client import handle_file

    for name, path in _odd_files(tmp_path).items():
        for endpoint, ckpt in (("/pix2pix", "pix2pix-labels2face"), ("/cyclegan", "cyclegan-black2blonde-hair")):
            outputs = app_client.predict(ckpt, handle_file(str(path)), api_name=endpoint)
            w, h = Image.open(outputs[1]).size
            if name == "exif.jpg":
                assert h > w                                   # the orientation is applied
            if name == "wide.png":  # 500:1 comes back at 4:1, not as a line 2 px high
                assert (w, h) == (1024, 256)
    # transparent pixels go on white in every tab (shared case: the StyleGAN tab made them black)
    case = CASES / "transparent_rgba.png"
    seen, _ = app_client.predict("pix2pix-labels2face", handle_file(str(case)), api_name="/pix2pix")
    alpha = np.asarray(Image.open(case))[..., 3]
    small = _array(seen)[::6, ::6]                             # 64 px shown 6x
    assert small[alpha == 0].min() >= 250 and np.abs(small[alpha == 255] - 60).max() <= 2
    bad = {"text.png": b"hello, I am not an image", "truncated.png": _truncated_png()}
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(Exception, match="(?i)image"):
            app_client.predict("pix2pix-labels2face", handle_file(str(tmp_path / name)), api_name="/pix2pix")
    with pytest.raises(Exception, match="unknown translation checkpoint"):
        app_client.predict("no-such-model", handle_file(str(tmp_path / "rgba.png")), api_name="/pix2pix")
    with pytest.raises(Exception, match="outside|integer|out of range"):
        app_client.predict("pix2pix-labels2face", handle_file(str(tmp_path / "rgba.png")), True, -1,
                           api_name="/pix2pix")
    app_client.predict(image=handle_file(str(tmp_path / "rgba.png")), api_name="/pix2pix")  # still serving


def _truncated_png() -> bytes:
    from tests.bad_inputs import truncated_png

    return truncated_png()


@needs("pix2pix-labels2face", "cyclegan-black2blonde-hair")
def test_readme_example_runs_against_the_app(app_client, tmp_path, monkeypatch):
    """The README's gradio_client example for this tab, run as written (with its two input files)."""
    from gradio_client import handle_file

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### pix2pix & CycleGAN", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    _face_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    scope = {"client": app_client, "handle_file": handle_file}
    exec(compile(code, "README.md (pix2pix & CycleGAN)", "exec"), scope)
    assert Image.open(scope["face"]).size == (384, 384)
    assert "mean |error|" in scope["line"] and Image.open(scope["back"]).size == Image.open(scope["blonde"]).size


@needs("labels2face-small-l1", "labels2face-small-gan")
def test_the_loss_comparison_names_each_column_on_the_image_and_its_table_fits():
    from core.translation.compare import available
    from demos.common import AppContext
    from demos.translation import compare_view

    sheet, _, table = compare_view(AppContext(), 3)
    pixels = np.asarray(sheet.convert("L"))
    assert sheet.width >= 900 and (pixels[:20] < 128).any()  # the settings' names in a white band above the images
    assert len(table) == len(available()) and list(table.columns) == [
        "loss", "checkpoint", "L1 (0-1)", "PSNR (dB)", "SSIM", "shapes kept (%)", "worst shape (%)"]
