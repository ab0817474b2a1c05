"""Checkpoint folders: where they live, how they are written and how they are read safely.

Layout (DESIGN.md §3)::

    checkpoints/<method>/<name>/
        config.json          model config: ``Model.from_pretrained(folder)`` rebuilds the model
        *.safetensors        inference weights (EMA when trained with EMA)
        train_config.json    the full training config (``python -m core.train <method> --config``)
        README.md            model card, samples.png
        resume/              optimizer, step, RNG, raw weights (not bundled)

Writes are atomic: a folder is written under a temporary name and renamed into place, so
a run killed mid-write leaves the previous checkpoint intact. Reads never unpickle code:
weights come from safetensors, other tensors from ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CheckpointError(ValueError):
    """A checkpoint name, path or file that cannot be used; the message says which and why."""


def project_root() -> Path:
    """The folder that holds ``app.py`` and ``core/``."""
    return Path(__file__).resolve().parents[2]


def checkpoint_root() -> Path:
    """The ``checkpoints/`` folder (``GENLAB_CHECKPOINTS`` overrides it, e.g. in tests)."""
    env = os.environ.get("GENLAB_CHECKPOINTS")
    root = Path(env) if env else project_root() / "checkpoints"
    return root.resolve()


def check_name(name: str, what: str = "checkpoint name") -> str:
    """``name`` when it is a plain name (1-64 letters, digits, '.', '_' or '-', no '..'); else CheckpointError."""
    if isinstance(name, str) and not name.strip():
        raise CheckpointError(f"{what} is empty: type 1-64 letters, digits, '.', '_' or '-'")
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or ".." in name:
        raise CheckpointError(
            f"{what} {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-' "
            "(no slashes, no '..')"
        )
    return name


def resolve_checkpoint(method: str, name: str, must_exist: bool = True) -> Path:
    """``checkpoints/<method>/<name>`` for a plain name; never a path outside ``checkpoints/``."""
    root = checkpoint_root()
    path = (root / check_name(method, "method") / check_name(name)).resolve()
    if root not in path.parents:
        raise CheckpointError(f"checkpoint {name!r} resolves outside {root}")
    if must_exist and not _is_checkpoint(path):
        available = ", ".join(list_checkpoints(method)) or "none"
        raise CheckpointError(f"unknown {method} checkpoint {name!r}; available: {available}")
    return path


def check_checkpoint_chosen(method: str, name) -> str:
    """``name`` when it is a non-empty string; otherwise ValueError naming the installed checkpoints (or, with none
    installed, where to get one). Whether it exists is ``resolve_checkpoint``'s check."""
    if isinstance(name, str) and name.strip():
        return name.strip()
    names = list_checkpoints(method)
    raise ValueError(f"choose a checkpoint: one of {', '.join(names)}" if names else
                     "choose a checkpoint (none is installed: train one in the Train panel)")


def weights_fingerprint(folder: str | Path) -> str:
    """Path, size and modification time of each safetensors file under ``folder`` ("" for no folder): it changes when
    the checkpoint's weights do."""
    folder = Path(folder)
    if not folder.is_dir():
        return ""
    return ";".join(f"{p.relative_to(folder)}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                    for p in sorted(folder.rglob("*.safetensors")))


def cache_key(method: str, name: str) -> tuple:
    """The model cache's key of checkpoint ``name``: (method, name, :func:`weights_fingerprint`), so a run trained
    further under its name (a resumed one exports new weights) is loaded anew, not served from the cache. A name that
    is no checkpoint's (a hub id) keys by itself; its loader says what is wrong with it."""
    try:
        return method, name, weights_fingerprint(resolve_checkpoint(method, name, must_exist=False))
    except ValueError:
        return method, name


def list_checkpoints(method: str) -> list[str]:
    """Names of the ``checkpoints/<method>/*`` folders that hold a ``config.json``, sorted."""
    folder = checkpoint_root() / check_name(method, "method")
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if _is_checkpoint(p) and NAME_PATTERN.match(p.name))


