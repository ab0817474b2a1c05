"""Errors a user sees are one clear line (issue 17): the convert CLI, resuming another architecture, faults in
a tab, and uploads that keep their alpha through every image endpoint."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "tests" / "cases" / "uploads" / "transparent_rgba.png"  # a copy of the shared case


def test_convert_cli_prints_one_line_for_a_refused_file(tmp_path):
    bad = tmp_path / "not_a_generator.pt"
    torch.save({"something": torch.zeros(2)}, bad)
    done = subprocess.run([sys.executable, "-m", "core.stylegan.convert", str(bad), "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("cannot convert")


def test_resuming_into_another_architecture_says_what_differs(tmp_path):
    from core.engine import Trainer
    from core.vae.method import VAEConfig, VAEMethod

    base = dict(dataset="digits", steps=2, batch_size=4, sample_every=0, checkpoint_every=0,
                device="cpu")
    for event in Trainer(VAEMethod(VAEConfig(latent_dim=2, **base)), tmp_path / "run").run():
        pass
    with pytest.raises(ValueError, match=r"latent_dim 2 -> 3.*another run name.*--fresh") as info:
        for event in Trainer(VAEMethod(VAEConfig(latent_dim=3, **{**base, "steps": 4})), tmp_path / "run").run():
            pass
    assert str(info.value).startswith(f"{tmp_path.as_posix()}/run holds a run")   # outside the project: as given


def test_a_fault_reaches_the_user_as_one_line_and_the_log_keeps_the_traceback(caplog):
    from demos.common import ui_errors

    def sample_digits(steps):
        return [0][steps]  # an IndexError deep inside, not the user's fault

    with caplog.at_level(logging.INFO, logger="genlab"):
        with pytest.raises(gr.Error) as info:
            ui_errors(sample_digits)(5)
        assert "sample digits failed: IndexError" in str(info.value) and "\n" not in str(info.value)
        assert any(r.exc_info for r in caplog.records)          # the traceback is in the server log
        caplog.clear()
        with pytest.raises(gr.Error, match="steps"):
            ui_errors(lambda: (_ for _ in ()).throw(ValueError("steps 0 is outside 1..1000")))()
        assert not any(r.exc_info for r in caplog.records)      # a user error: one line, no traceback


def test_offline_downloads_and_memory_limits_are_the_users_to_fix_and_said_whole():
    """A download that cannot reach the internet is said whole (its remedy is at the end of a long line), not cut at
    200 characters as "a fault of the app"; running out of memory says what to lower."""
    from demos.common import ui_errors

    def raise_(exc):
        raise exc

    offline = ConnectionError("could not download cifar-10-python.tar.gz from https://example.org/" + "x" * 200
                              + "; copy the file into ~/.cache/genlab/datasets/cifar10 by hand")
    with pytest.raises(gr.Error) as info:
        ui_errors(lambda: raise_(offline))()
    assert info.value.message.endswith("by hand") and "fault of the app" not in info.value.message
    for exc in (RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you "
                             "tried to allocate 68719476736 bytes"), MemoryError()):
        with pytest.raises(gr.Error, match="ran out of memory on this machine: lower the resolution"):
            ui_errors(lambda: raise_(exc))()


def test_diffusion_sample_has_named_parameters(app_client):
    api = app_client.view_api(return_format="dict", print_info=False)
    names = [p["parameter_name"] for p in api["named_endpoints"]["/diffusion_sample"]["parameters"]]
    assert names == ["checkpoint", "sampler", "steps", "eta", "seed", "class_label", "guidance", "schedule",
                     "guidance_type"]


def test_transparent_upload_is_on_white_in_the_stylegan_projection(app_client):
    from gradio_client import handle_file

    job = app_client.submit("stylegan-faces64", handle_file(str(CASE)), "w", 20, api_name="/stylegan_project")
    _, target, _ = job.result()[:3]
    seen = np.asarray(Image.open(target).convert("RGB")).astype(int)
    alpha = np.asarray(Image.open(CASE))[..., 3]
    scale = seen.shape[0] // alpha.shape[0]
    assert seen[::scale, ::scale][alpha == 0].min() >= 250     # white, as in the diffusion and translation tabs


def test_vae_decode_works_with_its_own_defaults(app_client):
    api = app_client.view_api(return_format="dict", print_info=False)
    params = api["named_endpoints"]["/vae_decode"]["parameters"]
    assert [p["parameter_name"] for p in params] == ["checkpoint", "latent"]
    image = app_client.predict(api_name="/vae_decode")            # every parameter at its default
    assert Image.open(image).size[0] > 1
    for name in ("vae2d-digits", "vqvae-faces", "vae16-digits"):  # the default latent fits any model
        assert Image.open(app_client.predict(checkpoint=name, api_name="/vae_decode")).size[0] > 1
    rows = "\n".join(" ".join(["3"] * 16) for _ in range(16))        # a VQ grid as rows of a text
    assert Image.open(app_client.predict("vqvae-faces", rows, api_name="/vae_decode")).size[0] > 1


def test_the_same_transparent_upload_comes_out_on_white_through_every_image_endpoint(app_client):
    """One loader for every image input: the shared case's transparent pixels are white in what each model sees
    (the VAE's grey digit models are the documented exception: white-on-black data, so dark-on-light inverts)."""
    from gradio_client import handle_file

    alpha = np.asarray(Image.open(CASE))[..., 3]
    f = handle_file(str(CASE))
    seen = {
        "/diffusion_forward": app_client.predict(f, 0, "linear", 0, api_name="/diffusion_forward"),
        "/stylegan_project": app_client.submit("stylegan-faces64", f, "w", 20,
                                               api_name="/stylegan_project").result()[1],
        "/pix2pix": app_client.predict(image=f, api_name="/pix2pix")[0],
        "/cyclegan": app_client.predict(image=f, api_name="/cyclegan")[0],
    }
    for endpoint, path in seen.items():
        image = Image.open(path).convert("L")
        small = np.asarray(image.resize(alpha.shape[::-1], Image.NEAREST)).astype(int)
        assert small[alpha == 0].mean() >= 245, endpoint
        assert small[alpha == 255].mean() <= 120, endpoint      # the drawing itself stays dark


@pytest.mark.parametrize("ink", [0, 255])
def test_a_drawing_on_a_transparent_sheet_survives_every_image_endpoint(app_client, tmp_path, ink):
    """A black or a white 7 on a transparent PNG (as drawing apps export them): every model sees the 7 (black
    on black or white on white came out blank in some tabs). The VAE's grey digits model sees white on black."""
    from gradio_client import handle_file

    im = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(im).line([(60, 40), (140, 40), (90, 170)], fill=(ink, ink, ink, 255), width=16)
    im.save(tmp_path / "seven.png")
    f = handle_file(str(tmp_path / "seven.png"))
    seen = {
        "/vae_reconstruct": app_client.predict("vae2d-digits", f, api_name="/vae_reconstruct")[0],
        "/diffusion_forward": app_client.predict(f, 0, "linear", 0, api_name="/diffusion_forward"),
        "/diffusion_sdedit": app_client.predict(f, 0, 0, "ddpm-digits", "none", 2.0, 20,
                                                api_name="/diffusion_sdedit")[0],
        "/stylegan_project": app_client.submit("stylegan-faces64", f, "w", 20, api_name="/stylegan_project").result()[1],
        "/pix2pix": app_client.predict(image=f, api_name="/pix2pix")[0],
        "/cyclegan": app_client.predict(image=f, api_name="/cyclegan")[0],
    }
    for endpoint, path in seen.items():
        grey = np.asarray(Image.open(path).convert("L")).astype(float)
        assert grey.std() > 40, (endpoint, grey.std())               # a blank sheet has none
    vae_input = np.asarray(Image.open(seen["/vae_reconstruct"]).convert("L")).astype(float)
    assert np.median(vae_input) < 40                                  # white ink on black, like its digits


def test_the_same_odd_files_look_the_same_through_every_image_endpoint(app_client, tmp_path):
    """RGBA, palette, grayscale, 16-bit, CMYK, EXIF-rotated, 1x1 and 10,000 px wide uploads: every image endpoint
    accepts each, and what each model sees has the same colours (small differences: sizes and crops)."""
    from gradio_client import handle_file

    from tests.test_translation_app import _odd_files

    for name, path in _odd_files(tmp_path).items():
        f = handle_file(str(path))
        seen = {
            "/diffusion_forward": app_client.predict(f, 0, "linear", 0, api_name="/diffusion_forward"),
            "/vae_reconstruct": app_client.predict("vae16-faces", f, api_name="/vae_reconstruct")[0],
            "/pix2pix": app_client.predict(image=f, api_name="/pix2pix")[0],
            "/cyclegan": app_client.predict(image=f, api_name="/cyclegan")[0],
        }
        means = {k: np.asarray(Image.open(v).convert("RGB")).reshape(-1, 3).mean(0) for k, v in seen.items()}
        reference = means["/pix2pix"]
        for endpoint, mean in means.items():
            assert np.abs(mean - reference).max() < 24, (name, endpoint, mean, reference)


def test_a_pickers_note_says_why_a_typed_name_is_not_a_checkpoint():
    """A note refreshed with queue=False shows no toast: a name that is not a checkpoint gets its reason in the note
    (the diffusion tab's note kept the last checkpoint's text); a fault still becomes one gr.Error line."""
    from core.diffusion.service import checkpoint_note
    from demos.common import note_or_reason

    assert note_or_reason(checkpoint_note)("nope").startswith("**nope**: unknown diffusion checkpoint 'nope'; available:")
    assert note_or_reason(checkpoint_note)("../x").startswith("**../x**: checkpoint name '../x' is not allowed")
    assert note_or_reason(checkpoint_note)("ddpm-digits") == checkpoint_note("ddpm-digits")

    def broken(name):
        raise RuntimeError("deep in a library")

    with pytest.raises(gr.Error, match="deep in a library"):
        note_or_reason(broken)("x")


def test_a_checkbox_group_takes_a_list_written_out_as_text():
    """A client's list as text: "a, b", "[a, b]" or "['a', 'b']" alike (a bracket was read as part of the first and
    last names: "'[gans/dcgan-digits' is not one of the choices"); an unknown one is still named."""
    import gradio as gr

    from demos.controls import CheckboxGroup

    with gr.Blocks():
        box = CheckboxGroup(choices=["gans/dcgan-digits", "vae/vae2d-digits"], value=["vae/vae2d-digits"],
                            label="checkpoints")
    for text in ("gans/dcgan-digits, vae/vae2d-digits", "[gans/dcgan-digits, vae/vae2d-digits]",
                 "['gans/dcgan-digits', \"vae/vae2d-digits\"]"):
        assert box.preprocess(text) == ["gans/dcgan-digits", "vae/vae2d-digits"], text
    with pytest.raises(gr.Error, match=r"'nope' is not one of the choices \(for example 'vae/vae2d-digits'\)"):
        box.preprocess("[gans/dcgan-digits, nope]")   # the example: the box's default, not its first choice
