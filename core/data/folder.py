"""Image folders in the Hugging Face ``imagefolder`` convention, and exporting a dataset to one.

Layouts understood (``root`` may also hold ``train/`` and ``test/`` split folders, each laid out so):

    root/cat/001.png, root/dog/002.jpg      class subfolders -> "label" (sorted folder names)
    root/001.png, root/002.png              no subfolders -> label 0, class_names ["all"]
    root/metadata.jsonl                     {"file_name": "cat/001.png", "text": "..."} per line -> "text"
    root/A/x.png + root/B/x.png             paired translation data -> PairedFolder items {"A", "B"}
    root/trainA/, root/trainB/ (testA/B)    unpaired (CycleGAN) data -> UnpairedFolder items {"A", "B"}

Every image is converted to the dataset's channel count and resized / centre-cropped to its
resolution with :func:`~core.data.images.load_user_image`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from PIL import Image
from torch.utils.data import Dataset, default_collate

from .images import load_user_image, open_image, to_pil

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
SPLIT_FOLDERS = {"train": ("train", "training"), "test": ("test", "testing", "validation", "val")}
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}


def _check_root(root) -> Path:
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"image folder {str(path)!r} does not exist (or is not a folder)")
    return path


def _split_base(root: Path, split: str) -> Path:
    """``root/<split>`` when such a split folder exists, else ``root`` (every split sees all files)."""
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"split must be one of {list(SPLIT_FOLDERS)}, got {split!r}")
    for name in SPLIT_FOLDERS[split]:
        if (root / name).is_dir():
            return root / name
    return root


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive, hidden ones skipped), relative and sorted."""
    files = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file() and not any(p.startswith(".") for p in rel.parts):
            files.append(rel)
    return sorted(files, key=lambda p: p.as_posix())


def _no_images(folder: Path) -> ValueError:
    kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
    return ValueError(f"no images found in {str(folder)!r} (looked for {kinds} files)")


def _infer_channels(path: Path) -> int:
    with Image.open(path) as im:
        return 1 if im.mode in _GRAY_MODES else 3


def _infer_resolution(path: Path) -> int:
    with Image.open(path) as im:
        return int(min(max(min(im.size), 8), 512))


