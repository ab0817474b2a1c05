"""The latent-diffusion reverse process written out, one yield per step (for previews and attention maps).

Classifier-free guidance (Ho & Salimans 2022 eq. 6), with the negative prompt c_neg in place of the empty prompt:
    eps~ = eps(z_t, c_neg) + w (eps(z_t, c) - eps(z_t, c_neg))
w = 0 is the negative (or unconditional) model alone, w = 1 the conditional model, w > 1 pushes away from c_neg.
The scheduler then turns eps~ into z_{t-1}; the decoded z0-hat = (z_t - sqrt(1 - alpha-bar_t) eps~) / sqrt(alpha-bar_t)
is the preview. The loop matches ``StableDiffusionPipeline.__call__`` step for step (same noise, same order), so a
saved pipeline gives the same image in diffusers.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Iterator

import torch

from core.engine.events import stop_point

from .attention import record_cross_attention
from .pipeline import sampling_scheduler

MAX_GUIDANCE = 20.0


@dataclass
class LatentStep:
    index: int                       # 0 .. num_steps - 1
    num_steps: int
    t: int
    latents: torch.Tensor            # (B, 4, h, w) z_t, before this step
    x0_latents: torch.Tensor         # (B, 4, h, w) predicted clean latent z0-hat
    prev: torch.Tensor               # (B, 4, h, w) z_{t-1} (after the last step: z_0)
    attention: torch.Tensor | None   # (B, L, h, w) cross-attention over the prompt tokens (conditional pass)
    elapsed: float


def guided(eps_negative: torch.Tensor, eps_prompt: torch.Tensor, w: float) -> torch.Tensor:
    """eps~ = eps_neg + w (eps_prompt - eps_neg) (Ho & Salimans 2022 eq. 6)."""
    return eps_negative + w * (eps_prompt - eps_negative)


def latent_shape(pipe, num: int) -> tuple[int, int, int, int]:
    size = pipe.unet.config.sample_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    return (num, pipe.unet.config.in_channels, *size)


def image_side(pipe) -> int:
    """The side in pixels of the images ``pipe`` draws and learns from: the UNet's latent side times the
    autoencoder's downsampling factor."""
    size = pipe.unet.config.sample_size
    return int(size if isinstance(size, int) else size[0]) * 2 ** (len(pipe.vae.config.block_out_channels) - 1)


def img2img_steps(steps: int, strength: float) -> int:
    """The reverse steps an image-to-image run takes of ``steps``: the last ``strength`` of them, as diffusers'
    ``StableDiffusionImg2ImgPipeline.get_timesteps`` counts (int(steps * strength)), and at least one (diffusers
    refuses a run left with none)."""
    return max(1, min(int(steps * strength), steps))


