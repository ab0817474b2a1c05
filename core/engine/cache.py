"""A small thread-safe LRU of loaded models, and the context (device, cache) every service function receives."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import torch


class ModelCache:
    """A small thread-safe LRU of loaded models, keyed by e.g. (method, checkpoint name)."""

    def __init__(self, max_items: int = 8):
        self.max_items = max_items
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict = {}

    def get(self, key: tuple, loader: Callable[[], object]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:  # one load per key even when 30 students click at once
            with self._lock:
                if key in self._items:
                    return self._items[key]
            value = loader()
            with self._lock:
                self._items[key] = value
                while len(self._items) > self.max_items:
                    self._items.popitem(last=False)
                self._loading.pop(key, None)
            return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@dataclass
class AppContext:
    """What every tab's ``build`` and every ``core/<method>/service.py`` function receives: the device models
    run on, whether this server trains, whether it is public (``core.engine.hosting``), and the shared model
    cache."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    allow_train: bool = True
    public: bool = False
    cache: ModelCache = field(default_factory=ModelCache)
    batchers: dict = field(default_factory=dict, repr=False)
    # a tab's outputs for the settings its page opens with, drawn once at warm-up: shown on every page open for free
    openings: dict = field(default_factory=dict, repr=False)

    def batcher(self, name: str, run_batch: Callable, max_batch: int = 8):
        """The context's :class:`core.engine.batching.MicroBatcher` called ``name`` (made on first use)."""
        from .batching import MicroBatcher

        with _BATCHERS_LOCK:
            if name not in self.batchers:
                self.batchers[name] = MicroBatcher(run_batch, max_batch)
            return self.batchers[name]


_BATCHERS_LOCK = threading.Lock()
