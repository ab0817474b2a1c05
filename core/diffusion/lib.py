"""Thread-safe access to diffusers and transformers classes.

diffusers resolves its top-level names lazily (``_LazyModule``). Two app threads resolving names at the same
moment can see a half-initialised module and fail with ``ImportError: cannot import name 'DDPMScheduler'``
(seen when the forward-process slider and the schedule plot ran at once). One lock around the lookup fixes it.
"""

from __future__ import annotations

import threading

_LOCK = threading.Lock()


def diffusers_class(name: str):
    """``diffusers.<name>`` (e.g. "DDPMScheduler", "UNet2DModel"), resolved under a process-wide lock."""
    with _LOCK:
        import diffusers

        return getattr(diffusers, name)


def transformers_class(name: str):
    """``transformers.<name>`` (lazy like diffusers), resolved under the same lock."""
    with _LOCK:
        import transformers

        return getattr(transformers, name)
