"""Draw the image-to-image figure of the README (docs/text2image/edits.png): held-out shapes scenes recoloured by a
text-to-image checkpoint at each strength, the scenes, prompts and seed of its card's recolouring measurement
(``core.text2image.edit_evaluate``).

    python scripts/make_edit_sheet.py [--checkpoint checkpoints/text2image/t2i-clip-shapes] [--num 6]
                                      [--out docs/text2image/edits.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="checkpoints/text2image/t2i-clip-shapes")
    parser.add_argument("--num", type=int, default=6, help="scenes (rows)")
    parser.add_argument("--out", default="docs/text2image/edits.png")
    args = parser.parse_args(argv)

    from core.text2image.config import Text2ImageConfig
    from core.text2image.edit_evaluate import edit_sheet
    from core.text2image.method import Text2ImageMethod

    folder = ROOT / args.checkpoint
    method = Text2ImageMethod(Text2ImageConfig.load(folder / "train_config.json"))
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    edit_sheet(method, method.load_inference(folder), args.num).save(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
