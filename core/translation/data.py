"""Translation data: aligned pairs (pix2pix) and two unaligned domains (CycleGAN), from the worlds or folders.

Every dataset here gives ``get_batch(indices) -> {"A": (N, C, H, W), "B": (N, C, H, W)}`` in [0, 1], plus
``len``, ``channels_a``, ``channels_b`` and ``resolution``; world datasets also give the faces attributes of
each side (``attributes_A`` / ``attributes_B``, (N, 11)) for the measured results.

* ``FacePairs``: the faces world's semantic label map (each class a named colour) or edge map (black lines on
  white) as A, the rendered face as B: the label-map -> photo and edges -> photo tasks of pix2pix.
* ``FaceDomains``: faces whose ``attribute`` is ``value_a`` (domain A) and faces where it is ``value_b``
  (domain B), drawn independently: an unpaired task such as black hair <-> blonde hair.
* Folders: ``core.data.PairedFolder`` (``A/`` + ``B/`` or the pix2pix zips' side-by-side A|B images) and
  ``core.data.UnpairedFolder`` (the CycleGAN zips' ``trainA/`` + ``trainB/``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

# the label map's palette: class -> (colour name, RGB); the tab's Sketchpad offers the same colours
LABEL_COLOURS = {
    "background": ("white", (255, 255, 255)), "skin": ("orange", (255, 168, 80)), "hair": ("brown", (120, 60, 10)),
    "eyebrows": ("black", (0, 0, 0)), "eyes": ("blue", (0, 90, 255)), "nose": ("red", (230, 20, 20)),
    "mouth": ("magenta", (220, 0, 170)), "glasses": ("cyan", (0, 200, 220)), "clothes": ("green", (0, 150, 60)),
}
PAIRED_INPUTS = ("labels", "edges")


def label_palette() -> np.ndarray:
    """(K, 3) uint8 colours of the faces classes, in ``LABEL_NAMES`` order."""
    from core.data.worlds.faces_parts import LABEL_NAMES

    return np.array([LABEL_COLOURS[name][1] for name in LABEL_NAMES], dtype=np.uint8)


def colour_labels(label_map: torch.Tensor) -> torch.Tensor:
    """(N, H, W) class indices -> (N, 3, H, W) palette colours in [0, 1]."""
    palette = torch.from_numpy(label_palette()).float() / 255
    return palette[label_map.long()].permute(0, 3, 1, 2).contiguous()


def draw_edges(edge_map: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) edge mask in {0, 1} -> (N, 3, H, W) black lines on white in [0, 1]."""
    return (1 - edge_map.float()).expand(-1, 3, -1, -1).contiguous()


class FacePairs:
    """(A = label map or edge map, B = face) pairs of the faces world; item i is the world's item i."""

    def __init__(self, paired_input: str = "labels", split: str = "train", resolution: int | None = 64, seed: int = 0):
        from core.data import get_dataset

        if paired_input not in PAIRED_INPUTS:
            raise ValueError(f"paired_input must be one of {PAIRED_INPUTS}, got {paired_input!r}")
        self.world = get_dataset("faces", split=split, resolution=resolution, seed=seed)
        self.paired_input, self.resolution = paired_input, self.world.resolution
        self.channels_a = self.channels_b = self.channels = 3

    def __len__(self) -> int:
        return len(self.world)

    def get_batch(self, indices) -> dict:
        items = self.world.get_batch(indices)
        a = colour_labels(items["label_map"]) if self.paired_input == "labels" else draw_edges(items["edge_map"])
        return {"A": a, "B": items["image"], "attributes_A": items["attributes"], "attributes_B": items["attributes"],
                "label_map": items["label_map"]}   # (N, H, W): where the facial parts are (``parts.py``)


@lru_cache(maxsize=8)
def domain_indices(split: str, seed: int, attribute: str, value: str) -> np.ndarray:
    """Indices of the faces world's ``split`` items whose ``attribute`` is ``value`` (from the attributes alone,
    without rendering)."""
    from core.data.worlds.faces import ATTRIBUTE_NAMES, ATTRIBUTES, Faces

    if attribute not in ATTRIBUTES:
        raise ValueError(f"unknown faces attribute {attribute!r}; valid: {', '.join(ATTRIBUTE_NAMES)}")
    if value not in ATTRIBUTES[attribute]:
        raise ValueError(f"{attribute} has no value {value!r}; valid: {', '.join(ATTRIBUTES[attribute])}")
    world = Faces(split, 16, seed)
    u, _ = world._random_rows(np.arange(len(world)))
    column, wanted = ATTRIBUTE_NAMES.index(attribute), ATTRIBUTES[attribute].index(value)
    keep = [i for i in range(len(world)) if Faces.sample_attributes(u[i])[column] == wanted]
    return np.asarray(keep, dtype=np.int64)


class FaceDomains:
    """Unpaired domains of the faces world: A = faces with ``attribute == value_a``, B = with ``value_b``.

    Item i pairs the i-th face of A with a face of B chosen by a fixed hash of i (never the same identity).
    """

    def __init__(self, attribute: str = "hair_colour", value_a: str = "black", value_b: str = "blonde",
                 split: str = "train", resolution: int | None = 64, seed: int = 0):
        from core.data import get_dataset

        if value_a == value_b:
            raise ValueError(f"the two domains must differ; both are {attribute} = {value_a!r}")
        self.world = get_dataset("faces", split=split, resolution=resolution, seed=seed)
        self.a_index = domain_indices(split, seed, attribute, value_a)
        self.b_index = domain_indices(split, seed, attribute, value_b)
        self.attribute, self.value_a, self.value_b = attribute, value_a, value_b
        self.resolution = self.world.resolution
        self.channels_a = self.channels_b = self.channels = 3

    def __len__(self) -> int:
        return max(len(self.a_index), len(self.b_index))

    def get_batch(self, indices) -> dict:
        idx = np.asarray(list(indices), dtype=np.int64)
        a = self.world.get_batch(self.a_index[idx % len(self.a_index)])
        b = self.world.get_batch(self.b_index[(idx * 2654435761 + 12345) % len(self.b_index)])
        return {"A": a["image"], "B": b["image"], "attributes_A": a["attributes"], "attributes_B": b["attributes"]}


class Reversed:
    """A paired or unpaired dataset with A and B swapped (the reference's ``--direction BtoA``)."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.resolution = dataset.resolution
        self.channels_a, self.channels_b = dataset.channels_b, dataset.channels_a
        self.channels = self.channels_b

    def __len__(self) -> int:
        return len(self.dataset)

    def get_batch(self, indices) -> dict:
        batch = self.dataset.get_batch(indices)
        swapped = {"A": batch["B"], "B": batch["A"]}
        if "attributes_A" in batch:
            swapped.update(attributes_A=batch["attributes_B"], attributes_B=batch["attributes_A"])
        return swapped
