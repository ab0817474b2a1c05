"""The reverse process written out, one yield per step (diffusers' pipelines have no step callback).

At every step the loop yields t, x_t, the predicted noise eps-hat and the predicted clean image
x0-hat, then asks the diffusers scheduler for x_{t-1}:

* DDPM, Ho et al. 2020 Algorithm 2; DDIM, Song et al. 2021 eq. 12 (``eta``); DPM-Solver++(2M), Lu et al. 2022.
* Classifier-free guidance, Ho & Salimans 2022 eq. 6: eps~ = eps(x_t) + w (eps(x_t, y) - eps(x_t))
  (w = 0: unconditional, w = 1: conditional, w > 1: guided).
* Classifier guidance, Dhariwal & Nichol 2021 Algorithm 2: eps~ = eps(x_t) - s sqrt(1 - alpha-bar_t)
  grad_{x_t} log p_phi(y | x_t) (the score shifted by the classifier's gradient; Sohl-Dickstein et al. 2015).

Sampling with another noise schedule than the one the network was trained on: the network knows noise
*levels*, so each sampling timestep is mapped to the training timestep of equal SNR
(:func:`model_timesteps`, Kingma et al. 2021: a diffusion model depends on the schedule only through SNR).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from core.engine.events import stop_point

from .forward import split_prediction
from .schedules import check_sampler, check_schedule, make_scheduler, scheduler_from_config

GUIDANCE_TYPES = ("classifier-free", "classifier")
MAX_GUIDANCE = 20.0
# Below this alpha-bar an epsilon network cannot say where x_0 is: x0-hat = (x_t - sqrt(1 - ab) eps) / sqrt(ab)
# multiplies its error by 1 / sqrt(ab) (> 32x here; 20,000x at t = 999 of the capped cosine schedule, ab = 2.4e-9).
# Unclipped, that step saturated DDPM's 1000-step samples, and the many fine steps DDIM takes there at 100+ steps
# left speckled, wrong digits (ddpm-digits, w = 1 or 2: 55-75 % class accuracy at 250 steps vs 100 % at 20; with
# this threshold 100 % at both; core.diffusion.steps_sweep). There x0-hat is clipped to [-1, 1] (as DDPM's own
# sampler does at every step, Ho et al. 2020) and eps-hat made consistent with it; at higher alpha-bar (cosine:
# t < ~975) nothing is clipped, so guidance keeps its full effect (clipping at t = 950 weakened it).
CLIP_BELOW_ALPHA_BAR = 1e-3


@dataclass
class StepOutput:
    """One reverse step: the network saw ``x_t`` at timestep ``t`` and the scheduler made ``prev``."""

    index: int              # 0 .. num_steps-1
    num_steps: int
    t: int                  # sampling-schedule timestep
    x_t: torch.Tensor       # (B, C, H, W) in ~[-1, 1]
    x0_hat: torch.Tensor    # (B, C, H, W) predicted clean image, clipped to [-1, 1]
    eps_hat: torch.Tensor   # (B, C, H, W) predicted noise (after guidance)
    prev: torch.Tensor      # (B, C, H, W) x_{t-1} (after the last step: the sample x_0)
    elapsed: float          # seconds since the loop started


def check_sampling_args(bundle, sampler: str, steps, eta, guidance, guidance_type: str, schedule: str | None) -> None:
    """Raise ``ValueError`` with the valid range/names for any bad sampling argument."""
    check_sampler(sampler)
    if schedule is not None:
        check_schedule(schedule)
    T = bundle.num_train_timesteps
    if not isinstance(steps, (int, np.integer)) and not (isinstance(steps, float) and float(steps).is_integer()):
        raise ValueError(f"steps {steps!r} is not an integer in 1..{T}")
    if not 1 <= int(steps) <= T:
        raise ValueError(f"steps {steps} is outside 1..{T}")
    if not isinstance(eta, (int, float)) or not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"eta {eta!r} is outside 0..1")
    if not isinstance(guidance, (int, float)) or not 0.0 <= float(guidance) <= MAX_GUIDANCE:
        raise ValueError(f"guidance {guidance!r} is outside 0..{MAX_GUIDANCE:g}")
    if guidance_type not in GUIDANCE_TYPES:
        raise ValueError(f"unknown guidance type {guidance_type!r}; valid: {', '.join(GUIDANCE_TYPES)}")
    if guidance_type == "classifier" and bundle.classifier is None and float(guidance) > 0:
        raise ValueError("this checkpoint has no noisy classifier: use classifier-free guidance")


def build_scheduler(bundle, sampler: str, schedule: str | None):
    """The sampling scheduler: the checkpoint's own forward process, or ``schedule``'s betas."""
    if schedule is None or schedule == bundle.schedule:
        return scheduler_from_config(sampler, bundle.scheduler_config)
    return make_scheduler(sampler, schedule, bundle.num_train_timesteps, bundle.prediction_type)


def model_timesteps(timesteps: torch.Tensor, sample_alphas_cumprod: torch.Tensor,
                    train_alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Training timesteps with the same log-SNR as the sampling ones (identity when the schedules agree).

    log SNR(t) = log(alpha-bar_t / (1 - alpha-bar_t)) decreases with t; we interpolate t_train(log SNR).
    Noise levels outside the training range are clamped to its ends.
    """
    if sample_alphas_cumprod.shape == train_alphas_cumprod.shape and torch.allclose(
            sample_alphas_cumprod, train_alphas_cumprod, rtol=0, atol=1e-7):
        return timesteps
    lam_train = torch.log(train_alphas_cumprod.double()) - torch.log1p(-train_alphas_cumprod.double())
    ab = sample_alphas_cumprod.double()[timesteps.long()]
    lam = torch.log(ab) - torch.log1p(-ab)
    idx = np.arange(len(lam_train), dtype=np.float64)
    mapped = np.interp(lam.numpy(), lam_train.flip(0).numpy(), idx[::-1].copy())  # xp must increase
    return torch.from_numpy(mapped).float()


