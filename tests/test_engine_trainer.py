"""The shared trainer: loss goes down, exact resume after a kill, cancel, atomic checkpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from core.engine import Trainer, load_pretrained, load_tensors
from tests.toy_method import TinyAE, ToyConfig, ToyMethod
from tests.toy_method import toy_config as config

ROOT = Path(__file__).resolve().parents[1]


def run(cfg, out, **kwargs):
    return list(Trainer(ToyMethod(cfg), out, **kwargs).run())


def test_loss_goes_down_and_checkpoint_rebuilds_model(tmp_path):
    events = run(config(), tmp_path / "run")
    losses = [e.losses["loss"] for e in events if e.kind == "step"]
    assert losses[-1] < 0.6 * losses[0]
    assert events[0].kind == "start" and events[-1].kind == "done" and events[-1].step == 40
    assert events[-2].kind == "evaluating" and events[-2].message.startswith("trained 40/40 steps; measuring")
    out = tmp_path / "run"
    for name in ("config.json", "model.safetensors", "train_config.json", "README.md", "samples.png", "metrics.json"):
        assert (out / name).is_file(), name
    model = load_pretrained(TinyAE, out)
    assert model.net[1].out_features == 16
    assert ToyConfig.load(out / "train_config.json") == config()
    card = (out / "README.md").read_text()
    assert "40 of 40" in card and "wall time" in card and "| mse |" in card
    assert "checkpoint `run`" in card and f"--out {out.as_posix()} --overwrite`" in card   # the folder it is in


def test_resume_after_interruption_is_exact(tmp_path):
    """Stopping after the step-20 checkpoint and resuming ends with the uninterrupted run's state."""
    run(config(), tmp_path / "straight")
    partial = Trainer(ToyMethod(config()), tmp_path / "resumed").run()
    for event in partial:
        if event.kind == "checkpoint" and event.step == 20:
            break
    partial.close()  # like a kill after the checkpoint: later steps are never taken
    # the close saved the step-20 state; a real SIGKILL is tested below with the CLI
    state = load_tensors(tmp_path / "resumed" / "resume" / "optimizers.pt")
    assert state["main"]["state"][0]["step"].item() == 20
    events = run(config(), tmp_path / "resumed")
    assert events[0].step == 20 and "resuming at step 20" in events[0].message
    for name in ("model.safetensors", "ema.safetensors"):
        a = load_file(tmp_path / "straight" / "resume" / name)
        b = load_file(tmp_path / "resumed" / "resume" / name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    opt_a = load_tensors(tmp_path / "straight" / "resume" / "optimizers.pt")["main"]["state"]
    opt_b = load_tensors(tmp_path / "resumed" / "resume" / "optimizers.pt")["main"]["state"]
    assert all(torch.equal(opt_a[i]["exp_avg"], opt_b[i]["exp_avg"]) for i in opt_a)


def test_cancel_stops_cleanly_and_saves(tmp_path):
    cancel = threading.Event()
    events = []
    for event in Trainer(ToyMethod(config(steps=1000, checkpoint_every=0)), tmp_path / "c", cancel=cancel).run():
        events.append(event)
        if event.kind == "step" and event.step == 15:
            cancel.set()
    assert events[-1].kind == "cancelled" and events[-1].step == 15
    assert (tmp_path / "c" / "model.safetensors").is_file()
    card = (tmp_path / "c" / "README.md").read_text()
    assert "15 of 1000" in card and "stopped early" in card
    assert not (tmp_path / "c" / "metrics.json").exists()  # metrics only for finished runs


def test_a_cancel_before_the_first_step_keeps_nothing_new(tmp_path):
    """Cancel pressed right after Train: no checkpoint of an untrained model appears in the picker; a resumed run's
    checkpoint stays as it was."""
    cancel = threading.Event()
    cancel.set()
    events = list(Trainer(ToyMethod(config(steps=50)), tmp_path / "fresh", cancel=cancel).run())
    assert events[-1].kind == "cancelled" and events[-1].path is None and "nothing was saved" in events[-1].message
    assert not (tmp_path / "fresh").exists()

    class CancelledDuringStep3(ToyMethod):  # Cancel pressed a second after Train: a few steps, no loss shown yet
        def training_step(self, model, batch, ctx):
            if ctx.step == 2:
                early.set()
            return super().training_step(model, batch, ctx)

    early = threading.Event()
    events = list(Trainer(CancelledDuringStep3(config(steps=50, log_every=10)), tmp_path / "early", cancel=early).run())
    assert events[-1].message == "cancelled at step 3, before its first logged step: nothing was saved"
    assert not (tmp_path / "early").exists()

    first_leg = threading.Event()
    for event in Trainer(ToyMethod(config(steps=50, checkpoint_every=0)), tmp_path / "r", cancel=first_leg).run():
        if event.kind == "step" and event.step == 5:
            first_leg.set()
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "r").rglob("*") if p.is_file()}
    events = list(Trainer(ToyMethod(config(steps=50)), tmp_path / "r", cancel=cancel).run())
    assert events[-1].kind == "cancelled" and "stays at step 5" in events[-1].message
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "r").rglob("*") if p.is_file()} == before


