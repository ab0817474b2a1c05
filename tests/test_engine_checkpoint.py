"""Checkpoint names stay inside checkpoints/, files load without unpickling code, errors name the file."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from core.engine import CheckpointError, TrainConfig, list_checkpoints, load_pretrained, load_tensors, resolve_checkpoint
from core.engine.checkpoint import atomic_folder, drop_load_paths, same_weights
from tests.toy_method import TinyAE


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    model = TinyAE(hidden=4)
    model.save_pretrained(tmp_path / "checkpoints" / "toy" / "good")
    return tmp_path / "checkpoints"


def test_round_trip_save_and_from_pretrained(root):
    path = resolve_checkpoint("toy", "good")
    loaded = load_pretrained(TinyAE, path)
    original = TinyAE(hidden=4)
    original.load_state_dict(loaded.state_dict())
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(loaded(x), original(x))
    assert list_checkpoints("toy") == ["good"]


@pytest.mark.parametrize("name", ["../good", "..", "/etc/passwd", "a/b", "good/../../x", "", ".hidden", "x" * 65, None])
def test_names_outside_or_invalid_are_refused(root, name):
    with pytest.raises(CheckpointError):
        resolve_checkpoint("toy", name)


def test_unknown_name_lists_the_available_ones(root):
    with pytest.raises(CheckpointError, match="unknown toy checkpoint 'nope'; available: good"):
        resolve_checkpoint("toy", "nope")


class Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


def test_pickle_with_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "weights.pt"
    with open(path, "wb") as f:
        pickle.dump({"w": Evil()}, f)
    with pytest.raises(CheckpointError, match="weights.pt"):
        load_tensors(path)
    assert not (tmp_path / "pwned-by-pickle").exists()


def test_corrupt_safetensors_names_the_file(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.ones(3)}, path)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_tensors(path)


def test_mismatched_weights_give_a_clear_error(root):
    path = root / "toy" / "good"
    (path / "config.json").write_text(json.dumps({"size": 8, "hidden": 32}))  # weights are for hidden=4
    with pytest.raises(CheckpointError, match=r"cannot load TinyAE from .*good"):
        load_pretrained(TinyAE, path)


def test_atomic_folder_keeps_old_content_on_failure(tmp_path):
    target = tmp_path / "state"
    with atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("one")
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as tmp:
            (tmp / "a.txt").write_text("two")
            raise RuntimeError("killed")
    assert (target / "a.txt").read_text() == "one"
    assert [p.name for p in tmp_path.iterdir()] == ["state"]


def test_config_validation_and_json_round_trip(tmp_path):
    cfg = TrainConfig(steps=5, lr=1e-3)
    cfg.save(tmp_path / "c.json")
    assert TrainConfig.load(tmp_path / "c.json") == cfg
    with pytest.raises(ValueError, match="dataset='nope' is not one of"):
        TrainConfig(dataset="nope").validate()
    with pytest.raises(ValueError, match=r"steps=0 is outside \[1"):
        TrainConfig(steps=0).validate()


def test_card_history_says_which_legs_had_fresh_optimizers():
    from core.engine.model_card import _history

    leg = {"from": 0, "to": 10, "wall_time": 5.0, "hardware": "cpu", "command": "python -m core.train vae --steps 10"}
    assert _history([leg]) == []  # a run in one go has no history table
    resumed = "\n".join(_history([leg, {**leg, "from": 10, "to": 20, "command": "python -m core.train vae --steps 20"}]))
    assert "optimizers, EMA and RNG restored):" in resumed and "fresh optimizers" not in resumed
    exported = "\n".join(_history([leg, {**leg, "from": 10, "to": 20, "command": "python -m core.train vae --from-export"}]))
    assert "a `--from-export` leg restores the weights and EMA only, with fresh optimizers" in exported


def test_same_weights_compares_tensors_not_bytes(tmp_path):
    a, b = {"w": torch.arange(6.0).view(2, 3), "b": torch.ones(2)}, {"b": torch.ones(2), "w": torch.arange(6.0).view(2, 3)}
    save_file(a, tmp_path / "a.safetensors")
    save_file(b, tmp_path / "b.safetensors", metadata={"format": "pt"})   # other order and metadata: other bytes
    assert (tmp_path / "a.safetensors").read_bytes() != (tmp_path / "b.safetensors").read_bytes()
    assert same_weights(tmp_path / "a.safetensors", tmp_path / "b.safetensors")
    save_file({**a, "b": torch.ones(2).half()}, tmp_path / "c.safetensors")
    save_file({**a, "b": torch.tensor([1.0, 2.0])}, tmp_path / "d.safetensors")
    save_file({"w": a["w"]}, tmp_path / "e.safetensors")
    (tmp_path / "f.safetensors").write_bytes(b"not safetensors")
    for other in ("c", "d", "e", "f", "missing"):
        assert not same_weights(tmp_path / "a.safetensors", tmp_path / f"{other}.safetensors"), other


def test_drop_load_paths_makes_a_resaved_model_write_the_same_config(tmp_path):
    from core.diffusion.lib import diffusers_class

    AutoencoderKL = diffusers_class("AutoencoderKL")
    first = tmp_path / "first"
    AutoencoderKL(block_out_channels=(8,), norm_num_groups=4, latent_channels=2).save_pretrained(first)
    again = tmp_path / "nested" / "again"
    AutoencoderKL.from_pretrained(first).save_pretrained(again)
    assert json.loads((again / "config.json").read_text())["_name_or_path"] == str(first)  # what diffusers writes
    outside = tmp_path / "outside"                      # a link out of the folder: its target is not rewritten
    AutoencoderKL.from_pretrained(first).save_pretrained(outside)
    (tmp_path / "nested" / "link").mkdir()
    (tmp_path / "nested" / "link" / "config.json").symlink_to(outside / "config.json")
    drop_load_paths(tmp_path / "nested")
    assert (again / "config.json").read_text() == (first / "config.json").read_text()
    assert "_name_or_path" in json.loads((outside / "config.json").read_text())
    assert AutoencoderKL.from_pretrained(again).config.block_out_channels == [8]


def test_written_checkpoints_are_readable_by_other_accounts(tmp_path):
    """safetensors and tempfile create 0600 files and 0700 folders: an atomic folder (the LoRA adapters, a resume
    state, a converted StyleGAN) and a trainer's export get the modes of a file the user saved (0644, folders 0755)."""
    import stat
    import subprocess
    import sys

    def modes(folder):
        return {p.relative_to(folder).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.rglob("*")]}

    with atomic_folder(tmp_path / "adapter") as tmp:
        (tmp / "sub").mkdir()
        save_file({"w": torch.zeros(2)}, str(tmp / "sub" / "weights.safetensors"))
        assert stat.S_IMODE(os.stat(tmp / "sub" / "weights.safetensors").st_mode) == 0o600  # what safetensors writes
    assert modes(tmp_path / "adapter") == {".": 0o755, "sub": 0o755, "sub/weights.safetensors": 0o644}

    out = tmp_path / "toy" / "export"
    env = os.environ | {"GENLAB_CHECKPOINTS": str(tmp_path), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "core.train", "tests.toy_method:ToyMethod", "--steps", "2", "--batch-size",
                    "4", "--out", str(out)], check=True, env=env, capture_output=True)
    bad = {name: oct(mode) for name, mode in modes(out).items() if mode & 0o044 != 0o044}
    assert not bad, bad


