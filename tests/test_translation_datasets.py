"""The official pix2pix / CycleGAN archives, read from fixture files written here in their published layout."""

from __future__ import annotations

import io
import tarfile
import urllib.error
import zipfile

import pytest
from PIL import Image


def _jpg(colour, size=(64, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


def _write_facades(folder):
    folder.mkdir(parents=True)
    with tarfile.open(folder / "facades.tar.gz", "w:gz") as t:
        for split in ("train", "val", "test"):
            for k in range(2):
                data = _jpg((200, 30, 30))  # A | B side by side, 64 x 32
                info = tarfile.TarInfo(f"facades/{split}/{k + 1}.jpg")
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))


def _write_horse2zebra(folder):
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "horse2zebra.zip", "w") as z:
        for sub in ("trainA", "trainB", "testA", "testB"):
            for k in range(3):
                z.writestr(f"horse2zebra/{sub}/n{k}.jpg", _jpg((20, 200, 20), (32, 32)))


def _method(**kwargs):
    from core.translation.method import TranslationConfig, TranslationMethod

    return TranslationMethod(TranslationConfig(**{"dataset": "official", "resolution": 32, "netG": "unet_32", **kwargs}))


def test_pix2pix_archive_is_extracted_and_split_into_a_and_b(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_DATASETS", str(tmp_path))
    _write_facades(tmp_path / "facades")
    batch = _method(official="facades").build_dataset("train").get_batch([0, 1])
    assert batch["A"].shape == batch["B"].shape == (2, 3, 32, 32)
    reversed_ = _method(official="facades", direction="BtoA").build_dataset("test").get_batch([0])
    assert reversed_["A"].shape == (1, 3, 32, 32)


def test_cyclegan_archive_is_read_as_two_domains(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_DATASETS", str(tmp_path))
    _write_horse2zebra(tmp_path / "horse2zebra")
    ds = _method(official="horse2zebra", model="cyclegan", netG="resnet_6blocks").build_dataset("train")
    assert len(ds) == 3 and ds.get_batch([0, 2])["B"].shape == (2, 3, 32, 32)


def test_missing_offline_unknown_and_unsafe_archives_get_clear_messages(tmp_path, monkeypatch):
    from core.translation.datasets import official_root

    monkeypatch.setenv("GENLAB_DATASETS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="put facades.tar.gz there"):
        official_root("facades", "pix2pix")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(ConnectionError, match="offline"):
        official_root("horse2zebra", "cyclegan", download=True)
    with pytest.raises(ValueError, match="official ones"):
        official_root("my_cats", "cyclegan")
    (tmp_path / "maps").mkdir()
    with zipfile.ZipFile(tmp_path / "maps" / "maps.zip", "w") as z:
        z.writestr("../../escape.txt", "x")
    with pytest.raises(ValueError, match="refused"):
        official_root("maps", "cyclegan")
    assert not (tmp_path.parent / "escape.txt").exists()
    (tmp_path / "edges2shoes").mkdir()
    (tmp_path / "edges2shoes" / "edges2shoes.tar.gz").write_bytes(b"truncated")
    with pytest.raises(ValueError, match="not a readable archive"):
        official_root("edges2shoes", "pix2pix")
