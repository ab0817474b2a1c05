"""Plain functions behind the text-to-image tab and its ``/text_to_image`` endpoint (no gradio here).

Every argument an API call can send is validated with one clear ``ValueError``. Models are the pipeline folders
under ``checkpoints/text2image/`` (GenLab's, or a Stable Diffusion copy put there); a hub id ("owner/name") loads
only when the app runs online (``GENLAB_ONLINE=1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from core.engine import check_seed, checkpoint_root, resolve_checkpoint, trained_steps
from core.engine.hosting import online

from .pipeline import SAMPLER_CLASSES, HUB_ID

METHOD = "text2image"
SAMPLERS = tuple(SAMPLER_CLASSES)
MAX_STEPS = 200
MAX_IMAGES = 8
MAX_GUIDANCE = 20.0
MAX_PROMPT_CHARS = 20_000
DEFAULT_GUIDANCE = 4.0
DEFAULT_STRENGTH = 0.6  # image-to-image: how much of the schedule runs from the start image (0 < strength <= 1)
PIPELINE_GUIDANCE = 7.5  # diffusers' StableDiffusionPipeline default guidance_scale


def list_models() -> list[str]:
    """Pipeline folders under ``checkpoints/text2image/`` (those with ``model_index.json``), sorted."""
    root = checkpoint_root() / METHOD
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "model_index.json").is_file())


def load_model(name: str, device="cpu"):
    """The ``StableDiffusionPipeline`` of ``checkpoints/text2image/<name>``, or of a hub id when online.

    Raises:
        ValueError: an unknown name, a folder that is not a pipeline, a hub id while offline.
    """
    from .pipeline import load_pipeline

    if _hub_id(name):
        name = name.strip()
        if not online():
            raise ValueError(f"{name} looks like a hub id, but the app is offline: start it with --online (or GENLAB_ONLINE=1) to download "
                             f"it, or copy the pipeline folder to checkpoints/text2image/")
        return load_pipeline(name, device, allow_download=True)
    return load_pipeline(pipeline_folder(name), device)


def pipeline_folder(name: str) -> Path:
    """The folder ``checkpoints/text2image/<name>`` of a text-to-image pipeline (one with ``model_index.json``).

    Raises:
        ValueError: an empty or unknown name, or a folder that is not a pipeline (the text encoder's, the
            autoencoder's), naming the installed models; ``CheckpointError`` for a name that is not a plain name.
    """
    installed = ", ".join(list_models()) or "none"
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"choose a model; installed: {installed}")
    name = name.strip()
    folder = resolve_checkpoint(METHOD, name, must_exist=False)
    if not folder.is_dir():
        raise ValueError(f"unknown text-to-image model {name!r}; installed: {installed}")
    if not (folder / "model_index.json").is_file():
        raise ValueError(f"{name} is not a text-to-image pipeline (no model_index.json); installed: {installed}")
    return folder


def _int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or \
            not math.isfinite(float(value)) or not float(value).is_integer():
        raise ValueError(f"{name} {value!r} is not an integer in {low}..{high}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name} {int(value)} is outside {low}..{high}")
    return int(value)


def _prompt(value, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {type(value).__name__}")
    if len(value) > MAX_PROMPT_CHARS:
        raise ValueError(f"{name} has {len(value):,} characters; at most {MAX_PROMPT_CHARS:,} (the encoder reads only "
                         "its first few dozen tokens anyway)")
    return value.replace("\x00", " ")


@dataclass
class Request:
    prompt: str
    negative_prompt: str
    steps: int
    guidance: float
    seed: int
    sampler: str
    num_images: int
    init_image: object = None   # image-to-image: the start image (a path, bytes, array or PIL image), or None
    strength: float = 1.0


def _real(value, name: str, low: float, high: float, low_open: bool = False) -> float:
    """A finite number in low..high (``low_open``: above ``low``); ValueError naming ``name`` otherwise."""
    span = f"{low:g}..{high:g}" + (f" (above {low:g})" if low_open else "")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not math.isfinite(float(value)):
        raise ValueError(f"{name} {value!r} is not a number in {span}")
    if not (low < float(value) if low_open else low <= float(value)) or float(value) > high:
        raise ValueError(f"{name} {value!r} is outside {span}")
    return float(value)


def check_request(prompt, negative_prompt="", steps=25, guidance=DEFAULT_GUIDANCE, seed=0, sampler="ddim",
                  num_images=1, init_image=None, strength=DEFAULT_STRENGTH) -> Request:
    """Validate an API call's values (see ``/text_to_image``); raises ``ValueError`` naming the bad one. With an
    ``init_image`` the run is image-to-image, ``strength`` in (0, 1] (None: the default; the image itself is read by the
    sampler)."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid samplers: {', '.join(SAMPLERS)}")
    return Request(_prompt(prompt, "prompt"), _prompt(negative_prompt, "negative prompt"),
                   _int(steps, "steps", 1, MAX_STEPS), _real(guidance, "guidance", 0.0, MAX_GUIDANCE),
                   check_seed(seed), sampler, _int(num_images, "number of images", 1, MAX_IMAGES),
                   None if init_image is None or isinstance(init_image, str) and not init_image.strip() else init_image,
                   _real(DEFAULT_STRENGTH if strength is None else strength, "strength", 0.0, 1.0, low_open=True))


