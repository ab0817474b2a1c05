"""Image-caption pairs from a world, with colour-shape combinations held out of training.

Compositional generalisation is measured on combinations the model never saw: every training scene that holds a
held-out (colour, shape) pair anywhere is skipped, so e.g. "a red star" is never drawn or named in training although
red things and stars both are. The default pairs form a Latin-square diagonal (each shape and each colour is held out
in exactly one pair), so every word stays well trained.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from functools import cached_property

import numpy as np
import torch

CHUNK = 2000
MAX_WORKERS = 8
HOLDOUT = ("purple circle", "pink square", "green triangle", "red star", "yellow hexagon", "blue heart",
           "cyan cross", "orange diamond")


def parse_holdout(pairs) -> list[tuple[int, int]]:
    """("red star", ...) -> [(shape index, colour index), ...]; raises ``ValueError`` on an unknown word."""
    from core.data.worlds.shapes import COLOUR_NAMES, SHAPES

    out = []
    for pair in pairs:
        words = str(pair).split()
        if len(words) != 2 or words[0] not in COLOUR_NAMES or words[1] not in SHAPES:
            raise ValueError(f"held-out pair {pair!r} is not '<colour> <shape>' (colours: {', '.join(COLOUR_NAMES)}; "
                             f"shapes: {', '.join(SHAPES)})")
        out.append((SHAPES.index(words[1]), COLOUR_NAMES.index(words[0])))
    return out


class CaptionedWorld:
    """``get_batch`` / ``__len__`` over a world's items, skipping those with a held-out pair (``shapes`` only).

    Args:
        world: a ``ProceduralWorld`` whose items have "image" and "text".
        holdout: (colour shape) pairs to skip; () keeps every item.
        cache_items: render the first ``cache_items`` kept items once (uint8, in memory) and draw batches from them;
            0 renders every batch afresh.
    """

    def __init__(self, world, holdout=(), cache_items: int = 0):
        self.world = world
        self.holdout = parse_holdout(holdout) if holdout and world.name == "shapes" else []
        self.cache_items = int(cache_items)
        self.channels, self.resolution, self.name = world.channels, world.resolution, world.name

    @cached_property
    def indices(self) -> np.ndarray:
        """World indices kept (those without a held-out pair), from the scenes' layouts alone (no drawing)."""
        n = len(self.world) if not self.cache_items else min(len(self.world), self.cache_items * 2)
        if not self.holdout:
            return np.arange(n)
        banned = set(self.holdout)
        u, _ = self.world._random_rows(np.arange(n))
        keep = [i for i in range(n) if not any((o[0], o[1]) in banned for o in self.world.layout(u[i])[0])]
        return np.asarray(keep[:self.cache_items] if self.cache_items else keep)

    @cached_property
    def _cache(self) -> dict:
        """The kept items rendered once, in worker processes when there are many (uint8 images, captions)."""
        chunks = [self.indices[s:s + CHUNK].tolist() for s in range(0, len(self.indices), CHUNK)]
        workers = min(len(chunks), max(1, (os.cpu_count() or 1) - 1), MAX_WORKERS)
        if workers > 1:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                parts = list(pool.map(_render, [self.world] * len(chunks), chunks))
        else:
            parts = [_render(self.world, c) for c in chunks]
        return {"image": torch.cat([p[0] for p in parts]), "text": [t for p in parts for t in p[1]]}

    def __len__(self) -> int:
        return len(self.indices)

    def get_batch(self, indices) -> dict:
        """{"image": (B, C, H, W) float in [0, 1], "text": [B captions]} for positions ``indices`` of the kept items;
        from the cache also "item": (B,) int64, the positions, so a method can keep what it computes per item."""
        indices = [int(i) for i in indices]
        if self.cache_items:
            cache = self._cache
            return {"image": cache["image"][indices].float() / 255, "text": [cache["text"][i] for i in indices],
                    "item": torch.tensor(indices, dtype=torch.int64)}
        batch = self.world.get_batch(self.indices[indices].tolist())
        return {"image": batch["image"], "text": batch["text"]}

    def captions(self, num: int) -> list[str]:
        """The first ``num`` kept captions (for training a tokenizer)."""
        return [self.world[int(i)]["text"] for i in self.indices[:num]]


