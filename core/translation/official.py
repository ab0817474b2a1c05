"""Official pix2pix / CycleGAN generator files (``latest_net_G.pth``) loaded as they are.

The reference's download scripts save ``checkpoints/<name>_pretrained/latest_net_G.pth``; its own CycleGAN training
saves ``latest_net_G_A.pth`` (A -> B) and ``latest_net_G_B.pth`` (B -> A). Drop such a folder into
``checkpoints/translation/<name>/`` and it appears in the tab's picker. The architecture (unet_N / resnet_nblocks,
ngf, norm, dropout, channels) is read from the keys and shapes; like the reference's loader we drop ``_metadata``,
the running-stat keys an older InstanceNorm saved, and ``num_batches_tracked``, then load strictly. Files are read
with ``torch.load(weights_only=True)``: a pickle that would run code is refused.

An optional ``translation.json`` beside the file describes the task: {"a": "horse", "b": "zebra",
"input": "photo" | "labels" | "edges", "description": "..."}.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import torch
from torch import nn

from core.engine import CheckpointError

from .model import Translator
from .networks import Generator

OFFICIAL_FILES = ("latest_net_G.pth", "latest_net_G_A.pth")
TASK_FILE = "translation.json"


def is_official_folder(path: Path) -> bool:
    return any((Path(path) / f).is_file() for f in OFFICIAL_FILES)


def read_state_dict(file: Path) -> dict[str, torch.Tensor]:
    """A reference generator file as a plain {key: tensor} dict (``weights_only=True``), or a CheckpointError."""
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{file.name} is refused: it is a pickle that weights_only loading does not allow "
                              f"({str(exc).splitlines()[0][:160]})") from None
    except Exception as exc:  # truncated, not a torch file, ...
        raise CheckpointError(f"{file.name} is not a readable PyTorch weights file "
                              f"({type(exc).__name__}: {str(exc)[:160]})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(f"{file.name} does not hold a generator's state dict (a dict of tensors)")
    return {k: v for k, v in state.items() if k != "_metadata"}


def infer_architecture(state: dict[str, torch.Tensor]) -> dict:
    """{netG, input_nc, output_nc, ngf, norm, use_dropout} of a reference generator state dict."""
    keys = set(state)
    if "model.model.0.weight" in keys:                                  # nested U-Net
        first = state["model.model.0.weight"]                          # (ngf, input_nc, 4, 4)
        num_downs = max(k.count("model") for k in keys) - 1
        out = state.get("model.model.3.weight")                        # outermost upconv (2 ngf, output_nc, 4, 4)
        if out is None or out.dim() != 4:
            raise CheckpointError("this U-Net state dict has no outermost up-convolution (model.model.3.weight)")
        has_bn = any(k.endswith(".running_mean") and k[:-13] + ".weight" in keys for k in keys)
        norm = "batch" if has_bn else ("instance" if "model.model.0.bias" in keys else "none")
        return {"netG": f"unet_{2 ** num_downs}", "input_nc": first.shape[1], "output_nc": out.shape[1],
                "ngf": first.shape[0], "norm": norm,
                "use_dropout": True}  # U-Net dropout adds no keys; on is the reference's pix2pix default
    blocks = {int(m.group(1)) for k in keys if (m := re.match(r"model\.(\d+)\.conv_block\.", k))}
    if "model.1.weight" in keys and blocks:                            # ResNet generator
        first = state["model.1.weight"]                                # (ngf, input_nc, 7, 7)
        last = max((int(k.split(".")[1]) for k in keys if re.match(r"model\.\d+\.weight$", k)))
        norm = "batch" if "model.2.weight" in keys else ("instance" if "model.1.bias" in keys else "none")
        dropout = any(".conv_block.6.weight" in k for k in keys)
        return {"netG": f"resnet_{len(blocks)}blocks", "input_nc": first.shape[1],
                "output_nc": state[f"model.{last}.weight"].shape[0], "ngf": first.shape[0], "norm": norm,
                "use_dropout": dropout}
    raise CheckpointError("the keys match neither the reference's U-Net (model.model.0.weight ...) nor its ResNet "
                          "generator (model.1.weight, model.<i>.conv_block ...): not a pix2pix/CycleGAN generator")


def reference_cleanup(net: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop what the reference's loader drops: InstanceNorm running stats where the module keeps none, and every
    ``num_batches_tracked``."""
    modules = dict(net.named_modules())
    clean = {}
    for key, value in state.items():
        owner, _, leaf = key.rpartition(".")
        module = modules.get(owner)
        if leaf == "num_batches_tracked":
            continue
        if leaf in ("running_mean", "running_var") and isinstance(module, nn.InstanceNorm2d) \
                and not module.track_running_stats:
            continue
        clean[key] = value
    return clean


def load_generator(file: Path) -> Generator:
    """One reference generator file as a :class:`Generator` (strict load after the reference's cleanup)."""
    state = read_state_dict(file)
    arch = infer_architecture(state)
    gen = Generator(arch["netG"], int(arch["input_nc"]), int(arch["output_nc"]), int(arch["ngf"]), arch["norm"],
                    bool(arch["use_dropout"]))
    try:
        gen.net.load_state_dict(reference_cleanup(gen.net, state), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{file.name} looks like a {arch['netG']} generator but does not load into one: "
                              f"{str(exc).splitlines()[0][:200]}") from None
    return gen


def load_official_folder(path: Path) -> Translator:
    """A folder with ``latest_net_G.pth`` (one direction) or ``latest_net_G_A.pth`` [+ ``latest_net_G_B.pth``]."""
    path = Path(path)
    task = {"input": "photo", "a": "A", "b": "B", "official": True}
    if (path / TASK_FILE).is_file():
        try:
            extra = json.loads((path / TASK_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{path.name}/{TASK_FILE} is not valid JSON ({exc})") from None
        if not isinstance(extra, dict):
            raise CheckpointError(f"{path.name}/{TASK_FILE} must hold a JSON object")
        task.update({k: str(v) for k, v in extra.items() if k in ("a", "b", "input", "description")})
    g_ab_file = path / "latest_net_G.pth" if (path / "latest_net_G.pth").is_file() else path / "latest_net_G_A.pth"
    g_ab = load_generator(g_ab_file)
    g_ba = load_generator(path / "latest_net_G_B.pth") if (path / "latest_net_G_B.pth").is_file() else None
    translator = Translator("cyclegan" if g_ba is not None else "pix2pix", g_ab.netG, g_ab.input_nc, g_ab.output_nc,
                            g_ab.ngf, g_ab.norm, g_ab.use_dropout, task)
    translator.G_AB = g_ab
    translator.G_BA = g_ba
    translator.task.setdefault("family", "CycleGAN" if g_ba is not None or g_ab.netG.startswith("resnet") else "pix2pix")
    return translator.eval()
