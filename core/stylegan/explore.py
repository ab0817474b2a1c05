"""What the StyleGAN tab does, as plain functions of a :class:`Generator` (no gradio here).

Seeds become z deterministically (``torch.randn`` from a generator seeded with the seed), so a seed
names the same face everywhere: in the tab, in the endpoints and in the tests.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.engine import check_seed, load_pretrained, resolve_checkpoint

from .generator import NOISE_MODES, Generator

PSI_RANGE = (-1.0, 1.5)
SPACES = ("z", "w")
INTERPOLATIONS = ("lerp", "slerp")
MAX_GRID_SEEDS = 5
MAX_FRAMES = 120


# ---------------------------------------------------------------------- loading and validation
def load_generator(name: str, device: str | torch.device = "cpu") -> Generator:
    """The generator of ``checkpoints/stylegan/<name>`` in eval mode (a CheckpointError names bad files)."""
    G = load_pretrained(Generator, resolve_checkpoint("stylegan", name))
    return G.to(device).eval().requires_grad_(False)


def check_psi(psi) -> float:
    """psi as a float in [-1, 1.5], else ValueError."""
    try:
        value = float(psi)
    except (TypeError, ValueError):
        raise ValueError(f"psi {psi!r} is not a number") from None
    if not (PSI_RANGE[0] <= value <= PSI_RANGE[1]) or math.isnan(value):
        raise ValueError(f"psi {value} is outside [{PSI_RANGE[0]}, {PSI_RANGE[1]}]")
    return value


def check_cutoff(G: Generator, cutoff) -> int | None:
    """Truncation layer cutoff: None / 0 / num_ws means every layer; else an int in [1, num_ws]."""
    if cutoff is None or cutoff == "":
        return None
    try:
        value = int(cutoff)
    except (TypeError, ValueError):
        raise ValueError(f"truncation cutoff {cutoff!r} is not an integer") from None
    if value != float(cutoff) or not 0 <= value <= G.num_ws:
        raise ValueError(f"truncation cutoff {cutoff!r} must be an integer in [0, {G.num_ws}] (0 = all layers)")
    return None if value in (0, G.num_ws) else value


def check_layers(G: Generator, layers) -> list[int]:
    """Layer indices (ints, labels like "w3: 16x16", or one string of them: "0,1", "0 1" or "[0, 1]") as sorted ints in
    [0, num_ws), else ValueError."""
    if layers is None:
        return []
    if isinstance(layers, str):  # "0, 1", "0 1", "[0, 1]", "['w0: 4 px']" (a label keeps its spaces)
        parts = [part.strip().strip("'\"") for part in layers.strip().strip("[]").split(",")]
        layers = [word for part in parts for word in ([part] if ":" in part else part.split())]
    elif isinstance(layers, int):
        layers = [layers]
    out = set()
    for item in layers:
        text = str(item).split(":")[0].strip().lstrip("w")
        try:
            index = int(text)
        except ValueError:
            raise ValueError(f"layer {item!r} is not a layer index; use integers 0..{G.num_ws - 1}") from None
        if isinstance(item, float) and item != index:
            raise ValueError(f"layer {item!r} is not an integer")
        if not 0 <= index < G.num_ws:
            raise ValueError(f"layer index {index} does not exist: this generator has layers 0..{G.num_ws - 1}")
        out.add(index)
    return sorted(out)


def check_noise_mode(mode: str) -> str:
    if mode not in NOISE_MODES:
        raise ValueError(f"noise mode {mode!r} is not one of {list(NOISE_MODES)}")
    return mode


# ---------------------------------------------------------------------- latents
def z_from_seed(G: Generator, seed) -> torch.Tensor:
    """z (1, z_dim) ~ N(0, I) drawn from a CPU generator seeded with ``seed`` (0..2**32-1)."""
    g = torch.Generator().manual_seed(check_seed(seed))
    return torch.randn(1, G.z_dim, generator=g).to(G.const.device)


def ws_from_seeds(G: Generator, seeds, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
    """ws (N, num_ws, w_dim) for a list of seeds, truncated with psi on the first ``cutoff`` layers.

    Each seed is mapped on its own, so its w is bit-identical whatever other seeds share the call
    (a batched matmul may round differently), and mixing A with A is exactly A.
    """
    psi = check_psi(psi)
    with torch.no_grad():
        return torch.cat([G.mapping_ws(z_from_seed(G, s), psi, cutoff) for s in seeds])


def mix_styles(ws_a: torch.Tensor, ws_b: torch.Tensor, layers_from_b: list[int]) -> torch.Tensor:
    """Style mixing (StyleGAN §3.1): rows ``layers_from_b`` of ws come from B, the others from A."""
    out = ws_a.clone()
    if layers_from_b:
        out[:, layers_from_b] = ws_b[:, layers_from_b]
    return out


def noise_inputs(G: Generator, batch: int, mode: str, noise_seed=0) -> list:
    """Per-layer noise: the stored constant images, fresh images from ``noise_seed``, or none.

    "random" noise is drawn once for one image and shared by the batch, so the same noise seed gives the
    same texture to every image of a grid. It is drawn by numpy's PCG64 seeded with ``(noise_seed, 1)``: the
    stored const images came from ``torch.manual_seed(0)``, which a torch generator seeded with noise seed 0
    would repeat exactly (random looked like const).
    """
    check_noise_mode(mode)
    if mode != "random":
        return G.make_noise(batch, mode)
    rng = np.random.default_rng([check_seed(noise_seed), 1])
    return [torch.from_numpy(rng.standard_normal((1, 1, r, r), dtype=np.float32)).to(G.const.device)
            .expand(batch, -1, -1, -1) for r in G.noise_resolutions()]


@torch.no_grad()
def render(G: Generator, ws: torch.Tensor, noise_mode: str = "const", noise_seed=0) -> torch.Tensor:
    """ws (N, num_ws, w_dim) -> images (N, C, H, W) in [0, 1]."""
    img = G.synthesis(ws, noise=noise_inputs(G, ws.shape[0], noise_mode, noise_seed))
    return ((img + 1) / 2).clamp(0, 1)


def to_pil(img: torch.Tensor) -> Image.Image:
    """(C, H, W) in [0, 1] -> PIL RGB (or L for one channel)."""
    arr = (img.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def upscale(image: Image.Image, size: int) -> Image.Image:
    """Nearest-neighbour enlargement for display (pixels stay visible, nothing is invented)."""
    if size <= image.width:
        return image
    return image.resize((size, size * image.height // image.width), Image.NEAREST)


# ---------------------------------------------------------------------- the tab's actions
def generate(G: Generator, seed, psi=1.0, cutoff=None, noise_mode: str = "const", noise_seed=0) -> Image.Image:
    """One image for ``seed`` with truncation psi on the first ``cutoff`` layers."""
    ws = ws_from_seeds(G, [seed], psi, check_cutoff(G, cutoff))
    return to_pil(render(G, ws, noise_mode, noise_seed)[0])


def mix(G: Generator, seed_a, seed_b, layers_from_b, psi=1.0, cutoff=None, noise_mode: str = "const",
        noise_seed=0) -> Image.Image:
    """Seed A's image with the styles of ``layers_from_b`` taken from seed B."""
    layers = check_layers(G, layers_from_b)
    ws = ws_from_seeds(G, [seed_a, seed_b], psi, check_cutoff(G, cutoff))
    return to_pil(render(G, mix_styles(ws[:1], ws[1:], layers), noise_mode, noise_seed)[0])


