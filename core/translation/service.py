"""Plain functions behind the pix2pix & CycleGAN tab and its endpoints (no gradio here; the tab is a view).

Every argument that can come from the API is validated with a clear ``ValueError`` / ``CheckpointError``.
Images of any size and mode go through ``core.data``'s one loader; the translation comes back at the input's
aspect ratio (at most ``MAX_ASPECT``), its long side clamped to [the model's working side, ``MAX_OUTPUT_SIDE``].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from core.engine import CheckpointError, check_seed, list_checkpoints, resolve_checkpoint

from .inference import translate_batch
from .model import Translator
from .official import OFFICIAL_FILES, is_official_folder, load_official_folder

METHOD = "translation"
DIRECTIONS = ("AtoB", "BtoA")
MAX_OUTPUT_SIDE = 1024
MAX_ASPECT = 4               # a longer side over a shorter one beyond this comes back at 4:1 (3000x20: 1024x7 was a line)
OFFICIAL_SIDE = 256          # the reference's test-time size (load_size = crop_size = 256)
INPUT_HINTS = {"labels": "a label map: each class painted in its colour (the palette under the canvas)",
               "edges": "an edge drawing: black lines on white",
               "photo": "a photo of domain A (B for B -> A)"}


@dataclass
class TranslatorBundle:
    """A loaded translator and what the tab shows about it."""

    translator: Translator
    name: str
    side: int                 # working resolution (square) the generator runs at
    official: bool = False

    @property
    def task(self) -> dict:
        return self.translator.task

    @property
    def directions(self) -> tuple[str, ...]:
        return DIRECTIONS if self.translator.G_BA is not None else ("AtoB",)

    def describe(self) -> str:
        t = self.task
        family = t.get("family") or ("CycleGAN" if self.translator.G_BA is not None else "pix2pix")
        origin = "an official reference file" if self.official else "trained by GenLab"
        text = (f"**{self.name}**: {family} ({self.translator.netG}, {origin}), {t.get('a', 'A')} -> {t.get('b', 'B')}"
                f"{' and back' if self.translator.G_BA is not None else ''}, at {self.side} px. "
                f"Input: {INPUT_HINTS.get(t.get('input', 'photo'), INPUT_HINTS['photo'])}.")
        return text + (f" {t['description']}" if t.get("description") else "")


def checkpoints() -> list[str]:
    """Names in ``checkpoints/translation/`` (GenLab checkpoints and folders with official ``.pth`` files)."""
    return list_checkpoints(METHOD)


def load_checkpoint(name: str, device="cpu") -> TranslatorBundle:
    """The translator in ``checkpoints/translation/<name>`` (safetensors, or official files with weights_only)."""
    from core.engine import load_pretrained

    path = resolve_checkpoint(METHOD, name)
    if (path / "config.json").is_file():
        translator = load_pretrained(Translator, path)
        side = _trained_side(path, translator)
        official = False
    elif is_official_folder(path):
        translator, side, official = load_official_folder(path), OFFICIAL_SIDE, True
    else:
        raise CheckpointError(f"{name!r} holds neither config.json nor {' / '.join(OFFICIAL_FILES)}")
    return TranslatorBundle(translator.to(device).eval(), name, side, official)


def _trained_side(path: Path, translator: Translator) -> int:
    import json

    try:
        side = int(json.loads((path / "train_config.json").read_text()).get("resolution") or 0)
    except (OSError, ValueError):
        side = 0
    return side or max(translator.multiple, 256)


def _check_direction(bundle: TranslatorBundle, direction) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    if direction not in bundle.directions:
        raise ValueError(f"{bundle.name} translates {bundle.task.get('a', 'A')} -> {bundle.task.get('b', 'B')} only "
                         "(one generator): choose direction AtoB")
    return direction


def _check_bool(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1) and not isinstance(value, float):
        return bool(value)
    raise ValueError(f"{name} must be true or false, got {value!r}")


def prepare_input(image, side: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """(3, side, side) in [0, 1] from any upload (transparent pixels on white; stretched to a square, as the reference
    loads its test images), and the (W, H) the results come back at: the upload's aspect ratio up to MAX_ASPECT."""
    from core.data import load_user_image, open_image
    from core.data.images import oriented_size

    if image is None:
        raise ValueError("give an image: draw one, upload one or pick an example")
    im = open_image(image)
    w, h = oriented_size(im)
    x = load_user_image(im, channels=3, size=side, background="white", fit="stretch")
    long_side = min(max(w, h, side), MAX_OUTPUT_SIDE)
    short_side = max(1, round(long_side / min(max(w, h) / min(w, h), MAX_ASPECT)))
    return x, ((long_side, short_side) if w >= h else (short_side, long_side))


