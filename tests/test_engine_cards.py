"""The trainer's exported folder and model card: resumed legs and hand notes, --reevaluate from the folder alone,
--from-export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from core.engine import Trainer, load_tensors
from tests.toy_method import ToyMethod
from tests.toy_method import toy_config as config

ROOT = Path(__file__).resolve().parents[1]


def test_resumed_legs_and_hand_notes_are_recorded_in_the_model_card(tmp_path):
    """Each resume adds a leg (steps, wall time, command) to the history; notes.md survives every re-export."""
    out = tmp_path / "legs"
    list(Trainer(ToyMethod(config(steps=10)), out, command="leg one").run())
    (out / "notes.md").write_text("Looked at by hand: fine.")
    list(Trainer(ToyMethod(config(steps=30)), out, command="leg two").run())
    list(Trainer(ToyMethod(config(steps=30)), out, command="re-export").run())  # 0 steps: no new leg
    state = json.loads((out / "resume" / "trainer_state.json").read_text())
    history = state["history"]
    assert [(leg["from"], leg["to"], leg["command"]) for leg in history] == [(0, 10, "leg one"), (10, 30, "leg two")]
    assert sum(leg["wall_time"] for leg in history) == pytest.approx(state["wall_time"], abs=0.01)
    card = (out / "README.md").read_text()
    assert "| 0-10 |" in card and "| 10-30 |" in card and "`leg two`" in card
    assert "## Notes (written by hand)" in card and "Looked at by hand: fine." in card
    assert "replay their commands in order" in card and "Reproduce it from the saved config" not in card


def test_a_leg_trained_in_the_app_has_no_command_and_the_card_says_so(tmp_path):
    out = tmp_path / "app"
    list(Trainer(ToyMethod(config(steps=10)), out).run())  # the Train panel passes no command
    list(Trainer(ToyMethod(config(steps=20)), out, command="train --steps 20").run())
    card = (out / "README.md").read_text()
    assert "| 0-10 |" in card and "| the app's Train panel |" in card and "`None`" not in card


def test_model_card_offers_the_saved_config_when_legs_differ_only_in_steps(tmp_path):
    out = tmp_path / "same"
    list(Trainer(ToyMethod(config(steps=10)), out, command="train --lr 0.1 --steps 10").run())
    list(Trainer(ToyMethod(config(steps=20)), out, command="train --lr 0.1 --steps 20").run())
    card = (out / "README.md").read_text()
    assert "Reproduce it from the saved config" in card and "replay their commands" not in card
    assert f"--config {out.as_posix()}/train_config.json --out {out.as_posix()} --overwrite`" in card   # its real folder


def test_reevaluate_rewrites_card_and_metrics_from_the_exported_folder_alone(tmp_path):
    """With the resume state gone, --reevaluate measures the exported weights again and keeps the legs."""
    import shutil

    out = tmp_path / "done"
    list(Trainer(ToyMethod(config(steps=20)), out, command="leg one").run())
    before = json.loads((out / "metrics.json").read_text())
    card_before = (out / "README.md").read_text()
    shutil.rmtree(out / "resume")
    (out / "metrics.json").unlink()
    (out / "notes.md").write_text("Re-measured by hand.")
    files = {p.name: p.stat().st_ino for p in out.glob("*.safetensors")}
    metrics = Trainer(ToyMethod(config(steps=20)), out).reevaluate()
    assert files and {p.name: p.stat().st_ino for p in out.glob("*.safetensors")} == files  # unchanged weights: kept
    assert metrics["mse"] == pytest.approx(before["mse"], rel=1e-6)
    assert json.loads((out / "metrics.json").read_text())["mse"] == pytest.approx(before["mse"], rel=1e-6)
    card = (out / "README.md").read_text()
    assert "leg one" in card and "20 of 20" in card and "Re-measured by hand." in card
    assert card.replace("\n\n## Notes (written by hand)\n\nRe-measured by hand.", "") == card_before
    with pytest.raises(ValueError, match="stopped at step 20 of 40"):
        Trainer(ToyMethod(config(steps=40)), out).reevaluate()
    (out / "trainer_state.json").unlink()
    with pytest.raises(FileNotFoundError, match="trainer_state.json is missing"):
        Trainer(ToyMethod(config(steps=20)), out).reevaluate()


def test_cli_reevaluate_reads_the_folders_own_config(tmp_path):
    import shutil

    out = tmp_path / "cli"
    list(Trainer(ToyMethod(config(steps=20)), out, command="leg one").run())
    shutil.rmtree(out / "resume")
    cmd = [sys.executable, "-m", "core.train", "tests.toy_method:ToyMethod", "--out", str(out), "--reevaluate"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"re-evaluated {out}" in done.stdout and "mse = " in done.stdout
    assert not (out / "resume").exists()  # nothing was trained


def test_from_export_continues_from_the_exported_weights_with_fresh_optimizers(tmp_path):
    """With the resume state gone, --from-export starts from the exported weights, step and legs."""
    import shutil

    out = tmp_path / "cont"
    list(Trainer(ToyMethod(config(steps=20)), out, command="leg one").run())
    exported = load_file(out / "model.safetensors")
    shutil.rmtree(out / "resume")
    events = list(Trainer(ToyMethod(config(steps=30)), out, command="leg two --from-export", from_export=True).run())
    assert events[0].step == 20 and "resuming at step 20" in events[0].message and events[-1].step == 30
    opt = load_tensors(out / "resume" / "optimizers.pt")["main"]["state"][0]
    assert opt["step"].item() == 10  # a fresh Adam took this leg's 10 steps
    history = json.loads((out / "trainer_state.json").read_text())["history"]
    assert [(leg["from"], leg["to"], leg["command"]) for leg in history] == [(0, 20, "leg one"),
                                                                              (20, 30, "leg two --from-export")]
    # no steps to take: the weights written again are exactly the exported ones
    again = tmp_path / "again"
    list(Trainer(ToyMethod(config(steps=20)), again, command="leg one").run())
    before = load_file(again / "model.safetensors")
    shutil.rmtree(again / "resume")
    list(Trainer(ToyMethod(config(steps=20)), again, from_export=True).run())
    after = load_file(again / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert exported.keys() == load_file(out / "model.safetensors").keys()