def test_a_run_stopped_early_is_noted_with_the_steps_it_trained(tmp_path, monkeypatch):
    """A model note says the steps trained (trainer_state.json), not the planned steps of its config, when a run was
    cancelled: a VAE stopped at step 583 of 1,500 reads "trained 583 of 1,500 steps"."""
    import shutil

    from core.engine import trained_steps
    from core.vae.service import checkpoint_info

    assert trained_steps(tmp_path, 1500) == "1,500"  # no trainer_state.json: the config's steps
    (tmp_path / "trainer_state.json").write_text(json.dumps({"step": 583}))
    assert trained_steps(tmp_path, 1500) == "583 of 1,500"
    assert trained_steps(tmp_path, 583) == "583"
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    folder = tmp_path / "checkpoints" / "vae" / "stopped"
    shutil.copytree(os.path.join(os.path.dirname(__file__), "..", "checkpoints", "vae", "vae2d-digits"), folder)
    state = json.loads((folder / "trainer_state.json").read_text())
    (folder / "trainer_state.json").write_text(json.dumps(state | {"step": 583}))
    planned = json.loads((folder / "train_config.json").read_text())["steps"]
    assert f"trained 583 of {planned:,} steps" in checkpoint_info("stopped")


# each tab's loader of a checkpoint, and the function it calls to load one: (module, loader, module, load function)
TAB_LOADERS = {"diffusion": ("demos.diffusion_frames", "_bundle", "core.diffusion.service", "load_checkpoint"),
               "translation": ("demos.translation", "_bundle", "core.translation.service", "load_checkpoint"),
               "text2image": ("demos.text2image", "_load", "core.text2image.service", "load_model"),
               "gans": ("core.gans.service", "_generator", "core.gans.service", "load_generator"),
               "stylegan": ("core.stylegan.service", "_generator", "core.stylegan.explore", "load_generator")}


@pytest.mark.parametrize("method", list(TAB_LOADERS))
def test_a_checkpoint_trained_further_under_its_name_is_loaded_anew(root, monkeypatch, method):
    """Each tab caches loaded models under cache_key: the same weights load once; new weights under the same name (a
    resumed run exports them) load again (keyed by name alone, the tab kept drawing the first weights it loaded)."""
    import importlib

    from core.engine import AppContext
    from core.engine.checkpoint import cache_key

    folder = root / method / "mine"
    folder.mkdir(parents=True)
    save_file({"w": torch.zeros(2)}, str(folder / "model.safetensors"))
    (folder / "model_index.json").write_text("{}")  # (a text-to-image pipeline's folder)
    loads = []

    class Loaded:
        def to(self, device):
            return self

    tab_module, loader, core_module, load_function = TAB_LOADERS[method]
    monkeypatch.setattr(importlib.import_module(core_module), load_function,
                        lambda *args, **kwargs: loads.append(1) or Loaded())
    load = getattr(importlib.import_module(tab_module), loader)
    ctx, first = AppContext(), cache_key(method, "mine")
    load(ctx, "mine"), load(ctx, "mine")
    assert len(loads) == 1
    os.utime(folder / "model.safetensors", ns=(1, 10**18))        # the run saved new weights under its name
    assert cache_key(method, "mine") != first
    load(ctx, "mine")
    assert len(loads) == 2
