"""The bad-input corpus: odd and broken image files, and bad values for numeric parameters.

Used against every endpoint that takes an image or a number (``tests/test_bad_inputs.py``) and by the tabs' own
tests. Each image file is either *converted* (decoded into what the model takes: first frame, orientation
applied, transparency composited, 16 bits scaled, any size) or *refused* with one clear message.
Image size limit: 100 megapixels (``core.data.images.MAX_PIXELS``), checked from the header before decoding.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

BAD_NUMBERS = (float("nan"), float("inf"), -1, 1e30, "abc", None)
MUST_REFUSE = (float("nan"), float("inf"), 1e30, "abc", None)  # -1 is a fine value for some parameters (psi)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` but holds no pixel data (a decompression bomb's header)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def truncated_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()[:60]


def odd_files(folder: Path, large: bool = False) -> dict[str, Path]:
    """Files every image input must convert: odd modes, sizes, orientation, animation.

    ``large`` adds a 10,000 x 10,000 px PNG (100 megapixels, the limit: about a second to decode).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rgb = Image.new("RGB", (40, 30), (200, 40, 40))
    files = {
        "one_pixel.png": Image.new("RGB", (1, 1), (0, 0, 255)),
        "rgba.png": Image.new("RGBA", (40, 30), (0, 0, 0, 0)),
        "palette.png": rgb.convert("P"),
        "gray.png": rgb.convert("L"),
        "sixteen.png": Image.fromarray(np.full((30, 40), 40000, np.uint16)),
        "cmyk.jpg": rgb.convert("CMYK"),
        "wide.png": Image.new("RGB", (10_000, 20), (10, 200, 10)),
    }
    if large:
        files["ten_thousand.png"] = Image.new("RGB", (10_000, 10_000), (10, 200, 10))
    out = {}
    for name, im in files.items():
        out[name] = folder / name
        im.save(out[name])
    exif = Image.Exif()
    exif[0x0112] = 6                                           # rotated 90 degrees: 30 x 40 on screen
    rgb.save(out.setdefault("exif.jpg", folder / "exif.jpg"), exif=exif)
    frames = [Image.new("RGB", (32, 32), c) for c in ((200, 40, 40), (40, 40, 200))]
    frames[0].save(out.setdefault("animated.gif", folder / "animated.gif"), save_all=True,
                   append_images=frames[1:], duration=100, loop=0)
    return out


def broken_files(folder: Path) -> dict[str, Path]:
    """Files every image input must refuse with one message naming the problem."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "truncated.png": truncated_png(),
        "text.png": b"hello, I am a text file renamed .png",
        "notes.txt": b"a text file sent as what it is (a file box judged it by its name: Gradio's own message)",
        "empty.png": b"",
        "bomb.png": png_header_only(50_000, 50_000),           # 2.5 gigapixels declared in 70 bytes
    }
    out = {}
    for name, content in data.items():
        out[name] = folder / name
        out[name].write_bytes(content)
    return out


REFUSAL = r"(?i)image|megapixel|readable|no pixels|empty"


def clear_message(text: str) -> bool:
    """One short line for the user: no Gradio preprocessing dump, no traceback, no 'fault of the app'."""
    return (0 < len(text) < 400 and "\n" not in text.strip() and "Could not preprocess" not in text
            and "Traceback" not in text and "fault of the app" not in text)
