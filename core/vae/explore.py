"""What the VAE explorer tab computes, as plain functions of a loaded model (no gradio here).

Images are tensors (C, H, W) or (N, C, H, W) in [0, 1]; latents are (J,) / (N, J) for the
dense models and (D, h, w) grids for VQ-VAE. Every function validates what a user can type.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from .models import VQVAE

LATENT_LIMIT = 6.0  # |z_j| beyond this is clamped: 6 sigma of the prior, far outside the data
MAX_GRID = 32
MAX_SAMPLES = 64
MAX_STEPS = 32


def _device(model) -> torch.device:
    return next(model.parameters()).device


def require_dense(model, what: str) -> None:
    if isinstance(model, VQVAE) or not hasattr(model, "latent_dim"):
        raise ValueError(f"{what} needs a model with a latent vector (ae, dae or vae); this is a "
                         f"{getattr(model, 'model_type', type(model).__name__)} model")


def as_latent(model, values: Sequence[float], clamp: bool = True) -> torch.Tensor:
    """A user's latent coordinates -> (1, J) tensor; NaN / wrong length refused, out of range clamped.

    Raises:
        ValueError: when ``values`` is not ``latent_dim`` finite numbers.
    """
    require_dense(model, "decoding a latent point")
    try:
        z = torch.as_tensor([float(v) for v in values], dtype=torch.float32)
    except (TypeError, ValueError):
        raise ValueError(f"latent values must be numbers, got {values!r}") from None
    if z.numel() != model.latent_dim:
        raise ValueError(f"this model has a {model.latent_dim}-D latent; got {z.numel()} value(s)")
    if not torch.isfinite(z).all():
        raise ValueError("latent values must be finite numbers (no NaN or inf)")
    if clamp:
        z = z.clamp(-LATENT_LIMIT, LATENT_LIMIT)
    return z[None].to(_device(model))


@torch.no_grad()
def decode_point(model, values: Sequence[float]) -> torch.Tensor:
    """The decoded image (C, H, W) at latent point ``values`` (clamped to +-LATENT_LIMIT)."""
    return model.decode(as_latent(model, values))[0]


def gaussian_quantiles(n: int, low: float = 0.05, high: float = 0.95) -> torch.Tensor:
    """``n`` values of z whose N(0, 1) CDF is evenly spaced in [low, high] (Kingma & Welling 2014, Fig. 4)."""
    return torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(low, high, n))


@torch.no_grad()
def manifold_grid(model, n: int = 20, dims: tuple[int, int] = (0, 1), base: Sequence[float] | None = None,
                  values: torch.Tensor | None = None) -> torch.Tensor:
    """The decoded n x n grid over latent dims ``dims`` (the classic "learned manifold" figure).

    Rows go from high z_{dims[1]} (top) to low; columns from low z_{dims[0]} to high, each over
    ``values`` (default: Gaussian quantiles 0.05..0.95, the prior's bulk). Other dims stay at
    ``base`` (default 0). Returns (n*n, C, H, W), row-major.
    """
    require_dense(model, "the manifold grid")
    n = int(n)
    if not 2 <= n <= MAX_GRID:
        raise ValueError(f"grid size must be between 2 and {MAX_GRID}, got {n}")
    a, b = (int(d) for d in dims)
    if not (0 <= a < model.latent_dim and 0 <= b < model.latent_dim and a != b):
        raise ValueError(f"dims must be two different indices in [0, {model.latent_dim - 1}], got {dims}")
    v = gaussian_quantiles(n) if values is None else torch.as_tensor(values, dtype=torch.float32)
    z = as_latent(model, base if base is not None else [0.0] * model.latent_dim).repeat(n * n, 1)  # (n*n, J)
    z[:, a] = v.repeat(n).to(z)  # columns
    z[:, b] = v.flip(0).repeat_interleave(n).to(z)  # rows, top = high
    return model.decode(z)


@torch.no_grad()
def traversal(model, base: Sequence[float], dim: int, values: Sequence[float]) -> torch.Tensor:
    """Decode ``base`` with dim ``dim`` set to each of ``values``: (len(values), C, H, W)."""
    z = as_latent(model, base).repeat(len(values), 1)
    if not 0 <= int(dim) < model.latent_dim:
        raise ValueError(f"dim must be in [0, {model.latent_dim - 1}], got {dim}")
    z[:, int(dim)] = torch.as_tensor([float(v) for v in values]).clamp(-LATENT_LIMIT, LATENT_LIMIT).to(z)
    return model.decode(z)


@torch.no_grad()
def prior_samples(model, num: int, seed: int) -> torch.Tensor:
    """``num`` images decoded from z ~ p(z) drawn with ``seed`` (N(0, I); codes' frequencies for VQ-VAE)."""
    from core.engine import check_seed

    num = int(num)
    if not 1 <= num <= MAX_SAMPLES:
        raise ValueError(f"number of samples must be between 1 and {MAX_SAMPLES}, got {num}")
    return model.sample_prior(num, torch.Generator().manual_seed(check_seed(seed)))


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016, "Sampling Generative Networks").

    ``slerp(a, b; t) = sin((1-t) W) / sin W * a + sin(t W) / sin W * b`` with W the angle between
    a and b (per row; flattened). Under a Gaussian prior it keeps the norm typical of samples,
    where the straight line passes near the origin. Falls back to lerp for (anti)parallel a, b.

    Args:
        a, b: (*S) endpoints; t: (T,) -> (T, *S).
    """
    fa, fb = a.flatten(), b.flatten()
    cos = (fa @ fb / (fa.norm() * fb.norm()).clamp_min(1e-12)).clamp(-1, 1)
    omega = torch.arccos(cos)
    t = t.view(-1, *([1] * a.dim()))
    if omega.abs() < 1e-4 or (math.pi - omega).abs() < 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation ``(1 - t) a + t b``: (T, *S)."""
    t = t.view(-1, *([1] * a.dim()))
    return (1 - t) * a + t * b


@torch.no_grad()
def interpolate(model, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 8, mode: str = "linear") -> torch.Tensor:
    """Decode ``steps`` latents between the encodings of two images x_a, x_b (C, H, W): (steps, C, H, W).

    VQ-VAE: the continuous encoder outputs z_e are interpolated and each is re-quantised.
    """
    steps = int(steps)
    if not 2 <= steps <= MAX_STEPS:
        raise ValueError(f"interpolation steps must be between 2 and {MAX_STEPS}, got {steps}")
    if mode not in ("linear", "spherical"):
        raise ValueError(f"interpolation mode must be 'linear' or 'spherical', not {mode!r}")
    dev = _device(model)
    x = torch.stack([x_a, x_b]).to(dev)
    t = torch.linspace(0, 1, steps, device=dev)
    path = slerp if mode == "spherical" else lerp
    if isinstance(model, VQVAE):
        z_e = model.encoder(x)
        zs = path(z_e[0], z_e[1], t)
        return model.decode(model.quantizer.lookup(model.quantizer.nearest(zs)))
    z = model.encode(x)
    return model.decode(path(z[0], z[1], t))


@torch.no_grad()
def encode_images(model, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """images (N, C, H, W) -> latents (N, J) (posterior means for a VAE)."""
    require_dense(model, "encoding to a latent vector")
    dev = _device(model)
    return torch.cat([model.encode(images[i:i + batch].to(dev)).cpu() for i in range(0, len(images), batch)])


def project_2d(z: torch.Tensor, basis: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """z (N, J) -> (coords (N, 2), basis (J, 2)): identity for J = 2, else the top-2 principal axes."""
    if z.shape[1] == 2:
        return z, torch.eye(2)
    if z.shape[1] == 1:
        return torch.cat([z, torch.zeros_like(z)], 1), torch.tensor([[1.0, 0.0]])
    if basis is None:
        _, _, v = torch.linalg.svd(z - z.mean(0), full_matrices=False)
        basis = v[:2].t()  # (J, 2)
    return z @ basis, basis


def latent_scatter(model, dataset, num: int = 1000) -> dict:
    """Encode the first ``num`` held-out images: {"z" (N, J), "xy" (N, 2), "labels" (N,), "basis", "images"}."""
    num = min(int(num), len(dataset))
    batch = dataset.get_batch(list(range(num)))
    z = encode_images(model, batch["image"])
    xy, basis = project_2d(z)
    return {"z": z, "xy": xy, "labels": batch["label"].cpu(), "basis": basis, "images": batch["image"]}


@torch.no_grad()
def reconstruct(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (C, H, W) -> (reconstruction (C, H, W), latent: (J,) or the (h, w) code indices for VQ-VAE)."""
    x = x[None].to(_device(model))
    if isinstance(model, VQVAE):
        idx = model.code_indices(x)
        return model.decode_indices(idx)[0], idx[0]
    z = model.encode(x)
    return model.decode(z)[0], z[0]


@torch.no_grad()
def reconstruction_pairs(model, dataset, num: int = 8):
    """A PIL sheet: the first ``num`` held-out images in a row labelled "held-out x", their reconstructions below."""
    from core.data.labelled import sample_sheet

    x = dataset.get_batch(list(range(num)))["image"].to(_device(model))
    return sample_sheet(torch.cat([x, model.reconstruct(x)]).cpu(), num, ["held-out x", "reconstruction"])


@torch.no_grad()
def codebook_usage(model, images: torch.Tensor, batch: int = 250) -> torch.Tensor:
    """How often each VQ-VAE code is chosen over ``images`` (N, C, H, W): counts (K,)."""
    if not isinstance(model, VQVAE):
        raise ValueError("codebook usage needs a VQ-VAE checkpoint")
    dev, counts = _device(model), torch.zeros(model.num_codes, dtype=torch.long)
    for i in range(0, len(images), batch):
        counts += torch.bincount(model.code_indices(images[i:i + batch].to(dev)).flatten().cpu(),
                                 minlength=model.num_codes)
    return counts


def code_palette(num_codes: int) -> torch.Tensor:
    """A fixed colour (3,) per code index (golden-ratio hues): (K, 3) in [0, 1]."""
    k = torch.arange(num_codes, dtype=torch.float32)
    hue = (k * 0.618033988749895) % 1.0
    sat = 0.55 + 0.45 * ((k * 0.37) % 1.0)
    val = 0.65 + 0.35 * ((k * 0.53) % 1.0)
    i = (hue * 6).floor()
    f = hue * 6 - i
    p, q, t = val * (1 - sat), val * (1 - f * sat), val * (1 - (1 - f) * sat)
    table = [(val, t, p), (q, val, p), (p, val, t), (p, q, val), (t, p, val), (val, p, q)]
    rgb = torch.zeros(num_codes, 3)
    for j, (r, g, b) in enumerate(table):
        m = i == j
        rgb[m] = torch.stack([r[m], g[m], b[m]], 1)
    return rgb


@torch.no_grad()
def code_index_map(model, x: torch.Tensor, scale: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """x (C, H, W) -> (indices (h, w), a colour image (3, h*scale, w*scale) with one colour per code)."""
    if not isinstance(model, VQVAE):
        raise ValueError("the code index map needs a VQ-VAE checkpoint")
    idx = model.code_indices(x[None].to(_device(model)))[0].cpu()  # (h, w)
    scale = scale or max(1, 256 // idx.shape[-1])
    img = code_palette(model.num_codes)[idx].permute(2, 0, 1)  # (3, h, w)
    return idx, img.repeat_interleave(scale, 1).repeat_interleave(scale, 2)


def center_like_mnist(x: torch.Tensor, size: int = 28) -> torch.Tensor:
    """Frame a white-on-black drawing the way the ``digits`` world frames its digits (and MNIST its).

    The ink's bounding box is scaled (aspect kept) so its longer side fills the world's 20-px box,
    area-antialiased, and its centre of mass is put at the frame centre
    (:func:`core.data.worlds.digits.mnist_frame`, the world's own function). Without this a digit
    drawn small in a corner looks nothing like the training data.

    Args:
        x: (1, H, W) in [0, 1], ink bright (preferably several times larger than ``size``).
    Returns:
        (1, size, size) in [0, 1]; an inkless image comes back black.
    """
    from core.data.worlds.digits import mnist_frame

    ink = (x[0].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return torch.tensor(mnist_frame(ink, size)).float().div(255.0)[None]
