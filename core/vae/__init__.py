"""Autoencoders for GenLab's VAE latent explorer: AE, denoising AE, VAE / beta-VAE and VQ-VAE.

Read in this order: ``losses.py`` (the ELBO terms and the VQ-VAE objective, with the paper
equations), ``networks.py`` (convolutional encoder / decoder), ``models.py`` (the four models),
``method.py`` (how the shared engine trains them), ``explore.py`` (what the tab computes).
Nothing is loaded at import time.
"""

from .config import MODEL_TYPES, VAEConfig
from .models import AutoEncoder, VAE, VQVAE, build_model_from_config, load_vae

__all__ = ["MODEL_TYPES", "VAEConfig", "AutoEncoder", "VAE", "VQVAE", "build_model_from_config", "load_vae"]
