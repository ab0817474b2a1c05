"""Adapters on a shared pipeline: each loaded once, under a name of its own file, at most ``MAX_LOADED`` at a time.

Every visitor's first adapter is called ``sks-lora-1``: adapters are told apart by their file (folder path and
modification time), not by name, and one trained further is loaded anew (its earlier weights unloaded).
"""

from __future__ import annotations

import hashlib
import weakref
from pathlib import Path

from .service import LORA_FILE, TI_FILE, read_meta, weights_file
from .train import METHODS

# pipeline -> {adapter folder: (method, loaded name)}, oldest first (weak: a pipeline the cache let go takes its entry)
_LOADED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
MAX_LOADED = 12  # adapters a pipeline keeps loaded; the least recently used goes first


def apply_adapter(pipe, folder: Path, base: str) -> dict:
    """Load adapter ``folder`` into ``pipe`` (diffusers' own loaders) under a name of its own file, unless loaded;
    returns its meta, with "loaded_name" (the LoRA adapter's name, the textual-inversion token). Call under the lock.

    The name comes from the folder's path and its weights' modification time (:func:`loaded_name`): two visitors'
    ``sks-lora-1`` are two adapters, and an adapter trained further is loaded anew (the earlier weights are unloaded).
    """
    meta = read_meta(folder)
    if meta.get("base") != base:
        raise ValueError(f"adapter {folder.name} was trained for {meta.get('base')!r}, not {base!r}: pick that model")
    method, name, where = meta.get("method"), folder.name, str(folder.resolve())
    if method not in METHODS:
        raise ValueError(f"adapter {name}: unknown method {method!r}")
    key = meta["loaded_name"] = loaded_name(folder, method)
    loaded = _LOADED.setdefault(pipe, {})
    if where in loaded and loaded[where][1] != key:  # trained further since it was loaded
        _unload(pipe, *loaded.pop(where))
    try:
        if where not in loaded and method == "lora":
            if not (folder / LORA_FILE).is_file():
                raise ValueError(f"adapter {name} has no {LORA_FILE}")
            pipe.load_lora_weights(str(folder), adapter_name=key)
            if key not in pipe.get_list_adapters().get("unet", []):  # diffusers only warns when nothing fits
                raise ValueError(f"adapter {name} does not fit {base}: none of its tensors match this UNet")
        elif where not in loaded:
            pipe.load_textual_inversion(str(folder / TI_FILE), token=key)
    except ValueError:
        raise
    except Exception as exc:  # a file that is not a LoRA, or one for another network
        raise ValueError(f"adapter {name} does not fit {base}: {str(exc).splitlines()[0][:200]}") from exc
    loaded[where] = loaded.pop(where, (method, key))  # the most recently used last
    while len(loaded) > MAX_LOADED:
        _unload(pipe, *loaded.pop(next(iter(loaded))))
    return meta


def _unload(pipe, method: str, key: str) -> None:
    if method == "lora":
        pipe.delete_adapters(key)
    else:
        pipe.unload_textual_inversion(key)


def loaded_name(folder: Path, method: str) -> str:
    """The name adapter ``folder`` is loaded under: one per file (two adapters both trained as "sks-lora-1" or
    "<sks>", in two sessions or retrained, must not share the first one's weights): "lora_<hash>" for LoRA, the token
    "<ti-<hash>>" for textual inversion, the hash of the folder's path and its weights' modification time."""
    weights = weights_file(folder, method)
    stamp = hashlib.sha1(f"{folder.resolve()}:{weights.stat().st_mtime_ns if weights.exists() else 0}".encode())
    return f"lora_{stamp.hexdigest()[:10]}" if method == "lora" else f"<ti-{stamp.hexdigest()[:10]}>"