def mix_views(G: Generator, seed_a, seed_b, layers_from_b, psi=1.0, cutoff=None, noise_mode: str = "const",
              noise_seed=0) -> tuple[Image.Image, Image.Image, Image.Image]:
    """(A, B, A with B's styles on ``layers_from_b``) rendered in one batch: what one slider move redraws."""
    layers = check_layers(G, layers_from_b)
    ws = ws_from_seeds(G, [seed_a, seed_b], psi, check_cutoff(G, cutoff))
    images = render(G, torch.cat([ws, mix_styles(ws[:1], ws[1:], layers)]), noise_mode, noise_seed)
    return tuple(to_pil(img) for img in images)


def mixing_grid(G: Generator, row_seeds, col_seeds, layers_from_b, psi=1.0, cutoff=None,
                noise_mode: str = "const", noise_seed=0, padding: int = 2) -> Image.Image:
    """The paper's figure 3: the top row shows the B seeds (columns), the left column the A seeds (rows);
    cell (i, j) is A_i with the ``layers_from_b`` styles of B_j. All images are rendered in one batch."""
    rows, cols = list(row_seeds), list(col_seeds)
    for name, seeds in (("row", rows), ("column", cols)):
        if not 1 <= len(seeds) <= MAX_GRID_SEEDS:
            raise ValueError(f"the mixing grid takes 1 to {MAX_GRID_SEEDS} {name} seeds, got {len(seeds)}")
    layers = check_layers(G, layers_from_b)
    ws = ws_from_seeds(G, rows + cols, psi, check_cutoff(G, cutoff))
    ws_a, ws_b = ws[: len(rows)], ws[len(rows):]
    cells = [mix_styles(ws_a[i : i + 1], ws_b[j : j + 1], layers) for i in range(len(rows)) for j in range(len(cols))]
    images = render(G, torch.cat([ws_a, ws_b, *cells]), noise_mode, noise_seed)  # (R + C + R*C, C, H, W)
    n_a, n_b = len(rows), len(cols)
    a_imgs, b_imgs, mixes = images[:n_a], images[n_a : n_a + n_b], images[n_a + n_b :]
    res = G.resolution
    step = res + padding
    canvas = Image.new("RGB", ((len(cols) + 1) * step + padding, (len(rows) + 1) * step + padding), (255, 255, 255))
    for j, img in enumerate(b_imgs):
        canvas.paste(to_pil(img).convert("RGB"), ((j + 1) * step + padding, padding))
    for i, img in enumerate(a_imgs):
        canvas.paste(to_pil(img).convert("RGB"), (padding, (i + 1) * step + padding))
        for j in range(len(cols)):
            canvas.paste(to_pil(mixes[i * len(cols) + j]).convert("RGB"),
                         ((j + 1) * step + padding, (i + 1) * step + padding))
    return canvas