def readable_tokens(tokenizer, ids, length: int) -> list[str]:
    """The first ``length`` tokens as words: "red</w>" -> "red", "##xa" -> "xa", start/end marks kept short."""
    out = []
    for token in tokenizer.convert_ids_to_tokens([int(i) for i in ids[:length]]):
        token = token.replace("</w>", "").replace("##", "")
        out.append({"<|startoftext|>": "<start>", "<|endoftext|>": "<end>", "[CLS]": "<start>",
                    "[SEP]": "<end>"}.get(token, token))
    return out


@dataclass
class Result:
    images: torch.Tensor                  # (N, 3, H, W) in [0, 1]
    tokens: list[str]                     # the prompt's tokens (start and end included)
    truncated: int                        # prompt tokens cut off at the encoder's limit
    attention: torch.Tensor | None        # (steps, L, h, w) image 0's cross-attention, tokens only
    info: dict = field(default_factory=dict)


def generate_stream(pipe, request: Request, preview_every: int = 5, record_attention: bool = True) -> Iterator[dict]:
    """Yield {"index", "num_steps", "preview" (N, 3, H, W) in [0, 1]} during sampling, then {"result": Result}.

    The first preview comes after the first step; then every ``preview_every`` steps (decoding costs time). The seed
    drives a CPU generator, so a seed gives the same image on any device. With ``request.init_image`` the image
    (any size or mode, through ``core.data.load_user_image``: centre-cropped to the model's square) is encoded and
    the last ``img2img_steps`` of the schedule run from it (image-to-image, as ``StableDiffusionImg2ImgPipeline``);
    ValueError: an image that cannot be read.
    """
    from core.data import load_user_image

    from .sampling import decode, denoise, encode, image_side
    from .text_encoders import encode_prompts

    r = request
    device = pipe.unet.device
    start = None if r.init_image is None else load_user_image(r.init_image, 3, image_side(pipe), fit="crop")
    cond = encode_prompts(pipe.tokenizer, pipe.text_encoder, [r.prompt] * r.num_images, device)
    neg = encode_prompts(pipe.tokenizer, pipe.text_encoder, [r.negative_prompt] * r.num_images, device)
    generator = torch.Generator().manual_seed(r.seed)
    init_latents = None if start is None else encode(pipe, start[None], generator).repeat(r.num_images, 1, 1, 1)
    maps, last = [], None
    for step in denoise(pipe, cond.embeds.to(pipe.unet.dtype), neg.embeds.to(pipe.unet.dtype), r.steps, r.guidance,
                        r.sampler, generator, record_attention, init_latents, r.strength):
        last = step
        if step.attention is not None:
            maps.append(step.attention[0, :cond.lengths[0]])             # (L_kept, h, w) of image 0
        if step.index == 0 or (step.index + 1) % max(1, preview_every) == 0 and step.index + 1 < step.num_steps:
            yield {"index": step.index, "num_steps": step.num_steps, "preview": decode(pipe, step.x0_latents).cpu()}
    images = decode(pipe, last.prev).cpu()
    info = {"token_ids": cond.input_ids[0, :cond.lengths[0]].tolist(), "embeds_shape": tuple(cond.embeds.shape),
            "latent_shape": tuple(last.prev.shape), "elapsed": last.elapsed, "negative_truncated": neg.truncated[0],
            "num_steps": last.num_steps,
            "max_length": int(pipe.tokenizer.model_max_length)}
    yield {"result": Result(images, readable_tokens(pipe.tokenizer, cond.input_ids[0], cond.lengths[0]),
                            cond.truncated[0], torch.stack(maps) if maps else None, info)}


def generate(pipe, request: Request, record_attention: bool = False) -> Result:
    """Run :func:`generate_stream` to the end (no previews decoded but the first)."""
    for frame in generate_stream(pipe, request, preview_every=10**9, record_attention=record_attention):
        if "result" in frame:
            return frame["result"]
    raise RuntimeError("sampling yielded no result")


# ---------------------------------------------------------------- X/Y grid
XY_MODES = ("guidance x steps", "seed x prompt", "model x prompt")
MAX_CELLS = 36


