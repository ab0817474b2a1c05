"""GenLab data: procedural worlds, image folders, standard datasets and user images.

    from core.data import get_dataset, DATASETS, load_user_image, export_image_folder
    ds = get_dataset("faces", split="train", resolution=32)
    batch = ds.get_batch(range(16))  # {"image": (16, 3, 32, 32), "label": (16,), ...}
"""

from .folder import ImageFolder, PairedFolder, UnpairedFolder, export_image_folder
from .images import load_user_image, make_grid, open_image, to_pil
from .registry import DATASET_INFO, DATASETS, get_dataset

__all__ = [
    "DATASETS", "DATASET_INFO", "get_dataset", "load_user_image", "open_image", "to_pil", "make_grid",
    "export_image_folder", "ImageFolder", "PairedFolder", "UnpairedFolder",
]