def guided_output(unet, x_t: torch.Tensor, t, labels: torch.Tensor | None, null_class: int | None,
                  guidance: float) -> torch.Tensor:
    """Network output with classifier-free guidance, Ho & Salimans 2022 eq. 6: out_u + w (out_c - out_u).

    The same linear combination is applied to eps or v predictions (both are linear in the score).
    ``labels`` None (or a model without classes) gives the plain output; w = 1 and w = 0 skip the
    pass they do not need.
    """
    if labels is None or null_class is None:
        return unet(x_t, t).sample
    null = torch.full_like(labels, null_class)
    if guidance == 1.0:
        return unet(x_t, t, class_labels=labels).sample
    if guidance == 0.0:
        return unet(x_t, t, class_labels=null).sample
    both = unet(torch.cat([x_t, x_t]), t, class_labels=torch.cat([labels, null])).sample
    out_c, out_u = both.chunk(2)
    return out_u + guidance * (out_c - out_u)


def classifier_gradient(classifier, x_t: torch.Tensor, t, labels: torch.Tensor) -> torch.Tensor:
    """grad_{x_t} log p_phi(y | x_t, t), (B, C, H, W) (Dhariwal & Nichol 2021, Algorithm 2)."""
    with torch.enable_grad():
        x = x_t.detach().requires_grad_(True)
        t_in = torch.as_tensor(t, device=x.device).float().expand(x.shape[0])
        log_probs = torch.log_softmax(classifier(x, t_in), dim=1)
        selected = log_probs[torch.arange(len(labels)), labels].sum()
        return torch.autograd.grad(selected, x)[0]


def _to_model_output(eps: torch.Tensor, x_t: torch.Tensor, ab: torch.Tensor, prediction_type: str) -> torch.Tensor:
    """Express a (guided) eps in the network's parametrization for the scheduler."""
    if prediction_type == "epsilon":
        return eps
    x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
    return ab.sqrt() * eps - (1 - ab).sqrt() * x0  # v (Salimans & Ho 2022)


