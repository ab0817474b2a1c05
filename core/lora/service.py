"""Plain functions behind the LoRA tab and its ``/lora_train`` and ``/lora_generate`` endpoints (no gradio here).

Adapters live in folders: ``checkpoints/lora/<name>/`` (the shared list, bundled examples) or a visitor's own
session folder (nobody else sees it unless it is saved to the shared list on purpose). A folder holds diffusers'
files (``pytorch_lora_weights.safetensors`` for LoRA, ``learned_embeds.safetensors`` for textual inversion, which
``pipe.load_lora_weights`` / ``pipe.load_textual_inversion`` read), ``adapter.json`` (base model, trigger, method,
settings, training time, loss), ``instances.png`` and ``instances/`` (the images it learnt from) and
``train_state.pt`` (AdamW's state, the batch generator and the losses: what *Train more* goes on from).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import tempfile
import threading
import weakref
from pathlib import Path

import torch

from core.engine import checkpoint_root, check_seed

from .train import METHODS, PersonalizeConfig

METHOD = "lora"
MIN_IMAGES, MAX_IMAGES = 3, 20
TRIGGER = re.compile(r"^[a-z][a-z0-9]{1,15}$")
MAX_STEPS = 2000
LORA_FILE, TI_FILE, META_FILE = "pytorch_lora_weights.safetensors", "learned_embeds.safetensors", "adapter.json"
TRAIN_STATE = "train_state.pt"  # AdamW's moments, the batch generator and the losses: what "Train more" resumes
INSTANCES = "instances"  # the taught images, one file each (the tab's uploads are temporary files)
_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # pipeline -> its lock, gone with it
_TRAIN_LOCK = threading.Lock()


def pipe_lock(pipe) -> threading.Lock:
    """One lock per loaded pipeline: adapters are switched on the shared pipeline, one generation at a time."""
    return _LOCKS.setdefault(pipe, threading.Lock())


SESSION_MAX_AGE_S = 24 * 3600  # a visitor's adapters untouched this long are deleted (a closed tab's, say)


def session_root(session: str) -> Path:
    """A visitor's own adapter folder (under the system's temporary folder)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", session or ""):
        session = "api"
    return Path(tempfile.gettempdir()) / "genlab-lora" / session


def sweep_sessions() -> None:
    """Delete the visitors' own adapters left untouched for ``SESSION_MAX_AGE_S`` (a browser that did not come
    back); a visitor's folder is touched at each use."""
    from core.engine.hosting import sweep

    sweep(session_root("api").parent, SESSION_MAX_AGE_S)


def shared_root() -> Path:
    return checkpoint_root() / METHOD


def list_adapters(session: str = "") -> list[str]:
    """Adapter names this visitor can use: their own first, then the shared ones."""
    names = []
    if session and session_root(session).is_dir():
        os.utime(session_root(session))  # in use: not swept (sweep_sessions)
    for root in ((session_root(session),) if session else ()) + (shared_root(),):
        if root.is_dir():
            names += sorted(p.name for p in root.iterdir() if (p / META_FILE).is_file() and p.name not in names)
    return names


def adapter_folder(name: str, session: str = "") -> Path:
    """The folder of adapter ``name`` (the visitor's own wins over a shared one); ``ValueError`` if unknown."""
    from core.engine.checkpoint import check_name

    check_name(name, "adapter name")
    for root in ((session_root(session),) if session else ()) + (shared_root(),):
        if (root / name / META_FILE).is_file():
            return root / name
    raise ValueError(f"unknown adapter {name!r}; available: {', '.join(list_adapters(session)) or 'none yet: train one'}")


def is_own(folder: Path, session: str) -> bool:
    """Whether the adapter in ``folder`` (from :func:`adapter_folder`) is one of the visitor's own, not a shared one."""
    return session_root(session) in folder.parents


def _short(value, limit: int = 40) -> str:
    """``repr`` of a user's value, cut at ``limit`` characters (a 10,000-character word is not echoed whole)."""
    text = str(value)
    return repr(text[:limit]) + ("…" if len(text) > limit else "")


