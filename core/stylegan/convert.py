"""Read StyleGAN2 weights in the layout of rosinality's stylegan2-pytorch (``model.py``, its ``g_ema`` state
dict) into GenLab's :class:`Generator`, so that a user who has e.g. FFHQ weights can explore them here.

    python -m core.stylegan.convert stylegan2-ffhq-config-f.pt --out checkpoints/stylegan/ffhq-1024

The two layouts compute the same function (same equalized-lr scales, modulation, demodulation, noise,
fused leaky ReLU with sqrt(2) gain, transposed-conv + [1, 3, 3, 1] up-sampling), so the conversion only
renames and reshapes. Key correspondence (rosinality -> GenLab):

=======================================  ======================================  ==========================
``style.{k}.weight / .bias`` (k >= 1)    ``mapping.layers.{k-1}.weight / .bias``  (style.0 is PixelNorm)
``input.input``  (1, C, 4, 4)            ``const``  (C, 4, 4)
``conv1.conv.weight`` (1, O, I, 3, 3)    ``conv1.conv.weight`` (O, I, 3, 3)
``*.conv.modulation.weight / .bias``     ``*.conv.affine.weight / .bias``
``*.noise.weight`` (1,)                  ``*.noise.strength`` ()
``*.activate.bias`` (O,)                 ``*.bias`` (O,)
``to_rgb1`` / ``to_rgbs.{k}``            same names; ``.bias`` (1, 3, 1, 1) -> (3,)
``convs.{k}``                            same names
``noises.noise_{i}`` (1, 1, r, r)        ``noise_const_{i}``
``*.blur.kernel``, ``*.upsample.kernel`` dropped (fixed [1, 3, 3, 1] filters, rebuilt in code)
=======================================  ======================================  ==========================

Files made by rosinality's ``convert_weight.py`` (the converted FFHQ downloads) store the official average w as
``latent_avg``; it becomes the truncation centre ``w_avg``. Files without it (its own training checkpoints) get
``w_avg`` recomputed as the mean of ``mapping(z)`` over ``w_avg_samples`` random z (its ``mean_latent``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch

from core.engine import CheckpointError

from .generator import Generator

DROPPED = re.compile(r"\.(blur|upsample)\.kernel$")


def _layer_renames(prefix: str, sd: dict, out: dict, to_rgb: bool) -> None:
    """Move one StyledConv / ToRGB from ``sd`` (rosinality names under ``prefix``) into ``out``."""
    out[f"{prefix}.conv.weight"] = sd[f"{prefix}.conv.weight"][0]  # (1, O, I, k, k) -> (O, I, k, k)
    out[f"{prefix}.conv.affine.weight"] = sd[f"{prefix}.conv.modulation.weight"]
    out[f"{prefix}.conv.affine.bias"] = sd[f"{prefix}.conv.modulation.bias"]
    if to_rgb:
        out[f"{prefix}.bias"] = sd[f"{prefix}.bias"].reshape(-1)
    else:
        out[f"{prefix}.noise.strength"] = sd[f"{prefix}.noise.weight"].reshape(())
        out[f"{prefix}.bias"] = sd[f"{prefix}.activate.bias"]


def rosinality_config(sd: dict, lr_mlp: float = 0.01) -> dict:
    """Generator kwargs (resolution, z_dim, w_dim, mapping_layers, channels) read off the tensor shapes."""
    try:
        mlp = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"style\.(\d+)\.weight", k)))
        style_dim = sd["style.1.weight"].shape[0]
        num_rgbs = len({k.split(".")[1] for k in sd if k.startswith("to_rgbs.")})
        channels = [sd["conv1.conv.weight"].shape[1]]
        channels += [sd[f"convs.{2 * i}.conv.weight"].shape[1] for i in range(num_rgbs)]
    except KeyError as exc:
        raise CheckpointError(f"not a rosinality stylegan2-pytorch g_ema state dict: missing key {exc}") from None
    if mlp != list(range(1, len(mlp) + 1)):
        raise CheckpointError(f"unexpected mapping layers style.{mlp}")
    return {"resolution": 4 * 2**num_rgbs, "z_dim": style_dim, "w_dim": style_dim, "mapping_layers": len(mlp),
            "mapping_lr_mul": lr_mlp, "channels": channels, "image_channels": sd["to_rgb1.conv.weight"].shape[1]}


def convert_state_dict(sd: dict) -> dict:
    """rosinality ``g_ema`` state dict -> GenLab Generator state dict (without ``mapping.w_avg``)."""
    config = rosinality_config(sd)
    out: dict[str, torch.Tensor] = {}
    for k in range(1, config["mapping_layers"] + 1):
        out[f"mapping.layers.{k - 1}.weight"] = sd[f"style.{k}.weight"]
        out[f"mapping.layers.{k - 1}.bias"] = sd[f"style.{k}.bias"]
    out["const"] = sd["input.input"][0]
    _layer_renames("conv1", sd, out, to_rgb=False)
    _layer_renames("to_rgb1", sd, out, to_rgb=True)
    num_levels = len(config["channels"]) - 1
    for i in range(2 * num_levels):
        _layer_renames(f"convs.{i}", sd, out, to_rgb=False)
    for i in range(num_levels):
        _layer_renames(f"to_rgbs.{i}", sd, out, to_rgb=True)
    for i in range(2 * num_levels + 1):
        key = f"noises.noise_{i}"
        if key in sd:
            out[f"noise_const_{i}"] = sd[key]
    used = {k for k in sd if not DROPPED.search(k)}
    prefixes = ("style.", "input.", "conv1.", "to_rgb1.", "convs.", "to_rgbs.", "noises.")
    known = {k for k in used if k.startswith(prefixes)}
    if used - known:
        raise CheckpointError(f"unexpected keys in the state dict: {sorted(used - known)[:5]}")
    return out


def generator_from_rosinality(sd: dict, lr_mlp: float = 0.01, w_avg_samples: int = 4096, seed: int = 0,
                              latent_avg: torch.Tensor | None = None) -> Generator:
    """Build a :class:`Generator` from a rosinality ``g_ema`` state dict.

    ``w_avg`` is ``latent_avg`` ((w_dim,) or (1, w_dim)) when the file stored one, else the mean mapped latent.
    """
    config = rosinality_config(sd, lr_mlp)
    G = Generator(**config)
    state = convert_state_dict(sd)
    state["mapping.w_avg"] = torch.zeros(config["w_dim"])
    missing, unexpected = G.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    missing = [k for k in missing if not k.startswith("noise_const_")]  # keep the generated ones if absent
    if missing or unexpected:
        raise CheckpointError(f"conversion mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    with torch.no_grad():
        if latent_avg is not None:
            latent_avg = torch.as_tensor(latent_avg).float().reshape(-1)
            if latent_avg.shape != G.mapping.w_avg.shape:
                raise CheckpointError(f"latent_avg has {latent_avg.numel()} values; this generator's w has {G.w_dim}")
            G.mapping.w_avg.copy_(latent_avg)
        else:
            g = torch.Generator().manual_seed(seed)
            G.mapping.w_avg.copy_(G.mapping(torch.randn(w_avg_samples, G.z_dim, generator=g)).mean(0))
    return G.eval()


def load_rosinality_file(path) -> dict:
    """The ``g_ema`` state dict of a rosinality checkpoint file (``{"g_ema": ..., "args": Namespace}`` or a
    bare state dict), loaded without unpickling code (``weights_only=True``; ``argparse.Namespace`` allowed)."""
    return load_rosinality_checkpoint(path)[0]


def load_rosinality_checkpoint(path) -> tuple[dict, torch.Tensor | None]:
    """(``g_ema`` state dict, the stored ``latent_avg`` or None) of a rosinality checkpoint file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            data = load_file(str(path))
        else:
            with torch.serialization.safe_globals([argparse.Namespace]):
                data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot load {path}: {type(exc).__name__}: {str(exc)[:300]}") from exc
    latent_avg = data.get("latent_avg") if isinstance(data, dict) and torch.is_tensor(data.get("latent_avg")) else None
    if isinstance(data, dict) and "g_ema" in data:
        data = data["g_ema"]
    if not isinstance(data, dict) or "style.1.weight" not in data:
        raise CheckpointError(f"{path} holds no rosinality g_ema state dict (no 'g_ema' or 'style.1.weight')")
    return data, latent_avg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.stylegan.convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="rosinality .pt file (with 'g_ema') or a bare state dict")
    parser.add_argument("--out", required=True, help="output folder, e.g. checkpoints/stylegan/ffhq")
    parser.add_argument("--lr-mlp", type=float, default=0.01, help="the mapping lr multiplier it was trained with")
    args = parser.parse_args(argv)
    try:
        sd, latent_avg = load_rosinality_checkpoint(args.checkpoint)
        G = generator_from_rosinality(sd, lr_mlp=args.lr_mlp, latent_avg=latent_avg)
    except (CheckpointError, FileNotFoundError) as exc:  # expected: a refused pickle, not a generator, no file
        print(f"cannot convert {args.checkpoint}: {exc}", file=sys.stderr)
        return 1
    from core.engine.checkpoint import atomic_folder

    with atomic_folder(args.out) as tmp:  # readable by the app's account, and never half-written
        G.save_pretrained(tmp)
    centre = "its stored latent_avg" if latent_avg is not None else "the mean of 4096 mapped z"
    print(f"converted {args.checkpoint} ({G.resolution}x{G.resolution}, {G.num_ws} ws; truncation centre: {centre}) "
          f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
