"""The VAE explorer's training config: one flat dataclass shared by the CLI and the Train panel."""

from __future__ import annotations

from dataclasses import dataclass

from core.engine import TrainConfig, choice, number

MODEL_TYPES = ("ae", "dae", "vae", "vqvae")


@dataclass
class VAEConfig(TrainConfig):
    """Settings of an AE / denoising AE / (beta-)VAE / VQ-VAE run (plus the engine's fields).

    Args:
        model_type: "ae" (plain autoencoder), "dae" (denoising AE), "vae" (VAE; beta-VAE when
            beta != 1) or "vqvae" (vector-quantised VAE).
        latent_dim: size of z for ae / dae / vae (2 gives a latent *map*).
        beta: weight of the KL term (Higgins et al. 2017); 1 is the plain ELBO.
        kl_warmup: steps over which beta ramps linearly from 0 (0 = no warm-up).
        likelihood: decoder distribution: "bernoulli" (binary cross-entropy) or "gaussian" (MSE).
        gaussian_sigma: fixed standard deviation of the Gaussian decoder.
        noise_std: std of the Gaussian noise a denoising AE must remove (its inputs are clamped to [0, 1]).
        channels: width of the first conv layer (doubled at each downsampling, capped at 8x).
        hidden: width of the fully connected layer between the conv stack and z.
        num_codes: VQ-VAE codebook size K.
        code_dim: VQ-VAE code vector size D.
        vq_downsample: stride-2 convolutions before quantising (64 px / 2**2 -> a 16x16 code map).
        commitment: beta of the VQ-VAE commitment term (van den Oord et al. 2017 use 0.25).
        vq_ema: update the codebook by exponential moving averages instead of the codebook loss.
        vq_ema_decay: gamma of those averages. (The engine's weight EMA, ``ema_decay``, is forced to 0
            for VQ-VAE: averaging weights across codebook changes decodes washed-out images.)
        train_images: train on the first N images of the train split only (0 = all of them).
        cache_images: keep drawn training images in memory (uint8) instead of re-rendering them.
    """

    dataset: str = choice("digits", ("digits", "faces", "shapes", "folder", "mnist", "fashion_mnist", "cifar10"))
    steps: int = number(3000, 1, 10_000_000)
    batch_size: int = number(128, 1, 4096)
    lr: float = number(1e-3, 1e-7, 1.0)  # 0 would train nothing
    grad_clip: float = number(0.0, 0.0, 1e6, help="max gradient norm; 0 disables (losses are nats per image)")
    ema_decay: float = number(0.995, 0.0, 1.0)
    sample_every: int = number(250, 0, 10_000_000)
    checkpoint_every: int = number(500, 0, 10_000_000)

    model_type: str = choice("vae", MODEL_TYPES, help="ae, dae (denoising), vae (beta-VAE when beta != 1), vqvae")
    latent_dim: int = number(2, 1, 512, help="size of z (ae / dae / vae)")
    beta: float = number(1.0, 0.0, 1000.0, help="weight of the KL term (beta-VAE)")
    kl_warmup: int = number(0, 0, 10_000_000, help="steps of linear beta warm-up from 0")
    likelihood: str = choice("bernoulli", ("bernoulli", "gaussian"), help="decoder p(x|z): BCE or MSE")
    gaussian_sigma: float = number(0.1, 1e-3, 10.0, help="std of the Gaussian decoder")
    noise_std: float = number(0.3, 0.0, 2.0, help="input noise of the denoising AE")
    channels: int = number(32, 4, 256, help="width of the first conv layer")
    hidden: int = number(256, 8, 4096, help="width of the dense layer before z")
    num_codes: int = number(128, 2, 4096, help="VQ-VAE codebook size K")
    code_dim: int = number(16, 1, 512, help="VQ-VAE code size D")
    vq_downsample: int = number(2, 1, 4, help="VQ-VAE stride-2 convs before quantising")
    commitment: float = number(0.25, 0.0, 10.0, help="VQ-VAE commitment weight")
    vq_ema: bool = True
    vq_ema_decay: float = number(0.99, 0.0, 0.99999, help="VQ-VAE EMA codebook decay")
    train_images: int = number(0, 0, 100_000_000, help="use the first N training images (0 = all)")
    cache_images: bool = True
