"""Image folders (HF imagefolder convention), paired / unpaired folders, and exporting a world."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import ImageFolder, PairedFolder, UnpairedFolder, export_image_folder, get_dataset


def save(path, colour=(255, 0, 0), size=(20, 20), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)


def test_class_subfolders_give_labels(tmp_path):
    save(tmp_path / "dog" / "a.png", (0, 0, 255))
    save(tmp_path / "cat" / "b.png", (255, 0, 0))
    save(tmp_path / "cat" / "c.jpg", (255, 0, 0))
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = get_dataset("folder", root=tmp_path, resolution=8)
    assert isinstance(ds, ImageFolder)
    assert ds.class_names == ["cat", "dog"] and ds.num_classes == 2 and len(ds) == 3
    assert (ds.channels, ds.resolution) == (3, 8)
    batch = ds.get_batch([0, 2])
    assert batch["image"].shape == (2, 3, 8, 8) and batch["label"].tolist() == [0, 1]
    assert torch.allclose(batch["image"][1, :, 0, 0], torch.tensor([0.0, 0.0, 1.0]))
    assert "text" not in batch


def test_flat_folder_metadata_and_inference(tmp_path):
    save(tmp_path / "x.png", 200, size=(30, 12), mode="L")
    save(tmp_path / "y.png", 100, size=(30, 12), mode="L")
    (tmp_path / "metadata.jsonl").write_text(json.dumps({"file_name": "x.png", "text": "a bright one"}) + "\n\n")
    ds = get_dataset("folder", root=tmp_path)
    assert ds.class_names == ["all"] and (ds.channels, ds.resolution) == (1, 12)  # from the first image
    assert ds[0]["label"] == 0 and ds[0]["text"] == "a bright one" and ds[1]["text"] == ""
    assert ds[0]["image"].shape == (1, 12, 12)
    assert ds.get_batch([0, 1])["text"] == ["a bright one", ""]


def test_split_folders_and_conversion(tmp_path):
    left_red_right_blue = np.zeros((10, 40, 3), np.uint8)
    left_red_right_blue[:, :20, 0] = 255
    left_red_right_blue[:, 20:, 2] = 255
    (tmp_path / "train" / "c").mkdir(parents=True)
    Image.fromarray(left_red_right_blue).save(tmp_path / "train" / "c" / "wide.png")
    save(tmp_path / "test" / "c" / "t.png", (0, 255, 0, 128), mode="RGBA")
    train = get_dataset("folder", root=tmp_path, split="train", resolution=10)
    test = get_dataset("folder", root=tmp_path, split="test", resolution=10, channels=3)
    assert len(train) == len(test) == 1
    image = train[0]["image"]  # the centre 10x10 crop straddles red | blue
    assert image[0, 5, 1] > 0.9 and image[2, 5, 8] > 0.9
    assert torch.allclose(test[0]["image"][:, 0, 0], torch.tensor([0.0, 128 / 255, 0.0]), atol=0.01)  # on black
    gray = get_dataset("folder", root=tmp_path, resolution=4, channels=1)
    assert gray[0]["image"].shape == (1, 4, 4)


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_dataset("folder", root=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        get_dataset("folder", root=tmp_path / "empty")
    with pytest.raises(ValueError, match="root"):
        get_dataset("folder")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metadata.jsonl").write_text("{not json\n")
    save(tmp_path / "bad" / "a.png")
    with pytest.raises(ValueError, match="metadata.jsonl:1"):
        get_dataset("folder", root=tmp_path / "bad")


def test_paired_folders(tmp_path):
    for name, shade in (("1.png", 50), ("2.png", 150)):
        save(tmp_path / "A" / name, shade, mode="L")
        save(tmp_path / "B" / name, (shade, 0, 0))
    save(tmp_path / "A" / "only_in_a.png", 10, mode="L")
    ds = get_dataset("folder", root=tmp_path, resolution=8)
    assert isinstance(ds, PairedFolder) and len(ds) == 2
    assert (ds.channels_a, ds.channels_b) == (1, 3)
    batch = ds.get_batch([0, 1])
    assert batch["A"].shape == (2, 1, 8, 8) and batch["B"].shape == (2, 3, 8, 8)
    assert torch.allclose(batch["A"][:, 0, 0, 0], batch["B"][:, 0, 0, 0])  # pairs stay aligned


def test_side_by_side_and_unpaired(tmp_path):
    ab = np.zeros((16, 32, 3), np.uint8)
    ab[:, 16:] = 255
    (tmp_path / "ab").mkdir()
    Image.fromarray(ab).save(tmp_path / "ab" / "pair.png")
    pairs = get_dataset("folder", root=tmp_path / "ab", layout="side_by_side")
    item = pairs[0]
    assert item["A"].max() == 0 and item["B"].min() == 1 and item["B"].shape == (3, 16, 16)

    for k in range(3):
        save(tmp_path / "cg" / "trainA" / f"{k}.png", (0, 0, 0))
    save(tmp_path / "cg" / "trainB" / "z.png", (255, 255, 255))
    unpaired = get_dataset("folder", root=tmp_path / "cg", resolution=4)
    assert isinstance(unpaired, UnpairedFolder) and len(unpaired) == 3
    batch = unpaired.get_batch([0, 1, 2])
    assert batch["A"].max() == 0 and batch["B"].min() == 1


def test_export_world_round_trip(tmp_path):
    digits = get_dataset("digits")
    out = export_image_folder(digits, tmp_path / "digits", n=25, batch_size=10)
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert len(rows) == 25 and all((out / r["file_name"]).is_file() for r in rows)
    back = get_dataset("folder", root=out)
    assert (back.channels, back.resolution) == (1, 28)
    original = digits.get_batch(range(25))
    order = [int(f.stem) for f in back.files]
    reloaded = back.get_batch(range(len(back)))
    assert torch.equal(reloaded["image"], original["image"][order])  # PNG export is lossless
    names = [back.class_names[k] for k in reloaded["label"]]
    assert names == [digits.class_names[k] for k in original["label"][order]]  # class folders "0".."9"

    faces = get_dataset("faces", resolution=32)
    out = export_image_folder(faces, tmp_path / "faces", n=6)
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert rows[0]["text"] == faces[0]["text"]
    assert rows[0]["attributes"]["hair_style"] == faces.class_names[faces[0]["label"]]
    assert get_dataset("folder", root=out)[0]["text"] in {r["text"] for r in rows}
