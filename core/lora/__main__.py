"""Train, save and measure an adapter from the command line, with its card (the same code as the tab).

    python -m core.lora --example --trigger sks --class-word circle --method textual_inversion --steps 300 \\
        --out checkpoints/lora/purple-circle-ti
    python -m core.lora --images a.png b.png c.png --trigger zqx --method lora --out checkpoints/lora/mine
    python -m core.lora --config <an adapter trained in the tab> --steps 600 --out checkpoints/lora/mine-600
    python -m core.lora --out checkpoints/lora/mine --resume --steps 300     # 300 more steps, from where it stopped
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path


def main(argv=None) -> int:
    """The command line; a user's mistake is one ``error:`` line (exit status 2), never a traceback."""
    from core.engine.cli import run_cli

    return run_cli(_main, argv)


def saved_settings(config: Path) -> dict:
    """The settings an adapter was trained with, as this command's options (``dest`` -> value): its ``adapter.json``
    (``config`` is that file or its folder) and the images in its ``instances/`` (the tab writes both), or the
    built-in example when its ``command.json`` taught that (the bundled adapters)."""
    from .service import META_FILE
    from .train_more import taught_image_files

    if not config.exists():
        raise ValueError(f"--config {config} does not exist: give an adapter's folder or its {META_FILE}")
    if config.is_file() and config.name != META_FILE:
        raise ValueError(f"--config {config} is not an adapter's {META_FILE}: give the adapter's folder or that file")
    folder = config if config.is_dir() else config.parent
    if not (folder / META_FILE).is_file():
        raise ValueError(f"{config} is not an adapter: its folder has no {META_FILE} (give an adapter's folder or its "
                         f"{META_FILE})")
    meta = json.loads((folder / META_FILE).read_text())
    images, example = taught_image_files(folder)
    return {"base": meta["base"], "images": images, "example": example, "trigger": meta["trigger"],
            "class_word": meta["class_word"],
            "method": meta["method"], "steps": meta["steps"], "rank": meta["rank"], "seed": meta["seed"],
            "lr": meta.get("lr"), "alpha": meta.get("alpha"),
            "prior_preservation": bool(meta.get("prior_preservation")),
            "train_text_encoder": bool(meta.get("train_text_encoder"))}


def command_of(folder: Path) -> list[str]:
    """The command-line arguments but ``--out`` that train the adapter in ``folder`` again, every setting written
    out: its :func:`saved_settings`."""
    s = saved_settings(folder)
    argv = ["--base", s["base"], *(["--example"] if s["example"] else ["--images", *s["images"]]), "--trigger", s["trigger"], "--class-word", s["class_word"],
            "--method", s["method"], "--steps", str(s["steps"]), "--rank", str(s["rank"]), "--seed", str(s["seed"])]
    argv += [a for flag in ("lr", "alpha") if s[flag] is not None for a in (f"--{flag}", str(s[flag]))]
    return (argv + ["--prior-preservation"] * s["prior_preservation"]
            + ["--train-text-encoder"] * s["train_text_encoder"])


def _without_steps(argv: list[str]) -> list[str]:
    """``argv`` without its ``--steps N`` (or ``--steps=N``)."""
    out, value = [], False
    for a in argv:
        if not value and a != "--steps" and not a.startswith("--steps="):
            out.append(a)
        value = a == "--steps"  # the next one is its value
    return out


