"""A small thread-safe LRU of loaded models, shared by the tabs and the plain functions behind them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable


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
