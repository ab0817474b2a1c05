"""The one training loop every method shares, on ``accelerate.Accelerator``.

It does device placement, mixed precision (GPU), gradient accumulation, EMA, periodic
samples, atomic checkpoints, resume after a kill and cancellation, and yields
:class:`TrainEvent` s that the CLI (tqdm) and the tabs (live plot) render.
Multi-process training is ``torchrun``/``accelerate launch`` of the same CLI.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import torch
from torch.optim.swa_utils import AveragedModel

from .checkpoint import EXPORT_PREFIX, atomic_folder, drop_load_paths, make_readable, same_weights, training_lock
from .device import hardware, resolve_device
from .ema import warmup_ema_fn
from .events import MeasurementCancelled, TrainEvent, stoppable
from .loss_log import LOSS_LOG, read_loss_log, thin_rows
from .method import Method, StepContext
from .model_card import write_model_card
from .resume import load_export, load_resume, read_export_state
from .seed import make_generator

log = logging.getLogger(__name__)


class Trainer:
    """Train ``method`` into ``out_dir`` (``checkpoints/<method>/<name>``).

    Args:
        method: the method instance (its config says steps, batch, lr...).
        out_dir: checkpoint folder; inference files on top, resume state in ``resume/``.
        cancel: set this event to stop after the current step (a checkpoint is written; a new run that has shown
            nothing yet, no logged loss, samples or checkpoint, keeps nothing).
        pause: while this event is set the run waits between steps (a "paused" event, then "resumed" when it
            is cleared); paused time counts neither in the ETA nor in the card's wall time. Cancel still works.
        resume: continue from ``out_dir/resume`` when it exists (else start fresh).
        command: the command line recorded in the model card.
        from_export: with no resume state, continue from the exported weights, the exported
            ``Method.continuation_modules`` (a GAN's discriminator; they start over where the export has none)
            and ``trainer_state.json`` of ``out_dir``, with fresh optimizer state.
    """

    def __init__(self, method: Method, out_dir, cancel: threading.Event | None = None,
                 resume: bool = True, command: str | None = None, from_export: bool = False,
                 pause: threading.Event | None = None):
        self.method = method
        self.config = method.config
        self.out_dir = Path(out_dir)
        self.cancel = cancel or threading.Event()
        self.pause = pause or threading.Event()
        self.resume = resume
        self.from_export = from_export
        self.command = command
        self.last_samples: torch.Tensor | None = None
        self.loss_log: list[dict] = []  # every logged step's mean losses; saved as losses.json (the curves)

    # ------------------------------------------------------------------ set-up
    def _accelerator(self):
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState
        from accelerate.utils import DistributedDataParallelKwargs

        device = resolve_device(self.config.device)
        mixed = self.config.mixed_precision  # bf16 autocasts on CPU too (fast with AMX / AVX512-BF16)
        if mixed == "fp16" and device.type != "cuda":
            mixed = "no"
        if not torch.distributed.is_initialized():
            AcceleratorState._reset_state()  # several runs in one process (tests, the app)
        return Accelerator(
            cpu=device.type == "cpu",
            mixed_precision=mixed,
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=self.method.find_unused_parameters)],
        )

    def _batch(self, dataset, step: int, micro: int, rank: int, world: int, device) -> dict:
        """Batch for (step, micro, rank): drawn from a generator seeded by them, so resume is exact."""
        c = self.config
        g = torch.Generator().manual_seed(((c.seed * 1_000_003 + step) * 1009 + micro) * 64 + rank)
        indices = torch.randint(len(dataset), (c.batch_size,), generator=g).tolist()
        batch = dataset.get_batch(indices)
        return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}

    # ------------------------------------------------------------------ run
    def run(self) -> Iterator[TrainEvent]:
        """Train (or resume) into ``out_dir``, yielding :class:`TrainEvent` s; one process trains a folder at a time
        (:func:`core.engine.checkpoint.training_lock`, taken by the main process of a multi-process run)."""
        main = int(os.environ.get("RANK", "0")) == 0
        with training_lock(self.out_dir) if main else contextlib.nullcontext():
            yield from self._run()

    def _run(self) -> Iterator[TrainEvent]:
        c, method = self.config, self.method
        acc = self._accelerator()
        torch.manual_seed(c.seed + acc.process_index)
        model = method.build_model()
        optimizers = method.configure_optimizers(model)
        dataset = method.build_dataset("train")

        names = list(optimizers)
        prepared = acc.prepare(model, *optimizers.values())
        model, optimizers = prepared[0], dict(zip(names, prepared[1:]))
        raw = acc.unwrap_model(model)
        ema = None
        if c.ema_decay > 0:
            ema = AveragedModel(method.ema_module(raw), multi_avg_fn=warmup_ema_fn(c.ema_decay), use_buffers=True)

        state = {"step": 0, "wall_time": 0.0, "history": []}
        if self.resume:
            state = load_resume(self.method, self.out_dir, raw, ema, optimizers, state)
        if self.from_export and state["step"] == 0:
            state = load_export(self.method, self.out_dir, raw, ema)
        if state["step"] > c.steps:
            raise ValueError(f"steps {c.steps} is below the {state['step']} steps this run has trained: steps counts "
                             "the whole run, resumed legs included; give more")
        self._resumed = state  # where this leg started: history of earlier legs, their steps and wall time
        if state["step"]:
            self.loss_log = read_loss_log(self.out_dir / "resume", state["step"]) or read_loss_log(self.out_dir,
                                                                                                  state["step"])
        total = c.steps
        start_step, t0 = state["step"], time.time()
        yield TrainEvent("start", start_step, total, message=self._start_message(acc, start_step))

        sums: dict[str, float] = {}
        count, step, sampled_at, shown = 0, start_step, None, False  # shown: a loss, samples or a checkpoint so far
        try:
            while step < total and not self.cancel.is_set():
                if self.pause.is_set():
                    yield TrainEvent("paused", step, total, elapsed=time.time() - t0,
                                     message=f"paused at step {step}/{total}")
                    stopped = time.time()
                    while self.pause.is_set() and not self.cancel.is_set():
                        time.sleep(0.1)
                    t0 += time.time() - stopped  # the pause is not training time
                    if not self.cancel.is_set():  # (a Cancel during the pause goes straight to saving)
                        yield TrainEvent("resumed", step, total, elapsed=time.time() - t0,
                                         message=f"resumed at step {step}/{total}")
                    continue
                model.train()
                with torch.enable_grad():   # whatever mode this worker thread was left in; no yield inside
                    self._optimisation_step(method, model, raw, ema, dataset, optimizers, acc, step, sums)
                step += 1
                count += 1
                elapsed = time.time() - t0
                eta = elapsed / (step - start_step) * (total - step)
                if step % c.log_every == 0 or step == total:
                    means = {k: v / count for k, v in sums.items()}
                    self.loss_log.append({"step": step, **{k: float(f"{v:.4g}") for k, v in means.items()}})
                    yield TrainEvent("step", step, total, means, elapsed=elapsed, eta=eta)
                    sums, count, shown = {}, 0, True
                if c.sample_every and step % c.sample_every == 0 and step < total:
                    yield self._samples_event(raw, ema, step, total, elapsed, eta, acc)
                    sampled_at, shown = step, True
                if c.checkpoint_every and step % c.checkpoint_every == 0 and step < total:
                    path = self._save(acc, raw, ema, optimizers, step, state["wall_time"] + elapsed)
                    shown = True
                    yield TrainEvent("checkpoint", step, total, path=path, elapsed=elapsed, eta=eta,
                                     message=f"saved step {step}")
        except GeneratorExit:  # the consumer went away (a closed tab): keep what was trained
            self._save(acc, raw, ema, optimizers, step, state["wall_time"] + time.time() - t0)
            raise
        elapsed = time.time() - t0
        wall = state["wall_time"] + elapsed
        if step < total and (step == start_step or not (start_step or shown)):  # Cancel right after Train: a new run
            # that has shown nothing (no loss, no samples, no checkpoint) keeps nothing; a resumed one stays as it was
            when = "before the first step" if step == start_step else f"at step {step}, before its first logged step"
            kept = f"the checkpoint stays at step {step}" if start_step else "nothing was saved"
            yield TrainEvent("cancelled", step, total, elapsed=elapsed, message=f"cancelled {when}: {kept}")
            return
        if step != sampled_at and (step > start_step or not (self.out_dir / "config.json").exists()):
            yield self._samples_event(raw, ema, step, total, elapsed, 0.0, acc)  # (once: cancelled on a sample step)
        metrics, skipped = {}, ""
        if step >= total and acc.is_main_process:
            yield TrainEvent("evaluating", step, total, elapsed=elapsed,
                             message=f"trained {step}/{total} steps; {method.evaluation_note()}")
            try:
                with torch.no_grad(), stoppable(self.cancel):
                    metrics = method.evaluate(self._export_module(raw, ema).eval())
            except MeasurementCancelled:  # Cancel pressed while measuring: the trained model is kept, unmeasured
                log.info("measurement cancelled; python -m core.train ... --reevaluate measures it later")
                skipped = ("; its measurement was cancelled: the model works, its card has no figures (the command "
                           "line's --reevaluate measures them)")
        path = self._save(acc, raw, ema, optimizers, step, wall, metrics=metrics)
        kind = "cancelled" if step < total else "done"
        yield TrainEvent(kind, step, total, path=path, elapsed=elapsed,
                         message=f"{kind} at step {step}/{total}; saved to {path}{skipped}",
                         losses={f"metric/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})

    # ------------------------------------------------------------------ pieces
    def _optimisation_step(self, method, model, raw, ema, dataset, optimizers, acc, step: int, sums: dict) -> None:
        """One optimiser step over ``grad_accum`` micro-batches; adds each loss's mean to ``sums``."""
        c = self.config
        for micro in range(c.grad_accum):
            batch = self._batch(dataset, step, micro, acc.process_index, acc.num_processes, acc.device)
            with acc.autocast():
                losses = method.training_step(model, batch, StepContext(step, acc, optimizers, micro))
            if not method.manual_optimization:
                acc.backward(losses["loss"] / c.grad_accum)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach() if torch.is_tensor(v) else v) / c.grad_accum
        if not method.manual_optimization:
            opt = optimizers["main"]
            if c.grad_clip > 0:
                acc.clip_grad_norm_(model.parameters(), c.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update_parameters(method.ema_module(raw))

    def _start_message(self, acc, start_step: int) -> str:
        how = f"resuming at step {start_step}" if start_step else "starting"
        return (f"{how}: {self.method.name} on {self.config.dataset}, device {acc.device}, "
                f"{acc.num_processes} process(es)")

    def _export_module(self, raw, ema):
        return ema.module if ema is not None else self.method.ema_module(raw)

    def _samples_event(self, raw, ema, step, total, elapsed, eta, acc) -> TrainEvent:
        module = self._export_module(raw, ema)
        was_training = module.training
        module.eval()
        with torch.no_grad():
            images = self.method.sample(module, self.config.num_samples, make_generator(self.config.seed, acc.device))
        module.train(was_training)
        self.last_samples = images.detach().float().clamp(0, 1).cpu()
        return TrainEvent("samples", step, total, images=self.last_samples, elapsed=elapsed, eta=eta)

    def _save(self, acc, raw, ema, optimizers, step: int, wall_time: float, metrics=None) -> str:
        """Write resume state (temp folder + rename) and the inference files (temp + rename each)."""
        from safetensors.torch import save_model

        acc.wait_for_everyone()
        if acc.is_main_process:
            out = self.out_dir
            out.mkdir(parents=True, exist_ok=True)
            state = {"method": self.method.name, "step": step, "wall_time": wall_time,
                     "num_processes": acc.num_processes, "command": self.command,
                     "config": self.config.to_dict(), "history": self._history(acc, step, wall_time)}
            with atomic_folder(out / "resume") as tmp:
                save_model(raw, str(tmp / "model.safetensors"))
                if ema is not None:
                    save_model(ema.module, str(tmp / "ema.safetensors"))
                    torch.save({"n_averaged": ema.n_averaged}, tmp / "ema_state.pt")
                torch.save({k: o.state_dict() for k, o in optimizers.items()}, tmp / "optimizers.pt")
                torch.save({"cpu": torch.get_rng_state(),
                            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
                           tmp / "rng.pt")
                (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2))
                (tmp / LOSS_LOG).write_text(json.dumps(self.loss_log, separators=(",", ":")))
            self._export(self._export_module(raw, ema), state, metrics, hardware(acc),
                         self.method.continuation_modules(raw))
        acc.wait_for_everyone()
        return str(self.out_dir)

    def _export(self, module, state: dict, metrics: dict | None, hardware_line: str, extras=None) -> None:
        """Write the inference files, figures, samples, trainer state, model card and the
        ``continuation_modules`` (temp + rename each)."""
        from safetensors.torch import save_model

        out = self.out_dir
        with tempfile.TemporaryDirectory(prefix=EXPORT_PREFIX, dir=out) as tmp:
            tmp = Path(tmp)
            self.method.save_inference(module, tmp)
            drop_load_paths(tmp)
            for name, extra in (extras or {}).items():
                save_model(extra, str(tmp / f"{name}.safetensors"))
            self.config.save(tmp / "train_config.json")
            (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2) + "\n")
            if self.loss_log:  # the export's curve: at most EXPORT_LOG_ROWS rows (the resume state keeps them all)
                (tmp / LOSS_LOG).write_text(json.dumps(thin_rows(self.loss_log), separators=(",", ":")))
            if self.last_samples is not None:
                self.method.sample_sheet(self.last_samples).save(tmp / "samples.png")
            notes = out / "notes.md"
            write_model_card(tmp / "README.md", out.name, self.method, state, metrics or {}, hardware_line,
                             notes=notes.read_text() if notes.is_file() else "", folder=out)
            if metrics:
                (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
            else:  # metrics of an earlier finished run no longer describe these weights
                (out / "metrics.json").unlink(missing_ok=True)
            for f in sorted(tmp.iterdir(), key=lambda p: p.suffix == ".json"):  # weights first
                target = out / f.name
                if f.is_dir():
                    with atomic_folder(target) as t:
                        os.rmdir(t)
                        os.replace(f, t)
                elif f.suffix == ".safetensors" and not target.is_symlink() and same_weights(f, target):
                    continue  # unchanged weights keep their file (and a bundle's history stays one version long)
                else:
                    make_readable(f)  # temporary files are created private
                    os.replace(f, target)

    def reevaluate(self) -> dict:
        """Measure a finished checkpoint again and rewrite its card, figures and metrics.

        Needs only the exported folder (weights + ``trainer_state.json``), not the resume state, so a
        checkpoint whose optimizer state is gone still gets the current evaluation and figures. The card
        keeps the training facts (legs, wall time, hardware) of ``trainer_state.json``.

        Returns:
            the new metrics.
        """
        out = self.out_dir
        state = read_export_state(self.method, self.out_dir)
        if int(state["step"]) < self.config.steps:
            raise ValueError(f"{out} stopped at step {state['step']} of {self.config.steps}; "
                             "finish training instead (the evaluation runs at the last step)")
        device = resolve_device(self.config.device)
        module = self.method.load_inference(out).to(device).eval()
        with torch.no_grad():
            images = self.method.sample(module, self.config.num_samples, make_generator(self.config.seed, device))
            self.last_samples = images.detach().float().clamp(0, 1).cpu()
            metrics = self.method.evaluate(module)
        legs = state.get("history") or [{}]
        self.loss_log = read_loss_log(out, int(state["step"]))
        self._export(module, state, metrics, legs[-1].get("hardware", ""))
        return metrics

    def _history(self, acc, step: int, wall_time: float) -> list[dict]:
        """The legs of this run (one per resume): steps from/to, wall time, command, hardware."""
        before = self._resumed
        history = list(before["history"])
        if step > before["step"]:
            history.append({"from": before["step"], "to": step, "wall_time": round(wall_time - before["wall_time"], 3),
                            "command": self.command, "hardware": hardware(acc)})
        return history

