"""The bad-input corpus (tests/bad_inputs.py) against every endpoint of the running app.

Every image input converts each odd file or refuses it with one clear line; every numeric parameter of every
public endpoint refuses NaN, infinities, huge values, words and null with one clear line (sent as raw JSON, as
any HTTP client can); and the app keeps serving throughout.
"""

from __future__ import annotations

import json
import math

import httpx
import pytest
from gradio_client import handle_file

from tests.bad_inputs import (BAD_NUMBERS, MUST_REFUSE, REFUSAL, broken_files, clear_message, odd_files)

# endpoint -> its arguments for one image (defaults otherwise; the undocumented projection takes them in order)
IMAGE_ENDPOINTS = {
    # a faces model: the corpus's odd files are one colour each, and a digits model refuses a page with no digit
    # (tests/test_vae_app.py)
    "/vae_reconstruct": lambda f: ((), {"checkpoint": "vae16-faces", "image": f}),
    "/pix2pix": lambda f: ((), {"image": f}),
    "/cyclegan": lambda f: ((), {"image": f}),
    "/diffusion_forward": lambda f: ((), {"image": f}),
    "/diffusion_sdedit": lambda f: ((), {"image": f, "steps": 5}),
    "/stylegan_project": lambda f: (("stylegan-faces64", f, "w", 20), {}),
    "/text_to_image": lambda f: ((), {"init_image": f, "steps": 2}),
}


def _call(app_client, endpoint: str, *args, **kwargs):
    return app_client.submit(*args, api_name=endpoint, **kwargs).result(timeout=300)


def test_every_image_input_converts_odd_files_and_refuses_broken_ones(app_client, tmp_path):
    info = app_client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    takes_image = {name for name, ep in info.items()
                   if any("filepath" in p["python_type"]["type"] for p in ep["parameters"])}
    assert takes_image - {"/lora_train"} <= set(IMAGE_ENDPOINTS), "a new image endpoint: add it to the corpus test"
    odd, broken = odd_files(tmp_path / "odd", large=True), broken_files(tmp_path / "broken")
    for endpoint, arguments in IMAGE_ENDPOINTS.items():
        for name, path in odd.items():
            args, kwargs = arguments(handle_file(str(path)))
            assert _call(app_client, endpoint, *args, **kwargs), (endpoint, name)
        for name, path in broken.items():
            args, kwargs = arguments(handle_file(str(path)))
            with pytest.raises(Exception, match=REFUSAL) as caught:
                _call(app_client, endpoint, *args, **kwargs)
            assert clear_message(str(caught.value)), (endpoint, name, str(caught.value))
            assert name in str(caught.value) or name == "bomb.png", (endpoint, name)  # names the file, not a path
            assert "/tmp" not in str(caught.value)
    assert app_client.predict(api_name="/stylegan_generate")  # still serving


def test_lora_training_converts_odd_files_and_refuses_broken_ones(app_client, tmp_path):
    odd, broken = odd_files(tmp_path / "odd"), broken_files(tmp_path / "broken")
    for name, path in broken.items():
        with pytest.raises(Exception, match=REFUSAL) as caught:
            _call(app_client, "/lora_train", images=[handle_file(str(odd["rgba.png"])), handle_file(str(path))],
                  steps=1, use_example=False)
        assert clear_message(str(caught.value)), (name, str(caught.value))
    status, *_ = _call(app_client, "/lora_train", images=[handle_file(str(p)) for p in odd.values()], steps=1,
                       use_example=False)
    assert "1 step" in status or "step 1" in status, status


def _raw_call(base: str, endpoint: str, data: list) -> tuple[str, str]:
    """POST raw JSON (NaN and Infinity tokens included, as Python's json writes them) to ``/gradio_api/call``;
    return (last event, its data)."""
    name = endpoint.lstrip("/")
    body = json.dumps({"data": data})  # allow_nan: NaN / Infinity go out as bare tokens
    r = httpx.post(f"{base}/gradio_api/call/{name}", content=body, headers={"content-type": "application/json"},
                   timeout=60)
    r.raise_for_status()
    event, payload = "", ""
    with httpx.stream("GET", f"{base}/gradio_api/call/{name}/{r.json()['event_id']}", timeout=300) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                payload = line[5:].strip()
                if event in ("complete", "error"):
                    return event, payload
    return event, payload


def _uploaded(base: str, tmp_path) -> dict:
    """A small image uploaded to the app, as the FileData an image parameter takes."""
    from PIL import Image

    image = tmp_path / "small.png"
    Image.new("RGB", (32, 32), (120, 60, 200)).save(image)
    with open(image, "rb") as f:
        uploaded = httpx.post(f"{base}/gradio_api/upload", files={"files": f}).json()[0]
    return {"path": uploaded, "meta": {"_type": "gradio.FileData"}}


def _default(param: dict, file_data: dict):
    """The value sent for a parameter not under test: the uploaded image for an image, else its default."""
    kind = param["python_type"]["type"]
    return [file_data] if kind.startswith("list[filepath") else file_data if "filepath" in kind \
        else param.get("parameter_default")