def read_metadata(base: Path, root: Path) -> dict | None:
    """``{relative posix path: row}`` from ``metadata.jsonl`` in ``base`` or ``root``, or None.

    ``file_name`` in a row is relative to the folder holding the metadata file.
    """
    for folder in dict.fromkeys((base, root)):
        meta = folder / "metadata.jsonl"
        if not meta.is_file():
            continue
        rows = {}
        for number, line in enumerate(meta.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                target = (folder / row["file_name"]).resolve()
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{meta}:{number}: expected a JSON object with a 'file_name' ({e})") from None
            try:
                rows[target.relative_to(base.resolve()).as_posix()] = row
            except ValueError:
                continue  # a file of another split
        return rows
    return None


class ImageFolder(Dataset):
    """Images from a folder (see the module docstring); items {"image", "label"[, "text"]}.

    Args:
        root: the folder.
        split: "train" or "test": uses ``root/train`` or ``root/test`` when present, else ``root``.
        resolution: output side; None -> the first image's shorter side (clamped to 8..512).
        channels: 1 or 3; None -> 1 if the first image is grayscale, else 3.
        fit, background: as in :func:`~core.data.images.load_user_image`.
    """

    def __init__(self, root, split: str = "train", resolution: int | None = None, channels: int | None = None,
                 fit: str = "crop", background="black"):
        self.root = _check_root(root)
        self.split = split
        self.base = _split_base(self.root, split)
        self.files = list_images(self.base)
        if not self.files:
            raise _no_images(self.base)
        self.channels = int(channels or _infer_channels(self.base / self.files[0]))
        self.resolution = int(resolution or _infer_resolution(self.base / self.files[0]))
        self.fit, self.background = fit, background
        if all(len(f.parts) >= 2 for f in self.files):  # every image sits in a class subfolder
            self.class_names = sorted({f.parts[0] for f in self.files})
            index = {name: k for k, name in enumerate(self.class_names)}
            self.labels = [index[f.parts[0]] for f in self.files]
        else:
            self.class_names = ["all"]
            self.labels = [0] * len(self.files)
        meta = read_metadata(self.base, self.root)
        self.texts = None
        if meta is not None and any("text" in row for row in meta.values()):
            self.texts = [str(meta.get(f.as_posix(), {}).get("text", "")) for f in self.files]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return f"ImageFolder({str(self.base)!r}, {len(self)} images, {self.num_classes} classes, {self.channels}x{self.resolution}px)"

    def __getitem__(self, i: int) -> dict:
        path = self.base / self.files[i]
        item = {"image": load_user_image(path, self.channels, self.resolution, self.background, self.fit),
                "label": self.labels[i]}
        if self.texts is not None:
            item["text"] = self.texts[i]
        return item

    def get_batch(self, indices) -> dict:
        return default_collate([self[int(i)] for i in indices])


class PairedFolder(Dataset):
    """Aligned image pairs for translation (pix2pix): items {"A", "B", "label"}.

    ``layout="folders"``: ``A/`` and ``B/`` hold the two images of a pair under the same file name
    (matched by name, or by name without extension); unmatched files are skipped.
    ``layout="side_by_side"``: each image holds A on its left half and B on its right half (the
    layout of the original pix2pix datasets).

    Args: as :class:`ImageFolder`; ``channels`` applies to both sides, None infers each side.
    The attributes ``channels_a``/``channels_b`` tell them apart; ``channels`` is B's.
    """

    def __init__(self, root, split: str = "train", resolution: int | None = None, channels: int | None = None,
                 fit: str = "crop", background="black", layout: str = "folders"):
        self.root = _check_root(root)
        self.split, self.layout, self.fit, self.background = split, layout, fit, background
        self.base = _split_base(self.root, split)
        if layout == "folders":
            a_dir, b_dir = self.base / "A", self.base / "B"
            if not (a_dir.is_dir() and b_dir.is_dir()):
                raise FileNotFoundError(f"paired folder {str(self.base)!r} needs subfolders A/ and B/")
            a_files, b_files = list_images(a_dir), list_images(b_dir)
            if not a_files or not b_files:
                raise _no_images(a_dir if not a_files else b_dir)
            b_by_name = {f.as_posix(): f for f in b_files}
            b_by_stem = {f.with_suffix("").as_posix(): f for f in b_files}
            self.pairs = []
            for f in a_files:
                match = b_by_name.get(f.as_posix()) or b_by_stem.get(f.with_suffix("").as_posix())
                if match is not None:
                    self.pairs.append((a_dir / f, b_dir / match))
            if not self.pairs:
                raise ValueError(f"no file name appears in both {str(a_dir)!r} and {str(b_dir)!r}; "
                                 "unpaired data belongs in trainA/ and trainB/ (UnpairedFolder)")
            first_a, first_b = self.pairs[0]
        elif layout == "side_by_side":
            files = list_images(self.base)
            if not files:
                raise _no_images(self.base)
            self.pairs = [(self.base / f, None) for f in files]
            first_a = first_b = self.pairs[0][0]
        else:
            raise ValueError(f"layout must be 'folders' or 'side_by_side', got {layout!r}")
        self.channels_a = int(channels or _infer_channels(first_a))
        self.channels_b = int(channels or _infer_channels(first_b))
        self.channels = self.channels_b
        self.resolution = int(resolution or _infer_resolution(first_b))
        self.class_names = ["all"]
        self.num_classes = 1

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict:
        a, b = self.pairs[i]
        if b is None:  # one image, A | B side by side
            image = open_image(a)
            w, h = image.size
            a, b = image.crop((0, 0, w // 2, h)), image.crop((w // 2, 0, 2 * (w // 2), h))
        load = lambda src, c: load_user_image(src, c, self.resolution, self.background, self.fit)  # noqa: E731
        return {"A": load(a, self.channels_a), "B": load(b, self.channels_b), "label": 0}

    def get_batch(self, indices) -> dict:
        return default_collate([self[int(i)] for i in indices])


class UnpairedFolder(Dataset):
    """Two unaligned image sets (CycleGAN): ``trainA/`` + ``trainB/`` (``testA/`` + ``testB/`` for test).

    Item i pairs A[i mod nA] with a B chosen by a fixed hash of i, so epochs see varied pairs
    while item i stays the same. Items {"A", "B", "label"}; length max(nA, nB).
    """

    def __init__(self, root, split: str = "train", resolution: int | None = None, channels: int | None = None,
                 fit: str = "crop", background="black"):
        self.root = _check_root(root)
        if split not in SPLIT_FOLDERS:
            raise ValueError(f"split must be one of {list(SPLIT_FOLDERS)}, got {split!r}")
        self.split, self.fit, self.background = split, fit, background
        a_dir, b_dir = self.root / f"{split}A", self.root / f"{split}B"
        if not (a_dir.is_dir() and b_dir.is_dir()):
            raise FileNotFoundError(f"unpaired folder {str(self.root)!r} needs subfolders {split}A/ and {split}B/")
        self.a_files = [a_dir / f for f in list_images(a_dir)]
        self.b_files = [b_dir / f for f in list_images(b_dir)]
        if not self.a_files or not self.b_files:
            raise _no_images(a_dir if not self.a_files else b_dir)
        self.channels_a = int(channels or _infer_channels(self.a_files[0]))
        self.channels_b = int(channels or _infer_channels(self.b_files[0]))
        self.channels = self.channels_b
        self.resolution = int(resolution or _infer_resolution(self.b_files[0]))
        self.class_names = ["all"]
        self.num_classes = 1

    def __len__(self) -> int:
        return max(len(self.a_files), len(self.b_files))

    def __getitem__(self, i: int) -> dict:
        a = self.a_files[i % len(self.a_files)]
        b = self.b_files[(i * 2654435761 + 12345) % len(self.b_files)]  # Knuth's multiplicative hash
        load = lambda src, c: load_user_image(src, c, self.resolution, self.background, self.fit)  # noqa: E731
        return {"A": load(a, self.channels_a), "B": load(b, self.channels_b), "label": 0}

    def get_batch(self, indices) -> dict:
        return default_collate([self[int(i)] for i in indices])


def open_folder(root, split: str = "train", resolution: int | None = None, **kwargs) -> Dataset:
    """The folder dataset that matches the layout of ``root`` (see the module docstring)."""
    path = _check_root(root)
    if (path / f"{split}A").is_dir() and (path / f"{split}B").is_dir():
        return UnpairedFolder(path, split, resolution, **kwargs)
    base = _split_base(path, split)
    if "layout" in kwargs or ((base / "A").is_dir() and (base / "B").is_dir()):
        return PairedFolder(path, split, resolution, **kwargs)
    return ImageFolder(path, split, resolution, **kwargs)


def _folder_name(name: str) -> str:
    """A class name as a safe folder name."""
    return re.sub(r"[^\w.\- ]+", "_", str(name)).strip() or "class"


def export_image_folder(ds, out_dir, n: int, batch_size: int = 64) -> Path:
    """Write the first ``n`` items of ``ds`` as PNGs in class subfolders, plus ``metadata.jsonl``.

    Each metadata row has ``file_name``, ``label`` and, when the items have them, ``text`` and
    ``attributes`` (name -> value, for worlds with ``attribute_names``). The result loads back with
    :class:`ImageFolder` (classes are then ordered by folder name) or HF ``imagefolder``.

    Returns:
        the output folder.
    """
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    n = min(int(n), len(ds))
    class_names = list(getattr(ds, "class_names", None) or ["all"])
    attribute_names = getattr(ds, "attribute_names", None)
    attribute_values = getattr(ds, "attribute_values", None)
    rows = []
    for start in range(0, n, batch_size):
        indices = list(range(start, min(start + batch_size, n)))
        batch = ds.get_batch(indices) if hasattr(ds, "get_batch") else default_collate([ds[i] for i in indices])
        for row, index in enumerate(indices):
            label = int(batch["label"][row]) if "label" in batch else 0
            folder = _folder_name(class_names[label] if label < len(class_names) else label)
            file_name = f"{folder}/{index:06d}.png"
            (out / folder).mkdir(exist_ok=True)
            to_pil(batch["image"][row]).save(out / file_name)
            meta = {"file_name": file_name, "label": label}
            if "text" in batch:
                meta["text"] = batch["text"][row]
            if attribute_names and "attributes" in batch:
                values = batch["attributes"][row].tolist()
                meta["attributes"] = {name: attribute_values[name][v] if attribute_values else v
                                      for name, v in zip(attribute_names, values)}
            rows.append(meta)
    with open(out / "metadata.jsonl", "w", encoding="utf-8") as f:
        for meta in rows:
            f.write(json.dumps(meta) + "\n")
    return out
