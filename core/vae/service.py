"""Plain functions behind the VAE latent explorer tab and its endpoints (no gradio here; the tab is a view).

Models load through the app's shared cache (``ctx.cache``, a :class:`core.engine.ModelCache`); what is computed
from a model (encoded held-out sets, datasets, grids) lives in a second cache per app, so models are not evicted
by it. ``ctx`` is the app context (``device``, ``cache``).
"""

from __future__ import annotations

import json
import re

import torch

from core.engine import CheckpointError, ModelCache, resolve_checkpoint, trained_steps
from core.engine.notes import plain_note

SCATTER_IMAGES = 1000
_DERIVED: dict = {}  # per app context: a cache of encoded sets, datasets and grids (models stay in ctx.cache)


# ---------------------------------------------------------------------------------------------- loading
def derived(ctx) -> ModelCache:
    """This tab's cache of things computed from a model, kept apart so models are not evicted by them."""
    return _DERIVED.setdefault(id(ctx.cache), ModelCache(max_items=32))


def stamp(name: str) -> tuple:
    """(path, mtime) of a checkpoint: a retrained checkpoint of the same name is a new cache key."""
    path = resolve_checkpoint("vae", name)
    weights = path / "model.safetensors"
    return path, weights.stat().st_mtime if weights.exists() else 0.0


def load_model(ctx, name):
    from core.vae import load_vae

    from core.engine.checkpoint import check_checkpoint_chosen

    name = check_checkpoint_chosen("vae", name)
    path, mtime = stamp(name)
    return ctx.cache.get(("vae", name, mtime), lambda: load_vae(path).to(ctx.device))


def train_config(name):
    from core.vae import VAEConfig

    path = resolve_checkpoint("vae", name) / "train_config.json"
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: cannot tell which data {name!r} was trained on")
    return VAEConfig.load(path)


def test_set(ctx, name):
    """The held-out split of the data a checkpoint was trained on."""
    from core.data import get_dataset

    c = train_config(name)
    key = ("vae-data", c.dataset, c.resolution, c.data_root)
    return derived(ctx).get(key, lambda: get_dataset(c.dataset, split="test", resolution=c.resolution or None,
                                                   root=c.data_root or None, download=False))


def scatter(ctx, name):
    """Encoded held-out set, its 2-D coordinates and the map geometry (cached per checkpoint)."""
    from core.vae.explore import latent_scatter
    from core.vae.plots import LatentMap

    model = load_model(ctx, name)
    _, mtime = stamp(name)

    def compute():
        s = latent_scatter(model, test_set(ctx, name), SCATTER_IMAGES)
        s["mean"] = s["z"].mean(0)
        s["map"] = LatentMap.around(s["xy"] if model.latent_dim == 2 else s["xy"] - s["mean"] @ s["basis"])
        return s

    return model, derived(ctx).get(("vae-scatter", name, mtime), compute)


def to_image(x: torch.Tensor, scale: int = 0):
    """(C, H, W) or a grid in [0, 1] -> PIL, upscaled (nearest) so small images stay visible."""
    from PIL import Image

    from core.data import to_pil

    img = to_pil(x.detach().float().cpu().clamp(0, 1))
    scale = scale or max(1, 256 // max(img.size))
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img


def grid_image(images: torch.Tensor, nrow: int, scale: int = 0, padding: int = 2):
    from core.data import make_grid

    return to_image(make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=padding), scale)


def is_vq(model) -> bool:
    return getattr(model, "model_type", "") == "vqvae"


def plane_to_latent(model, s, x: float, y: float) -> list[float]:
    """A point of the map -> z: itself for 2-D latents, else mean + x PC1 + y PC2."""
    if model.latent_dim == 2:
        return [x, y]
    return (s["mean"] + s["basis"] @ torch.tensor([x, y])).tolist()


def latent_to_plane(model, s, z: torch.Tensor) -> tuple[float, float]:
    if model.latent_dim == 2:
        return float(z[0]), float(z[1])
    xy = (z.cpu() - s["mean"]) @ s["basis"]
    return float(xy[0]), float(xy[1])