def _each_parameter(app_url: str, app_client, tmp_path, picks):
    """(endpoint, parameter, send) for each parameter of each public endpoint whose type ``picks`` accepts;
    ``send(value)`` calls the endpoint with that parameter at ``value`` and the others at :func:`_default`, and returns
    (last event, its data)."""
    base = app_url.rstrip("/")
    file_data = _uploaded(base, tmp_path)
    info = app_client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for endpoint, ep in info.items():
        defaults = [_default(p, file_data) for p in ep["parameters"]]
        for i, p in enumerate(ep["parameters"]):
            if picks(p["python_type"]["type"]):
                yield endpoint, p, lambda value, e=endpoint, i=i, d=defaults: _raw_call(
                    base, e, d[:i] + [value] + d[i + 1:])


def test_every_numeric_parameter_refuses_bad_values_with_one_line(app_url, app_client, tmp_path):
    """NaN, inf, 1e30, "abc" and null are refused for every number of every public endpoint (training ones
    included: nothing starts); -1 is refused or, where it is in range, works."""
    checked, parameters = 0, set()
    for endpoint, p, send in _each_parameter(app_url, app_client, tmp_path, lambda kind: kind in ("float", "int")):
        parameters.add((endpoint, p["parameter_name"]))
        for value in BAD_NUMBERS:
            event, payload = send(value)
            where = (endpoint, p["parameter_name"], value, payload[:200])
            if event == "complete":
                assert not (isinstance(value, float) and math.isnan(value)) and value not in MUST_REFUSE, where
                assert not endpoint.startswith("/train_"), where  # a training must never start on -1
                continue
            assert event == "error", where
            message = json.loads(payload) if payload and payload != "null" else ""
            assert clear_message(str(message)), where
            checked += 1
    assert checked > 100
    from pathlib import Path

    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    endpoints = {e for e, _ in parameters}  # the README's figure is this test's
    assert (f"{len(parameters) * len(BAD_NUMBERS)} requests to the {len(parameters)} numeric parameters of "
            f"{len(endpoints)} endpoints") in readme
    assert app_client.predict(api_name="/vae_decode")  # still serving


def test_every_choice_parameter_refuses_an_unknown_choice_naming_it(app_url, app_client, tmp_path):
    """An unknown value for any fixed-choice parameter (a sampler, a direction, a LoRA method) of a public endpoint
    is refused in one line naming the parameter the client sent and the choices (Gradio's own said "Value: foo is
    not in the list of choices" and logged a traceback)."""
    checked = 0
    for endpoint, p, send in _each_parameter(app_url, app_client, tmp_path, lambda kind: kind.startswith("Literal[")):
        event, payload = send("no-such-choice")
        message = str(json.loads(payload)) if payload and payload != "null" else ""
        where = (endpoint, p["parameter_name"], message[:200])
        assert event == "error" and clear_message(message), where
        named = any(n in message for n in (p["parameter_name"], p["parameter_name"].replace("_", " "), p["label"]))
        assert named and "'no-such-choice'" in message, where   # a checkpoint picker's handler says "unknown"
        checked += 1
    assert checked >= 10
    assert app_client.predict(api_name="/vae_decode")  # still serving


def test_an_empty_checkpoint_names_the_installed_ones(app_url, app_client, tmp_path):
    """checkpoint="" (or null) on any endpoint: one line naming the checkpoints that are installed (the pix2pix tab said
    "none is installed" with seven there)."""
    checked = 0
    for endpoint, p, send in _each_parameter(app_url, app_client, tmp_path, lambda kind: True):
        if p["parameter_name"] != "checkpoint":
            continue
        for value in ("", None):
            event, payload = send(value)
            message = str(json.loads(payload)) if payload and payload != "null" else ""
            assert event == "error" and "choose a checkpoint: one of " in message, (endpoint, value, message[:200])
        checked += 1
    assert checked >= 8


def test_a_file_parameter_given_no_file_names_it_in_one_line(app_url, app_client, tmp_path):
    """An image or file parameter sent a bare string ("" or a server path, not gradio_client's handle_file), a number,
    or a file of the server as a file value: one line naming the parameter and how to send a file (Gradio's own check
    gave a pydantic dump, and read the server's file)."""
    checked = 0
    from pathlib import Path

    # a file of the server named as a file (not uploaded): Gradio 6.31 let the input read it (a public server's images)
    server_file = {"path": str(Path(__file__).resolve().parents[1] / "core" / "data" / "handwritten" / "digit_00.png"),
                   "meta": {"_type": "gradio.FileData"}}
    for endpoint, p, send in _each_parameter(app_url, app_client, tmp_path, lambda kind: "filepath" in kind):
        for value in ("", "/etc/passwd", 5):
            event, payload = send(value)
            message = str(json.loads(payload)) if payload and payload != "null" else ""
            where = (endpoint, p["parameter_name"], value, message[:300])
            assert event == "error" and clear_message(message) and "handle_file" in message, where
            assert p["parameter_name"] in message and "pydantic" not in message, where
        event, payload = send(server_file)
        assert event == "error" and "not uploaded" in payload, (endpoint, payload[:300])
        checked += 1
    assert checked >= 6
    assert app_client.predict(api_name="/vae_decode")  # still serving
