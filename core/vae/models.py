"""The four models of the explorer, each an ``nn.Module`` + ``PyTorchModelHubMixin``.

``Model.from_pretrained(folder)`` rebuilds any of them from ``config.json`` + ``model.safetensors``;
:func:`load_vae` picks the class from ``config.json``'s ``model_type``. All share one interface
the tab uses: ``encode(x)`` (a deterministic latent), ``decode(z)`` (images in [0, 1]),
``reconstruct(x)`` and ``sample_prior(n, generator)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from core.engine import CheckpointError, load_pretrained

from .networks import DenseDecoder, DenseEncoder, GridDecoder, GridEncoder


class _ImageModel(nn.Module):
    """Shared helpers; subclasses define ``encode``, ``decoder`` and ``sample_latent``."""

    in_channels: int
    image_size: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.image_size, self.image_size)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, *latent_shape) -> images (B, C, H, W) in [0, 1]: the decoder mean sigmoid(logits)."""
        return torch.sigmoid(self.decoder(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> decode(encode(x)) (B, C, H, W) in [0, 1], deterministic."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def sample_prior(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``num`` images decoded from latents drawn from the model's prior p(z)."""
        return self.decode(self.sample_latent(num, generator))


class AutoEncoder(_ImageModel, PyTorchModelHubMixin):
    """A deterministic autoencoder x -> z -> x_hat (``model_type`` "ae"), or a denoising one ("dae").

    The denoising AE (Vincent et al., ICML 2008, https://doi.org/10.1145/1390156.1390294) is the
    same network trained to map ``x + noise`` back to ``x`` (noise added by the method).
    An AE has no prior: :meth:`sample_latent` draws z ~ N(0, I) anyway, which is exactly why its
    samples look poor next to a VAE's (its codes do not fill that Gaussian).
    """

    def __init__(self, model_type: str = "ae", in_channels: int = 1, image_size: int = 28, latent_dim: int = 2,
                 channels: int = 32, hidden: int = 256, likelihood: str = "bernoulli",
                 gaussian_sigma: float = 0.1, noise_std: float = 0.0):
        super().__init__()
        if model_type not in ("ae", "dae"):
            raise ValueError(f"AutoEncoder model_type must be 'ae' or 'dae', not {model_type!r}")
        self.model_type, self.in_channels, self.image_size = model_type, in_channels, image_size
        self.latent_dim, self.likelihood, self.gaussian_sigma = latent_dim, likelihood, gaussian_sigma
        self.noise_std = noise_std
        self.encoder = DenseEncoder(in_channels, image_size, channels, hidden, latent_dim)
        self.decoder = DenseDecoder(in_channels, image_size, channels, hidden, latent_dim)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.latent_dim,)

    def encode(self, x):  # (B, C, H, W) -> (B, J)
        return self.encoder(x)

    def sample_latent(self, num, generator=None):  # z ~ N(0, I), drawn on the generator's device
        where = generator.device if generator is not None else self.device
        return torch.randn(num, self.latent_dim, generator=generator, device=where).to(self.device)

    def forward(self, x):
        """x (B, C, H, W) -> {"z": (B, J), "logits": (B, C, H, W)}."""
        z = self.encoder(x)
        return {"z": z, "logits": self.decoder(z)}


class VAE(_ImageModel, PyTorchModelHubMixin):
    """Variational autoencoder (Kingma & Welling 2014) / beta-VAE (Higgins et al. 2017).

    The encoder outputs q(z|x) = N(mu, diag exp(logvar)); z is drawn with the reparameterisation
    trick ``z = mu + sigma * eps, eps ~ N(0, I)`` (Kingma & Welling 2014, Section 2.4, eq. 4 and
    the Gaussian example of Section 2.4), so the ELBO is differentiable in the encoder's weights.
    The prior is p(z) = N(0, I). ``encode`` returns the posterior mean.
    """

    def __init__(self, model_type: str = "vae", in_channels: int = 1, image_size: int = 28, latent_dim: int = 2,
                 channels: int = 32, hidden: int = 256, likelihood: str = "bernoulli",
                 gaussian_sigma: float = 0.1, beta: float = 1.0):
        super().__init__()
        if model_type != "vae":
            raise ValueError(f"VAE model_type must be 'vae', not {model_type!r}")
        self.model_type, self.in_channels, self.image_size = model_type, in_channels, image_size
        self.latent_dim, self.likelihood, self.gaussian_sigma, self.beta = latent_dim, likelihood, gaussian_sigma, beta
        self.encoder = DenseEncoder(in_channels, image_size, channels, hidden, 2 * latent_dim)
        self.decoder = DenseDecoder(in_channels, image_size, channels, hidden, latent_dim)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.latent_dim,)

    def posterior(self, x):  # (B, C, H, W) -> mu, logvar (B, J) each
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def encode(self, x):  # the posterior mean (B, J)
        return self.posterior(x)[0]

    def sample_latent(self, num, generator=None):  # z ~ N(0, I), drawn on the generator's device
        where = generator.device if generator is not None else self.device
        return torch.randn(num, self.latent_dim, generator=generator, device=where).to(self.device)

    def forward(self, x):
        """x -> {"mu", "logvar", "z" (B, J), "logits" (B, C, H, W)} with one reparameterised sample z."""
        mu, logvar = self.posterior(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterisation trick
        return {"mu": mu, "logvar": logvar, "z": z, "logits": self.decoder(z)}


class VectorQuantizer(nn.Module):
    """Nearest-neighbour lookup in a codebook e (K, D) with the straight-through gradient.

    van den Oord et al. 2017, eq. 1-2: ``k = argmin_j ||z_e(x) - e_j||``, ``z_q(x) = e_k``; the
    decoder input is ``z_e + sg[z_q - z_e]`` so the reconstruction gradient is copied from z_q to
    z_e ("straight-through", Section 3.2). With ``ema=True`` the codebook follows exponential
    moving averages of the encoder outputs assigned to each code (Appendix A.1, eq. 6-8) instead of
    the codebook loss, and codes unused for a while are restarted at random encoder outputs.
    """

    def __init__(self, num_codes: int, code_dim: int, ema: bool = True, decay: float = 0.99, eps: float = 1e-5):
        super().__init__()
        self.num_codes, self.code_dim, self.ema, self.decay, self.eps = num_codes, code_dim, ema, decay, eps
        init = torch.empty(num_codes, code_dim).uniform_(-1.0 / num_codes, 1.0 / num_codes)
        if ema:
            self.register_buffer("embedding", init)
        else:
            self.embedding = nn.Parameter(init)
        self.register_buffer("cluster_size", torch.zeros(num_codes))  # N_i of eq. 6
        self.register_buffer("embed_sum", init.clone())  # m_i of eq. 7
        self.register_buffer("usage", torch.ones(num_codes))  # code frequencies (the unigram prior)

    def nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """z_e (B, D, h, w) -> code indices (B, h, w) of the nearest codebook vectors (eq. 1)."""
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, self.code_dim)  # (B*h*w, D)
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embedding.t() + self.embedding.pow(2).sum(1)[None]
        b, _, h, w = z_e.shape
        return dist.argmin(1).view(b, h, w)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """indices (B, h, w) -> z_q (B, D, h, w)."""
        return self.embedding[indices].permute(0, 3, 1, 2).contiguous()

    @torch.no_grad()
    def _ema_update(self, z_e: torch.Tensor, indices: torch.Tensor) -> None:
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, self.code_dim)
        onehot = torch.nn.functional.one_hot(indices.reshape(-1), self.num_codes).type_as(flat)  # (N, K)
        n = onehot.sum(0)
        self.cluster_size.mul_(self.decay).add_(n, alpha=1 - self.decay)  # eq. 6
        self.embed_sum.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)  # eq. 7
        total = self.cluster_size.sum()  # Laplace smoothing keeps empty clusters finite
        size = (self.cluster_size + self.eps) / (total + self.num_codes * self.eps) * total
        self.embedding.copy_(self.embed_sum / size[:, None])  # eq. 8
        dead = self.cluster_size < 1e-3 * flat.shape[0] / self.num_codes
        if dead.any():  # restart dead codes at random encoder outputs of this batch
            pick = torch.randint(len(flat), (int(dead.sum()),), device=flat.device)
            self.embedding[dead] = flat[pick]
            self.embed_sum[dead] = flat[pick]
            self.cluster_size[dead] = 1.0

    def forward(self, z_e):
        """z_e (B, D, h, w) -> (z_q with straight-through gradient, z_q, indices (B, h, w))."""
        indices = self.nearest(z_e.detach())
        z_q = self.lookup(indices)
        if self.training and self.ema:
            self._ema_update(z_e.detach(), indices)
            z_q = self.lookup(indices)
        z_st = z_e + (z_q - z_e).detach()  # straight-through estimator
        return z_st, z_q, indices