def test_cancel_while_the_finished_run_is_measured_stops_the_measurement_and_keeps_the_model(tmp_path):
    """Cancel pressed during the measurement for the card (minutes for a text-to-image run): it stops at the next
    stop point; the trained model is saved, unmeasured, and the last line says how to measure it later."""
    from core.engine.events import stop_point

    cancel, measured = threading.Event(), []

    class SlowToMeasure(ToyMethod):
        def evaluate(self, module):
            for i in range(1000):
                stop_point()
                measured.append(i)
                if i == 3:
                    cancel.set()  # pressed while measuring
            return {"mse": 0.0}

    events = list(Trainer(SlowToMeasure(config(steps=10, checkpoint_every=0)), tmp_path / "m", cancel=cancel).run())
    assert measured == [0, 1, 2, 3] and "evaluating" in [e.kind for e in events]
    assert events[-1].kind == "done" and "its measurement was cancelled: the model works" in events[-1].message
    assert (tmp_path / "m" / "model.safetensors").is_file() and not (tmp_path / "m" / "metrics.json").exists()
    stop_point()  # outside a measurement: nothing to stop, even with the flag still set


def test_a_run_cancelled_on_a_sample_step_shows_those_samples_once(tmp_path):
    cancel = threading.Event()
    events = []
    for event in Trainer(ToyMethod(config(steps=1000, sample_every=10, checkpoint_every=0)), tmp_path / "s",
                         cancel=cancel).run():
        events.append(event)
        if event.kind == "samples" and event.step == 20:
            cancel.set()
    assert [e.step for e in events if e.kind == "samples"] == [10, 20]  # step 20's grid was sent twice
    assert events[-1].kind == "cancelled" and (tmp_path / "s" / "samples.png").is_file()


def test_pause_waits_between_steps_and_the_pause_is_not_training_time(tmp_path):
    pause = threading.Event()
    events = []
    trainer = Trainer(ToyMethod(config(steps=30, checkpoint_every=0)), tmp_path / "p", pause=pause)
    for event in trainer.run():
        events.append(event)
        if event.kind == "step" and event.step == 10:
            pause.set()
            threading.Timer(1.0, pause.clear).start()   # resumed a second later, as by the panel's button
    kinds = [e.kind for e in events]
    assert kinds.index("paused") + 1 == kinds.index("resumed")
    assert events[kinds.index("paused")].step == events[kinds.index("resumed")].step == 10
    assert [e.step for e in events if e.kind == "step"] == [5, 10, 15, 20, 25, 30]   # nothing lost or repeated
    assert events[-1].kind == "done"
    state = json.loads((tmp_path / "p" / "trainer_state.json").read_text())
    assert state["wall_time"] < 1.0, "the second of pause is not counted as training time"


def test_cancel_stops_a_paused_run(tmp_path):
    pause, cancel = threading.Event(), threading.Event()
    events = []
    for event in Trainer(ToyMethod(config(steps=60, checkpoint_every=0, log_every=1)), tmp_path / "q", pause=pause,
                         cancel=cancel).run():
        events.append(event)
        if event.kind == "step" and event.step == 3:
            pause.set()
            threading.Timer(0.5, cancel.set).start()
    # no "resumed" between: the panel's status said "resumed at step 3" for seconds after the Cancel
    assert [e.kind for e in events][4:] == ["paused", "samples", "cancelled"]
    assert events[-1].step == 3 and (tmp_path / "q" / "resume").is_dir()


