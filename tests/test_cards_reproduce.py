"""Every bundled card's figures come back from its ``--reevaluate`` (slow: GENLAB_SLOW=1).

Each checkpoint is copied to a temporary folder and measured again there, by the same code path as
``python -m core.train <method> --out <folder> --reevaluate`` (``python -m core.lora ... --reevaluate``
for adapters). Every figure in ``metrics.json`` must come back within ``REL`` of itself (or ``ABS``
for figures near zero): evaluations use fixed seeds and fixed sample sets, so what remains is
floating-point summation order (thread count, CPU kind).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REL, ABS = 0.02, 0.005


def bundled() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "checkpoints").glob("*/*/metrics.json"))


def close(old: float, new: float) -> bool:
    return abs(new - old) <= ABS + REL * abs(old)


def scalar_metrics(d: dict) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


@pytest.mark.slow
@pytest.mark.parametrize("folder", bundled(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_card_figures_reproduce(folder: Path, tmp_path: Path):
    before = scalar_metrics(json.loads((folder / "metrics.json").read_text()))
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("resume"))
    if folder.parent.name == "lora":
        # the card's line: the adapter's own command (base, images, settings) from its command.json
        subprocess.run([sys.executable, "-m", "core.lora", "--out", str(copy), "--reevaluate"], cwd=ROOT, check=True)
        after = scalar_metrics(json.loads((copy / "metrics.json").read_text()))
    else:
        from core.engine import Trainer
        from core.methods import get_method_class

        state = json.loads((folder / "trainer_state.json").read_text())
        cls = get_method_class(state["method"])
        after = scalar_metrics(Trainer(cls(cls.config_class.load(copy / "train_config.json")), copy).reevaluate())
    from core.data.handwriting import real_digit_sets

    present = real_digit_sets()  # the optional real-MNIST sets are measured only where their files are
    optional = {k for k in before for name in ("mnist_test", "mnist5k")
                if k.startswith(f"real/{name}_") and name not in present}
    missing = sorted(set(before) - set(after) - optional)
    assert not missing, f"figures the card has but --reevaluate no longer measures: {missing}"
    before = {k: v for k, v in before.items() if k in after}
    off = {k: (before[k], after[k]) for k in before if not close(before[k], after[k])}
    assert not off, f"card vs --reevaluate (rel {REL}, abs {ABS}): {off}"
