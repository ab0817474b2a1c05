"""Pictures and text the text-to-image tab shows: attention overlays, labelled grids, the classifier's reading, the
pipeline as it ran. Plain functions (PIL, numpy); no gradio here."""

from __future__ import annotations

import re

import numpy as np
import torch
from PIL import Image, ImageDraw

from core.data.labelled import clip_text as _clip
from core.data.labelled import font as _font
from core.data.labelled import labelled_grid as _labelled_grid

VIEW = 256
# a perceptual dark-to-bright ramp (black, purple, red, orange, pale yellow), anchors of matplotlib's "inferno"
RAMP = np.array([(0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164)], dtype=np.float32)


def to_pil(image: torch.Tensor, size: int = VIEW) -> Image.Image:
    """(3, H, W) in [0, 1] -> an RGB PIL image ``size`` px wide: enlarged by a whole factor with crisp pixels (nearest
    neighbour, as every tab's small images: a 64 px image drawn 384 px wide by bicubic looked out of focus on a
    projector), to any other size bicubic."""
    array = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    pil = Image.fromarray(array)
    if pil.width == size:
        return pil
    whole = size % pil.width == 0 and size > pil.width
    return pil.resize((size, size), Image.Resampling.NEAREST if whole else Image.Resampling.BICUBIC)


def heat(values: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) uint8 through :data:`RAMP`."""
    x = np.clip(values, 0, 1) * (len(RAMP) - 1)
    low = np.floor(x).astype(int).clip(0, len(RAMP) - 2)
    frac = (x - low)[..., None]
    return (RAMP[low] * (1 - frac) + RAMP[low + 1] * frac).astype(np.uint8)


def attention_overlays(image: torch.Tensor, maps: torch.Tensor, tokens: list[str], step: int = 0,
                       size: int = 160) -> list[tuple[Image.Image, str]]:
    """One picture per prompt token: its cross-attention map (each map scaled to its own maximum) over the image.

    Args:
        image: (3, H, W) in [0, 1]; maps: (steps, L, h, w) from :class:`service.Result`.
        step: 0 = the mean over all steps, k = the k-th denoising step (1-based).
    Returns:
        [(PIL image with its label below, label "token (share %)"), ...] for the tokens between start and end.
    """
    if maps is None:
        return []
    if not 0 <= int(step) <= len(maps):
        raise ValueError(f"attention step {step!r} is outside 0..{len(maps)} (0 = mean over the steps)")
    chosen = maps.mean(0) if int(step) == 0 else maps[int(step) - 1]                 # (L, h, w)
    base = np.asarray(to_pil(image, size)).astype(np.float32)
    words = range(1, len(tokens) - 1) if len(tokens) > 2 else range(len(tokens))
    total = chosen[list(words)].sum().clamp_min(1e-8)
    out = []
    for k in words:
        m = torch.nn.functional.interpolate(chosen[k][None, None], size=(size, size), mode="bilinear",
                                            align_corners=False)[0, 0].numpy()
        m = m / max(float(m.max()), 1e-8)
        blend = 0.45 * base + 0.55 * heat(m).astype(np.float32)
        label = f"{tokens[k]} ({100 * float(chosen[k].sum() / total):.0f} %)"
        out.append((_with_label(Image.fromarray(blend.astype(np.uint8)), label), label))
    return out


def attention_sheet(image: torch.Tensor, maps: torch.Tensor, tokens: list[str], step: int = 0, size: int = 150,
                    columns: int = 6) -> Image.Image | None:
    """All of :func:`attention_overlays` on one white sheet, ``columns`` per row, each labelled below."""
    tiles = [tile for tile, _ in attention_overlays(image, maps, tokens, step, size)]
    if not tiles:
        return None
    pad, cols = 6, min(columns, len(tiles))
    rows = (len(tiles) + cols - 1) // cols
    w, h = tiles[0].size
    sheet = Image.new("RGB", (cols * (w + pad) - pad, rows * (h + pad) - pad), "white")
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % cols) * (w + pad), (i // cols) * (h + pad)))
    return sheet


def _with_label(image: Image.Image, label: str) -> Image.Image:
    """The image with ``label`` in a white strip below it (labels never cover pixels)."""
    framed = Image.new("RGB", (image.width, image.height + 26), "white")
    framed.paste(image, (0, 0))
    ImageDraw.Draw(framed).text((image.width / 2, image.height + 13), _clip(label, 22), fill="black",
                                font=_font(16), anchor="mm")
    return framed


def labelled_grid(images: list[list[torch.Tensor]], rows: list[str], cols: list[str], cell: int = 160) -> Image.Image:
    """A grid of images (rows x cols) with the labels in margins (never over the pixels)."""
    return _labelled_grid([[to_pil(img, cell) for img in row] for row in images], rows, cols)


def asked_attributes(prompt: str) -> dict:
    """Shape and colour words of the world found in ``prompt`` (lower case), and how many objects it names."""
    from core.data.worlds.shapes import COLOUR_NAMES, SHAPES

    words = [w.strip(".,;:!?").rstrip("s") if w.strip(".,;:!?") not in SHAPES else w.strip(".,;:!?")
             for w in prompt.lower().split()]
    return {"shapes": [s for s in SHAPES if s in words], "colours": [c for c in COLOUR_NAMES if c in words],
            "objects": sum(w in SHAPES for w in words)}  # the world's captions name each object by one shape word


@torch.no_grad()
def classifier_readout(images: torch.Tensor, prompt: str) -> str:
    """Markdown: what the bundled shapes classifier sees in each image against what the prompt asked."""
    from core.data.worlds.shapes import COLOUR_NAMES, SHAPES
    from core.engine import list_checkpoints
    from core.metrics import load_classifier, predict

    if "shapes" not in list_checkpoints("classifier"):
        return "No shapes classifier installed (checkpoints/classifier/shapes): no reading."
    pred = predict(images.float().cpu(), classifier=load_classifier("shapes", None, "cpu"))
    asked = asked_attributes(prompt)
    words = ", ".join(asked["colours"] + asked["shapes"]) or "no shape or colour word"
    lines = [f"**What the shapes classifier sees** (asked: {words}; it reads the number of objects, their shapes "
             "and their colours separately, so the three can disagree: one object, but two shapes)"]
    n = asked["objects"]
    for i, p in enumerate(pred):
        shapes = [SHAPES[k] for k in range(8) if p[k] == 1]
        colours = [COLOUR_NAMES[k] for k in range(8) if p[8 + k] == 1]
        count = int(p[16]) + 1
        if n and (count != n or len(shapes) > n or len(colours) > n):
            # another scene than the one asked for: no word is ticked (noise read as 3 objects in 5 colours got
            # "blue ✓ · star ✓" for "a small blue star")
            verdict = f" · asked for {plural(n, 'object')}: it reads another scene, no word is matched"
        else:
            marks = [f"{w} {'✓' if w in shapes + colours else '✗'}" for w in asked["colours"] + asked["shapes"]]
            verdict = f" · asked: {' · '.join(marks)}" if marks else ""
        lines.append(f"- image {i + 1}: {plural(count, 'object')}; shapes: {', '.join(shapes) or 'none'}; colours: "
                     f"{', '.join(colours) or 'none'}" + verdict)
    return "\n".join(lines)


def plural(n: int, noun: str) -> str:
    """ "1 object", "3 objects"."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def md_escape(text: str) -> str:
    """User text shown inside markdown as text: HTML escaped, markdown's special characters backslashed."""
    import html

    return re.sub(r"([\\`*_{}\[\]()#+!|~>-])", r"\\\1", html.escape(text, quote=False).replace("\n", " "))