def _is_checkpoint(path: Path) -> bool:
    """A model folder (``config.json``), a diffusers pipeline folder (``model_index.json``) or a folder holding an
    official pix2pix / CycleGAN generator file (``latest_net_G.pth``, ``latest_net_G_A.pth``)."""
    return any((path / f).is_file() for f in ("config.json", "model_index.json", "latest_net_G.pth",
                                               "latest_net_G_A.pth"))


FILE_MODE, FOLDER_MODE = 0o644, 0o755


def make_readable(path: str | Path) -> None:
    """Give a written file, or a folder and everything under it, the modes of a file the user saved (0644, folders
    0755; links left alone). ``tempfile`` creates 0600 files and 0700 folders and safetensors writes 0600 files, so a
    checkpoint exported through them could not be read by another account: the web server serving the app, a
    classmate on a shared machine."""
    path = Path(path)
    if path.is_symlink():
        return
    if path.is_dir():
        os.chmod(path, FOLDER_MODE)
        for item in path.rglob("*"):
            if not item.is_symlink():
                os.chmod(item, FOLDER_MODE if item.is_dir() else FILE_MODE)
    elif path.exists():
        os.chmod(path, FILE_MODE)


@contextlib.contextmanager
def atomic_folder(path: str | Path):
    """Yield a temporary folder next to ``path``; on success it replaces ``path`` by rename.

    An exception (or a kill) before the end leaves ``path`` as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
        make_readable(tmp)
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


LOCK_FILE = ".training.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def training_lock(folder: str | Path):
    """One training at a time in a checkpoint folder: ``folder/.training.lock`` holds the training process's pid and
    host while it trains (a tab's run and a command line's run of the same folder each resumed and overwrote the
    other's steps: the tab said "done at step 700" over a card of the command line's 250-800). A lock left by a
    process that no longer runs (killed) is taken over. An empty folder made for the lock is removed with it.

    Raises:
        CheckpointError: another process on this machine (or on another host, for a shared disk) trains there.
    """
    import socket

    folder = Path(folder)
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path, me = folder / LOCK_FILE, {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = json.loads(path.read_text(encoding="utf-8"))
                pid, host = int(holder["pid"]), str(holder["host"])
            except (OSError, ValueError, KeyError, TypeError):  # half-written by a process killed at that moment
                pid, host = -1, me["host"]
            if host != me["host"] or (pid > 0 and _alive(pid)):
                where = "" if host == me["host"] else f" on {host}"
                raise CheckpointError(f"checkpoint {checkpoint_name(folder)!r} is being trained by another process "
                                      f"(pid {pid}{where}): wait for it to end, or stop it, then resume") from None
            path.unlink(missing_ok=True)  # its process is gone
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(me, f)
        break
    else:
        raise CheckpointError(f"could not take the training lock of {checkpoint_name(folder)}")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        if made and not any(folder.iterdir()):
            folder.rmdir()


def recover_folder(path: str | Path) -> None:
    """Finish an :func:`atomic_folder` swap that was killed between its two renames."""
    path = Path(path)
    if path.exists() or not path.parent.is_dir():
        return
    olds = sorted(path.parent.glob(f".{path.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds:
        os.replace(olds[-1], path)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file through a temporary file and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    make_readable(tmp)
    os.replace(tmp, path)


def same_weights(a: str | Path, b: str | Path) -> bool:
    """Whether two ``.safetensors`` files hold the same tensors (names, dtypes, shapes, values), whatever their bytes.

    The export keeps the file already in place when they do, so re-measuring a bundled checkpoint does not put a new
    version of unchanged weights into the repository's history. False when either file is missing or unreadable."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(a), "pt") as fa, safe_open(str(b), "pt") as fb:
            if set(fa.keys()) != set(fb.keys()):
                return False
            for key in fa.keys():
                x, y = fa.get_tensor(key), fb.get_tensor(key)
                if x.dtype != y.dtype or not torch.equal(x, y):
                    return False
    except (OSError, SafetensorError):   # missing, truncated or not safetensors: write the new one
        return False
    return True


