"""Sample sets for evaluation: each method's own sampler, a recorded seed, so every number is reproducible.

    from core.evaluation.samplers import evaluable, sample
    evaluable("digits")                       # ["diffusion/ddpm-digits", "gans/dcgan-digits", "vae/vae2d-digits", ...]
    drawn = sample("gans/cgan-digits", 500, seed=0)
    drawn.images                              # (500, 1, 32, 32) in [0, 1]
    drawn.condition                           # {"kind": "class", "labels": (500,)}: what each image was asked to be

What each draws: VAE / AE / VQ-VAE decode the prior; GANs their z ~ N(0, I) (conditional ones every class in turn);
StyleGAN psi 1 with constant noise; DDPM / DDIM 25 deterministic DDIM steps (class-conditional models: every class in
turn, guidance 1); text-to-image 25 DDIM steps at guidance 4 for the captions of the world's held-out images;
translation G(A) of the held-out inputs A (CycleGAN: the faces of domain A, measured against real faces of domain B).
Captions and input maps come from held-out items ``CONDITIONS_FROM`` onwards, never from the reference images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.engine import CheckpointError, list_checkpoints, resolve_checkpoint
from core.engine.checkpoint import weights_fingerprint

METHODS = ("vae", "gans", "stylegan", "diffusion", "text2image", "translation")
DIFFUSION_STEPS = 25
TEXT_GUIDANCE = 4.0
BATCH = 100
CONDITIONS_FROM = 5000  # held-out items whose captions / input maps condition the samples: disjoint from the
                        # reference images (items 0..N-1), so a sample is never measured against its own target


@dataclass
class Samples:
    """Generated images and what they were asked to show.

    ``condition``: {} (unconditional); {"kind": "class", "labels": (N,)}; {"kind": "text", "prompts": [N]};
    {"kind": "paired", "target": (N, C, H, W)} (the real image each translation should match); or
    {"kind": "domain", "attribute", "value"} (CycleGAN: the attribute value of the target domain).
    ``reference``: None (the world's held-out images) or (attribute, value): the real faces of that domain.
    ``inputs``: a translator's input images (N, C, H, W), None for other methods.
    """

    images: torch.Tensor
    condition: dict = field(default_factory=dict)
    reference: tuple[str, str] | None = None
    inputs: torch.Tensor | None = None


def world_of(method: str, name: str) -> str | None:
    """The world a checkpoint was trained on (train_config.json's dataset; diffusion and text-to-image: their
    pipeline's genlab_*.json; translation: its task's world)."""
    folder = resolve_checkpoint(method, name)
    for file in ("genlab_diffusion.json", "genlab_text2image.json", "config.json", "train_config.json"):
        try:
            data = json.loads((folder / file).read_text())
        except (OSError, ValueError):
            continue
        world = data.get("task", {}).get("world") if method == "translation" else data.get("dataset")
        if world:
            return world
    return None


def _is_sampler(method: str, name: str) -> bool:
    folder = resolve_checkpoint(method, name)
    if method == "text2image":  # pipelines only, not their autoencoder or CLIP parts
        return (folder / "model_index.json").is_file()
    return bool(_weights(folder))


def evaluable(world: str) -> list[str]:
    """ "method/name" of every installed checkpoint of an evaluable method trained on ``world``."""
    out = []
    for method in METHODS:
        for name in list_checkpoints(method):
            try:
                if _is_sampler(method, name) and world_of(method, name) == world:
                    out.append(f"{method}/{name}")
            except CheckpointError:
                continue
    return out


def why_not_evaluable(key: str, worlds) -> str | None:
    """Why an installed checkpoint ``key`` ("method/name") is not among ``worlds``' evaluable ones: trained on another
    dataset (an MNIST run), or no sampler; None when it is not a checkpoint at all (the caller's own message)."""
    try:
        method, name = split(key)
        world = world_of(method, name)
    except (ValueError, CheckpointError):
        return None
    if world not in worlds:
        return (f"{key} was trained on {world or 'a dataset its config does not record'}: Evaluate measures models "
                f"of the {', '.join(worlds)} worlds, in their world classifier's features")
    return None if _is_sampler(method, name) else f"{key} draws no samples of its own to measure"


def split(key: str) -> tuple[str, str]:
    """ "gans/dcgan-digits" -> ("gans", "dcgan-digits"); ValueError for another form or method."""
    method, _, name = str(key).partition("/")
    if method not in METHODS or not name:
        raise ValueError(f"choose checkpoints as 'method/name' with method one of {list(METHODS)}, got {key!r}")
    return method, name


def _weights(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.safetensors"))


def fingerprint(key: str) -> str:
    """Changes when the checkpoint's weights change (size and modification time of its safetensors files)."""
    return weights_fingerprint(resolve_checkpoint(*split(key)))


def judge_fingerprint(key: str) -> str:
    """Changes when the weights of the classifier that measures ``key`` (its world's) change."""
    return weights_fingerprint(resolve_checkpoint("classifier", world_of(*split(key))))




def load(key: str, device="cpu"):
    """The sampling model of a checkpoint (a VAE, a generator, a diffusion bundle or pipeline, a translator)."""
    method, name = split(key)
    if method == "vae":
        from core.vae import load_vae

        return load_vae(resolve_checkpoint(method, name)).to(device).eval()
    if method == "gans":
        from core.gans.service import load_generator

        return load_generator(resolve_checkpoint(method, name)).to(device)
    if method == "stylegan":
        from core.stylegan.explore import load_generator

        return load_generator(name, device)
    if method == "text2image":
        from core.text2image.service import load_model

        return load_model(name, device)
    if method == "translation":
        from core.translation.service import load_checkpoint as load_translator

        return load_translator(name, device)
    from core.diffusion.service import load_checkpoint

    return load_checkpoint(name, device)


def parameters(model) -> int:
    """Parameters of a sampling model (a pipeline: UNet, autoencoder and text encoder; a CycleGAN: both generators;
    a diffusion bundle: its UNet, not its guidance classifier)."""
    if hasattr(model, "components"):  # a diffusers pipeline
        return sum(parameters(m) for m in model.components.values() if isinstance(m, torch.nn.Module))
    for attr in ("translator", "unet"):  # a translator bundle, a diffusion bundle
        if hasattr(model, attr) and isinstance(getattr(model, attr), torch.nn.Module):
            return parameters(getattr(model, attr))
    return sum(p.numel() for p in model.parameters()) if isinstance(model, torch.nn.Module) else 0


def _translation_inputs(bundle, num: int) -> tuple[torch.Tensor, dict, tuple | None]:
    """The first ``num`` held-out inputs A of a translator's task, their condition and the reference domain, if any."""
    from core.translation.data import FaceDomains, FacePairs

    t = bundle.task
    if t.get("world") != "faces":
        raise ValueError(f"{bundle.name} translates files of its own folder, not a GenLab world: it cannot be measured here")
    if "attribute" in t:
        ds = FaceDomains(t["attribute"], t["value_a"], t["value_b"], "test", bundle.side)
        a = ds.world.get_batch(ds.a_index[:num])["image"]
        return a, {"kind": "domain", "attribute": t["attribute"], "value": t["value_b"]}, (t["attribute"], t["value_b"])
    batch = FacePairs(t.get("input", "labels"), "test", bundle.side).get_batch(
        list(range(CONDITIONS_FROM, CONDITIONS_FROM + num)))
    return batch["A"], {"kind": "paired", "target": batch["B"]}, None


def _prompts(world: str, num: int) -> list[str]:
    from .measure import real_images

    return list(real_images(world, num, first=CONDITIONS_FROM)["text"])


@torch.no_grad()
def sample(key: str, num: int, seed: int = 0, model=None, device="cpu", progress=None) -> Samples:
    """``num`` images from checkpoint ``key`` drawn with ``seed``, and their condition (see :class:`Samples`);
    ``progress(done, num)`` is called after each batch of 100."""
    method, name = split(key)
    model = model if model is not None else load(key, device)
    g = torch.Generator().manual_seed(int(seed))
    condition, reference, source = {}, None, None
    if method == "translation":
        source, condition, reference = _translation_inputs(model, num)
        num = len(source)  # a domain can hold fewer held-out faces than asked for
    elif method == "text2image":
        condition = {"kind": "text", "prompts": _prompts(world_of(method, name), num)}
    out, labels = [], []
    for start in range(0, num, BATCH):
        n = min(BATCH, num - start)
        k = getattr(model, "num_classes", 0) if method in ("gans", "diffusion") else 0
        y = (torch.arange(start, start + n) % k) if k else None
        if method == "vae":
            x = model.sample_prior(n, g)
        elif method == "gans":
            from core.gans.networks import sample_z

            x = (model(sample_z(n, model.z_dim, g).to(device), None if y is None else y.to(device)) + 1) / 2
        elif method == "stylegan":
            z = torch.randn(n, model.z_dim, generator=g).to(device)
            x = (model(z, psi=1.0, noise_mode="const") + 1) / 2
        elif method == "text2image":
            from core.text2image.sampling import images_for_prompts

            x = images_for_prompts(model, condition["prompts"][start:start + n], g, DIFFUSION_STEPS, TEXT_GUIDANCE)
        elif method == "translation":
            from core.translation.inference import translate_batch

            x = translate_batch(model.translator, source[start:start + n], "AtoB")
        else:
            from core.diffusion.sampling import sample_images

            x = sample_images(model, n, sampler="ddim", steps=DIFFUSION_STEPS, generator=g, class_labels=y)
        out.append(x.float().clamp(0, 1).cpu())
        if y is not None:
            labels.append(y)
        if progress is not None:
            progress(start + n, num)
    if labels:
        condition = {"kind": "class", "labels": torch.cat(labels)}
    return Samples(torch.cat(out), condition, reference, source)
