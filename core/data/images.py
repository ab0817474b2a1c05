"""User images in, tensors out, and back: the one loader every tab uses for uploads.

``load_user_image`` accepts whatever a user or a Gradio component hands over (a path, bytes, a numpy
array, a PIL image, an ImageEditor dict) in any mode and size, and returns a float tensor
(C, size, size) in [0, 1]. ``to_pil`` and ``make_grid`` go the other way (no torchvision here).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import struct
import threading
import warnings

import numpy as np
import torch
from PIL import Image, ImageColor, UnidentifiedImageError

MAX_PIXELS = 100_000_000  # larger images are refused before they are decoded
# Images over LARGE_PIXELS are decoded and converted two at a time (a 100 MP PNG takes about 300 MB while it is
# converted), so thirty students uploading phone photos at once cannot run the server out of memory.
LARGE_PIXELS = 16_000_000
_LARGE_DECODES = threading.BoundedSemaphore(2)
# transparent pixels go on the paper colour asked for unless what is drawn is within this many levels of it
PAPER_CONTRAST = 64
_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
_HIGH_BIT_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
_EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                   4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                   6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


def load_user_image(src, channels: int = 3, size: int = 64, background="black", fit: str = "crop") -> torch.Tensor:
    """Decode and normalise one image.

    Args:
        src: a file path, bytes, a binary file object, a numpy array ((H, W), (H, W, C) or (C, H, W);
            uint8, uint16, bool or float), a (C, H, W) tensor, a PIL image, or a Gradio ImageEditor
            value (a dict with "composite").
        channels: 1 (grayscale) or 3 (RGB).
        size: output side in pixels.
        background: colour that transparent pixels are composited on (a name, "#rrggbb", a gray
            level, or an RGB tuple), unless what is drawn is within ``PAPER_CONTRAST`` levels of it
            (white ink on a transparent sheet, given white): then on black or white, whichever it shows on.
        fit: "crop" (scale the short side to ``size``, centre-crop), "pad" (scale the long side,
            pad with ``background``) or "stretch".

    Returns:
        float32 tensor (channels, size, size) in [0, 1].

    Raises:
        FileNotFoundError: ``src`` is a path that does not exist.
        ValueError: the data is not a readable image, or is larger than 100 megapixels.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if fit not in ("crop", "pad", "stretch"):
        raise ValueError(f"fit must be 'crop', 'pad' or 'stretch', got {fit!r}")
    size = int(size)
    with contextlib.ExitStack() as hold:  # a large image keeps its decoding slot until it is converted
        return _finish(open_image(src, draft_size=size, hold=hold), channels, size, _parse_colour(background), fit)


def open_image(src, draft_size: int | None = None, hold: contextlib.ExitStack | None = None) -> Image.Image:
    """Any image source (see :func:`load_user_image`) as a decoded PIL image, any mode.

    The size is checked before decoding; ``draft_size`` lets a JPEG decoder scale down while
    keeping both sides >= ``draft_size``. An image over ``LARGE_PIXELS`` waits for one of two
    decoding slots; with ``hold`` the slot stays taken until that stack closes (the caller's
    conversion). Raises FileNotFoundError / ValueError as :func:`load_user_image` does.
    """
    if isinstance(src, dict):  # Gradio ImageEditor / Sketchpad value
        src = src.get("composite", src.get("image", src.get("path")))
    if src is None:
        raise ValueError("no image was given")
    if isinstance(src, Image.Image):
        _check_size(src.size, "the given image")
        return src
    if isinstance(src, torch.Tensor):
        src = src.detach().cpu().numpy()
    if isinstance(src, np.ndarray):
        return _array_to_pil(src)

    if isinstance(src, (str, os.PathLike)):
        name = os.fspath(src)
        if not os.path.isfile(name):
            raise FileNotFoundError(f"image file {name!r} does not exist")
        opener, what = (lambda: Image.open(name)), f"file {os.path.basename(name)!r}"  # no server paths
    elif isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        opener, what = (lambda: Image.open(io.BytesIO(data))), f"the given data ({len(data)} bytes)"
    elif hasattr(src, "read"):
        opener, what = (lambda: Image.open(src)), "the given file object"
    else:
        raise ValueError(f"cannot read an image from a {type(src).__name__}")

    decode_errors = (OSError, SyntaxError, EOFError, ValueError, struct.error)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = opener()  # reads the header only
    except Image.DecompressionBombError as e:  # Pillow's "Image size (N pixels) exceeds limit of M pixels..."
        declared = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(declared.group(1)) / 1e6:,.0f}" if declared else f"over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f}"
        raise ValueError(f"{what} declares {size} megapixels (a decompression bomb?); images over "
                         f"{MAX_PIXELS // 1_000_000} megapixels are refused") from None
    except decode_errors as e:
        raise ValueError(f"{what} is not a readable image ({_reason(e)})") from None
    with im, contextlib.ExitStack() as local:  # closes the file, keeps the decoded pixels
        _check_size(im.size, what)  # before any pixel is decoded
        if im.size[0] * im.size[1] > LARGE_PIXELS:
            (hold or local).enter_context(_LARGE_DECODES)
        try:
            if draft_size and im.format == "JPEG":
                im.draft(None, (draft_size, draft_size))  # the decoder scales by 1/2, 1/4 or 1/8
            im.load()
        except decode_errors as e:
            raise ValueError(f"{what} is not a readable image ({_reason(e)})") from None
    return im


