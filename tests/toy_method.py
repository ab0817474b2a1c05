"""A tiny method for engine tests: an MLP autoencoder on fixed random 8x8 images."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from core.engine import Method, TrainConfig


class TinyAE(nn.Module, PyTorchModelHubMixin):
    def __init__(self, size: int = 8, hidden: int = 16):
        super().__init__()
        self.size = size
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(size * size, hidden), nn.Tanh(), nn.Linear(hidden, size * size))

    def forward(self, x):  # (B, 1, S, S) -> (B, 1, S, S)
        return self.net(x).view_as(x)


class ToyData:
    """64 fixed images; ``get_batch`` is all the engine needs."""

    def __init__(self, n: int = 64, size: int = 8):
        g = torch.Generator().manual_seed(123)
        self.images = (torch.rand(n, 1, size, size, generator=g) > 0.5).float()

    def __len__(self):
        return len(self.images)

    def get_batch(self, indices):
        return {"image": self.images[indices], "label": torch.zeros(len(indices), dtype=torch.long)}


@dataclass
class ToyConfig(TrainConfig):
    hidden: int = 16


class ToyMethod(Method):
    name = "toy"
    config_class = ToyConfig

    def build_model(self):
        return TinyAE(hidden=self.config.hidden)

    def build_dataset(self, split="train"):
        return ToyData()

    def training_step(self, model, batch, ctx):
        x = batch["image"]
        noise = 0.01 * torch.randn_like(x)  # uses the global RNG, which resume must restore
        return {"loss": nn.functional.mse_loss(model(x + noise), x)}

    @torch.no_grad()
    def sample(self, module, num, generator):
        x = ToyData().images[:num].to(next(module.parameters()).device)
        return module(x).clamp(0, 1)

    def evaluate(self, module):
        x = ToyData().images
        return {"mse": float(nn.functional.mse_loss(module(x), x))}


def toy_config(**changes) -> ToyConfig:
    """A short toy run's settings (40 steps, checkpoints every 10), with ``changes``."""
    base = dict(steps=40, batch_size=16, lr=1e-2, log_every=5, sample_every=0, checkpoint_every=10, num_samples=4)
    return ToyConfig(**(base | changes))
