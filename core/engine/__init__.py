"""The shared training engine: config, device, seeds, events, checkpoints and the trainer."""

from .checkpoint import (
    CheckpointError,
    atomic_folder,
    checkpoint_root,
    list_checkpoints,
    load_pretrained,
    load_tensors,
    resolve_checkpoint,
    trained_steps,
)
from .cache import AppContext, ModelCache
from .config import TrainConfig, choice, number
from .device import resolve_device
from .events import TrainEvent
from .method import Method, StepContext
from .seed import MAX_SEED, check_seed, make_generator
from .trainer import Trainer

__all__ = [
    "CheckpointError", "atomic_folder", "checkpoint_root", "list_checkpoints", "load_pretrained", "load_tensors",
    "resolve_checkpoint", "AppContext", "ModelCache", "TrainConfig", "choice", "number", "resolve_device",
    "TrainEvent", "Method",
    "StepContext", "MAX_SEED", "check_seed", "make_generator", "Trainer",
]