def pipeline_story(pipe, result, request) -> str:
    """Markdown: the pipeline as it ran for this prompt (tokens, shapes, steps, decoder) with the equations."""
    from .text_encoders import text_encoder_kind

    unet, vae = pipe.unet, pipe.vae
    n_unet = sum(p.numel() for p in unet.parameters()) / 1e6
    f = 2 ** (len(vae.config.block_out_channels) - 1)
    info = result.info
    b, length, dim = info["embeds_shape"]
    latent = info["latent_shape"]
    ids = ", ".join(str(i) for i in info["token_ids"][:40]) + (" …" if len(info["token_ids"]) > 40 else "")
    guidance = ("w = 1: the conditional prediction alone" if request.guidance == 1 else
                "w = 0: the negative / empty prompt alone" if request.guidance == 0 else
                f"eps~ = eps(z_t, c_neg) + {request.guidance:g} (eps(z_t, c) - eps(z_t, c_neg)), two UNet passes per step")
    trunc = f" **{result.truncated} token(s) were cut off** at the encoder's limit." if result.truncated else ""
    noise = (f"z_T ~ N(0, I) of shape {latent} from seed {request.seed}" if request.init_image is None else
             f"your image encoded, z_0 = E(x) of shape {latent}, then noised to the step where the last "
             f"{info['num_steps']} of {request.steps} steps begin (strength {request.strength:g}): z_t = "
             f"sqrt(alpha-bar_t) z_0 + sqrt(1 - alpha-bar_t) eps, eps from seed {request.seed} (SDEdit)")
    return f"""1. **Tokenizer** ({type(pipe.tokenizer).__name__}): "{md_escape(_clip(request.prompt, 80))}" -> {len(result.tokens)} tokens
   {md_escape(' · '.join(result.tokens[:40]))} (ids {ids}), padded to {length}.{trunc}
2. **Text encoder** tau ({text_encoder_kind(pipe.text_encoder)}, frozen): ids -> hidden states c of shape ({b}, {length}, {dim}).
3. **Noise**: {noise} (the image is {latent[-1] * f} px; the autoencoder shrinks each side {f}x).
4. **UNet** eps_theta(z_t, t, c) ({n_unet:.1f} M parameters), {info['num_steps']} steps of {request.sampler}; cross-attention
   softmax(Q K^T / sqrt(d)) V lets every latent pixel read the tokens (the maps above). Guidance: {guidance}.
5. **Decoder** D of the autoencoder: x = D(z_0 / {vae.config.scaling_factor:.3g}) ({info['elapsed']:.2f} s for the steps).
"""
