"""The quality-vs-speed comparison: rows per setting from one seed, with the seed's image and wall time."""

from __future__ import annotations

import pytest
import torch

from core.diffusion.compare import markdown_table, run_comparison
from tests.test_diffusion_core import tiny_bundle


def test_comparison_rows_time_each_setting_and_reproduce_the_seed():
    bundle = tiny_bundle(num_classes=3)  # no world: times and images only, no metric invented
    settings = (("ddpm", 3), ("ddim", 2))
    rows = list(run_comparison(bundle, seed=4, num=10, guidance=2.0, settings=settings))
    assert [r["setting"] for r in rows] == ["DDPM 3 steps", "DDIM 2 steps"]
    for r in rows:
        assert r["seconds_per_image"] > 0 and r["fid"] is None and r["class_accuracy"] is None
        assert r["image"].shape == (1, 8, 8)
    again = list(run_comparison(bundle, seed=4, num=10, guidance=2.0, settings=settings))
    assert torch.equal(rows[1]["image"], again[1]["image"])  # DDIM eta 0: same seed, same image
    table = markdown_table(rows, 10, None)
    assert "| DDIM 2 steps |" in table


def test_comparison_refuses_unsupported_sample_counts():
    with pytest.raises(ValueError, match="num 7 must be one of"):
        next(run_comparison(tiny_bundle(), num=7))