def _values(text, kind, name: str) -> list:
    items = [v.strip() for v in (text.split(";") if kind is str else text.replace(";", ",").split(","))
             if v.strip()] if isinstance(text, str) else list(text or [])
    if not items:
        raise ValueError(f"give at least one {name} value")
    try:
        return [kind(v) for v in items]
    except ValueError:
        raise ValueError(f"{name} values {text!r} must be {kind.__name__}s separated by "
                         f"{'semicolons' if kind is str else 'commas'}") from None


def xy_grid(load, mode: str, x_values, y_values, prompt: str, model: str, seed=0, steps=25, guidance=4.0,
            sampler="ddim", negative_prompt: str = "") -> tuple[list[list[torch.Tensor]], list[str], list[str], str]:
    """Images for every (y, x) pair, with the row and column labels and a line saying what every cell shares.

    Args:
        load: name -> pipeline (the app's cached loader).
        mode: "guidance x steps" (x: guidance values, y: step counts), "seed x prompt" (x: seeds, y: prompts separated
            by ";"), "model x prompt" (x: model names separated by ";", y: prompts separated by ";"; each model at the
            guidance its card was measured with, :func:`card_guidance`, and ``guidance`` unused).
    Raises:
        ValueError: an unknown mode, bad values, more than ``MAX_CELLS`` cells.
    """
    if mode not in XY_MODES:
        raise ValueError(f"unknown grid {mode!r}; valid: {', '.join(XY_MODES)}")
    kinds = {"guidance x steps": (float, int), "seed x prompt": (int, str), "model x prompt": (str, str)}[mode]
    xs = _values(x_values, kinds[0], mode.split(" x ")[0])
    ys = _values(y_values, kinds[1], mode.split(" x ")[1])
    if len(xs) * len(ys) > MAX_CELLS:
        raise ValueError(f"{len(ys)} x {len(xs)} = {len(xs) * len(ys)} images; at most {MAX_CELLS}")
    own_w = {x: card_guidance(x) for x in xs} if mode == "model x prompt" else {}
    rows, cut = [], {}  # cut: prompt -> the most tokens a cell's encoder cut off it
    for y in ys:
        row = []
        for x in xs:
            kw = dict(prompt=prompt, negative_prompt=negative_prompt, steps=steps, guidance=guidance, seed=seed,
                      sampler=sampler, num_images=1)
            name = model
            if mode == "guidance x steps":
                kw.update(guidance=x, steps=y)
            elif mode == "seed x prompt":
                kw.update(seed=x, prompt=y)
            else:
                name, kw["prompt"], kw["guidance"] = x, y, own_w[x]
            result = generate(load(name), check_request(**kw))
            row.append(result.images[0])
            if result.truncated:
                cut[kw["prompt"]] = max(cut.get(kw["prompt"], 0), result.truncated)
        rows.append(row)
    prefix = {"guidance x steps": ("w = ", "steps "), "seed x prompt": ("seed ", ""), "model x prompt": ("", "")}[mode]
    if mode == "guidance x steps":
        shared = f"{model}, {sampler}, seed {seed}"
    elif mode == "seed x prompt":
        shared = f"{model}, {steps} {sampler} steps, w = {float(guidance):g}"
    else:
        shared = ("each model at its card's guidance (" + ", ".join(f"{x}: w = {w:g}" for x, w in own_w.items())
                  + f"), {steps} {sampler} steps, seed {seed}")
    for text, n in cut.items():  # (the Generate tab's status says it too)
        shared += f"; **the prompt {text[:40] + '…' if len(text) > 40 else text!r} was truncated**: {n} token(s) " \
                  "beyond the encoder's limit were ignored"
    return rows, [f"{prefix[1]}{y}" for y in ys], [f"{prefix[0]}{x:g}" if isinstance(x, float) else f"{prefix[0]}{x}"
                                                    for x in xs], shared


def _origin(start: str, name: str) -> str:
    """The model a UNet started from, by name; "its earlier version" when a model was retrained from its own UNet."""
    return "its earlier version" if start == name else start


def _hub_id(name) -> bool:
    """Whether ``name`` reads as a hub id ("owner/name"), for a model not found on disk."""
    return isinstance(name, str) and bool(HUB_ID.match(name.strip())) and ".." not in name


def card_guidance(name: str) -> float:
    """The guidance w a model's card was measured with (its config's ``sample_guidance``): the tab's slider takes it
    when the model is picked. A pipeline without GenLab's config (a Stable Diffusion folder or hub id) gets 7.5,
    diffusers' default for Stable Diffusion.

    Raises:
        ValueError: as :func:`pipeline_folder`, for a name that is not an installed model.
    """
    import json

    if _hub_id(name):
        return PIPELINE_GUIDANCE
    folder = pipeline_folder(name)
    try:
        w = float(json.loads((folder / "train_config.json").read_text())["sample_guidance"])
    except (OSError, ValueError, KeyError, TypeError):
        return PIPELINE_GUIDANCE
    return min(max(w, 0.0), MAX_GUIDANCE) if math.isfinite(w) else DEFAULT_GUIDANCE


