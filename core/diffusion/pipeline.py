"""Inference bundles: a trained GenLab checkpoint or a diffusers DDPM/DDIM pipeline folder.

Two folder layouts load into the same :class:`DiffusionBundle`:

* GenLab (``checkpoints/diffusion/<name>``): ``config.json`` + ``diffusion_pytorch_model.safetensors``
  (the UNet), ``scheduler_config.json`` (the training forward process), ``genlab_diffusion.json``
  (class names, null class) and optionally ``noisy_classifier/`` (classifier guidance).
* diffusers pipeline (``DDPMPipeline.save_pretrained`` / ``DDIMPipeline.save_pretrained``, e.g. a
  local copy of ``google/ddpm-cifar10-32``): ``model_index.json``, ``unet/``, ``scheduler/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.engine import CheckpointError, load_pretrained
from core.engine.checkpoint import read_json

from .lib import diffusers_class
from .model import DiffusionModel, NoisyClassifier

META_FILE = "genlab_diffusion.json"
PIPELINE_CLASSES = ("DDPMPipeline", "DDIMPipeline")


@dataclass
class DiffusionBundle:
    """Everything sampling needs. The scheduler config describes the *training* forward process."""

    unet: torch.nn.Module
    scheduler_config: dict
    classifier: NoisyClassifier | None = None
    class_names: list[str] = field(default_factory=list)
    schedule: str = "custom"
    source: str = ""
    dataset: str = ""       # the world it was trained on ("digits", ...), for metrics
    path: str = ""          # the folder it was loaded from

    def __post_init__(self):
        ddpm = diffusers_class("DDPMScheduler").from_config(self.scheduler_config)
        self.alphas_cumprod = ddpm.alphas_cumprod.clone()  # (T,) of the training schedule
        self.prediction_type = ddpm.config.prediction_type
        self.num_train_timesteps = int(ddpm.config.num_train_timesteps)

    @property
    def num_classes(self) -> int:
        """K (0 for an unconditional model); the null class is index K."""
        n = self.unet.config.num_class_embeds
        return int(n) - 1 if n else 0

    @property
    def null_class(self) -> int | None:
        return self.num_classes if self.num_classes else None

    @property
    def channels(self) -> int:
        return int(self.unet.config.in_channels)

    @property
    def resolution(self) -> int:
        size = self.unet.config.sample_size
        return int(size if isinstance(size, int) else size[0])

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def to(self, device) -> "DiffusionBundle":
        self.unet.to(device)
        if self.classifier is not None:
            self.classifier.to(device)
        return self

    def class_index(self, label) -> int | None:
        """Class index for a name or index; None for "none"/unconditional. Raises ValueError otherwise."""
        if label is None or label == "" or (isinstance(label, str) and label.lower() in ("none", "unconditional")):
            return None
        if not self.num_classes:
            raise ValueError("this model is unconditional: choose class 'none'")
        names = self.class_names or [str(i) for i in range(self.num_classes)]
        if isinstance(label, str) and label in names:
            return names.index(label)
        try:
            index = int(label)
        except (TypeError, ValueError):
            raise ValueError(f"unknown class {label!r}; valid classes: {', '.join(names)} or none") from None
        if index != label and not isinstance(label, str) or not 0 <= index < self.num_classes:
            raise ValueError(f"class {label!r} is outside 0..{self.num_classes - 1}; valid classes: {', '.join(names)}")
        return index


def save_bundle(model: DiffusionModel, folder, scheduler, class_names, schedule: str, dataset: str = "") -> None:
    """Write the GenLab layout: UNet (config.json + safetensors), scheduler config, metadata, classifier."""
    folder = Path(folder)
    model.unet.save_pretrained(folder)
    scheduler.save_pretrained(folder)
    (folder / META_FILE).write_text(json.dumps({"class_names": list(class_names), "schedule": schedule, "dataset": dataset}, indent=2) + "\n")
    if model.classifier is not None:
        model.classifier.save_pretrained(folder / "noisy_classifier")


def load_bundle(path, device="cpu") -> DiffusionBundle:
    """Load a GenLab diffusion checkpoint or a diffusers DDPM/DDIM pipeline folder (safetensors only)."""
    UNet2DModel = diffusers_class("UNet2DModel")
    path = Path(path)
    if (path / "model_index.json").is_file():
        index = read_json(path / "model_index.json")
        kind = index.get("_class_name")
        if kind not in PIPELINE_CLASSES:
            raise CheckpointError(f"{path} holds a {kind!r}; only {', '.join(PIPELINE_CLASSES)} folders load here")
        unet = load_pretrained(UNet2DModel, path, subfolder="unet", use_safetensors=True)
        sched = read_json(path / "scheduler" / "scheduler_config.json")
        bundle = DiffusionBundle(unet, sched, schedule=_schedule_name(sched),
                                 source=f"{kind} folder {path.name}", path=str(path))
    else:
        unet = load_pretrained(UNet2DModel, path, use_safetensors=True)
        sched = read_json(path / "scheduler_config.json")
        meta = read_json(path / META_FILE) if (path / META_FILE).is_file() else {}
        classifier = None
        if (path / "noisy_classifier" / "config.json").is_file():
            classifier = load_pretrained(NoisyClassifier, path / "noisy_classifier")
        bundle = DiffusionBundle(unet, sched, classifier, list(meta.get("class_names", [])),
                                 meta.get("schedule", "custom"), source=path.name, dataset=meta.get("dataset", ""),
                                 path=str(path))
    bundle.unet.eval()
    if bundle.classifier is not None:
        bundle.classifier.eval()
    return bundle.to(device)


def _schedule_name(scheduler_config: dict) -> str:
    """GenLab's name of a diffusers scheduler config's schedule ("custom" for explicit betas)."""
    from .schedules import DIFFUSERS_BETA_SCHEDULE

    if scheduler_config.get("trained_betas") is not None:
        return "custom"
    names = {v: k for k, v in DIFFUSERS_BETA_SCHEDULE.items()}
    return names.get(scheduler_config.get("beta_schedule", "linear"), "custom")