class ShapeGroups:
    """A cached ``shapes`` training set whose batches end in groups of one-object scenes that differ only in shape.

    Each group of ``GROUP`` items shares one colour and size ("a large red circle", "a large red square", ...), so
    within it only the shape word tells captions apart: a contrastive loss pays for seeing outlines and for text
    states that carry the shape word, where in a random batch the colour alone almost always wins. The last
    ``groups * GROUP`` positions of a batch are regrouped, the rest kept; which scenes, from the indices alone (so a
    resumed run draws the same batches).
    """

    GROUP = 8

    def __init__(self, dataset: CaptionedWorld, groups: int):
        import re
        from collections import defaultdict

        from core.data.worlds.shapes import COLOUR_NAMES, SHAPES, SIZE_NAMES

        if not dataset.cache_items:
            raise ValueError("shape groups need cache_items > 0 (they are drawn from the cached scenes)")
        self.dataset, self.groups = dataset, int(groups)
        one = re.compile(rf"a ({'|'.join(SIZE_NAMES)}) ({'|'.join(COLOUR_NAMES)}) ({'|'.join(SHAPES)})")
        buckets = defaultdict(list)
        for i, text in enumerate(dataset._cache["text"]):
            m = one.fullmatch(text)
            if m:
                buckets[(m.group(1), m.group(2))].append((m.group(3), i))
        self.keys = sorted(k for k, items in buckets.items() if len({s for s, _ in items}) >= 2)
        self.by_shape = {k: [[i for s, i in buckets[k] if s == shape] for shape in SHAPES] for k in self.keys}
        if not self.keys:
            raise ValueError("no colour and size has one-object scenes of two shapes in the cache: raise cache_items")
        self.channels, self.resolution, self.name = dataset.channels, dataset.resolution, dataset.name

    def __len__(self) -> int:
        return len(self.dataset)

    def get_batch(self, indices) -> dict:
        indices = [int(i) for i in indices]
        head = max(0, len(indices) - self.groups * self.GROUP)
        out = list(indices[:head])
        for g in range(head, len(indices), self.GROUP):
            draw = indices[g:g + self.GROUP]
            lists = [items for items in self.by_shape[self.keys[draw[0] % len(self.keys)]] if items]
            # one scene per shape this colour and size has; a random scene where it has fewer shapes than places
            out += [lists[k][i % len(lists[k])] if k < len(lists) else i for k, i in enumerate(draw)]
        return self.dataset.get_batch(out)

    def captions(self, num: int) -> list[str]:
        return self.dataset.captions(num)


class CaptionedData:
    """Mixin for a ``Method`` whose config has ``dataset``, ``resolution``, ``holdout`` and ``cache_items``: its
    datasets are the world's captioned pairs, the training split without the held-out pairs (and cached if asked),
    the test split whole; each built once."""

    def build_dataset(self, split: str = "train") -> CaptionedWorld:
        from core.data import get_dataset

        datasets = self.__dict__.setdefault("_datasets", {})
        if split not in datasets:
            c = self.config
            world = get_dataset(c.dataset, split=split, resolution=c.resolution)
            train = split == "train"
            datasets[split] = CaptionedWorld(world, c.holdout if train else (), c.cache_items if train else 0)
        return datasets[split]


def _render(world, indices):
    batch = world.get_batch(indices)
    return (batch["image"] * 255).round().to(torch.uint8), batch["text"]


def has_pair(objects, pairs) -> bool:
    """Whether any present object row (shape, colour, size, present) of a scene is one of ``pairs``."""
    return any(int(o[3]) and (int(o[0]), int(o[1])) in set(pairs) for o in objects)