def checkpoint_note(name: str) -> str:
    """A bundled text-to-image model in one plain sentence (text encoder, what it gets right and wrong), the prompt
    faithfulness figures in a toggle; a folder without GenLab's metrics (a Stable Diffusion) gets the sentence only."""
    import json

    from core.engine.notes import percent, plain_note, read_metrics

    if _hub_id(name):  # nothing on disk
        return f"**{name}**: a Stable Diffusion pipeline from the Hugging Face hub, " + (
            "downloaded on first use." if online() else "which this app, running offline, cannot download: start "
            "it with --online, or copy the pipeline folder into checkpoints/text2image/.")
    folder = pipeline_folder(name)
    try:
        meta = json.loads((folder / "genlab_text2image.json").read_text())
        config = json.loads((folder / "train_config.json").read_text())
    except (OSError, ValueError):
        return f"**{name}**: a diffusers pipeline folder (no GenLab card: nothing measured here)."
    m = read_metrics(folder)
    encoder = {"clip": "GenLab's small CLIP text encoder", "minilm": "the frozen MiniLM sentence encoder"}.get(
        meta.get("text_encoder"), f"the {meta.get('text_encoder', '?')} text encoder")
    start = config.get("init_unet") or ""
    again = Path(start).name == name   # retrained from its own UNet: the steps before are not in this config
    sentence = (f"**{name}**: latent diffusion with {encoder}, trained {trained_steps(folder, int(config.get('steps', 0)))} "
                f"{'more ' if again else ''}steps on the `{meta.get('dataset', '?')}` world's captions"
                + (f" from the UNet of {_origin(Path(start).name, name)}" if start else "")
                + (" (its card tells the whole lineage)." if again else "."))
    single = one_object_rates(m)
    if single:
        good = [k for k, v in single.items() if v >= 0.8]
        bad = [k for k, v in single.items() if v < 0.8]   # every attribute is named
        sentence += (" On one-object prompts it gets " + _listing([f"the {k} right {percent(single[k])}" for k in good])
                     + (" of the time" if good else "") + ("; " if good and bad else "")
                     + _listing([f"the {k} only {percent(single[k])}" for k in bad]) + ".")
    sentence += (f" Its card's setting: {int(config.get('sample_steps', 25))} DDIM steps, guidance w = "
                 f"{float(config.get('sample_guidance', DEFAULT_GUIDANCE)):g} (the guidance slider is set to it).")
    def both(prefix: str, k: str) -> str:   # "all prompts / one-object prompts" of a reading of the real images
        return percent(m.get(f"{prefix}/{k}", 0)) + (f" / {percent(m[f'{prefix}_single/{k}'])}"
                                                     if f"{prefix}_single/{k}" in m else "")

    figures = [f"{k}: {percent(m[f'faithfulness/{k}'])} of all prompts, {percent(m[f'faithfulness_single/{k}'])} of "
               f"one-object prompts (reading real images the same way: {both('measure_ceiling', k)}"
               + (f"; after the autoencoder's round trip: {both('autoencoder_ceiling', k)}"
                  if f"autoencoder_ceiling/{k}" in m else "") + ")"
               for k in ("shape", "colour", "count", "size") if f"faithfulness/{k}" in m]
    if "one_object/shape" in m:
        figures.append(f"{m['one_object_prompts']} more one-object prompts: " + ", ".join(
            f"{k} {percent(m[f'one_object/{k}'])} (real images {percent(m[f'one_object_ceiling/{k}'])})"
            for k in ("shape", "colour", "count", "size")))
    if "faithfulness/relation" in m:
        figures.append(f"relation (left of, above...): {percent(m['faithfulness/relation'])}")
    if "holdout_pairs_correct" in m:
        figures.append(f"colour-shape pairs never seen in training, drawn right: {percent(m['holdout_pairs_correct'])}"
                       f" (seen pairs: {percent(m.get('seen_pairs_correct', 0))})")
    if "clip_score" in m:
        figures.append(f"CLIP score with GenLab's CLIP (100 x cosine; higher matches the prompt better): "
                       f"{m['clip_score']:.1f}")
    return plain_note(sentence, figures, f"prompt faithfulness ({m.get('eval_prompts', '?')} held-out captions, "
                                         "read by the shapes classifier and colour masks)")


def one_object_rates(metrics: dict) -> dict:
    """{attribute: rate} on one-object prompts: the larger one-object set when measured, else the one-object
    prompts among the held-out captions; "exact" left out."""
    prefix = "one_object/" if "one_object/shape" in metrics else "faithfulness_single/"
    return {k[len(prefix):]: v for k, v in metrics.items() if k.startswith(prefix) and k != prefix + "exact"}


def _listing(items: list[str]) -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + (items[-1] if items else "")
