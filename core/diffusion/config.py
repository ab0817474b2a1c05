"""Training configuration of the diffusion method (flat fields; CLI flags and tab widgets come from it)."""

from __future__ import annotations

from dataclasses import dataclass

from core.engine import TrainConfig, choice, number
from core.engine.config import parse_widths

SCHEDULES = ("linear", "cosine", "sigmoid", "scaled_linear")
PREDICTION_TYPES = ("epsilon", "v_prediction")


@dataclass
class DiffusionConfig(TrainConfig):
    """DDPM training (Ho et al. 2020) of a class-conditional UNet2DModel.

    Args:
        channels: widths of the UNet levels, comma separated (``32,64,64``); attention only at the last.
        layers_per_block: resnet blocks per UNet level.
        num_train_timesteps: T, the number of forward-process steps.
        schedule: noise schedule of beta_t ("cosine" is diffusers' squaredcos_cap_v2, Nichol & Dhariwal 2021).
        prediction_type: what the network predicts: the noise eps (Ho et al. 2020) or v (Salimans & Ho 2022).
        class_conditional: condition on the dataset label through a class embedding (plus a null class).
        label_dropout: probability of replacing the label by the null class (classifier-free guidance,
            Ho & Salimans 2022).
        noisy_classifier: also train a small classifier p(y | x_t, t) on the noised images
            (classifier guidance, Dhariwal & Nichol 2021).
        sample_steps / sample_guidance: DDIM steps and guidance scale of the training-time sample grids.
        eval_samples / eval_steps: samples drawn at the end of training to measure the model (0 skips).
    """

    dataset: str = choice("digits", ("digits", "faces", "shapes", "folder", "mnist", "fashion_mnist", "cifar10"))
    lr: float = number(1e-3, 1e-7, 1.0)  # 0 would train nothing
    ema_decay: float = number(0.998, 0.0, 1.0)
    sample_every: int = number(1000, 0, 10_000_000)
    num_samples: int = number(100, 1, 256)
    channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = number(1, 1, 4)
    num_train_timesteps: int = number(1000, 10, 4000)
    schedule: str = choice("cosine", SCHEDULES)
    prediction_type: str = choice("epsilon", PREDICTION_TYPES)
    class_conditional: bool = True
    label_dropout: float = number(0.1, 0.0, 1.0)
    noisy_classifier: bool = True
    sample_steps: int = number(25, 1, 1000)
    sample_guidance: float = number(2.0, 0.0, 20.0)
    eval_samples: int = number(1000, 0, 20_000)
    eval_steps: int = number(50, 1, 1000)

    def validate(self) -> "DiffusionConfig":
        """Also: the UNet's widths, and a resolution its levels halve evenly (checked when a run is asked for, not
        after it waited for the training slot)."""
        super().validate()
        self.channels = parse_widths(self.channels, "channels", (1, 5))
        halvings = 2 ** (len(self.channels) - 1)
        if self.resolution % halvings:
            raise ValueError(f"resolution {self.resolution} is not divisible by {halvings}, which {len(self.channels)} "
                             f"UNet levels (channels) halve it by; give a multiple of {halvings}, or 0 (the data's "
                             "own)")
        return self
