"""Tiny text-to-image parts for the tests: a Stable Diffusion pipeline built from components (no download)."""

from __future__ import annotations

import torch

CAPTIONS = ["a large red circle", "a small blue square above a large green star", "a medium yellow heart",
            "a large pink diamond to the left of a small cyan cross"] * 5


def tiny_tokenizer(max_length: int = 16):
    from core.text2image.tokenizer import train_clip_tokenizer

    return train_clip_tokenizer(CAPTIONS, max_length, vocab_size=600)


def tiny_pipeline(seed: int = 0, scheduler: str = "ddpm", resolution: int = 16):
    """A randomly initialised StableDiffusionPipeline with diffusers' test sizes: 16 px images, 8 px latents."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel

    from core.text2image.models import build_autoencoder
    from core.text2image.pipeline import assemble, training_scheduler

    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=tokenizer.model_max_length, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)).eval()
    unet = diffusers.UNet2DConditionModel(
        sample_size=resolution // 2, in_channels=4, out_channels=4, block_out_channels=(4, 8), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=8, norm_num_groups=2, attention_head_dim=2).eval()
    vae = build_autoencoder(resolution, widths=(8, 8)).eval()
    if scheduler == "pndm":  # what a real Stable Diffusion folder ships
        sched = diffusers.PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                        skip_prk_steps=True, steps_offset=1)
    else:
        sched = training_scheduler(1000, 0.00085, 0.012)
    return assemble(unet, vae, tokenizer, text_encoder, sched)


def tiny_method(tmp_path, clip_width: int = 16, **changes):
    """A Text2ImageMethod at 16 px on a 2-step autoencoder (tmp_path/ae) and a 2-step CLIP of width ``clip_width``
    (tmp_path/clip); ``changes`` override its config."""
    from core.engine import Trainer
    from core.text2image.autoencoder_method import AutoencoderMethod
    from core.text2image.clip_method import ClipMethod
    from core.text2image.config import AutoencoderConfig, ClipConfig, Text2ImageConfig
    from core.text2image.method import Text2ImageMethod

    quiet = dict(steps=2, batch_size=4, sample_every=0, checkpoint_every=0, log_every=1, num_samples=2, device="cpu")
    ae = AutoencoderConfig(resolution=16, widths=(8, 8), eval_images=8, **quiet)
    list(Trainer(AutoencoderMethod(ae), tmp_path / "ae").run())
    clip = ClipConfig(resolution=16, width=clip_width, layers=1, heads=2, patch_size=8, projection_dim=8,
                      tokenizer_captions=200, max_length=32, **quiet)
    list(Trainer(ClipMethod(clip), tmp_path / "clip").run())
    config = Text2ImageConfig(**{**quiet, "resolution": 16, "widths": (8, 16), "heads": 2, "eval_prompts": 0,
                                 "sample_steps": 2, "autoencoder": str(tmp_path / "ae"),
                                 "text_encoder": str(tmp_path / "clip"), **changes})
    return Text2ImageMethod(config)


def generate_with(pipe, prompt="a large red circle", negative="", steps=3, guidance=3.0, seed=0, sampler="ddim",
                  num=1, attention=False):
    """``core.text2image.service.generate`` through its request check, with small defaults."""
    from core.text2image.service import check_request, generate

    return generate(pipe, check_request(prompt, negative, steps, guidance, seed, sampler, num), attention)
