"""Noise schedules: beta_t, alpha-bar_t and SNR(t), and the diffusers schedulers built on them.

Notation of Ho et al. 2020 (https://arxiv.org/abs/2006.11239): ``betas[t]`` = beta_t,
``alphas_cumprod[t]`` = alpha-bar_t = prod_{s<=t} (1 - beta_s), and the signal-to-noise ratio
SNR(t) = alpha-bar_t / (1 - alpha-bar_t) (Kingma et al. 2021, https://arxiv.org/abs/2107.00630).
The betas come from diffusers' ``DDPMScheduler`` (the one scheduler that implements all four
schedules); every sampler is then given the same ``trained_betas``, so DDPM, DDIM and DPM-Solver++
walk the same forward process.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from .config import SCHEDULES
from .lib import diffusers_class

# user-facing name -> diffusers ``beta_schedule``
DIFFUSERS_BETA_SCHEDULE = {
    "linear": "linear",                 # Ho et al. 2020: beta from 1e-4 to 0.02
    "cosine": "squaredcos_cap_v2",      # Nichol & Dhariwal 2021 eq. 17, beta capped at 0.999
    "sigmoid": "sigmoid",               # GeoDiff (Xu et al. 2022): sigmoid(linspace(-6, 6)) scaled to [1e-4, 0.02]
    "scaled_linear": "scaled_linear",   # latent diffusion: linspace of sqrt(beta), squared
}
SCHEDULER_CLASSES = {"ddpm": "DDPMScheduler", "ddim": "DDIMScheduler", "dpm++": "DPMSolverMultistepScheduler"}
SAMPLERS = tuple(SCHEDULER_CLASSES)
# Sampling always uses "trailing" timestep spacing with no offset (Lin et al. 2024, "Common Diffusion Noise
# Schedules and Sample Steps Are Flawed", table 2): n steps start at the noisiest timestep T - 1 and fall in
# strides of T / n, for every n in 1..T. diffusers' default "leading" spacing never starts at T - 1 (1 step runs
# only t = 0: pure noise out; 50 steps start at 980), and Stable Diffusion's ``steps_offset: 1`` pushes the
# first of 1000 steps to t = 1000, outside the schedule (an IndexError).
SAMPLING_SPACING = {"timestep_spacing": "trailing", "steps_offset": 0}


def check_schedule(name: str) -> str:
    """Return ``name`` when it is a known schedule, else raise ``ValueError`` listing them."""
    if name not in DIFFUSERS_BETA_SCHEDULE:
        raise ValueError(f"unknown noise schedule {name!r}; valid schedules: {', '.join(SCHEDULES)}")
    return name


def check_sampler(name: str) -> str:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid samplers: {', '.join(SAMPLERS)}")
    return name


@lru_cache(maxsize=None)
def scheduler_class(sampler: str):
    """The diffusers scheduler class for ``sampler``; for "ddim", :func:`_ddim_with_safe_variance`'s subclass."""
    cls = diffusers_class(SCHEDULER_CLASSES[check_sampler(sampler)])
    return _ddim_with_safe_variance(cls) if sampler == "ddim" else cls


def _ddim_with_safe_variance(base):
    """diffusers' ``DDIMScheduler`` with sigma_t^2 kept just below 1 - alpha-bar_{t-1}.

    DDIM's step (Song et al. 2021, eq. 12) takes sqrt(1 - alpha-bar_{t-1} - sigma_t^2) with, at eta = 1,
    sigma_t^2 = (1 - alpha-bar_{t-1}) / (1 - alpha-bar_t) * (1 - alpha-bar_t / alpha-bar_{t-1}), which tends to
    1 - alpha-bar_{t-1} as alpha-bar_t -> 0. At t = 999 of the capped cosine schedule (alpha-bar = 2.4e-9) the
    float32 difference rounds below zero and the square root is NaN: 5 DDIM steps at eta 1 gave an all-black image.
    Capping sigma_t^2 at (1 - 1e-6) (1 - alpha-bar_{t-1}) changes sigma_t by at most 5e-7 of itself.
    """

    class DDIMSchedulerSafeVariance(base):
        def _get_variance(self, timestep, prev_timestep):
            variance = super()._get_variance(timestep, prev_timestep)
            ab_prev = self.alphas_cumprod[prev_timestep] if prev_timestep >= 0 else self.final_alpha_cumprod
            return torch.minimum(variance, (1 - ab_prev) * (1 - 1e-6))

    return DDIMSchedulerSafeVariance


