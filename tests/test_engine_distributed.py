"""The multi-process path: torchrun with 2 CPU processes (gloo), as accelerate launch does on GPUs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]


def test_torchrun_two_processes_trains_and_writes_one_checkpoint(tmp_path):
    out = tmp_path / "ddp"
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "core.train", "tests.toy_method:ToyMethod",
           "--steps", "30", "--batch-size", "8", "--lr", "0.01", "--log-every", "10", "--sample-every", "0",
           "--checkpoint-every", "0", "--out", str(out)]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "2 process(es)" in done.stdout
    state = json.loads((out / "resume" / "trainer_state.json").read_text())
    assert state["num_processes"] == 2 and state["step"] == 30
    assert state["command"].startswith("torchrun --nproc_per_node 2")
    weights = load_file(out / "model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert "2 x " in (out / "README.md").read_text()