def truncation_strip(G: Generator, seeds, psis, noise_mode: str = "const", padding: int = 2) -> Image.Image:
    """Rows of seeds, columns of psi values: the truncation trick's effect at a glance."""
    ws = ws_from_seeds(G, seeds, 1.0)
    rows = [truncate_rows(G, ws[i : i + 1], psis) for i in range(len(seeds))]
    images = render(G, torch.cat(rows), noise_mode)
    step = G.resolution + padding
    canvas = Image.new("RGB", (len(psis) * step + padding, len(seeds) * step + padding), (255, 255, 255))
    for k, img in enumerate(images):
        i, j = divmod(k, len(psis))
        canvas.paste(to_pil(img).convert("RGB"), (j * step + padding, i * step + padding))
    return canvas


def truncate_rows(G: Generator, ws: torch.Tensor, psis) -> torch.Tensor:
    """(1, num_ws, w_dim) -> (len(psis), num_ws, w_dim): ``w_avg + psi (w - w_avg)`` for each psi."""
    from .generator import truncate

    return torch.cat([truncate(ws, G.w_avg, check_psi(p)) for p in psis])


# ---------------------------------------------------------------------- interpolation
def slerp(a: torch.Tensor, b: torch.Tensor, t: float, eps: float = 1e-7) -> torch.Tensor:
    """Spherical linear interpolation along the great circle (Shoemake 1985), per row; lerp when parallel.

    ``slerp(a, b, t) = sin((1 - t) theta) / sin(theta) a + sin(t theta) / sin(theta) b`` with theta the angle
    between a and b; the norm is interpolated linearly.
    """
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(eps), b / nb.clamp_min(eps)
    cos = (ua * ub).sum(-1, keepdim=True).clamp(-1 + eps, 1 - eps)
    theta = torch.acos(cos)
    sin = torch.sin(theta)
    direction = (torch.sin((1 - t) * theta) * ua + torch.sin(t * theta) * ub) / sin
    direction = torch.where(sin < 1e-4, torch.lerp(ua, ub, t), direction)
    return direction * torch.lerp(na, nb, t)


def interpolation_frames(G: Generator, seed_a, seed_b, space: str = "w", method: str = "lerp", frames: int = 24,
                         psi=1.0, noise_mode: str = "const", noise_seed=0, cutoff=None) -> list[Image.Image]:
    """Frames from seed A to seed B, interpolating z (then mapping) or w (after mapping, layer by layer), truncated
    with ``psi`` on the layers below ``cutoff`` (:func:`check_cutoff`; None or 0: all), as the still images are."""
    if space not in SPACES:
        raise ValueError(f"space {space!r} is not one of {list(SPACES)}")
    if method not in INTERPOLATIONS:
        raise ValueError(f"interpolation {method!r} is not one of {list(INTERPOLATIONS)}")
    frames = int(frames)
    if not 2 <= frames <= MAX_FRAMES:
        raise ValueError(f"frames must be in [2, {MAX_FRAMES}], got {frames}")
    psi, cutoff = check_psi(psi), check_cutoff(G, cutoff)
    mix_fn = slerp if method == "slerp" else torch.lerp
    ts = torch.linspace(0, 1, frames).tolist()
    with torch.no_grad():
        if space == "z":
            za, zb = z_from_seed(G, seed_a), z_from_seed(G, seed_b)
            ws = G.mapping_ws(torch.cat([mix_fn(za, zb, t) for t in ts]), psi, cutoff)
        else:  # per layer: a cutoff truncates some layers and not the others (the GIF ignored it: one grey face)
            wa, wb = ws_from_seeds(G, [seed_a, seed_b], psi, cutoff)        # (num_ws, w_dim) each
            ws = torch.stack([mix_fn(wa, wb, t) for t in ts])              # (F, num_ws, w_dim)
    images = render(G, ws, noise_mode, noise_seed)
    return [to_pil(img) for img in images]


def save_gif(frames: list[Image.Image], path, fps: float = 12.0, size: int = 256, pingpong: bool = True) -> Path:
    """Write an animated GIF (looping; forth and back when ``pingpong``)."""
    seq = frames + frames[-2:0:-1] if pingpong and len(frames) > 2 else frames
    seq = [upscale(f.convert("RGB"), size) for f in seq]
    path = Path(path)
    seq[0].save(path, save_all=True, append_images=seq[1:], duration=int(1000 / fps), loop=0, disposal=2)
    return path
