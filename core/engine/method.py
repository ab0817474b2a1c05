"""What a method gives the engine: its model, data, step function and sampler."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .config import TrainConfig


@dataclass
class StepContext:
    """Handed to :meth:`Method.training_step`.

    Args:
        step: optimizer steps done before this one.
        accelerator: the ``accelerate.Accelerator`` running the loop.
        optimizers: the prepared optimizers by name, from :meth:`Method.configure_optimizers`.
        micro_step: index of the micro-batch within gradient accumulation.
    """

    step: int
    accelerator: object
    optimizers: dict
    micro_step: int = 0

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    def backward(self, loss: torch.Tensor) -> None:
        """Backpropagate (mixed precision and DDP aware); for manual optimization."""
        self.accelerator.backward(loss)


class Method:
    """Base class of a trainable method (VAE, diffusion, StyleGAN...).

    The engine calls, in order: :meth:`build_model`, :meth:`configure_optimizers`,
    :meth:`build_dataset`; then per step :meth:`training_step`; periodically :meth:`sample`
    and :meth:`save_inference`; at the end :meth:`evaluate`.

    With ``manual_optimization = False`` (default) ``training_step`` returns a dict whose
    ``"loss"`` the engine backpropagates and steps with the single optimizer. With ``True``
    the step zeroes, backpropagates (``ctx.backward``) and steps its optimizers itself (GANs).

    Under ``torchrun`` the model is wrapped in DistributedDataParallel: call ``model(...)``
    for anything that needs gradients so DDP averages them across processes.
    """

    name = "base"
    config_class = TrainConfig
    manual_optimization = False
    find_unused_parameters = False

    def __init__(self, config: TrainConfig):
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config.validate()

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def build_dataset(self, split: str = "train"):
        """The dataset named by the config (``core.data.get_dataset``)."""
        from core.data import get_dataset

        c = self.config
        return get_dataset(
            c.dataset, split=split, resolution=c.resolution or None, root=c.data_root or None, download=c.download
        )

    def configure_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        return {"main": torch.optim.AdamW(model.parameters(), lr=self.config.lr)}

    def training_step(self, model: nn.Module, batch: dict, ctx: StepContext) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def ema_module(self, model: nn.Module) -> nn.Module:
        """The (unwrapped) sub-module whose weights are averaged and exported, e.g. the generator."""
        return model

    def continuation_modules(self, model: nn.Module) -> dict[str, nn.Module]:
        """Sub-modules besides the exported one that training needs to go on as before (a GAN's
        discriminator). The export writes each as ``<name>.safetensors``, so ``--from-export`` continues
        with them when the resume state is gone; only the optimizer moments start afresh."""
        return {}

    @torch.no_grad()
    def sample(self, module: nn.Module, num: int, generator: torch.Generator) -> torch.Tensor:
        """``num`` images (N, C, H, W) in [0, 1] from the exported module."""
        raise NotImplementedError

    def sample_layout(self, num: int) -> tuple[int, list[str], list[str]]:
        """How :meth:`sample`'s ``num`` images are laid out: (images per grid row, a label per grid row, a label per
        grid column), the label lists empty where the grid has none. Default: a square grid without labels."""
        return math.ceil(math.sqrt(num)), [], []

    def sample_sheet(self, images: torch.Tensor):
        """:meth:`sample`'s images (N, C, H, W) as the PIL sheet the card's samples.png and the training panel show,
        labelled as :meth:`sample_layout` says."""
        from core.data.labelled import sample_sheet

        return sample_sheet(images, *self.sample_layout(len(images)))

    def sample_captions(self, num: int) -> list[str]:
        """What each of :meth:`sample`'s first ``num`` images shows, in words (a text-to-image model's prompts), for
        the training panel's "samples over time"; none by default."""
        return []

    def generated(self, samples: torch.Tensor) -> torch.Tensor:
        """The generated images among :meth:`sample`'s output (a grid may also hold inputs): what the training
        panel's "samples over time" follows. Default: all of them."""
        return samples

    def save_inference(self, module: nn.Module, folder) -> None:
        """Write config.json + safetensors weights that rebuild ``module`` alone."""
        module.save_pretrained(folder)

    def load_inference(self, folder) -> nn.Module:
        """The module ``save_inference`` wrote to ``folder`` (safetensors), for re-evaluation."""
        from safetensors.torch import load_model

        module = self.ema_module(self.build_model())
        load_model(module, str(Path(folder) / "model.safetensors"))
        return module

    @torch.no_grad()
    def evaluate(self, module: nn.Module) -> dict[str, float]:
        """Metrics measured at the end of training for the model card and ``metrics.json``.

        Scalars go into the card's metric table; other JSON values are for :meth:`model_card_results`.
        """
        return {}

    def evaluation_note(self) -> str:
        """What :meth:`evaluate` is about to do, in one line for the training panel and the CLI (it may take
        minutes after the last step)."""
        n = getattr(self.config, "eval_samples", None)
        if n == 0:
            return "measuring the model for its card"
        what = f"{n} generated images scored" if n else "the model scored"
        return (f"measuring the model for its card: {what} on held-out data"
                + (" (eval_samples sets how many; 0 skips it)" if n else ""))

    def model_card_results(self, metrics: dict) -> str:
        """Markdown for the measured results beyond the scalar metric table (e.g. a table in ``metrics``)."""
        return ""

    def card_learning_rate(self) -> str:
        """The learning rate as the card's table shows it (a method whose config reads 0 as "the paper's" names
        the rate it used)."""
        return f"{self.config.lr:g}"

    def model_card_notes(self) -> str:
        """Method-specific markdown added to the model card (what the model is, how to use it)."""
        return ""