def test_cli_run_killed_with_sigkill_resumes_from_saved_step(tmp_path):
    """A real kill -9 of `python -m core.train` mid-run; the same command then finishes the run."""
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "core.train", "tests.toy_method:ToyMethod", "--steps", "100000", "--batch-size", "16",
           "--lr", "0.01", "--checkpoint-every", "25", "--sample-every", "0", "--log-every", "25", "--out", str(out)]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_file = out / "resume" / "trainer_state.json"
    deadline = time.time() + 60
    while not state_file.exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state_file.exists(), "no checkpoint was written before the kill"
    saved = load_tensors(out / "resume" / "optimizers.pt")["main"]["state"][0]["step"].item()
    assert saved > 0 and saved % 25 == 0
    target = int(saved) + 25
    cmd[cmd.index("100000")] = str(target)
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming at step {int(saved)}" in done.stdout
    state = load_tensors(out / "resume" / "optimizers.pt")["main"]["state"][0]["step"].item()
    assert state == target
    assert (out / "metrics.json").is_file()


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    """A crash while writing the resume state leaves the previous one intact."""
    out = tmp_path / "a"
    run(config(steps=10), out)
    before = load_file(out / "resume" / "model.safetensors")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("torch.save", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        run(config(steps=20), out)
    after = load_file(out / "resume" / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not list(out.glob(".resume.tmp-*"))


def test_resume_with_a_new_learning_rate_uses_it(tmp_path):
    run(config(steps=10), tmp_path / "lr")
    trainer = Trainer(ToyMethod(config(steps=20, lr=1e-4)), tmp_path / "lr")
    events = trainer.run()
    next(events)  # start: state loaded
    state = load_tensors(tmp_path / "lr" / "resume" / "optimizers.pt")["main"]
    assert state["param_groups"][0]["lr"] == 1e-2  # what was saved
    list(events)
    state = load_tensors(tmp_path / "lr" / "resume" / "optimizers.pt")["main"]
    assert state["param_groups"][0]["lr"] == 1e-4  # what the resumed run used


def test_a_resume_on_other_data_is_refused_naming_the_change(tmp_path):
    """A run of the same name asked to go on with another dataset: refused (its card would name only the new data),
    the saved run untouched; the same data resumes."""
    run(config(steps=10), tmp_path / "data")
    with pytest.raises(ValueError, match=r"trained on other data \(dataset 'digits' -> 'shapes'\).*another run name"):
        run(config(steps=20, dataset="shapes"), tmp_path / "data")
    events = run(config(steps=20), tmp_path / "data")
    assert events[0].kind == "start" and events[0].step == 10 and events[-1].step == 20


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_run_stopped_with_kill_or_ctrl_c_saves_and_exits(tmp_path, signum):
    """kill or Ctrl-C: the run stops after its step, saves, and exits 128 + the signal (not 0: it did not finish).
    Ctrl-C used to end the trainer inside a step: nothing was saved although the message said so."""
    out = tmp_path / "term"
    cmd = [sys.executable, "-m", "core.train", "tests.toy_method:ToyMethod", "--steps", "1000000", "--batch-size", "16",
           "--checkpoint-every", "0", "--sample-every", "0", "--log-every", "5", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=os.environ | {"OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,  # Ctrl-C as in a terminal, even when the tests run
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a background job
    for line in proc.stdout:  # wait until it trains
        if "starting" in line:
            break
    time.sleep(2)
    proc.send_signal(signum)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 128 + signum, output[-2000:]
    assert "cancelled at step" in output and "checkpoint saved" in output
    assert (out / "resume" / "trainer_state.json").is_file() and (out / "model.safetensors").is_file()


def test_gradient_accumulation_averages_micro_batches(tmp_path):
    """grad_accum=2 with batch 8 takes the same number of optimizer steps and still learns."""
    events = run(config(steps=20, batch_size=8, grad_accum=2, checkpoint_every=0), tmp_path / "acc")
    losses = [e.losses["loss"] for e in events if e.kind == "step"]
    assert events[-1].step == 20 and losses[-1] < losses[0]
    state = load_tensors(tmp_path / "acc" / "resume" / "optimizers.pt")["main"]["state"][0]
    assert state["step"].item() == 20  # one Adam step per 2 micro-batches


class DtypeRecordingMethod(ToyMethod):
    """Records the dtype a matmul gets inside the training step (accelerate casts model outputs back to
    float32, so the output would not tell)."""

    seen: set = set()

    def training_step(self, model, batch, ctx):
        x = batch["image"].flatten(1)
        DtypeRecordingMethod.seen.add((x @ x.t()).dtype)
        return super().training_step(model, batch, ctx)


@pytest.mark.parametrize("precision, expected", [("bf16", torch.bfloat16), ("fp16", torch.float32)])
def test_bf16_autocasts_on_cpu_and_fp16_is_ignored_there(tmp_path, precision, expected):
    DtypeRecordingMethod.seen = set()
    events = list(Trainer(DtypeRecordingMethod(config(device="cpu", mixed_precision=precision)), tmp_path / "run").run())
    losses = [e.losses["loss"] for e in events if e.kind == "step"]
    assert DtypeRecordingMethod.seen == {expected}
    assert losses[-1] < 0.6 * losses[0]
    assert {t.dtype for t in load_file(tmp_path / "run" / "model.safetensors").values()} == {torch.float32}


def test_repeated_sigkill_during_checkpoint_writes_then_resume_is_exact(tmp_path, monkeypatch):
    """kill -9 while checkpoints are being written (one per step), five times; each restart resumes from the last
    complete checkpoint, no partial folder is ever listed, and the finished run equals an uninterrupted one."""
    import random

    from core.engine import list_checkpoints
    from core.engine.checkpoint import recover_folder

    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path))
    total = 120
    base = [sys.executable, "-m", "core.train", "tests.toy_method:ToyMethod", "--steps", str(total), "--batch-size",
            "16", "--lr", "0.01", "--checkpoint-every", "1", "--sample-every", "0", "--log-every", "10"]
    env = os.environ | {"OMP_NUM_THREADS": "1", "GENLAB_CHECKPOINTS": str(tmp_path)}
    straight = subprocess.run(base + ["--out", str(tmp_path / "toy" / "straight")], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr[-2000:]
    out = tmp_path / "toy" / "killed"
    rng = random.Random(0)
    steps_seen = []
    for _ in range(5):
        proc = subprocess.Popen(base + ["--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        state_file = out / "resume" / "trainer_state.json"
        start = _step(state_file) if state_file.exists() else 0
        deadline = time.time() + 60
        while time.time() < deadline and (not state_file.exists() or _step(state_file) <= start):
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.15))                            # somewhere inside the next writes
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert set(list_checkpoints("toy")) <= {"straight", "killed"}  # no temporary or half-written folder
        recover_folder(out / "resume")      # a kill between atomic_folder's two renames: what the next start does first
        saved = _step(state_file)
        assert saved >= start
        steps_seen.append(saved)
        if saved >= total:
            break
    assert steps_seen[-1] > steps_seen[0] or len(steps_seen) == 1
    done = subprocess.run(base + ["--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("model.safetensors", "ema.safetensors"):
        a = load_file(tmp_path / "toy" / "straight" / "resume" / name)
        b = load_file(out / "resume" / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name      # same optimizer, EMA and RNG state


def _step(state_file) -> int:
    for _ in range(50):  # the file is replaced atomically; a read can still race the rename
        try:
            return int(json.loads(state_file.read_text())["step"])
        except (OSError, ValueError):
            time.sleep(0.01)
    raise AssertionError(f"unreadable {state_file}")


def test_the_exported_loss_log_is_thinned_evenly_and_keeps_the_last_row():
    from core.engine.loss_log import thin_rows

    rows = [{"step": 10 * i, "loss": float(i)} for i in range(1, 1001)]
    thin = thin_rows(rows, 150)
    assert len(thin) == 150 and thin[0] == rows[0] and thin[-1] == rows[-1]
    assert [r["step"] for r in thin] == sorted({r["step"] for r in thin})  # in order, no repeats
    assert thin_rows(rows[:5], 150) == rows[:5]


def test_one_process_trains_a_folder_at_a_time_and_a_dead_ones_lock_is_taken_over(tmp_path, capsys):
    """A tab's run and a command line's run of the same folder each resumed and overwrote the other's steps; now the
    second is refused while the first's process lives (here another process holds the folder's lock), through the
    command line in one line; the lock of a process that is gone (killed) is taken over, and a run leaves none."""
    import socket

    from core.engine.checkpoint import LOCK_FILE, CheckpointError
    from core.train import main

    out = tmp_path / "run"
    out.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK_FILE).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname()}))
        with pytest.raises(CheckpointError, match=f"checkpoint 'run' is being trained by another process "
                                                  f"\\(pid {other.pid}\\): wait for it to end"):
            run(config(), out)
        assert main(["tests.toy_method:ToyMethod", "--steps", "2", "--out", str(out)]) == 2
        assert "is being trained by another process" in capsys.readouterr().err
        assert not (out / "model.safetensors").exists()
    finally:
        other.kill()
        other.wait()
    run(config(), out)                      # its process is gone: the run takes the lock over, trains and frees it
    assert (out / "model.safetensors").is_file() and not (out / LOCK_FILE).exists()
    class Broken(ToyMethod):
        def build_model(self):
            raise RuntimeError("no model")

    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError, match="no model"):  # a run that fails at once leaves no folder made for its lock
        list(Trainer(Broken(config()), fresh).run())
    assert not fresh.exists()
