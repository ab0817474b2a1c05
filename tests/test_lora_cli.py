"""python -m core.lora: an adapter's own command, trained again, measured again or gone on from."""

from __future__ import annotations

import torch


def _tab_adapter(tab):
    """An adapter folder as the tab leaves it (adapter.json and instances/, no command.json; no weights: the base
    it names does not exist, so a command line stops there)."""
    import json

    (tab / "instances").mkdir(parents=True)
    for i in range(3):
        (tab / "instances" / f"{i:02d}.png").write_bytes(b"")
    (tab / "adapter.json").write_text(json.dumps({"method": "lora", "base": "no-such-base", "trigger": "zwx",
                                                  "class_word": "star", "steps": 120, "rank": 8, "seed": 3,
                                                  "lr": 0.001, "alpha": 8.0, "prior_preservation": True,
                                                  "images": 3, "prompt": "a zwx star"}))
    return tab


def test_the_command_line_reevaluates_from_the_adapters_own_command_and_refuses_a_folder_without_one(tmp_path, capsys):
    """``python -m core.lora --out F --reevaluate`` takes base, images and settings from F/command.json; a folder
    without an adapter is one error line naming what is missing (it used to ask for instance images)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from core.lora.__main__ import main

    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-m", "core.lora", "--out", str(tmp_path / "nope"), "--reevaluate"],
                         cwd=root, capture_output=True, text=True)
    assert run.returncode == 2 and "adapter.json or command.json is missing" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr

    folder = tmp_path / "stored"
    folder.mkdir()
    (folder / "adapter.json").write_text("{}")
    (folder / "command.json").write_text(json.dumps(["--base", "no-such-base", "--example", "--out", "elsewhere"]))
    assert main(["--out", str(folder), "--reevaluate"]) == 2
    assert "no-such-base" in capsys.readouterr().err  # the stored command's base is the one loaded (refused here)

    # an adapter trained in the tab has no command.json: its adapter.json settings and instances/ make the command
    from core.lora.__main__ import command_of

    tab = _tab_adapter(tmp_path / "from-the-tab")
    argv = command_of(tab)
    assert argv[:2] == ["--base", "no-such-base"] and "--out" not in argv
    assert [a for a in argv if a.endswith(".png")] == [str(tab / "instances" / f"{i:02d}.png") for i in range(3)]
    for flag, value in (("--trigger", "zwx"), ("--class-word", "star"), ("--steps", "120"), ("--rank", "8"),
                        ("--seed", "3"), ("--lr", "0.001"), ("--alpha", "8.0")):
        assert argv[argv.index(flag) + 1] == value
    assert "--prior-preservation" in argv and "--train-text-encoder" not in argv
    assert main(["--out", str(tab), "--reevaluate"]) == 2
    assert "no-such-base" in capsys.readouterr().err  # its own base is the one loaded


def test_the_command_line_trains_from_an_adapters_config_with_flags_over_it(tmp_path, capsys):
    """``python -m core.lora --config <adapter> --steps 7 --out F``: the adapter's base, images and settings (as the
    tab saved them), the flags given over them; the note of a tab-trained adapter gives that command. Something that
    is not an adapter is one error line."""
    from core.lora.__main__ import main, parse
    from core.lora.service import adapter_note

    tab = _tab_adapter(tmp_path / "zwx-lora-1")
    for config in (tab, tab / "adapter.json"):
        args, command = parse(["--config", str(config), "--steps", "7", "--rank", "2", "--out", str(tmp_path / "b")])
        assert (args.base, args.trigger, args.class_word, args.method) == ("no-such-base", "zwx", "star", "lora")
        assert (args.steps, args.rank, args.seed, args.lr, args.alpha) == (7, 2, 3, 0.001, 8.0)
        assert args.prior_preservation and not args.train_text_encoder
        assert args.images == [str(tab / "instances" / f"{i:02d}.png") for i in range(3)]
        assert command is None  # written out from the new adapter once trained (the config's folder may go)
    args, _ = parse(["--config", str(tab), "--images", "a.png", "--out", str(tmp_path / "b")])
    assert args.images == ["a.png"] and args.steps == 120 and not args.example
    # a bundled adapter keeps no images: its command taught the built-in example, which the config then teaches
    args, _ = parse(["--config", "checkpoints/lora/purple-circle-ti", "--steps", "9", "--out", str(tmp_path / "b")])
    assert args.example and (args.method, args.steps) == ("textual_inversion", 9)
    args, _ = parse(["--config", "checkpoints/lora/purple-circle-ti", "--images", "a.png", "--out", str(tmp_path)])
    assert not args.example and args.images == ["a.png"]
    assert main(["--config", str(tab), "--out", str(tmp_path / "b")]) == 2
    assert "no-such-base" in capsys.readouterr().err  # the config's base is the one loaded (refused here)
    (tmp_path / "empty").mkdir()
    (tab / "README.md").write_text("a card")
    for config, message in (("nothing", "does not exist"), ("empty", "is not an adapter: its folder has no"),
                            ("zwx-lora-1/README.md", "is not an adapter's adapter.json")):
        assert main(["--config", str(tmp_path / config), "--out", str(tmp_path / "b")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert f"python -m core.lora --config {tab} --out checkpoints/lora/zwx-lora-1-cli" in adapter_note(tab)


def test_the_command_line_goes_on_from_an_adapters_own_command(tmp_path, capsys):
    """``--out F --resume --steps N``: F's own base, images and settings, N more steps; an adapter saved without its
    optimizer's state (a bundled one) is refused in one line, since its command would not reproduce the result."""
    import shutil

    from core.lora.__main__ import main, parse

    tab = _tab_adapter(tmp_path / "zwx-lora-1")
    torch.save({}, tab / "train_state.pt")
    args, command = parse(["--out", str(tab), "--resume", "--steps", "5", "--rank", "9"])
    assert args.resume and not args.reevaluate and args.more == 5
    assert (args.base, args.trigger, args.rank, args.steps) == ("no-such-base", "zwx", 8, 120)  # its own, not --rank 9
    assert "--resume" not in command
    shutil.copytree("checkpoints/lora/purple-circle-ti", tmp_path / "ti")
    assert main(["--out", str(tmp_path / "ti"), "--resume", "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert "keeps no train_state.pt" in err and err.count("\n") == 1
    assert main(["--out", str(tab), "--resume", "--reevaluate"]) == 2


def test_the_command_line_names_the_base_model_as_the_api_does():
    """``--model`` (the tab's and the API's name) and ``--base`` are one flag."""
    from core.lora.__main__ import build_parser

    parser = build_parser()
    assert parser.parse_args(["--model", "t2i-minilm-shapes", "--out", "x"]).base == "t2i-minilm-shapes"
    assert parser.parse_args(["--base", "t2i-minilm-shapes", "--out", "x"]).base == "t2i-minilm-shapes"