def _resize(x: torch.Tensor, size: tuple[int, int]):
    """(3, H, W) in [0, 1] -> PIL image of ``size`` (W, H), bicubic."""
    from PIL import Image

    from core.data import to_pil

    image = to_pil(x)
    return image if image.size == size else image.resize(size, Image.Resampling.BICUBIC)


def translate(bundle: TranslatorBundle, image, direction: str = "AtoB", dropout_noise: bool = False, seed=0,
              native: bool = False) -> dict:
    """Translate one image; for a two-generator model also the cycle reconstruction and its L1 error.

    Args:
        image: anything ``core.data.load_user_image`` reads (path, bytes, PIL, numpy, Sketchpad dict).
        direction: "AtoB" or "BtoA" (two-generator models only).
        dropout_noise: run with dropout on (the reference's test-time default), seeded by ``seed``.
        native: the results at the model's resolution (the input exactly as the model saw it, a ``side`` x ``side``
            square; the output and cycle with the upload's aspect ratio, their longer side ``side``), for a view
            that enlarges them with crisp pixels; otherwise all three at the upload's size (bicubic).

    Returns:
        {"input": PIL (what the model saw), "output": PIL, "cycle": PIL or None,
         "cycle_l1": float in [0, 1] (mean |x - F(G(x))| at the working size) or None}.
    """
    direction = _check_direction(bundle, direction)
    dropout_noise = _check_bool(dropout_noise, "dropout_noise")
    generator = torch.Generator().manual_seed(check_seed(seed))
    x, size = prepare_input(image, bundle.side)
    seen = (bundle.side, bundle.side) if native else size
    if native:
        k = bundle.side / max(size)
        size = (max(1, round(size[0] * k)), max(1, round(size[1] * k)))
    y = translate_batch(bundle.translator, x[None], direction, dropout_noise, generator)[0].cpu()
    out = {"input": _resize(x, seen), "output": _resize(y, size), "cycle": None, "cycle_l1": None}
    if bundle.translator.G_BA is not None:
        back = "BtoA" if direction == "AtoB" else "AtoB"
        rec = translate_batch(bundle.translator, y[None], back, dropout_noise, generator)[0].cpu()
        out["cycle"], out["cycle_l1"] = _resize(rec, size), float((rec - x).abs().mean())
    return out


def example_inputs(bundle: TranslatorBundle, num: int = 6, direction: str = "AtoB") -> list:
    """Held-out inputs of the checkpoint's world task (PIL images), or [] for folder / official models."""
    from core.data import to_pil

    from .data import FaceDomains, FacePairs

    t = bundle.task
    if t.get("world") != "faces":
        return []
    if "attribute" in t:
        ds = FaceDomains(t["attribute"], t["value_a"], t["value_b"], "test", bundle.side)
    else:
        ds = FacePairs(t.get("input", "labels"), "test", bundle.side)
    batch = ds.get_batch(list(range(num)))
    key = "A" if direction == "AtoB" else "B"
    return [to_pil(img) for img in batch[key]]


def checkpoint_note(bundle: TranslatorBundle) -> str:
    """:meth:`TranslatorBundle.describe` and how good the translations are, in words; the figures in a toggle."""
    from core.engine.notes import percent, plain_note, read_metrics

    m = {} if bundle.official else read_metrics(resolve_checkpoint(METHOD, bundle.name))
    sentence, figures = bundle.describe(), []
    if "psnr_db" in m:
        sentence += (f" On {m.get('pairs', '?')} held-out pairs its output is {m['psnr_db']:.1f} dB PSNR from the true "
                     f"image (higher is closer).")
        figures += [f"PSNR: {m['psnr_db']:.1f} dB; SSIM: {m.get('ssim', float('nan')):.2f} (1 = the true image)",
                    f"mean |error| per pixel (L1, pixels in 0-1): {m.get('l1', float('nan')):.3f}"]
        if "shape_agreement_mean" in m:
            figures.append(f"the input's regions drawn where they belong: {percent(m['shape_agreement_mean'])} on "
                           f"average, {percent(m['shape_agreement_min'])} for the worst image")
    for direction in DIRECTIONS:
        d = m.get(direction)
        if not isinstance(d, dict):
            continue
        if direction == "AtoB" and "in_target_domain" in d:
            sentence += (f" {percent(d['in_target_domain'])} of its translations land in the target domain and keep "
                         f"{percent(d.get('content_kept_mean', 0))} of the rest of the image.")
        figures.append(f"{direction}: in the target domain {percent(d.get('in_target_domain', 0))}, other attributes "
                       f"kept {percent(d.get('content_kept_mean', 0))}, cycle error (L1) {d.get('cycle_l1', 0):.3f}, "
                       f"FID in classifier features {d.get('fid', float('nan')):.0f} (untranslated images: "
                       f"{d.get('fid_untranslated', float('nan')):.0f}; lower is closer)")
    return plain_note(sentence, figures, "measured figures (held-out images; the model card says how)")