def parse_latent(text) -> list[float]:
    """"0.5, -1.2", "0.5 -1.2", "[0.5, -1.2]" (or a list; a VQ grid may come as rows on lines) -> floats; a clear
    ValueError otherwise."""
    if isinstance(text, (list, tuple)):
        values = list(text)
    else:
        text = str(text or "").strip(",; \t\r\n")
        if not text:
            raise ValueError("enter latent values, e.g. '0.5, -1.2'")
        try:
            values = json.loads(text) if text.startswith("[") else re.split(r"[,;\s]+", text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"latent {text[:80]!r} is not a list of numbers: {exc}") from None
    out = []
    for v in values:
        if isinstance(v, list):  # a VQ code grid [[...], [...]]
            out.extend(v)
            continue
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            raise ValueError(f"latent value {str(v)[:40]!r} is not a number") from None
    return out


# ---------------------------------------------------------------------------------------------- actions
def latent_values(model, latent) -> list[float]:
    """``latent`` as :func:`parse_latent` reads it; empty (the API's default) is the origin of ``model``'s latent
    space, whatever its size: z = 0, or code 0 at every position of a VQ-VAE grid."""
    if latent is None or not str(latent).strip():
        return [0] * (model.grid_size**2 if is_vq(model) else model.latent_dim)
    return parse_latent(latent)


def decode(ctx, name, latent):
    """/vae_decode: a latent vector (ae/dae/vae; values beyond +-6 are clamped) or a VQ code grid -> image.

    An empty ``latent`` decodes z = 0 (a VQ-VAE: code 0 at every position), whatever the model's latent size."""
    from core.vae.explore import decode_point

    model = load_model(ctx, name)
    values = latent_values(model, latent)
    if is_vq(model):
        n = model.grid_size**2
        if len(values) != n:
            raise ValueError(f"this VQ-VAE decodes a {model.grid_size}x{model.grid_size} grid of code indices: "
                             f"give {n} integers in [0, {model.num_codes - 1}], got {len(values)}")
        idx = torch.tensor(values)
        if not torch.isfinite(idx).all() or (idx != idx.round()).any() or idx.min() < 0 or idx.max() >= model.num_codes:
            raise ValueError(f"code indices must be integers in [0, {model.num_codes - 1}]")
        with torch.no_grad():
            img = model.decode_indices(idx.long().view(1, model.grid_size, model.grid_size).to(ctx.device))[0]
        return to_image(img)
    return to_image(decode_point(model, values))


def sketch_canvas(sketch: dict):
    """The picture of a Sketchpad / ImageEditor value (``{"background", "layers", "composite"}``): its composite,
    else its background; None for a cleared canvas."""
    return sketch.get("composite") if sketch.get("composite") is not None else sketch.get("background")


NO_DIGIT = ("no digit found in the image: it is one colour, or its strokes vanish once the whole image is shrunk to "
            "fit a square (a very long, thin image); draw or upload a digit")


def load_upload(model, src, dataset: str = ""):
    """Any uploaded file / drawing -> (C, H, W) in the model's channels and size, or a clear ValueError.

    Grey models get dark-on-light images inverted (their data is white ink on black); models of
    ``digits`` / ``mnist`` also get the drawing centred and scaled like the training digits, and refuse an image
    with no ink in it (ValueError).
    """
    from core.data import load_user_image
    from core.vae.explore import center_like_mnist

    if src is None:
        raise ValueError("upload an image (or draw one) first")
    if isinstance(src, dict):  # Sketchpad / ImageEditor value
        src = sketch_canvas(src)
        if src is None:
            raise ValueError("draw something on the sketchpad first")
    # transparency on white as in every tab (on black when what is drawn is white): the ink survives either way
    if model.in_channels == 1 and dataset in ("digits", "mnist"):
        side = 8 * model.image_size
        whole = load_user_image(src, 1, side, fit="stretch", background="white")
        if float(whole.max() - whole.min()) < 0.1:  # one colour (an empty sketchpad, a blank page): no ink to frame
            raise ValueError(NO_DIGIT)
        light = float(whole.mean()) > 0.5  # dark ink on light paper
        big = load_user_image(src, 1, side, fit="pad", background="white" if light else "black")
        x = center_like_mnist(1.0 - big if light else big, model.image_size)
        if float(x.max()) < 0.1:  # strokes lost in the framing's downscale
            raise ValueError(NO_DIGIT)
        return x
    x = load_user_image(src, model.in_channels, model.image_size, background="white")
    return 1.0 - x if model.in_channels == 1 and float(x.mean()) > 0.5 else x  # grey: dark ink on light paper


