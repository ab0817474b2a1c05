"""The shared skeleton of a procedural world: indexing, splits, per-item randomness, batching."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .hashrng import item_normals, item_uniforms, stream_key

SPLIT_LENGTHS = {"train": 60_000, "test": 10_000}


class ProceduralWorld(Dataset):
    """A dataset drawn on the fly: item ``i`` is a pure function of (name, split, seed, i, resolution).

    Subclasses set the class attributes and implement :meth:`render`, which turns one item's random
    numbers into a dict of numpy arrays / python values; the base class converts them to tensors
    (one item in ``__getitem__``, stacked in :meth:`get_batch`), so both paths give identical values.

    Args:
        split: "train" or "test"; the two use disjoint random streams.
        resolution: image side in pixels; ``None`` (or 0) means ``native_resolution``.
        seed: selects another, equally valid, copy of the world.
    """

    name: str = ""
    native_resolution: int = 64
    channels: int = 3
    class_names: list  # set by each world
    n_uniforms: int = 64  # random numbers each item gets
    n_normals: int = 0

    def __init__(self, split: str = "train", resolution: int | None = None, seed: int = 0):
        if split not in SPLIT_LENGTHS:
            raise ValueError(f"split must be one of {list(SPLIT_LENGTHS)}, got {split!r}")
        resolution = int(resolution or self.native_resolution)
        if not 8 <= resolution <= 1024:
            raise ValueError(f"resolution must be 0 (the world's native {self.native_resolution} px) or within "
                             f"[8, 1024], got {resolution}")
        self.split, self.seed, self.resolution = split, int(seed), resolution
        self._key = stream_key(self.name, split, self.seed)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return SPLIT_LENGTHS[self.split]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(split={self.split!r}, resolution={self.resolution}, seed={self.seed}, len={len(self)})"

    # ------------------------------------------------------------------ randomness
    def _check_indices(self, indices) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"index out of range for {self!r}")
        return np.where(idx < 0, idx + n, idx)

    def _random_rows(self, idx: np.ndarray):
        """(uniforms (N, n_uniforms), normals (N, n_normals)) for item indices ``idx``."""
        u = item_uniforms(self._key, idx, self.n_uniforms)
        z = item_normals(self._key, idx, self.n_normals) if self.n_normals else np.zeros((len(idx), 0))
        return u, z

    def render(self, u: np.ndarray, z: np.ndarray) -> dict:
        """One item from its uniforms ``u`` (n_uniforms,) and normals ``z`` (n_normals,).

        Returns a dict with "image" as uint8 (H, W, C) and any other keys as numpy arrays, ints or
        strings.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ items and batches
    def __getitem__(self, i) -> dict:
        idx = self._check_indices([int(i)])
        u, z = self._random_rows(idx)
        item = self.render(u[0], z[0])
        out = {}
        for key, value in item.items():
            if isinstance(value, np.ndarray) and not value.flags.writeable:
                value = value.copy()  # arrays viewing PIL images are read-only
            if key == "image":
                out[key] = torch.from_numpy(value).permute(2, 0, 1).float().div_(255.0)  # (C, H, W)
            elif isinstance(value, np.ndarray):
                out[key] = torch.from_numpy(value)
            else:
                out[key] = value
        return out

    def get_batch(self, indices) -> dict:
        """Items ``indices`` stacked like ``default_collate`` would (strings become lists)."""
        idx = self._check_indices(indices)
        u, z = self._random_rows(idx)
        items = [self.render(u[r], z[r]) for r in range(len(idx))]
        if not items:
            raise ValueError("get_batch needs at least one index")
        out = {}
        for key, first in items[0].items():
            values = [item[key] for item in items]
            if key == "image":
                stacked = torch.from_numpy(np.stack(values))  # (N, H, W, C) uint8
                out[key] = stacked.permute(0, 3, 1, 2).float().div_(255.0)  # (N, C, H, W)
            elif isinstance(first, np.ndarray):
                out[key] = torch.from_numpy(np.stack(values))
            elif isinstance(first, (bool, int, np.integer)):
                out[key] = torch.tensor(values, dtype=torch.long)
            elif isinstance(first, float):
                out[key] = torch.tensor(values, dtype=torch.float64)
            else:
                out[key] = values
        return out
