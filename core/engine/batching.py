"""Serve many students with one forward pass: concurrent single requests coalesced into batches.

A classroom sends many small requests at once (thirty students moving the same slider). Each runs in its own
server thread; :class:`MicroBatcher` lets the first thread that finds no batch running take every request
waiting at that moment (up to ``max_batch``) that shares its key, run them as one call, and hand each caller
its own result or its own exception. No request waits for a batch to fill: an idle server answers a lone
request at once, and a busy one batches whatever queued up during the previous pass.

Validate each request before :meth:`MicroBatcher.submit`, so one student's bad value is that student's error.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable


@dataclass
class _Request:
    key: Hashable
    item: Any
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class MicroBatcher:
    """Coalesce concurrent ``submit(key, item)`` calls into ``run_batch(key, items) -> results``.

    Args:
        run_batch: computes the results of a list of items that share ``key``, in order (len(results) ==
            len(items)). An exception it raises goes to every request of that batch.
        max_batch: the most items per call (bounds memory and the latency of the batch's last request).
    """

    def __init__(self, run_batch: Callable[[Hashable, list], list], max_batch: int = 16):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.run_batch, self.max_batch = run_batch, max_batch
        self._pending: list[_Request] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when a batch finishes
        self._busy = False
        self.batches = 0  # how many calls of run_batch (for benchmarks and tests)

    def submit(self, key: Hashable, item) -> Any:
        """The result for ``item`` (blocks until computed); re-raises the batch's exception."""
        request = _Request(key, item)
        with self._lock:
            self._pending.append(request)
        while not request.done.is_set():
            with self._lock:
                while self._busy and not request.done.is_set():  # another thread runs a batch (ours, maybe)
                    self._idle.wait()
                batch = None if request.done.is_set() else self._take_locked()
            if batch is not None:
                self._run(batch)
        if request.error is not None:
            raise request.error
        return request.result

    def _take_locked(self) -> list[_Request]:
        """The next batch: the oldest request and the others waiting with its key (lock held, not busy)."""
        key = self._pending[0].key
        batch = [r for r in self._pending if r.key == key][: self.max_batch]
        taken = {id(r) for r in batch}
        self._pending = [r for r in self._pending if id(r) not in taken]
        self._busy = True
        return batch

    def _run(self, batch: list[_Request]) -> None:
        try:
            results = self.run_batch(batch[0].key, [r.item for r in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"run_batch returned {len(results)} results for {len(batch)} items")
            for r, value in zip(batch, results):
                r.result = value
        except BaseException as exc:  # noqa: BLE001 - handed to every caller of this batch
            for r in batch:
                r.error = exc
        finally:
            with self._lock:
                for r in batch:
                    r.done.set()
                self._busy = False
                self.batches += 1
                self._idle.notify_all()


__all__ = ["MicroBatcher"]