def _reason(error: Exception) -> str:
    if isinstance(error, UnidentifiedImageError):
        return "unknown format or corrupt data"
    return f"{type(error).__name__}: {error}"


def _check_size(wh, what: str) -> None:
    w, h = wh
    if w * h > MAX_PIXELS:
        raise ValueError(f"{what} is {w}x{h} = {w * h / 1e6:.0f} megapixels; images over "
                         f"{MAX_PIXELS // 1_000_000} megapixels are refused")
    if w < 1 or h < 1:
        raise ValueError(f"{what} has no pixels ({w}x{h})")


def _parse_colour(colour) -> tuple:
    """An RGB tuple of ints from a name, '#hex', a gray level (0-255, or float 0-1) or a tuple."""
    if isinstance(colour, str):
        return ImageColor.getrgb(colour)[:3]
    if isinstance(colour, (int, float, np.number)):
        colour = (colour,) * 3
    values = tuple(colour)[:3]
    if all(isinstance(v, (float, np.floating)) for v in values) and max(values) <= 1.0:
        values = tuple(v * 255 for v in values)
    return tuple(int(round(float(v))) for v in values)


def _array_to_pil(a: np.ndarray) -> Image.Image:
    """A numpy image as PIL: (H, W), (H, W, C) or (C, H, W); floats in [0, 1] or [0, 255]."""
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
        a = a.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)) or a.size == 0:
        raise ValueError(f"an array of shape {a.shape} is not a readable image (expected (H, W) or (H, W, 3|4))")
    _check_size((a.shape[1], a.shape[0]), f"the given array {a.shape}")
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = np.round(_scale_to_unit(a.astype(np.float64)) * 255.0).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(a))


