"""Training configuration shared by every method, saved beside the weights.

A method extends :class:`TrainConfig` with its own fields (a flat dataclass), so the
CLI (``python -m core.train <method> --field value``), the training tab and the saved
``train_config.json`` all speak the same config.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path


def choice(default, options, help: str = ""):
    """A dataclass field restricted to ``options`` (used by the CLI and the training tab)."""
    return field(default=default, metadata={"choices": tuple(options), "help": help})


MAX_WIDTH = 1024  # a layer's widest channel count in a widths list (4096 took a 24 GB server's memory from the app)


def parse_widths(value, field: str, count: tuple[int, int] = (1, 5), multiple: int = 4) -> tuple[int, ...]:
    """"32,64,128", "(32, 64, 128)" or a sequence -> a tuple of ``count`` ints, each a multiple of ``multiple`` up to
    ``MAX_WIDTH`` (a network's channel widths); ``ValueError`` naming ``field`` otherwise."""
    raw = value
    if isinstance(raw, str):
        raw = [c for c in raw.replace("(", "").replace(")", "").replace(" ", "").split(",") if c]
    try:
        widths = tuple(int(c) for c in raw)
    except (TypeError, ValueError):
        raise ValueError(f"{field}={value!r}: give comma-separated integers, e.g. 32,64,128") from None
    if (not count[0] <= len(widths) <= count[1]
            or any(w < multiple or w % multiple or w > MAX_WIDTH for w in widths)):
        raise ValueError(f"{field}={value!r}: give {count[0]}-{count[1]} widths, each a multiple of {multiple} "
                         f"up to {MAX_WIDTH}")
    return widths


def number(default, low=None, high=None, help: str = ""):
    """A numeric dataclass field with an allowed range [low, high]."""
    return field(default=default, metadata={"range": (low, high), "help": help})


@dataclass
class TrainConfig:
    """Engine settings; every method's config inherits them.

    Args:
        dataset: a name from ``core.data.DATASETS`` ("digits", "faces", "shapes", "folder", ...).
        data_root: image folder (dataset "folder") or cache folder of a standard dataset.
        download: allow downloading a standard dataset (online only).
        resolution: image side in pixels; 0 means the dataset's native size.
        steps: optimizer steps to train for (total, counting resumed ones).
        batch_size: images per step per process.
        lr: learning rate.
        grad_accum: micro-batches accumulated per optimizer step.
        mixed_precision: "no", "fp16" (GPU only; ignored on CPU) or "bf16" (GPU or CPU: on CPUs with
            AMX / AVX512-BF16 it runs the convolutions about 1.8x faster).
        ema_decay: decay of the exponential moving average of the weights, reached after a warm-up
            (``core.engine.ema``); 0 disables EMA.
        sample_every / checkpoint_every / log_every: periods in steps (0 disables).
        num_samples: images in each sample grid.
        seed: seeds weights, batches and noise; the same seed gives the same run.
        device: "auto" (cuda > mps > cpu), "cpu", "cuda" or "mps".
    """

    dataset: str = choice("digits", ("digits", "faces", "shapes", "folder", "mnist", "fashion_mnist", "cifar10"))
    data_root: str = ""
    download: bool = False
    resolution: int = number(0, 0, 1024)
    steps: int = number(2000, 1, 10_000_000)
    batch_size: int = number(64, 1, 4096)
    lr: float = number(2e-4, 1e-7, 1.0)  # 0 would train nothing
    grad_accum: int = number(1, 1, 1024)
    grad_clip: float = number(1.0, 0.0, 1e6, help="max gradient norm; 0 disables")
    mixed_precision: str = choice("no", ("no", "fp16", "bf16"))
    ema_decay: float = number(0.999, 0.0, 1.0)
    sample_every: int = number(200, 0, 10_000_000)
    checkpoint_every: int = number(500, 0, 10_000_000)
    log_every: int = number(10, 1, 10_000_000)
    num_samples: int = number(16, 1, 256)
    seed: int = number(0, 0, 2**32 - 1)
    device: str = choice("auto", ("auto", "cpu", "cuda", "mps"))

    # ---- validation and (de)serialisation ---------------------------------------------
    def validate(self) -> "TrainConfig":
        """Raise ``ValueError`` naming the field when a value is outside its choices or range."""
        for f in fields(self):
            value = getattr(self, f.name)
            if "choices" in f.metadata and value not in f.metadata["choices"]:
                raise ValueError(f"{f.name}={value!r} is not one of {list(f.metadata['choices'])}")
            if "range" in f.metadata:
                low, high = f.metadata["range"]
                if value != value or (low is not None and value < low) or (high is not None and value > high):  # NaN
                    raise ValueError(f"{f.name}={value!r} is outside [{low}, {high}]")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Build from a dict, ignoring unknown keys (older or newer configs still load); ``ValueError`` if ``data``
        is not a dict (a config file holding a JSON list, say)."""
        if not isinstance(data, dict):
            raise ValueError(f"a config is a JSON object of settings, not a {type(data).__name__}")
        names = {f.name: f for f in fields(cls)}
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for key, value in data.items():
            if key in names:
                kwargs[key] = _coerce(value, hints[key])
        return cls(**kwargs).validate()

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes).validate()

    # ---- command line -------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add one ``--field`` flag per config field (defaults come from ``--config`` or the class)."""
        hints, docs = typing.get_type_hints(cls), field_docs(cls)
        for f in fields(cls):
            flag = "--" + f.name.replace("_", "-")
            kind = hints[f.name]
            text = f.metadata.get("help") or docs.get(f.name, "")
            if "range" in f.metadata:
                low, high = (f"{v:,}" if float(v).is_integer() else f"{v:g}" for v in f.metadata["range"])
                text += f" [{low} to {high}]"
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            text += f" (default: {','.join(map(str, default)) if isinstance(default, tuple) else default!r})"
            kwargs = {"dest": f.name, "default": None, "help": text.strip().replace("%", "%%")}
            if kind is bool:
                parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
                continue
            if "choices" in f.metadata:
                kwargs["choices"] = f.metadata["choices"]
            parser.add_argument(flag, type=_parser_type(kind), **kwargs)

    @classmethod
    def from_args(cls, args: argparse.Namespace, base: "TrainConfig | None" = None) -> "TrainConfig":
        data = (base or cls()).to_dict()
        for f in fields(cls):
            value = getattr(args, f.name, None)
            if value is not None:
                data[f.name] = value
        return cls.from_dict(data)


NAMES = r"(\w+(?:\s*[/,]\s*\w+)*)"  # a docstring entry's field names: "a", "a / b" or "a, b"


def field_docs(cls) -> dict[str, str]:
    """Each field's description from the "Args:" sections of ``cls``'s docstrings (its own over its bases'), for
    ``--help``: "name: text", "a / b: text" or "a, b: text" entries, continued on more indented lines."""
    import inspect

    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        lines = inspect.cleandoc(klass.__doc__ or "").splitlines()
        if "Args:" not in lines:
            continue
        names: list[str] = []
        for line in lines[lines.index("Args:") + 1:]:
            if not line.strip():
                break
            entry = re.match(rf"^    {NAMES}:\s*(.*)$", line)
            if entry:  # "a: text. b / c: text" holds two entries
                chunks = re.split(rf"(?<=[.;]) {NAMES}: ", entry.group(2))
                pieces = [(entry.group(1), chunks[0])] + list(zip(chunks[1::2], chunks[2::2]))
                for group, text in pieces:
                    names = [n.strip() for n in re.split(r"[/,]", group)]
                    docs.update({n: text for n in names})
            elif names:
                docs.update({n: docs[n] + " " + line.strip() for n in names})
    return docs


def _parser_type(kind):
    if kind in (int, float, str):
        return kind
    if typing.get_origin(kind) in (tuple, list):
        inner = typing.get_args(kind)[0]
        return lambda text: tuple(inner(x) for x in text.split(",") if x.strip())  # ("": none)
    return str


def _coerce(value, kind):
    if kind is float and isinstance(value, int):
        return float(value)
    if typing.get_origin(kind) is tuple and isinstance(value, list):
        return tuple(value)
    return value