def drop_load_paths(folder: str | Path) -> None:
    """Remove ``_name_or_path`` from every ``config.json`` under ``folder``.

    diffusers and transformers record in a model's config the path it was loaded from, and write it back on
    ``save_pretrained``: a fact of one machine and one run, not of the weights. Without it, measuring a bundled
    checkpoint again (``--reevaluate``) writes the same configs byte for byte."""
    for config in Path(folder).rglob("config.json"):
        if config.is_symlink():
            continue
        data = json.loads(config.read_text())
        if isinstance(data, dict) and "_name_or_path" in data:
            del data["_name_or_path"]
            config.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a tensor dict from ``.safetensors`` or a ``.pt``/``.pth``/``.ckpt`` file without pickled code.

    Raises :class:`CheckpointError` naming the file when it is missing, corrupt or unsafe.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, truncated file, or a pickle with code in it
        raise CheckpointError(f"cannot load {path}: {type(exc).__name__}: {str(exc)[:300]}") from exc


_HUB_LINE = "Loading weights from local directory"


def _quiet_hub_mixin() -> None:
    """huggingface_hub's model mixin prints "Loading weights from local directory" on every local load (dozens of
    lines in a classroom's server log). Its module's ``print`` is replaced, once, by one that sends that line to the
    debug log and passes everything else on. (Redirecting stdout around the load is not thread-safe: two loads at
    once can leave stdout redirected for good.)"""
    import builtins

    from huggingface_hub import hub_mixin

    if getattr(hub_mixin, "_genlab_quiet", False):
        return

    def quiet_print(*args, **kwargs):
        if args and args[0] == _HUB_LINE:
            logging.getLogger("genlab").debug(_HUB_LINE)
            return
        builtins.print(*args, **kwargs)

    hub_mixin.print = quiet_print
    hub_mixin._genlab_quiet = True


def load_pretrained(model_class, path: str | Path, **kwargs):
    """``model_class.from_pretrained(path)`` with errors turned into a :class:`CheckpointError`."""
    path = Path(path)
    try:
        _quiet_hub_mixin()
        return model_class.from_pretrained(str(path), **kwargs)
    except CheckpointError:
        raise
    except Exception as exc:
        files = ", ".join(sorted(p.name for p in path.glob("*"))) if path.is_dir() else "missing folder"
        raise CheckpointError(
            f"cannot load {model_class.__name__} from {path} ({files}): {type(exc).__name__}: {str(exc)[:300]}"
        ) from exc


def read_json(path: str | Path) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc


def saved_step(folder) -> int | None:
    """The step of the model exported in ``folder`` (its ``trainer_state.json``), or None when there is none."""
    try:
        return int(read_json(Path(folder) / "trainer_state.json")["step"])  # (CheckpointError is a ValueError)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def trained_steps(folder, planned: int) -> str:
    """The steps a checkpoint was trained, for its note: "1,500" or, for a run stopped early (its
    ``trainer_state.json`` step below the ``planned`` steps of its config), "583 of 1,500"."""
    step = saved_step(folder)
    step = planned if step is None else step
    return f"{step:,}" if step >= planned else f"{step:,} of {planned:,}"


def is_finished(folder) -> bool:
    """Whether ``folder`` holds a finished (exported or bundled) model and no resume state: training into it
    afresh would replace that model (the tab and ``python -m core.train`` refuse it unless asked)."""
    folder = Path(folder)
    exported = any((folder / f).exists() for f in ("trainer_state.json", "config.json"))
    return exported and not (folder / "resume").exists()


EXPORT_PREFIX = ".export-"  # the inference files are written in <out>/.export-XXXX, then moved into <out>


def checkpoint_folder(folder) -> Path:
    """The checkpoint folder that ``folder`` is or, during an export (``<out>/.export-XXXX``), will be: ``out``."""
    folder = Path(folder)
    return folder.parent if folder.name.startswith(EXPORT_PREFIX) else folder


def checkpoint_name(folder) -> str:
    """The name of the checkpoint that ``folder`` holds or, during an export, will hold (its ``out`` folder)."""
    return checkpoint_folder(folder).name