@torch.no_grad()
def reverse_steps(bundle, num: int = 1, sampler: str = "ddim", steps: int = 50, eta: float = 0.0,
                  generator: torch.Generator | None = None, class_labels=None, guidance: float = 1.0,
                  guidance_type: str = "classifier-free", schedule: str | None = None,
                  x0: torch.Tensor | None = None, start_t: int | None = None) -> Iterator[StepOutput]:
    """Yield a :class:`StepOutput` per reverse step; the last one's ``prev`` is the sample in [-1, 1].

    With ``x0`` and ``start_t`` it is SDEdit (Meng et al. 2022), as diffusers' img2img pipelines do it: of the
    ``steps`` sampling timesteps only those at or below ``start_t`` run, from x0 noised to the first of them,
    x_t = sqrt(alpha-bar_t) x0 + sqrt(1 - alpha-bar_t) eps (eps drawn from ``generator``); a grid with none at
    or below ``start_t`` is refined until it has one (:func:`_sdedit_start`).

    Args:
        bundle: a :class:`core.diffusion.pipeline.DiffusionBundle`.
        num: images in the batch.
        sampler: "ddpm", "ddim" or "dpm++".
        steps: number of reverse steps (1..T).
        eta: DDIM's eta (0 deterministic; ignored by DDPM and DPM-Solver++).
        generator: seeds x_T and any sampler noise (same seed + eta 0 -> same image).
        class_labels: None, an int or a (num,) LongTensor of classes.
        guidance: w for classifier-free guidance, s for classifier guidance.
        guidance_type: "classifier-free" or "classifier".
        schedule: sampling noise schedule (None: the checkpoint's own).
        x0: SDEdit's clean image, (num or 1, C, H, W) in [-1, 1] at the model's size (None: start from noise).
        start_t: SDEdit's starting noise level, a training timestep index 0..T-1 (diffusers indexing).
    """
    from diffusers.utils.torch_utils import randn_tensor

    check_sampling_args(bundle, sampler, steps, eta, guidance, guidance_type, schedule)
    device, unet = bundle.device, bundle.unet
    scheduler = build_scheduler(bundle, sampler, schedule)
    scheduler.set_timesteps(int(steps), device=device)
    shape = (num, bundle.channels, bundle.resolution, bundle.resolution)
    x = randn_tensor(shape, generator=generator, device=device, dtype=unet.dtype) * scheduler.init_noise_sigma
    timesteps = scheduler.timesteps
    if x0 is not None:
        timesteps, x = _sdedit_start(scheduler, x0.to(device, unet.dtype).expand(shape), x, start_t)
    labels = None
    if class_labels is not None and bundle.null_class is not None:
        labels = torch.as_tensor(class_labels, device=device).long().expand(num).contiguous()
    elif bundle.null_class is not None:  # class "none" of a class-conditional model: its unconditional output
        labels, guidance, guidance_type = torch.full((num,), bundle.null_class, device=device), 1.0, "classifier-free"
    sample_ab = scheduler.alphas_cumprod.cpu()
    timesteps_cpu = timesteps.cpu()
    t_model_all = model_timesteps(timesteps_cpu, sample_ab, bundle.alphas_cumprod)
    same_schedule = t_model_all is timesteps_cpu
    cfg = guidance_type == "classifier-free"
    start = time.perf_counter()
    for i, t in enumerate(timesteps):
        stop_point()  # (a training run's measurement, which its Cancel may stop)
        t_model = t if same_schedule else t_model_all[i].to(device)
        x_in = scheduler.scale_model_input(x, t)
        if cfg:
            out = guided_output(unet, x_in, t_model, labels, bundle.null_class, float(guidance))
        else:  # classifier guidance steers the unconditional model
            null = None if labels is None else torch.full_like(labels, bundle.null_class)
            out = unet(x_in, t_model, class_labels=null).sample if null is not None else unet(x_in, t_model).sample
        ab = sample_ab[int(t)].to(device)
        x0_hat, eps_hat = split_prediction(out, x, ab, bundle.prediction_type)
        if float(ab) < CLIP_BELOW_ALPHA_BAR:
            x0_hat = x0_hat.clamp(-1, 1)
            eps_hat = (x - ab.sqrt() * x0_hat) / (1 - ab).sqrt()
            out = _to_model_output(eps_hat, x, ab, bundle.prediction_type)
        if not cfg and labels is not None and guidance > 0:
            grad = classifier_gradient(bundle.classifier, x, t_model, labels)
            eps_hat = eps_hat - float(guidance) * (1 - ab).sqrt() * grad
            out = _to_model_output(eps_hat, x, ab, bundle.prediction_type)
            x0_hat = (x - (1 - ab).sqrt() * eps_hat) / ab.sqrt()
        kwargs = {"eta": float(eta)} if sampler == "ddim" else {}
        prev = scheduler.step(out, t, x, generator=generator, **kwargs).prev_sample
        yield StepOutput(i, len(timesteps), int(t), x, x0_hat.clamp(-1, 1), eps_hat, prev,
                         time.perf_counter() - start)
        x = prev


def _sdedit_start(scheduler, x0: torch.Tensor, noise: torch.Tensor, start_t) -> tuple[torch.Tensor, torch.Tensor]:
    """(the timesteps at or below ``start_t``, x0 noised to the first of them).

    When the grid is too coarse to have a timestep at or below ``start_t`` (1 step over 0..999 is t = 999 alone),
    it is refined to ceil(T / (start_t + 1)) steps, the fewest whose last timestep is at or below ``start_t``, so
    the image is never noised above the level asked for.
    """
    T = len(scheduler.alphas_cumprod)
    if start_t is None or not 0 <= int(start_t) < T:
        raise ValueError(f"start_t {start_t!r} is outside 0..{T - 1}")
    if not (scheduler.timesteps <= int(start_t)).any():
        scheduler.set_timesteps(math.ceil(T / (int(start_t) + 1)), device=x0.device)
    all_t = scheduler.timesteps
    begin = int((all_t > int(start_t)).sum())
    if hasattr(scheduler, "set_begin_index"):   # multistep solvers keep their own step index (as img2img does)
        scheduler.set_begin_index(begin * scheduler.order)
    timesteps = all_t[begin:]
    return timesteps, scheduler.add_noise(x0, noise, timesteps[:1].repeat(len(x0)))


def sample_images(bundle, num: int = 1, **kwargs) -> torch.Tensor:
    """Run :func:`reverse_steps` to the end; images (num, C, H, W) in [0, 1]."""
    last = None
    for last in reverse_steps(bundle, num, **kwargs):
        pass
    return (last.prev / 2 + 0.5).clamp(0, 1)