def reconstruct(ctx, name, src):
    """/vae_reconstruct: image -> (the input as the model sees it, its reconstruction, the latent)."""
    from core.vae.explore import reconstruct as run

    model = load_model(ctx, name)
    x = load_upload(model, src, train_config(name).dataset)
    rec, z = run(model, x)
    if is_vq(model):
        latent = {"model_type": "vqvae", "codes": z.tolist()}
    else:
        latent = {"model_type": model.model_type, "z": [round(float(v), 4) for v in z]}
    return to_image(x), to_image(rec), latent


# metric -> (plain name, format); the order is the order of the details list
_DETAILS = {
    "class_kept": ("digit kept in the reconstruction (held-out world digits)", "{:.0%}"),
    "real/mnist_test_class_kept": ("digit kept, real MNIST test digits", "{:.0%}"),
    "real/mnist5k_class_kept": ("digit kept, 5,000 real MNIST digits", "{:.0%}"),
    "real/handwritten12_class_kept": ("digit kept, the 12 real digits in core/data/handwritten", "{:.0%}"),
    "psnr_db": ("reconstruction PSNR (higher is sharper)", "{:.1f} dB"),
    "mse": ("reconstruction error per pixel (MSE, pixels in 0-1)", "{:.4f}"),
    "neg_elbo": ("-ELBO (an upper bound on -log p(x))", "{:.1f} nats per image"),
    "kl": ("KL(q(z|x) || p(z)): information in the latent", "{:.1f} nats per image"),
    "recon_nll": ("reconstruction negative log-likelihood", "{:.4g} nats per image"),
    "codebook_perplexity": ("codes in use (codebook perplexity)", "{:.0f}"),
    "recon_top1": ("reconstructions nearer their own input than to 249 others", "{:.0%}"),
}


def checkpoint_info(name) -> str:
    """Markdown: one plain sentence (what the model is, how good), the measured figures in a details toggle."""
    c = train_config(name)
    path = resolve_checkpoint("vae", name)
    metrics = json.loads((path / "metrics.json").read_text()) if (path / "metrics.json").is_file() else {}
    what = {"ae": "an autoencoder", "dae": "a denoising autoencoder",
            "vae": "a VAE" if c.beta == 1 else f"a beta-VAE (beta {c.beta:g})",
            "vqvae": f"a VQ-VAE with {c.num_codes} codes"}[c.model_type]
    side = {"digits": 28, "mnist": 28}.get(c.dataset)
    squeeze = ("a grid of code indices" if c.model_type == "vqvae"
               else f"{c.latent_dim} number{'s' if c.latent_dim > 1 else ''}")
    sentence = f"**{name}** is {what} that squeezes each `{c.dataset}` image into {squeeze}; trained {trained_steps(path, c.steps)} steps."
    if "class_kept" in metrics:
        real = next((metrics[k] for k in ("real/mnist_test_class_kept", "real/mnist5k_class_kept") if k in metrics), None)
        sentence += f" Its reconstructions keep the digit {metrics['class_kept']:.1%} of the time" + (
            f" ({real:.1%} on real handwriting)." if real is not None else ".")  # (the README's figures, as measured)
    elif "psnr_db" in metrics:
        sentence += f" Reconstructions at {metrics['psnr_db']:.1f} dB PSNR (higher is sharper)."
    density = f" (a Gaussian density with sigma {c.gaussian_sigma:g}: negative values are normal)"
    rows = [f"- {label}: {fmt.format(metrics[k])}" + (density if c.likelihood == "gaussian" and k in ("neg_elbo", "recon_nll")
                                                      else "") for k, (label, fmt) in _DETAILS.items() if k in metrics]
    if side:
        rows.append(f"- images: {side}x{side} grey")
    n = metrics.get("test_images")
    return plain_note(sentence, [r[2:] for r in rows],
                      "measured figures" + (f" ({int(n):,} held-out images)" if n else ""))