@torch.no_grad()
def denoise(pipe, prompt_embeds: torch.Tensor, negative_embeds: torch.Tensor, steps: int = 25, guidance: float = 4.0,
            sampler: str = "ddim", generator: torch.Generator | None = None, record_attention: bool = False,
            init_latents: torch.Tensor | None = None, strength: float = 1.0) -> Iterator[LatentStep]:
    """Yield a :class:`LatentStep` per reverse step from z_T ~ N(0, I), or, given ``init_latents``, from them
    noised to the step where the last :func:`img2img_steps` of the schedule begin (SDEdit, Meng et al. 2022:
    z_t = sqrt(alpha-bar_t) z_0 + sqrt(1 - alpha-bar_t) eps, the scheduler's ``add_noise``).

    Args:
        prompt_embeds / negative_embeds: (B, L, D) text hidden states of the prompts and negative prompts.
        steps: reverse steps (1..num_train_timesteps); guidance: w in [0, 20]; sampler: ddim, dpm++, euler, ddpm.
        generator: seeds z_T or the added noise (and DDPM's noise): the same seed gives the same image.
        record_attention: also capture the cross-attention maps of the conditional pass.
        init_latents: (B, 4, h, w) the encoded start image (scaled by the autoencoder's ``scaling_factor``).
        strength: in (0, 1], how much of the schedule runs from the start image (1: from nearly pure noise).
    """
    from diffusers.utils.torch_utils import randn_tensor

    unet, device = pipe.unet, pipe.unet.device
    scheduler = sampling_scheduler(pipe, sampler)
    scheduler.set_timesteps(int(steps), device=device)
    shape = latent_shape(pipe, prompt_embeds.shape[0])
    timesteps = scheduler.timesteps
    if init_latents is None:
        latents = randn_tensor(shape, generator=generator, device=device, dtype=prompt_embeds.dtype)
        latents = latents * scheduler.init_noise_sigma
    else:  # the order of StableDiffusionImg2ImgPipeline: the same seed gives diffusers' image
        begin = (int(steps) - img2img_steps(int(steps), strength)) * scheduler.order
        timesteps = timesteps[begin:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(begin)
        noise = randn_tensor(shape, generator=generator, device=device, dtype=prompt_embeds.dtype)
        latents = scheduler.add_noise(init_latents.to(device, prompt_embeds.dtype), noise, timesteps[:1].repeat(shape[0]))
    both = guidance not in (0.0, 1.0)
    embeds = torch.cat([negative_embeds, prompt_embeds]) if both else (prompt_embeds if guidance == 1.0 else negative_embeds)
    recorder = record_cross_attention(unet, shape[-2:]) if record_attention else nullcontext()
    ab_all = scheduler.alphas_cumprod.to(device)
    start = time.perf_counter()
    with recorder as store:
        if store is not None:
            store.take = slice(shape[0], None) if both else slice(None)
        for i, t in enumerate(timesteps):
            stop_point()  # (a measurement's Cancel: the Evaluate tab, a training run's card)
            model_in = torch.cat([latents] * 2) if both else latents
            model_in = scheduler.scale_model_input(model_in, t)
            eps = unet(model_in, t, encoder_hidden_states=embeds).sample
            if both:
                eps_negative, eps_prompt = eps.chunk(2)
                eps = guided(eps_negative, eps_prompt, float(guidance))
            out = scheduler.step(eps, t, latents, generator=generator)
            x0 = getattr(out, "pred_original_sample", None)
            if x0 is None:  # DPM-Solver++ does not return it: the VP-space formula
                ab = ab_all[int(t)]
                x0 = (latents - (1 - ab).sqrt() * eps) / ab.sqrt()
            attention = store.step_maps() if store is not None else None
            yield LatentStep(i, len(timesteps), int(t), latents, x0, out.prev_sample, attention,
                             time.perf_counter() - start)
            latents = out.prev_sample


@torch.no_grad()
def encode(pipe, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Latents z ~ q(z | x) (B, 4, h, w), times the autoencoder's ``scaling_factor``, of images (B, 3, H, W) in
    [0, 1]: a sample of the encoder's Gaussian drawn with ``generator``, as diffusers' image-to-image pipeline does."""
    vae = pipe.vae
    posterior = vae.encode((images * 2 - 1).to(vae.device, vae.dtype)).latent_dist
    return posterior.sample(generator) * vae.config.scaling_factor


@torch.no_grad()
def decode(pipe, latents: torch.Tensor) -> torch.Tensor:
    """Images (B, 3, H, W) in [0, 1] from latents z (divided by the autoencoder's ``scaling_factor`` first)."""
    vae = pipe.vae
    image = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor).sample
    return (image.float() / 2 + 0.5).clamp(0, 1)


@torch.no_grad()
def images_for_prompts(pipe, prompts: list[str], generator: torch.Generator | None = None, steps: int = 25,
                       guidance: float = 4.0, sampler: str = "ddim", init_images: torch.Tensor | None = None,
                       strength: float = 1.0) -> torch.Tensor:
    """One image (N, 3, H, W) in [0, 1] per prompt, with the empty prompt as the negative (classifier-free guidance
    w = ``guidance``); the generator seeds them all. ``init_images`` (N, 3, H, W) in [0, 1]: image-to-image from
    them at ``strength`` (:func:`denoise`)."""
    from .text_encoders import encode_prompts

    device, dtype = pipe.unet.device, pipe.unet.dtype
    cond = encode_prompts(pipe.tokenizer, pipe.text_encoder, list(prompts), device).embeds.to(dtype)
    neg = encode_prompts(pipe.tokenizer, pipe.text_encoder, [""] * len(prompts), device).embeds.to(dtype)
    init_latents = None if init_images is None else encode(pipe, init_images, generator)
    last = None
    for last in denoise(pipe, cond, neg, steps, guidance, sampler, generator, init_latents=init_latents,
                        strength=strength):
        pass
    return decode(pipe, last.prev)
