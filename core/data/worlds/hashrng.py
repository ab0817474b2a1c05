"""Counter-based random numbers: the random draws of item ``i`` are a pure function of a key and ``i``.

A procedural world must give the same item for the same index in any process and in any order,
so it never uses a global or stateful RNG. Instead every item owns a row of uniforms computed by a
hash (SplitMix64, Steele et al. 2014) of ``(key, index, column)``; the key itself is a stable hash of
``(world name, split, seed)``, so train and test draw from disjoint streams.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)


def stream_key(*parts) -> int:
    """A stable 64-bit key for ``parts`` (unlike ``hash()``, identical in every process)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrap-around arithmetic is intended)."""
    x = (x ^ (x >> np.uint64(30))) * _MUL1
    x = (x ^ (x >> np.uint64(27))) * _MUL2
    return x ^ (x >> np.uint64(31))


def item_uniforms(key: int, indices, n: int) -> np.ndarray:
    """Uniforms in [0, 1) for each item: row ``r`` depends only on ``(key, indices[r])``.

    Args:
        key: stream key from :func:`stream_key`.
        indices: item indices, shape (N,).
        n: how many numbers each item gets.

    Returns:
        float64 array (N, n).
    """
    idx = np.asarray(indices, dtype=np.uint64).reshape(-1, 1)  # (N, 1)
    item = _mix(np.uint64(key) ^ _mix(idx * _GOLDEN + _GOLDEN))  # (N, 1)
    cols = (np.arange(1, n + 1, dtype=np.uint64) * _GOLDEN).reshape(1, -1)  # (1, n)
    bits = _mix(item + cols) >> np.uint64(11)  # (N, n), 53 random bits
    return bits.astype(np.float64) * (1.0 / (1 << 53))


def item_normals(key: int, indices, n: int) -> np.ndarray:
    """Standard normals (N, n) per item, by Box-Muller on :func:`item_uniforms` of a derived key."""
    u = item_uniforms(key ^ 0x5DEECE66D, indices, 2 * n)  # (N, 2n)
    radius = np.sqrt(-2.0 * np.log1p(-u[:, :n]))  # log1p(-u) avoids log(0)
    return radius * np.cos(2.0 * np.pi * u[:, n:])
