"""An in-memory cache over a dataset's images, so a run renders (or decodes) each image once."""

from __future__ import annotations

import torch


class CachedImages:
    """The first ``limit`` items of ``dataset`` ("image" and "label" only), kept as uint8 once drawn.

    Procedural worlds render every item on demand; a training run draws each index many times,
    so keeping the 8-bit pixels (what the worlds produce) avoids re-rendering. Other attributes
    (``channels``, ``resolution``, ``class_names``...) are read from the wrapped dataset.

    Args:
        dataset: anything with ``__len__`` and ``get_batch(indices) -> {"image": (N, C, H, W) in [0, 1], ...}``.
        limit: use only the first ``limit`` items (0 = all).
    """

    def __init__(self, dataset, limit: int = 0):
        self.dataset = dataset
        self.size = min(int(limit) or len(dataset), len(dataset))
        self.images: torch.Tensor | None = None  # (n, C, H, W) uint8, allocated on first use
        self.labels = torch.zeros(self.size, dtype=torch.long)
        self.have = torch.zeros(self.size, dtype=torch.bool)

    def __len__(self) -> int:
        return self.size

    def __getattr__(self, name):  # channels, resolution, class_names, ...
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def get_batch(self, indices) -> dict:
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        if idx.numel() == 0:
            raise ValueError("get_batch needs at least one index")
        if idx.min() < 0 or idx.max() >= self.size:
            raise IndexError(f"index out of range for the first {self.size} items")
        missing = idx[~self.have[idx]].unique()
        if len(missing):
            batch = self.dataset.get_batch(missing.tolist())
            pixels = batch["image"].mul(255).round().clamp(0, 255).to(torch.uint8).cpu()
            if self.images is None:
                self.images = torch.zeros((self.size, *pixels.shape[1:]), dtype=torch.uint8)
            self.images[missing] = pixels
            if "label" in batch:
                self.labels[missing] = torch.as_tensor(batch["label"], dtype=torch.long).cpu()
            self.have[missing] = True
        return {"image": self.images[idx].float().div_(255.0), "label": self.labels[idx]}
