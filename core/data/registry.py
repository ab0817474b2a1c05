"""``get_dataset``: one entry point for every dataset the app can train on."""

from __future__ import annotations

DATASETS = ("digits", "faces", "shapes", "folder", "mnist", "fashion_mnist", "cifar10")
DATASET_INFO = {
    "digits": "MNIST-style handwritten digits, 28x28 grayscale, generated on the fly (label: the digit)",
    "faces": "cartoon faces with 11 attributes, label maps and edge maps, 64x64 RGB (label: hair style)",
    "shapes": "1-3 coloured shapes with captions, 64x64 RGB (label: the first object's shape)",
    "folder": "your own image folder (class subfolders, metadata.jsonl captions, A/ B/ pairs)",
    "mnist": "MNIST (download=True fetches it once), 28x28 grayscale",
    "fashion_mnist": "Fashion-MNIST (download=True fetches it once), 28x28 grayscale",
    "cifar10": "CIFAR-10 (download=True fetches it once), 32x32 RGB",
}


def get_dataset(name: str, split: str = "train", resolution: int | None = None, root=None,
                download: bool = False, seed: int = 0, **kwargs):
    """Build a dataset by name.

    Args:
        name: one of ``DATASETS``.
        split: "train" or "test" (held-out; for worlds a disjoint random stream).
        resolution: image side in pixels; None (or 0) means the dataset's native size.
        root: the folder for "folder" (required), or where a standard dataset's files live
            (default ``~/.cache/genlab/datasets/<name>``).
        download: let a standard dataset fetch its files (never happens otherwise).
        seed: which copy of a procedural world (ignored by files on disk).
        **kwargs: passed to the folder datasets (``channels``, ``fit``, ``background``, ``layout``).

    Returns:
        a ``torch.utils.data.Dataset`` with ``get_batch(indices)``, ``channels``, ``resolution``,
        ``num_classes`` and ``class_names``.
    """
    resolution = int(resolution) if resolution else None
    if name == "digits":
        from .worlds.digits import Digits

        return Digits(split, resolution, seed)
    if name == "faces":
        from .worlds.faces import Faces

        return Faces(split, resolution, seed)
    if name == "shapes":
        from .worlds.shapes import Shapes

        return Shapes(split, resolution, seed)
    if name == "folder":
        if not root:
            raise ValueError("dataset 'folder' needs data_root: the path of the image folder (--data-root on the "
                             "command line)")
        from .folder import open_folder

        return open_folder(root, split, resolution, **kwargs)
    if name in ("mnist", "fashion_mnist", "cifar10"):
        from .standard import load_standard

        return load_standard(name, split, resolution, root, download)
    raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