class VQVAE(_ImageModel, PyTorchModelHubMixin):
    """VQ-VAE (van den Oord et al. 2017): a grid of discrete codes instead of a Gaussian z.

    ``encode`` returns the quantised grid z_q (B, D, h, w); :meth:`code_indices` the (B, h, w)
    indices. The paper fits an autoregressive prior (PixelCNN) over code grids afterwards; this
    model has none, so :meth:`sample_latent` draws every position independently from the code
    frequencies measured on training images (``quantizer.usage``): such samples show local
    texture but no global face, which is the reason a learned prior is needed.
    """

    def __init__(self, model_type: str = "vqvae", in_channels: int = 3, image_size: int = 64, channels: int = 32,
                 num_codes: int = 128, code_dim: int = 16, downsample: int = 2, commitment: float = 0.25,
                 ema: bool = True, ema_decay: float = 0.99, likelihood: str = "bernoulli",
                 gaussian_sigma: float = 0.1):
        super().__init__()
        if model_type != "vqvae":
            raise ValueError(f"VQVAE model_type must be 'vqvae', not {model_type!r}")
        if image_size % 2**downsample:
            raise ValueError(f"image size {image_size} is not divisible by 2**{downsample}")
        self.model_type, self.in_channels, self.image_size = model_type, in_channels, image_size
        self.num_codes, self.code_dim, self.downsample, self.commitment = num_codes, code_dim, downsample, commitment
        self.likelihood, self.gaussian_sigma = likelihood, gaussian_sigma
        self.encoder = GridEncoder(in_channels, channels, code_dim, downsample)
        self.quantizer = VectorQuantizer(num_codes, code_dim, ema=ema, decay=ema_decay)
        self.decoder = GridDecoder(in_channels, channels, code_dim, downsample)

    @property
    def grid_size(self) -> int:
        return self.image_size // 2**self.downsample

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.code_dim, self.grid_size, self.grid_size)

    def code_indices(self, x):  # (B, C, H, W) -> (B, h, w) long
        return self.quantizer.nearest(self.encoder(x))

    def encode(self, x):  # (B, C, H, W) -> z_q (B, D, h, w)
        return self.quantizer.lookup(self.code_indices(x))

    def decode_indices(self, indices):  # (B, h, w) -> images (B, C, H, W) in [0, 1]
        return self.decode(self.quantizer.lookup(indices))

    def sample_latent(self, num, generator=None):
        p = self.quantizer.usage.float().cpu().clamp_min(0)
        p = p / p.sum() if p.sum() > 0 else torch.full_like(p, 1.0 / len(p))
        idx = torch.multinomial(p, num * self.grid_size**2, replacement=True,
                                generator=generator if generator is not None and generator.device.type == "cpu" else None)
        return self.quantizer.lookup(idx.view(num, self.grid_size, self.grid_size).to(self.device))

    def forward(self, x):
        """x -> {"z_e", "z_q" (B, D, h, w), "indices" (B, h, w), "logits" (B, C, H, W)}."""
        z_e = self.encoder(x)
        z_st, z_q, indices = self.quantizer(z_e)
        return {"z_e": z_e, "z_q": z_q, "indices": indices, "logits": self.decoder(z_st)}