class _DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default in its help, except where there is none to give (a flag, a required option, a default
    its help explains)."""

    def _get_help_string(self, action):
        none = any(action.default is v for v in (None, False, argparse.SUPPRESS)) or action.default == []
        if action.required or none:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.lora", description=__doc__.splitlines()[0],
                                     formatter_class=_DefaultsHelp)
    parser.add_argument("--config", help="an adapter's folder (or its adapter.json), e.g. one trained in the tab: its "
                                         "base, images and settings are the defaults (flags override them)")
    parser.add_argument("--base", "--model", dest="base", default="t2i-clip-shapes",  # --model: the API's name
                        help="a pipeline in checkpoints/text2image/")
    parser.add_argument("--images", nargs="*", default=[], help="3-20 instance images")
    parser.add_argument("--example", action="store_true", help="the built-in example concept (purple circles)")
    parser.add_argument("--trigger", default="sks", help="the rare word that names the concept in prompts")
    parser.add_argument("--class-word", default="circle", help="what the concept is ('a <trigger> <class word>')")
    parser.add_argument("--method", default="lora", choices=["lora", "textual_inversion"],
                        help="as the tab starts: LoRA comes closest to the concept (README, LoRA)")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps")
    parser.add_argument("--rank", type=int, default=4, help="LoRA rank r of the update B A")
    parser.add_argument("--lr", type=float, default=None, help="default 1e-3 (LoRA), 5e-3 (textual inversion)")
    parser.add_argument("--alpha", type=float, default=None, help="LoRA alpha (the update is scaled by alpha / rank); "
                                                                   "default: the rank")
    parser.add_argument("--prior-preservation", action="store_true",
                        help="DreamBooth's prior preservation: also train on the base model's own 'a <class word>' "
                             "images, so the class word keeps its meaning (the tab's box of that name)")
    parser.add_argument("--train-text-encoder", action="store_true", help="LoRA: also a LoRA on the text encoder")
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights, batches and noise")
    parser.add_argument("--out", required=True, help="the adapter's folder, e.g. checkpoints/lora/my-adapter")
    parser.add_argument("--resume", action="store_true",
                        help="train the adapter in --out --steps more steps from where it stopped, on its own base, "
                             "images and settings (other flags are ignored); the tab's Train more")
    parser.add_argument("--reevaluate", action="store_true",
                        help="measure the adapter in --out again with the settings and images of its command (no "
                             "training; other flags are ignored)")
    return parser


def parse(argv=None) -> tuple[argparse.Namespace, list[str] | None]:
    """(options, the command-line arguments that reproduce them): ``--config``'s settings under the flags given (the
    arguments are then None: written out from the trained adapter); with ``--reevaluate``, the command the adapter in
    ``--out`` was trained with (``--resume``: that command, to go on from; ``args.more`` holds the steps to add)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.reevaluate and args.resume:
        raise ValueError("--resume trains and --reevaluate only measures: give one of them")
    if args.reevaluate or args.resume:  # the adapter's own command: its base, images and settings
        from .service import INSTANCES, META_FILE, TRAIN_STATE

        stored = out / "command.json"
        if not (out / META_FILE).is_file() or not (stored.is_file() or (out / INSTANCES).is_dir()):
            raise ValueError(f"{out} holds no adapter trained by this command (adapter.json or command.json is "
                             f"missing); train one first, e.g. python -m core.lora --example --out {out}")
        # trained by this command: the command; in the tab: its settings and images, as a command
        command = json.loads(stored.read_text()) if stored.is_file() else [*command_of(out), "--out", str(out)]
        more, resume = args.steps, args.resume
        if resume and not (out / TRAIN_STATE).is_file():
            raise ValueError(f"{out} keeps no {TRAIN_STATE} (AdamW's state; a bundled adapter has none), so going on "
                             f"would not be its command's run: train it again with --config {out} --steps <total>")
        args = parser.parse_args([*command, "--out", str(out)])
        args.reevaluate, args.resume, args.more = not resume, resume, more
        return args, command
    command = list(sys.argv[1:] if argv is None else argv)
    if args.config:
        parser.set_defaults(**saved_settings(Path(args.config)))
        args = parser.parse_args(argv)
        if "--images" in command and "--example" not in command:  # images given replace the config's example
            args.example = False
        if not (args.images or args.example):
            raise ValueError(f"{args.config} keeps no instance images: give them with --images, or --example")
        command = None  # every setting written out (the config's folder may change or go)
    return args, command


