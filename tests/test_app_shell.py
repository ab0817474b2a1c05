"""The app shell: lists its tabs, loads nothing at import or build time, queue configured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_building_the_app_loads_no_model_and_no_heavy_library():
    code = (
        "import sys, json, app\n"
        "demo = app.build_demo(device='cpu')\n"
        "print(json.dumps({'cached': len(demo.genlab_context.cache._items),"
        " 'heavy': [m for m in ('diffusers', 'transformers', 'peft') if m in sys.modules]}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"cached": 0, "heavy": []}


def test_app_lists_one_tab_per_method_and_about(app_client, app_url):
    import urllib.request

    config = json.loads(urllib.request.urlopen(app_url.rstrip("/") + "/config").read())
    from app import TABS, tab_modules

    top_level = set(TABS) | {"about"}  # tabs inside a tab have other ids
    labels = [c["props"].get("label") for c in config["components"]
              if c.get("type") == "tabitem" and c["props"].get("id") in top_level]
    assert labels == [m.TITLE for m in tab_modules()] + ["About"]
    # every tab opens with three "try this" steps for a first-time student (in a closed accordion)
    accordions = [c["props"] for c in config["components"] if c.get("type") == "accordion"
                  and str(c["props"].get("elem_id", "")).endswith("-try")]
    assert [a["elem_id"] for a in accordions] == [f"{name}-try" for name in TABS]
    for module in tab_modules():
        steps = [line for line in module.TRY.strip().splitlines() if line[:2] in ("1.", "2.", "3.")]
        assert len(steps) == 3, module.TITLE


def test_cli_help_lists_methods():
    done = subprocess.run([sys.executable, "-m", "core.train"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "vae" in done.stderr and "diffusion" in done.stderr
    done = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--no-train" in done.stdout and "--device" in done.stdout


def test_no_endpoint_has_unnamed_parameters(app_client):
    """Every endpoint a client can call names its parameters (``client.predict(seed=7, ...)`` works)."""
    import re

    api = app_client.view_api(return_format="dict", print_info=False)
    unnamed = {name: [p["parameter_name"] for p in info["parameters"]]
               for name, info in api["named_endpoints"].items()
               if any(re.fullmatch(r"param_\d+", str(p["parameter_name"])) for p in info["parameters"])}
    assert unnamed == {}
    # names with capitals (view_api() prints them in lower case): pix2pix's own, each named in the README
    cased = {p["parameter_name"] for info in api["named_endpoints"].values() for p in info["parameters"]
             if p["parameter_name"] != str(p["parameter_name"]).lower()}
    assert cased == {"netG", "lambda_L1"}


def test_undocumented_endpoints_name_their_parameters_too():
    """Endpoints kept off the API page (projection, grid, interpolation) still name their parameters."""
    import re

    from app import build_demo

    info = build_demo(device="cpu").get_api_info(all_endpoints=True)
    unnamed = {name: [p["parameter_name"] for p in ep["parameters"]] for name, ep in info["named_endpoints"].items()
               if any(re.fullmatch(r"param_\d+", str(p["parameter_name"])) for p in ep["parameters"])}
    assert "/stylegan_project" in info["named_endpoints"] and unnamed == {}
    # and their outputs: view_api() lists each by its label, value_<id> when it has none (a Markdown status line)
    unlabelled = {name: [r["label"] for r in ep["returns"] if str(r["label"]).startswith("value_")]
                  for name, ep in info["named_endpoints"].items()}
    assert {name: v for name, v in unlabelled.items() if v} == {}


def test_warm_up_loads_each_tab_default_models_into_the_shared_cache():
    """``python app.py`` loads the slow defaults in the background (text-to-image: 3 s) before the first click."""
    import torch

    from app import warm_up
    from core.engine import AppContext

    ctx = AppContext(device=torch.device("cpu"))
    warm_up(ctx)
    assert {("text2image", "t2i-minilm-shapes"), ("lora-base", "t2i-clip-shapes"), ("diffusion", "ddpm-digits"),
            ("translation", "pix2pix-labels2face"), ("translation", "cyclegan-black2blonde-hair")} <= {
        key[:2] for key in ctx.cache._items}  # (tab, name, the weights' fingerprint)


def test_table_columns_fit_their_longest_number_whole():
    """The Evaluate table's KID column holds a negative floor ("-0.0645", seven characters: at six it broke as
    "-0.064" over "5"); the other numeric columns keep six, the checkpoint column takes what is left."""
    from demos.evaluate import HEADERS, table_widths

    px = [float(w[:-1]) * 936 / 100 for w in table_widths()]
    chars = [(p - 18) / 8.5 for p in px]  # the table's 8.5 px monospace characters inside an 18 px padding
    assert abs(chars[HEADERS.index("KID x 100")] - 7) < 0.1 and abs(chars[HEADERS.index("FID")] - 6) < 0.1  # (%: 0.1)
    assert abs(sum(px) - 936) < 10 and px[1] > 140  # the whole table (each width rounded); names keep room
