"""Sample sets for evaluation: each method's own sampler, a recorded seed, so every number is reproducible.

    from core.evaluation.samplers import evaluable, sample
    evaluable("digits")                       # ["diffusion/ddpm-digits", "gans/dcgan-digits", "vae/vae2d-digits", ...]
    images = sample("gans/dcgan-digits", 500, seed=0)   # (500, 1, 32, 32) in [0, 1]

What each draws: VAE / AE / VQ-VAE decode the prior; GANs their z ~ N(0, I) (conditional ones every class in turn);
StyleGAN psi 1 with constant noise; DDPM / DDIM 25 deterministic DDIM steps (class-conditional models: every class in
turn, guidance 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from core.engine import CheckpointError, list_checkpoints, resolve_checkpoint

METHODS = ("vae", "gans", "stylegan", "diffusion")
DIFFUSION_STEPS = 25
BATCH = 100


def world_of(method: str, name: str) -> str | None:
    """The world a checkpoint was trained on (its train_config.json's dataset; diffusion: genlab_diffusion.json)."""
    folder = resolve_checkpoint(method, name)
    for file in ("train_config.json", "genlab_diffusion.json"):
        try:
            dataset = json.loads((folder / file).read_text()).get("dataset")
        except (OSError, ValueError):
            continue
        if dataset:
            return dataset
    return None


def evaluable(world: str) -> list[str]:
    """ "method/name" of every installed checkpoint of an evaluable method trained on ``world``."""
    out = []
    for method in METHODS:
        for name in list_checkpoints(method):
            try:
                if world_of(method, name) == world and _weights(method, name):
                    out.append(f"{method}/{name}")
            except CheckpointError:
                continue
    return out


def split(key: str) -> tuple[str, str]:
    """ "gans/dcgan-digits" -> ("gans", "dcgan-digits"); ValueError for another form or method."""
    method, _, name = str(key).partition("/")
    if method not in METHODS or not name:
        raise ValueError(f"choose checkpoints as 'method/name' with method one of {list(METHODS)}, got {key!r}")
    return method, name


def _weights(method: str, name: str) -> list[Path]:
    return sorted(resolve_checkpoint(method, name).glob("*.safetensors"))


def fingerprint(key: str) -> str:
    """Changes when the checkpoint's weights change (size and modification time of its safetensors files)."""
    method, name = split(key)
    return ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in _weights(method, name))


def load(key: str, device="cpu"):
    """The sampling model of a checkpoint (a VAE, a generator or a diffusion bundle)."""
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
    from core.diffusion.service import load_checkpoint

    return load_checkpoint(name, device)


@torch.no_grad()
def sample(key: str, num: int, seed: int = 0, model=None, device="cpu", progress=None) -> torch.Tensor:
    """``num`` images (N, C, H, W) in [0, 1] from checkpoint ``key`` drawn with ``seed``; ``progress(done, num)`` is
    called after each batch of 100."""
    method, _ = split(key)
    model = model if model is not None else load(key, device)
    g = torch.Generator().manual_seed(int(seed))
    out = []
    for start in range(0, num, BATCH):
        n = min(BATCH, num - start)
        if method == "vae":
            x = model.sample_prior(n, g)
        elif method == "gans":
            from core.gans.networks import sample_z

            labels = (torch.arange(start, start + n) % model.num_classes).to(device) if model.num_classes else None
            x = (model(sample_z(n, model.z_dim, g).to(device), labels) + 1) / 2
        elif method == "stylegan":
            z = torch.randn(n, model.z_dim, generator=g).to(device)
            x = (model(z, psi=1.0, noise_mode="const") + 1) / 2
        else:
            from core.diffusion.sampling import sample_images

            k = model.num_classes
            labels = (torch.arange(start, start + n) % k) if k else None
            x = sample_images(model, n, sampler="ddim", steps=DIFFUSION_STEPS, generator=g, class_labels=labels)
        out.append(x.float().clamp(0, 1).cpu())
        if progress is not None:
            progress(start + n, num)
    return torch.cat(out)
