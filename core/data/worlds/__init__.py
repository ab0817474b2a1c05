"""Procedural worlds: datasets drawn on the fly, deterministic per (split, seed, index)."""

from .digits import Digits
from .faces import Faces
from .shapes import Shapes

__all__ = ["Digits", "Faces", "Shapes"]