def _scale_to_unit(a: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Values to [0, 1]: by the bit depth when known, else [0, 1] / [0, 255] / [0, 65535], else min-max."""
    a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    if bits:
        return np.clip(a / (2**bits - 1), 0.0, 1.0)
    lo, hi = float(a.min()), float(a.max())
    if lo >= 0.0:
        for top in (1.0, 255.0, 65535.0):
            if hi <= top:
                return a / top
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def _to_mode(im: Image.Image, channels: int, fill: tuple, bits: int | None = None) -> Image.Image:
    """``im`` as 8-bit 'L'/'RGB', or as 'F' in [0, 1] when it has more than 8 bits per sample.

    ``bits``: the sample depth when known (16 for 'I;16' images), else the range is guessed.
    """
    mode = im.mode
    if mode in _HIGH_BIT_MODES:
        if mode.startswith("I;16"):
            bits = 16
        unit = _scale_to_unit(np.asarray(im).astype(np.float32), bits)
        return Image.fromarray(unit.astype(np.float32))  # mode "F"
    if im.mode in _ALPHA_MODES:
        rgba = im.convert("RGBA")
        base = Image.new("RGBA", rgba.size, fill + (255,))
        im = Image.alpha_composite(base, rgba).convert("RGB")
    if im.mode not in ("L", "RGB"):
        try:
            im = im.convert("RGB")  # CMYK, YCbCr, HSV, RGBX, ...
        except ValueError as e:
            raise ValueError(f"image mode {mode!r} is not supported ({e})") from None
    target = "L" if channels == 1 else "RGB"
    return im if im.mode == target else im.convert(target)


def _luma(rgb) -> np.ndarray:
    """ITU-R 601-2 luma (as PIL's "L") of (..., 3) values."""
    return np.asarray(rgb, dtype=np.float32)[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _paper(rgba: Image.Image, fill: tuple) -> tuple:
    """The colour transparent pixels go on: ``fill``, unless what is drawn is that light too (white ink on a
    transparent sheet, given white paper; black ink given black): then black or white, whichever it shows on.

    "What is drawn" is the alpha-weighted mean colour; "that light" is within ``PAPER_CONTRAST`` levels of ``fill`` in
    every channel. An image with no transparency keeps ``fill``.
    """
    a = np.asarray(rgba)
    alpha = a[..., 3].astype(np.float32)
    if alpha.min() == 255 or alpha.sum() == 0:
        return fill
    ink = (a[..., :3].astype(np.float32) * alpha[..., None]).sum((0, 1)) / alpha.sum()   # mean drawn colour
    if np.abs(ink - np.asarray(fill, dtype=np.float32)).max() >= PAPER_CONTRAST:
        return fill
    return (0, 0, 0) if _luma(ink) >= 128 else (255, 255, 255)


def _finish(im: Image.Image, channels: int, size: int, fill: tuple, fit: str) -> torch.Tensor:
    """Orientation, mode, size: a decoded PIL image to the output tensor."""
    _check_size(im.size, "the image")
    orientation = im.getexif().get(0x0112)
    bits = 16 if im.mode.startswith("I;16") else None  # remembered: "I" alone does not say
    if im.mode == "P":  # palette indices cannot be averaged: expand first
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode == "1":
        im = im.convert("L")
    elif bits:
        im = im.convert("I")  # 32-bit ints, which reduce() handles
    needed = min(im.size) if fit == "crop" else max(im.size)
    factor = needed // (2 * size)  # shrink big images by block averaging before any conversion
    if factor > 1:
        try:
            im = im.reduce(factor)
        except ValueError:  # a mode reduce() does not handle: the resize below copes
            pass
    if im.mode in _ALPHA_MODES:
        fill = _paper(im.convert("RGBA"), fill)   # the padding too
    im = _to_mode(im, channels, fill, bits)
    if orientation in _EXIF_TRANSPOSE:
        im = im.transpose(_EXIF_TRANSPOSE[orientation])
    w, h = im.size
    lanczos = Image.Resampling.LANCZOS
    if fit == "stretch":
        im = im.resize((size, size), lanczos, reducing_gap=3.0)
    elif fit == "crop":
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side)).resize((size, size), lanczos, reducing_gap=3.0)
    else:  # pad
        scale = size / max(w, h)
        inner = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = im.resize(inner, lanczos, reducing_gap=3.0)
        gray = float(_luma(fill))
        pad = {"RGB": fill, "L": int(round(gray)), "F": gray / 255.0}[im.mode]
        im = Image.new(im.mode, (size, size), pad)
        im.paste(small, ((size - inner[0]) // 2, (size - inner[1]) // 2))
    a = np.asarray(im, dtype=np.float32)
    if im.mode != "F":
        a = a / 255.0
    if a.ndim == 2:
        a = a[:, :, None]
    if channels == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(np.clip(a, 0.0, 1.0).transpose(2, 0, 1)))  # (C, size, size)


def to_pil(image, value_range: tuple = (0.0, 1.0)) -> Image.Image:
    """A tensor or array image (C, H, W), (H, W) or (1, C, H, W) as a PIL 'L', 'RGB' or 'RGBA' image.

    Values are mapped from ``value_range`` to 0..255 and clamped.
    """
    t = torch.as_tensor(image).detach().cpu().float()
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3 or t.shape[0] not in (1, 3, 4):
        raise ValueError(f"to_pil expects (C, H, W) with C in 1, 3, 4; got {tuple(t.shape)}")
    lo, hi = value_range
    t = ((t - lo) / (hi - lo)).clamp(0, 1).mul(255).round().to(torch.uint8)
    a = t.permute(1, 2, 0).numpy()
    return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else np.ascontiguousarray(a))


def make_grid(images, nrow: int = 8, padding: int = 2, pad_value: float = 0.0) -> torch.Tensor:
    """Tile images (N, C, H, W) (or a list of (C, H, W)) into one (C, H', W') image, like torchvision.

    ``nrow`` images per row; ``padding`` pixels of ``pad_value`` between and around them.
    1-channel images stay 1-channel. Use ``to_pil(make_grid(x))`` to save.
    """
    if isinstance(images, (list, tuple)):
        images = torch.stack([torch.as_tensor(x) for x in images])
    images = torch.as_tensor(images).detach().cpu()
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"make_grid expects (N, C, H, W), got {tuple(images.shape)}")
    n, c, h, w = images.shape
    cols = max(1, min(int(nrow), n))
    rows = math.ceil(n / cols)
    grid = torch.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), float(pad_value),
                      dtype=images.dtype if images.is_floating_point() else torch.float32)
    for k in range(n):
        r, q = divmod(k, cols)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        grid[:, y:y + h, x:x + w] = images[k]
    return grid


def oriented_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) of a decoded image as it will be shown, after its EXIF orientation is applied."""
    orientation = im.getexif().get(0x0112)
    w, h = im.size
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