MODEL_CLASSES = {"ae": AutoEncoder, "dae": AutoEncoder, "vae": VAE, "vqvae": VQVAE}


def build_model_from_config(config, in_channels: int, image_size: int) -> nn.Module:
    """The model a :class:`~core.vae.config.VAEConfig` describes, for images (in_channels, image_size^2)."""
    c, common = config, dict(in_channels=in_channels, image_size=image_size, likelihood=config.likelihood,
                             gaussian_sigma=config.gaussian_sigma)
    if c.model_type in ("ae", "dae"):
        return AutoEncoder(model_type=c.model_type, latent_dim=c.latent_dim, channels=c.channels, hidden=c.hidden,
                           noise_std=c.noise_std if c.model_type == "dae" else 0.0, **common)
    if c.model_type == "vae":
        return VAE(latent_dim=c.latent_dim, channels=c.channels, hidden=c.hidden, beta=c.beta, **common)
    if c.model_type == "vqvae":
        return VQVAE(channels=c.channels, num_codes=c.num_codes, code_dim=c.code_dim, downsample=c.vq_downsample,
                     commitment=c.commitment, ema=c.vq_ema, ema_decay=c.vq_ema_decay, **common)
    raise ValueError(f"model_type {c.model_type!r} is not one of {sorted(MODEL_CLASSES)}")


def load_vae(path: str | Path) -> nn.Module:
    """Load any explorer model from a checkpoint folder (class chosen by config.json's ``model_type``)."""
    path = Path(path)
    try:
        kind = json.loads((path / "config.json").read_text()).get("model_type")
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {path / 'config.json'}: {exc}") from exc
    if kind not in MODEL_CLASSES:
        raise CheckpointError(f"{path / 'config.json'} has model_type {kind!r}, not one of {sorted(MODEL_CLASSES)}")
    return load_pretrained(MODEL_CLASSES[kind], path).eval()