def weights_file(folder: Path, method: str) -> Path:
    """The diffusers file of adapter ``folder``: ``pytorch_lora_weights.safetensors`` (LoRA) or
    ``learned_embeds.safetensors`` (textual inversion)."""
    return folder / (LORA_FILE if method == "lora" else TI_FILE)


def read_meta(folder: Path) -> dict:
    try:
        return json.loads((folder / META_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{folder.name}: adapter.json is unreadable ({exc})") from exc


# ---------------------------------------------------------------- validation
def check_settings(trigger, class_word="circle", method="lora", rank=4, steps=200, lr=None, seed=0,
                   prior_preservation=False, base_vocab=None, train_text_encoder=False,
                   alpha=None) -> tuple[PersonalizeConfig, list[str]]:
    """A :class:`PersonalizeConfig` from API values, and warnings (e.g. a trigger that is a common word)."""
    from core.text2image.service import _int

    if not isinstance(trigger, str) or not trigger.strip():
        raise ValueError("give a trigger word: a rare made-up word such as 'sks' (letters and digits, 2-16 long)")
    trigger = trigger.strip().lower()
    if not TRIGGER.match(trigger):
        raise ValueError(f"trigger {_short(trigger)} must be one word of 2-16 letters or digits, starting with "
                         "a letter")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    if not isinstance(class_word, str) or not class_word.strip():
        raise ValueError("give a class word: what the images show, one plain word (e.g. circle, shape, face)")
    if not re.fullmatch(r"[a-z]{2,20}", class_word.strip().lower()):
        raise ValueError(f"class word {_short(class_word)} must be one plain word (e.g. circle, shape, face)")
    warnings = []
    if base_vocab is not None and f"{trigger}</w>" in base_vocab:
        warnings.append(f"'{trigger}' is a word the base model already knows: its meaning will change for every "
                        "prompt that uses it; a rare word such as 'sks' keeps the rest intact")
    if train_text_encoder not in (True, False):
        raise ValueError(f"train_text_encoder must be true or false, got {train_text_encoder!r}")
    if train_text_encoder and method != "lora":
        raise ValueError("a text-encoder LoRA goes with the lora method (textual inversion trains one embedding)")
    if prior_preservation not in (True, False):
        raise ValueError(f"prior_preservation must be true or false, got {prior_preservation!r}")
    if prior_preservation and method != "lora":  # its class images' loss reaches no learned weight
        raise ValueError("prior preservation goes with the lora method: textual inversion changes no weight of the "
                         "model, so the class word keeps its meaning without it")
    if trigger == class_word.strip().lower():
        raise ValueError(f"the trigger word and the class word are both '{trigger}': the trigger names the new "
                         "concept, the class word says what it is (e.g. 'sks' and 'circle')")
    lr = (1e-3 if method == "lora" else 5e-3) if lr is None else lr
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < float(lr) <= 0.1:
        raise ValueError(f"learning rate {lr!r} is outside (0, 0.1]")
    rank = _int(rank, "rank", 1, 64)
    alpha = rank if alpha is None else alpha     # LoRA's update is scaled by alpha / rank (Hu et al. 2022)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < float(alpha) <= 256:
        raise ValueError(f"LoRA alpha {alpha!r} is outside (0, 256]")
    return PersonalizeConfig(trigger=trigger, class_word=class_word.strip().lower(), method=method,
                             rank=rank, alpha=float(alpha), lr=float(lr),
                             steps=_int(steps, "steps", 1, MAX_STEPS), seed=check_seed(seed),
                             prior_preservation=bool(prior_preservation),
                             train_text_encoder=bool(train_text_encoder)), warnings


def load_images(files, size: int) -> torch.Tensor:
    """3-20 uploads through the project's one image loader -> (N, 3, size, size) in [0, 1]."""
    from core.data import load_user_image

    files = [f for f in (files or []) if f is not None]
    if len(files) < MIN_IMAGES:
        raise ValueError(f"give {MIN_IMAGES}-{MAX_IMAGES} images of the concept; got {len(files)}")
    if len(files) > MAX_IMAGES:
        raise ValueError(f"{len(files)} images: at most {MAX_IMAGES} (a few good ones teach a concept best)")
    out = []
    for i, f in enumerate(files):
        try:
            src = f if isinstance(f, (str, Path, bytes)) else getattr(f, "path", getattr(f, "name", f))
            out.append(load_user_image(src, channels=3, size=size, background="white"))
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"image {i + 1}: {exc}") from exc
    return torch.stack(out)


EXAMPLE_CONCEPT = ("circle", "purple")   # a colour-shape pair held out of the bundled text-to-image training


def example_concept(num: int = 6, seed: int = 0) -> torch.Tensor:
    """The built-in example concept: purple circles, one per image, as the shapes world draws them, (num, 3, 64, 64).

    The bundled text-to-image models never saw a purple circle (``holdout`` in their config): the base model does
    not know the concept, yet every colour and shape of it lies inside its autoencoder's range, so an adapter can
    draw it. (The first example, white shapes, could not be: the autoencoder returns white as pale yellow.)
    """
    from core.data.worlds.shapes import COLOUR_NAMES, SHAPES, Shapes

    shape, colour = SHAPES.index(EXAMPLE_CONCEPT[0]), COLOUR_NAMES.index(EXAMPLE_CONCEPT[1])
    world, picked, start = Shapes("test", seed=seed + 17), [], 0
    while len(picked) < num:
        batch = world.get_batch(list(range(start, start + 2000)))
        one = batch["objects"][:, :, 3].sum(1) == 1
        hit = one & (batch["objects"][:, 0, 0] == shape) & (batch["objects"][:, 0, 1] == colour)
        picked += [batch["image"][i] for i in torch.nonzero(hit).flatten().tolist()]
        start += 2000
    return torch.stack(picked[:num])


def train_adapter(pipe, base: str, images: torch.Tensor, config: PersonalizeConfig, folder: Path,
                  cancel=lambda: False, resume=None):
    """Train (one training at a time on this server), then save to ``folder``; yields :func:`personalize`'s events
    and finally {"saved": folder}. ``resume`` (:func:`core.lora.train_more.read_resume`): continue that adapter
    ``config.steps`` more steps. Raises ``ValueError`` when another training is running."""
    from .train import personalize

    if not _TRAIN_LOCK.acquire(blocking=False):
        raise ValueError("another personalization is training on this server; try again when it has finished")
    try:
        result = None
        for event in personalize(pipe, images, config, cancel, resume):
            if "result" in event:
                result = event["result"]
            else:
                yield event
        if result is None or result.steps == (resume.step if resume else 0):
            raise ValueError("cancelled before the first step: nothing was saved")
        yield {"saved": save_adapter(folder, result, config, base, images), "result": result}
    finally:
        _TRAIN_LOCK.release()


# ---------------------------------------------------------------- saving and loading
def save_adapter(folder: Path, result, config: PersonalizeConfig, base: str, images: torch.Tensor) -> Path:
    """Write the diffusers file, ``adapter.json`` and ``instances.png`` (through a temporary folder + rename)."""
    from safetensors.torch import save_file

    from core.data import make_grid, to_pil
    from core.diffusion.lib import diffusers_class
    from core.engine.checkpoint import atomic_folder

    with atomic_folder(folder) as tmp:
        if result.method == "lora":
            diffusers_class("StableDiffusionPipeline").save_lora_weights(
                tmp, unet_lora_layers=result.state, text_encoder_lora_layers=result.text_encoder_state)
        else:
            save_file({k: v.contiguous() for k, v in result.state.items()}, str(tmp / TI_FILE))
        meta = {"method": result.method, "base": base, "trigger": config.trigger, "token": config.token,
                "class_word": config.class_word, "prompt": config.prompt(), "rank": config.rank, "alpha": config.alpha,
                "lr": config.lr, "steps": result.steps, "seconds": round(result.seconds, 1),
                "prior_preservation": config.prior_preservation, "seed": config.seed, "images": len(images),
                "train_text_encoder": bool(result.text_encoder_state), "torch_threads": torch.get_num_threads(),
                "loss_first_last": [result.losses[0], result.losses[-1]] if result.losses else []}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        torch.save({"optimizer": result.optimizer_state, "generator": result.generator_state,
                    "losses": [float(v) for v in result.losses]}, tmp / TRAIN_STATE)
        to_pil(make_grid(images, nrow=min(len(images), 6))).save(tmp / "instances.png")
        (tmp / INSTANCES).mkdir()  # each image, so `python -m core.lora --out <folder> --reevaluate` can measure it
        for i, image in enumerate(images):
            to_pil(image).save(tmp / INSTANCES / f"{i:02d}.png")
    return folder


def delete_adapter(name: str, session: str) -> None:
    """Delete one of the visitor's own adapters (shared ones are not deleted from the app)."""
    folder = adapter_folder(name, session)
    if not is_own(folder, session):
        raise ValueError(f"{name} is on the shared list and stays: the app deletes only your own adapters (a shared "
                         "one is removed by whoever runs the server, from checkpoints/lora/)")
    shutil.rmtree(folder)


def share_adapter(name: str, session: str) -> str:
    """Copy one of the visitor's adapters to the shared list (``checkpoints/lora/``)."""
    folder = adapter_folder(name, session)
    target = shared_root() / name
    if folder == target:  # (a shared adapter picked: "already has an adapter named" read as a clash of names)
        raise ValueError(f"{name} is on the shared list already")
    if target.exists():
        raise ValueError(f"the shared list already has an adapter named {name!r}: rename yours (train it again under "
                         "another trigger) to share it")
    shutil.copytree(folder, target)
    return name


@torch.no_grad()
def _trigger_pattern(meta: dict) -> str:
    return rf"{re.escape(meta['token'])}|\b{re.escape(meta['trigger'])}\b"


def base_prompt(prompt: str, metas: list[dict]) -> str:
    """The prompt the base image is drawn from: each textual-inversion adapter's word ("sks" or "<sks>") read as its
    class word (a word new to the base model), a LoRA's trigger left as written (``metas``: adapter.json contents)."""
    for m in metas:
        if m["method"] == "textual_inversion":
            prompt = re.sub(_trigger_pattern(m), m["class_word"], prompt, flags=re.IGNORECASE)
    return prompt


def generate_pair(pipe, base: str, adapters: list[tuple[Path, float]], prompt: str, seed, steps=25, guidance=4.0,
                  fuse: bool = False):
    """(base image, personalised image), each (3, H, W) in [0, 1], same prompt, seed and sampler.

    ``adapters``: [(folder, weight)]: one, or several combined with their weights (``set_adapters``). A LoRA weight
    scales its update (0 gives the base image exactly); textual-inversion tokens only exist in the second image.
    ``fuse``: merge the LoRA update into the UNet's (and a text-encoder LoRA's) weights for the personalised image,
    W' = W + w (alpha / r) B A
    (diffusers' ``fuse_lora``), and take it out again afterwards (``unfuse_lora``): the same image up to float
    rounding, with no extra matrix products per layer. The base weights are restored bit for bit (unfusing
    subtracts the update again, which leaves float rounding behind on a server that fuses many times).
    """
    from core.text2image.service import check_request, generate

    from .loading import apply_adapter

    request = check_request(prompt, "", steps, guidance, seed, "ddim", 1)
    with pipe_lock(pipe):
        metas = [apply_adapter(pipe, folder, base) for folder, _ in adapters]
        personal, plain = request.prompt, base_prompt(request.prompt, metas)
        for m in metas:  # the trigger ("sks", "SKS" or "<sks>") is the adapter's token
            if m["method"] == "textual_inversion":
                personal = re.sub(_trigger_pattern(m), m["loaded_name"], personal, flags=re.IGNORECASE)
        loras = [(m["loaded_name"], float(w)) for (_, w), m in zip(adapters, metas) if m["method"] == "lora"]
        base_request = check_request(plain, "", steps, guidance, seed, "ddim", 1)
        request = check_request(personal, "", steps, guidance, seed, "ddim", 1)
        if pipe.get_list_adapters().get("unet"):
            pipe.disable_lora()
        before = generate(pipe, base_request).images[0]
        if loras:
            pipe.enable_lora()
            pipe.set_adapters([n for n, _ in loras], adapter_weights=[w for _, w in loras])
            if fuse:
                parts = ["unet"] + (["text_encoder"] if pipe.get_list_adapters().get("text_encoder") else [])
                saved = {(part, n): p.detach().clone() for part in parts
                         for n, p in getattr(pipe, part).named_parameters() if ".base_layer." in n}
                pipe.fuse_lora(components=parts, adapter_names=[n for n, _ in loras])
        try:
            after = generate(pipe, request).images[0]
        finally:
            if loras and fuse:
                pipe.unfuse_lora(components=parts)
                for part in parts:
                    for n, p in getattr(pipe, part).named_parameters():
                        if (part, n) in saved:
                            p.data.copy_(saved[(part, n)])
            if loras:
                pipe.disable_lora()
    return before, after


def adapter_note(folder: Path) -> str:
    """An adapter in one plain sentence (method, base, concept; whether it brings the images nearer the concept),
    the measured figures of its ``metrics.json`` (``core.lora.evaluate``) in a toggle."""
    from core.engine.model_card import project_relative
    from core.engine.notes import plain_note, read_metrics

    meta = read_meta(folder)
    method = {"lora": f"a LoRA adapter (rank {meta.get('rank', '?')})",
              "textual_inversion": "a textual-inversion embedding"}.get(meta.get("method"), "an adapter")
    prompt = html.escape(str(meta.get("prompt", "?")))  # a textual-inversion prompt holds "<sks>"
    sentence = (f"**{folder.name}** is {method} on `{meta.get('base', '?')}` that teaches \"{prompt}\" "
                f"from {meta.get('images', '?')} images in {meta.get('steps', '?')} steps.")
    again = [f"the command line trains it again (its images and settings; flags change them) and measures it: "
             f"`python -m core.lora --config {project_relative(folder)} --out checkpoints/lora/{folder.name}-cli`"
             ] if (folder / INSTANCES).is_dir() else []  # (a bundled adapter: the command of its card)
    m = read_metrics(folder)
    if "fidelity_adapter" not in m:
        return plain_note(sentence, again, summary="command line")
    base, adapted, reachable = m["fidelity_base"], m["fidelity_adapter"], m.get("fidelity_reachable", float("nan"))
    sentence += (" With it the prompt's images come nearer the taught images than the base model's."
                 if adapted < base else
                 " Measured, it does not yet bring the prompt's images nearer the taught images than the base model.")
    figures = [f"distance to the taught images (shapes classifier features; lower is nearer): base model {base:.1f}, "
               f"with the adapter {adapted:.1f}, the taught images themselves through the autoencoder {reachable:.1f} "
               f"({int(m.get('seeds', 0))} seeds)"]
    for part, what in (("colour", "colour"), ("shape", "shape")):
        if f"concept_read_{part}_adapter" in m:
            figures.append(f"images in which the shapes classifier sees the instances' {what}: base model "
                           f"{m[f'concept_read_{part}_base']:.0%}, with the adapter {m[f'concept_read_{part}_adapter']:.0%}"
                           f" (the instances: {m[f'concept_read_{part}_instances']:.0%})")
    if "prior_drift" in m:
        figures.append(f"change to prompts without the trigger word (mean |pixel difference|, 0-1): "
                       f"{m['prior_drift']:.3f}")
    return plain_note(sentence, figures + again)
