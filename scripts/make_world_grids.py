"""Draw sample grids of the procedural worlds into docs/worlds/ (8x8 grids, upscaled 2x).

    python scripts/make_world_grids.py [--out docs/worlds] [--scale 2]

Writes digits.png, faces.png, shapes.png and faces_maps.png (faces with their semantic label map
and edge map, and a legend of the label classes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.data import get_dataset, make_grid, to_pil  # noqa: E402

LABEL_COLOURS = torch.tensor([  # one colour per faces label class, for the label-map view
    (20, 20, 24), (240, 190, 150), (150, 80, 40), (90, 50, 20), (60, 140, 240), (230, 120, 90),
    (200, 30, 60), (250, 230, 60), (60, 170, 90), (160, 160, 160), (255, 255, 255), (120, 60, 200),
], dtype=torch.float32) / 255


def upscale(image: Image.Image, scale: int) -> Image.Image:
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


def world_grid(name: str, n: int = 64) -> Image.Image:
    batch = get_dataset(name).get_batch(range(n))
    return to_pil(make_grid(batch["image"], nrow=8, padding=2, pad_value=0.5))


def faces_maps(n: int = 8, scale: int = 2) -> Image.Image:
    """Rows of faces, their label maps (coloured) and their edge maps; a legend below."""
    ds = get_dataset("faces")
    batch = ds.get_batch(range(n * 2))
    coloured = LABEL_COLOURS[batch["label_map"]].permute(0, 3, 1, 2)  # (N, 3, H, W)
    edges = batch["edge_map"].expand(-1, 3, -1, -1)
    rows = []
    for half in (slice(0, n), slice(n, 2 * n)):
        rows += [batch["image"][half], coloured[half], edges[half]]
    grid = upscale(to_pil(make_grid(torch.cat(rows), nrow=n, padding=2, pad_value=0.5)), scale)

    font = ImageFont.load_default()
    legend = Image.new("RGB", (grid.width, 28), (128, 128, 128))
    draw = ImageDraw.Draw(legend)
    x = 6
    for k, label in enumerate(ds.label_names):
        colour = tuple(int(c * 255) for c in LABEL_COLOURS[k])
        draw.rectangle((x, 8, x + 12, 20), fill=colour, outline=(0, 0, 0))
        draw.text((x + 16, 8), label, fill=(255, 255, 255), font=font)
        x += 22 + int(draw.textlength(label, font=font))
    out = Image.new("RGB", (grid.width, grid.height + legend.height))
    out.paste(grid, (0, 0))
    out.paste(legend, (0, grid.height))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "worlds"))
    parser.add_argument("--scale", type=int, default=2)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("digits", "faces", "shapes"):
        upscale(world_grid(name), args.scale).save(out / f"{name}.png")
    faces_maps(scale=args.scale).save(out / "faces_maps.png")
    print(f"wrote {', '.join(p.name for p in sorted(out.glob('*.png')))} to {out}")


if __name__ == "__main__":
    main()