@lru_cache(maxsize=32)
def _betas(name: str, num_train_timesteps: int) -> torch.Tensor:
    return diffusers_class("DDPMScheduler")(num_train_timesteps=num_train_timesteps,
                                             beta_schedule=DIFFUSERS_BETA_SCHEDULE[check_schedule(name)]).betas.clone()


def betas(name: str, num_train_timesteps: int = 1000) -> torch.Tensor:
    """beta_t for t = 0..T-1, shape (T,), float32."""
    return _betas(check_schedule(name), int(num_train_timesteps)).clone()


def alphas_cumprod(name: str, num_train_timesteps: int = 1000) -> torch.Tensor:
    """alpha-bar_t = prod_{s<=t} (1 - beta_s) (Ho et al. 2020, eq. 4), shape (T,)."""
    return torch.cumprod(1.0 - betas(name, num_train_timesteps).double(), 0).float()


def snr(name: str, num_train_timesteps: int = 1000) -> torch.Tensor:
    """SNR(t) = alpha-bar_t / (1 - alpha-bar_t) (Kingma et al. 2021, eq. 1 and 2), shape (T,)."""
    ab = alphas_cumprod(name, num_train_timesteps).double()
    return (ab / (1.0 - ab)).float()


def schedule_curves(num_train_timesteps: int = 1000) -> dict[str, dict[str, torch.Tensor]]:
    """{schedule: {"beta": beta_t, "alpha_bar": alpha-bar_t, "snr": SNR(t)}} for every schedule."""
    return {name: {"beta": betas(name, num_train_timesteps), "alpha_bar": alphas_cumprod(name, num_train_timesteps),
                   "snr": snr(name, num_train_timesteps)} for name in SCHEDULES}


def make_scheduler(sampler: str, schedule: str, num_train_timesteps: int = 1000,
                   prediction_type: str = "epsilon"):
    """A fresh diffusers scheduler for ``sampler`` ("ddpm", "ddim", "dpm++") over ``schedule``'s betas.

    DDPM: ancestral sampling, Ho et al. 2020 Algorithm 2. DDIM: Song et al. 2021 eq. 12 (eta blends
    deterministic DDIM, eta = 0, with DDPM-like noise, eta = 1). DPM-Solver++(2M): Lu et al. 2022.
    """
    cls = scheduler_class(sampler)
    common = dict(num_train_timesteps=num_train_timesteps, trained_betas=betas(schedule, num_train_timesteps).tolist(),
                  prediction_type=prediction_type, **SAMPLING_SPACING)
    # No clipping of x0-hat to [-1, 1]: at high noise x0-hat = (x_t - sqrt(1 - ab) eps) / sqrt(ab) amplifies
    # the guidance term by 1 / sqrt(ab) (~13x at t = 950 of the cosine schedule); clipping it there wrecked
    # guided samples of the bundled digits model (class accuracy 53 % at w = 2, 0 % at w = 3 with clipping;
    # 100 % / 100 % without, 30 samples each, DDIM 20 steps).
    if sampler == "ddpm":
        return cls(**common, clip_sample=False, variance_type="fixed_small")
    if sampler == "ddim":
        return cls(**common, clip_sample=False, set_alpha_to_one=True)
    return cls(**common, algorithm_type="dpmsolver++", solver_order=2)


def scheduler_from_config(sampler: str, config: dict):
    """A scheduler for ``sampler`` from a saved scheduler config (e.g. a diffusers pipeline folder's), with the
    forward process of the config and :data:`SAMPLING_SPACING` for the sampling timesteps."""
    cls = scheduler_class(sampler)
    return cls.from_config({**dict(config), **SAMPLING_SPACING})