def _main(argv=None) -> int:
    args, argv = parse(argv)
    out = Path(args.out)

    import torch

    from core.data import make_grid, to_pil
    from core.text2image.service import load_model

    from .evaluate import DRIFT_PROMPTS, measure
    from core.text2image.sampling import image_side

    from .service import check_settings, example_concept, load_images, train_adapter
    from .train_more import continue_settings, read_resume

    torch.set_num_threads(max(1, torch.get_num_threads()))
    pipe = load_model(args.base)
    config, warnings = check_settings(args.trigger, args.class_word, args.method, args.rank, args.steps, args.lr,
                                      args.seed, args.prior_preservation, pipe.tokenizer.get_vocab(),
                                      args.train_text_encoder, args.alpha)
    for w in warnings:
        print("warning:", w)
    images = example_concept() if args.example else load_images(args.images, image_side(pipe))
    resume = None
    if args.resume:  # saved with its optimizer and generator: the same weights as one run of the total steps
        config = continue_settings(out, args.more)
        resume = read_resume(out, config)
        argv = [*_without_steps(argv), "--steps", str(resume.step + config.steps)]
    if not args.reevaluate:
        for event in train_adapter(pipe, args.base, images, config, out, resume=resume):
            if "loss" in event and event["step"] % 50 == 0:
                print(f"step {event['step']}/{event['steps']} loss {event['loss']:.4f}", flush=True)
        if argv is None:  # --config: every setting, and the images the new adapter keeps (instances/)
            argv = [*command_of(out), "--out", str(out)]
        (out / "command.json").write_text(json.dumps(argv) + "\n")
    m = measure(pipe, args.base, out, images)
    before, after = m.pop("samples")
    to_pil(make_grid(torch.cat([before[:6], after[:6]]), nrow=6)).save(out / "samples.png")
    meta = json.loads((out / "adapter.json").read_text())
    (out / "metrics.json").write_text(json.dumps(m, indent=2) + "\n")
    command = "python -m core.lora " + " ".join(shlex.quote(a) for a in argv)
    size = sum(f.stat().st_size for f in out.glob("*.safetensors"))
    (out / "README.md").write_text(f"""# GenLab adapter `{out.name}`

{'LoRA (rank ' + str(meta['rank']) + ')' if meta['method'] == 'lora' else 'Textual inversion (one new token, ' + meta['token'] + ')'}
on `{args.base}`, taught "{meta['prompt']}" from {meta['images']} images (`instances.png`) in {meta['steps']} steps,
{meta['seconds']:.0f} s on {'a ' + str(meta.get('torch_threads', torch.get_num_threads())) + '-thread CPU' if not torch.cuda.is_available() else 'a GPU'}.
Weights: {size / 1024:.1f} KiB (`{'pytorch_lora_weights.safetensors' if meta['method'] == 'lora' else 'learned_embeds.safetensors'}`,
diffusers' format).

```bash
{command}
```

Measure it again: `python -m core.lora --out {out} --reevaluate` (the command above's base, images and settings; the
figures below use seeds 0-{m['seeds'] - 1}).

| measured ({m['seeds']} seeds, DDIM 25 steps, w = 4) | base model | with the adapter | the instances, through the autoencoder |
|---|---:|---:|---:|
| distance to the target's mean feature (shapes classifier features; lower is closer) | {m['fidelity_base']:.2f} | {m['fidelity_adapter']:.2f} | {m['fidelity_reachable']:.2f} |
| images in which the shapes classifier sees the instances' colour ({m['concept'].split()[0]}) | {m['concept_read_colour_base']:.0%} | {m['concept_read_colour_adapter']:.0%} | {m['concept_read_colour_instances']:.0%} (the instances) |
| ... their shape, as it reads the instances ({' '.join(m['concept'].split()[1:])}) | {m['concept_read_shape_base']:.0%} | {m['concept_read_shape_adapter']:.0%} | {m['concept_read_shape_instances']:.0%} |

The target is what the pipeline's autoencoder makes of the instance images: a UNet adapter cannot draw outside its
latent space (`core/lora/evaluate.py`).

Prior drift (prompts without the trigger word, {len(DRIFT_PROMPTS)} prompts x 3 seeds,
mean |pixel difference| with and without the adapter): {m['prior_drift']:.4f}.

`samples.png`: the prompt through the base model (top row) and with the adapter (bottom row), seeds 0-5.
""")
    print(json.dumps(m, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
