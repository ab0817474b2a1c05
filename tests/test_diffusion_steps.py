"""Samplers at the edges of their step range (issue 17), for every sampler and every scheduler config.

For each count of 1..1000 steps the first timestep is the noisiest one (T - 1), timesteps strictly decrease
without repeats, and sampling never raises, also for a diffusers pipeline folder with Stable Diffusion's
``steps_offset: 1`` (``tests/cases/pipelines/ddim-steps-offset-1``, a copy of the shared case); and that x0-hat is
clipped only below ``CLIP_BELOW_ALPHA_BAR``. The quality half of the property (class
accuracy does not fall as steps grow) is measured on the bundled model behind GENLAB_SLOW=1.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from core.diffusion.pipeline import load_bundle
from core.diffusion.sampling import CLIP_BELOW_ALPHA_BAR, reverse_steps
from core.diffusion.schedules import SAMPLERS, make_scheduler, scheduler_from_config
from tests.test_diffusion_core import tiny_bundle

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "tests" / "cases" / "pipelines" / "ddim-steps-offset-1"  # a copy of the shared case
STEP_COUNTS = (1, 2, 3, 5, 10, 20, 50, 100, 250, 500, 999, 1000)


def _configs() -> dict[str, dict]:
    configs = {name: json.loads((ROOT / "checkpoints" / "diffusion" / name / "scheduler_config.json").read_text())
               for name in ("ddpm-digits", "ddpm-faces32")
               if (ROOT / "checkpoints" / "diffusion" / name / "scheduler_config.json").is_file()}
    configs["stable-diffusion-like (steps_offset 1, leading)"] = {
        "_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_schedule": "scaled_linear",
        "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1, "timestep_spacing": "leading",
        "set_alpha_to_one": False, "clip_sample": False}
    for schedule in ("linear", "cosine"):
        configs[f"made here ({schedule}, v)"] = dict(make_scheduler("ddpm", schedule, 1000, "v_prediction").config)
    return configs


@pytest.mark.parametrize("config_name", list(_configs()))
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_step_count_starts_at_the_noisiest_step_and_strictly_decreases(config_name, sampler):
    config = _configs()[config_name]
    for n in STEP_COUNTS:
        scheduler = scheduler_from_config(sampler, config)
        scheduler.set_timesteps(n)
        ts = scheduler.timesteps.tolist()
        assert len(ts) == n, (n, ts[:5])
        assert ts[0] == 999, (n, ts[:5])                               # the noisiest step the count allows
        assert all(a > b for a, b in zip(ts, ts[1:])), (n, ts[:10])     # strictly decreasing, no repeats
        assert ts[-1] >= 0


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("steps", [1, 2, 999, 1000])
def test_sampling_never_raises_and_stays_finite(sampler, steps):
    bundle = tiny_bundle(num_classes=2, schedule="cosine")
    last = None
    for last in reverse_steps(bundle, 2, sampler=sampler, steps=steps, class_labels=1, guidance=2.0,
                              generator=torch.Generator().manual_seed(0)):
        pass
    assert last.index == steps - 1 and torch.isfinite(last.prev).all()


def test_pipeline_with_steps_offset_1_samples_at_1000_steps(tmp_path):
    """The shared case's pipeline folder: its configs as they came, its (randomly initialised) UNet weights drawn
    here from its config, seeded, rather than kept as a file."""
    from diffusers import UNet2DModel

    folder = tmp_path / "ddim-steps-offset-1"
    shutil.copytree(CASE, folder)
    torch.manual_seed(0)
    UNet2DModel.from_config(UNet2DModel.load_config(folder / "unet")).save_pretrained(folder / "unet")
    bundle = load_bundle(folder)
    for sampler in SAMPLERS:
        frames = list(reverse_steps(bundle, 1, sampler=sampler, steps=1000, generator=torch.Generator().manual_seed(0)))
        assert [f.t for f in frames[:2]] == [999, 998] and frames[-1].t == 0
        assert torch.isfinite(frames[-1].prev).all()


def test_x0_is_clipped_only_where_alpha_bar_is_below_the_threshold():
    """Where alpha-bar < 1e-3 an eps error is amplified > 32x (20,000x at t = 999 of the capped cosine schedule);
    there x0-hat is clipped, elsewhere left alone (clipping everywhere weakened guidance)."""
    bundle = tiny_bundle(schedule="cosine")
    with torch.no_grad():
        bundle.unet.conv_out.bias.fill_(0.3)                              # a constant eps error
    frames = list(reverse_steps(bundle, 1, sampler="ddim", steps=10, generator=torch.Generator().manual_seed(0)))
    ab = bundle.alphas_cumprod
    for f in frames:
        tiny = float(ab[f.t]) < CLIP_BELOW_ALPHA_BAR
        if tiny:
            # eps-hat is consistent with the clipped x0-hat: x_t = sqrt(ab) x0 + sqrt(1 - ab) eps
            rebuilt = ab[f.t].sqrt() * f.x0_hat + (1 - ab[f.t]).sqrt() * f.eps_hat
            assert torch.allclose(rebuilt, f.x_t, atol=1e-4)
    assert float(ab[frames[0].t]) < CLIP_BELOW_ALPHA_BAR < float(ab[frames[1].t])


@pytest.mark.slow
def test_quality_does_not_fall_as_steps_grow_on_the_bundled_digits_model():
    from core.diffusion.service import load_checkpoint
    from core.diffusion.steps_sweep import steps_sweep

    bundle = load_checkpoint("ddpm-digits")
    rows = list(steps_sweep(bundle, step_counts=(2, 10, 50, 250, 1000), num=20))
    for sampler in SAMPLERS:
        acc = [r["class_accuracy"] for r in rows if r["sampler"] == sampler]
        assert min(acc[1:]) >= max(acc[:1]) - 0.1, (sampler, acc)       # more steps never clearly worse
        assert acc[-1] >= 0.9, (sampler, acc)
