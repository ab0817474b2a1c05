"""Speed of the pix2pix & CycleGAN tab (issue 19 budgets), medians over repeated runs, as a markdown table.

    python benchmarks/bench_translation.py            # in-process + through the running app
    python benchmarks/bench_translation.py --no-app   # in-process only

Budgets (CPU, 2 cores): the bundled pix2pix, one image in-process <= 100 ms; an official-size resnet_9blocks
(ngf 64) at 256 px <= 1.5 s; an upload -> translation round trip through the running app (gradio_client call
of /pix2pix: upload, load, translate, PNG encode, download) <= 400 ms.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.common import median_ms, run_tab_benchmark, running_app  # noqa: E402


def in_process(rows: list) -> None:
    from core.translation.inference import translate_batch
    from core.translation.model import Translator
    from core.translation.service import checkpoints, load_checkpoint, translate

    for name in checkpoints():
        bundle = load_checkpoint(name)
        x = torch.rand(1, 3, bundle.side, bundle.side)
        budget = 100 if name.startswith("pix2pix") else None
        rows.append((f"{name}: one {bundle.side} px image (network)",
                     median_ms(lambda: translate_batch(bundle.translator, x), 50), budget))
    bundle = load_checkpoint("pix2pix-labels2face")
    image = torch.rand(3, 300, 200)
    rows.append(("pix2pix-labels2face: service.translate of a 200x300 upload (load, translate, resize back)",
                 median_ms(lambda: translate(bundle, image), 30), None))
    official = Translator("pix2pix", "resnet_9blocks", 3, 3, 64, "instance", False).eval()
    x = torch.rand(1, 3, 256, 256)
    rows.append(("official-size resnet_9blocks (ngf 64, instance norm) at 256 px",
                 median_ms(lambda: translate_batch(official, x), 10), 1500))


def through_app(rows: list) -> None:
    from gradio_client import handle_file

    from core.data import to_pil
    from core.translation.data import FacePairs

    with running_app() as client, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labels.png"
        to_pil(FacePairs("labels", "test", 64).get_batch([0])["A"][0]).save(path)
        rows.append(("app: upload -> translation (/pix2pix, pix2pix-labels2face)",
                     median_ms(lambda: client.predict(image=handle_file(str(path)), api_name="/pix2pix"), 20), 400))
        rows.append(("app: upload -> translation + cycle (/cyclegan, cyclegan-black2blonde-hair)",
                     median_ms(lambda: client.predict(image=handle_file(str(path)), api_name="/cyclegan"), 20), 400))


def main(argv=None) -> int:
    return run_tab_benchmark(__doc__.splitlines()[0], in_process, through_app, argv)


if __name__ == "__main__":
    sys.exit(main())
