"""core/diffusion: forward process, schedules, the written sampling loop vs diffusers' pipelines, guidance.

Tiny UNets (block_out_channels (4, 8)), 2-3 inference steps, CPU, seeded.
"""

from __future__ import annotations

import pytest
import torch

from core.diffusion.config import SCHEDULES
from core.diffusion.forward import q_mean_std, q_sample, split_prediction, v_target
from core.diffusion.model import build_unet
from core.diffusion.pipeline import DiffusionBundle, load_bundle
from core.diffusion.sampling import guided_output, model_timesteps, reverse_steps, sample_images
from core.diffusion.schedules import alphas_cumprod, betas, make_scheduler, snr


def tiny_bundle(num_classes=0, schedule="linear", prediction_type="epsilon", seed=0):
    torch.manual_seed(seed)
    unet = build_unet(8, 1, (4, 8), 1, num_classes).eval()
    sched = make_scheduler("ddpm", schedule, 1000, prediction_type)
    return DiffusionBundle(unet, dict(sched.config), class_names=[str(i) for i in range(num_classes)], schedule=schedule)


# ---------------------------------------------------------------- forward process and schedules
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_q_sample_matches_closed_form_and_diffusers(schedule):
    ab = alphas_cumprod(schedule)
    x0 = torch.rand(4, 1, 8, 8) * 2 - 1
    t = torch.tensor([0, 10, 500, 999])
    noise = torch.randn_like(x0)
    expected = ab[t].sqrt().view(-1, 1, 1, 1) * x0 + (1 - ab[t]).sqrt().view(-1, 1, 1, 1) * noise
    assert torch.allclose(q_sample(x0, t, ab, noise), expected, atol=1e-6)
    sched = make_scheduler("ddpm", schedule)  # diffusers' own add_noise implements eq. 4 independently
    assert torch.allclose(q_sample(x0, t, ab, noise), sched.add_noise(x0, noise, t), atol=1e-5)


def test_q_sample_statistics_match_q_xt_given_x0():
    ab = alphas_cumprod("cosine")
    x0 = torch.full((20000, 1, 1, 1), 0.7)
    t = 400
    x_t = q_sample(x0, t, ab, torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)))
    mean, std = q_mean_std(x0[:1], t, ab)
    assert abs(x_t.mean() - mean.item()) < 0.02
    assert abs(x_t.std() - std.item()) < 0.02


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedule_curves_are_monotone(schedule):
    b, ab, s = betas(schedule), alphas_cumprod(schedule), snr(schedule)
    assert b.shape == ab.shape == s.shape == (1000,)
    assert ((b > 0) & (b < 1)).all()
    assert (b[1:] >= b[:-1] - 1e-7).all(), "beta_t must not decrease"
    assert (ab[1:] < ab[:-1]).all(), "alpha-bar_t must decrease strictly"
    assert (s[1:] < s[:-1]).all(), "SNR must decrease strictly"
    assert ab[0] > 0.99 and ab[-1] < 0.05


def test_cosine_keeps_more_signal_midway_than_linear():
    assert alphas_cumprod("cosine")[500] > alphas_cumprod("linear")[500]


def test_unknown_schedule_and_sampler_list_valid_names():
    with pytest.raises(ValueError, match="valid schedules: linear, cosine, sigmoid, scaled_linear"):
        alphas_cumprod("quadratic")
    with pytest.raises(ValueError, match="valid samplers: ddpm, ddim, dpm\\+\\+"):
        make_scheduler("euler", "linear")


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_split_prediction_recovers_x0_and_eps(prediction_type):
    ab = alphas_cumprod("linear")[300]
    x0, eps = torch.rand(2, 1, 4, 4) * 2 - 1, torch.randn(2, 1, 4, 4)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    out = eps if prediction_type == "epsilon" else v_target(x0, eps, ab)
    x0_hat, eps_hat = split_prediction(out, x_t, ab, prediction_type)
    assert torch.allclose(x0_hat, x0, atol=1e-4) and torch.allclose(eps_hat, eps, atol=1e-4)


# ---------------------------------------------------------------- the sampling loop vs diffusers
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_loop_matches_diffusers_ddim_pipeline(eta, monkeypatch):
    from diffusers import DDIMPipeline

    # with the low-SNR x0 clip off (diffusers has none) the loop is diffusers' pipeline step for step
    monkeypatch.setattr("core.diffusion.sampling.CLIP_BELOW_ALPHA_BAR", 0.0)

    bundle = tiny_bundle()
    pipe = DDIMPipeline(unet=bundle.unet, scheduler=make_scheduler("ddim", "linear"))
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(batch_size=2, generator=torch.Generator().manual_seed(7), eta=eta, num_inference_steps=3,
               output_type="pt").images  # (B, H, W, C) for "pt"? diffusers returns (B, C, H, W)
    ours = sample_images(bundle, 2, sampler="ddim", steps=3, eta=eta, generator=torch.Generator().manual_seed(7))
    ref = ref if ref.shape == ours.shape else ref.permute(0, 3, 1, 2)
    assert torch.equal(ours, ref)


def test_diffusers_pipeline_folder_loads_and_matches_ddpm_pipeline(tmp_path, monkeypatch):
    from diffusers import DDPMPipeline

    monkeypatch.setattr("core.diffusion.sampling.CLIP_BELOW_ALPHA_BAR", 0.0)  # diffusers clips nothing
    bundle = tiny_bundle(schedule="cosine")
    pipe = DDPMPipeline(unet=bundle.unet, scheduler=make_scheduler("ddpm", "cosine"))
    pipe.set_progress_bar_config(disable=True)
    pipe.save_pretrained(tmp_path / "pipe")
    loaded = load_bundle(tmp_path / "pipe")
    assert loaded.num_classes == 0 and loaded.resolution == 8 and loaded.channels == 1
    ref = pipe(batch_size=1, generator=torch.Generator().manual_seed(3), num_inference_steps=2, output_type="pt").images
    ours = sample_images(loaded, 1, sampler="ddpm", steps=2, generator=torch.Generator().manual_seed(3))
    ref = ref if ref.shape == ours.shape else ref.permute(0, 3, 1, 2)
    assert torch.allclose(ours, ref, atol=1e-6)


def test_loop_yields_every_step_with_x0_and_eps():
    bundle = tiny_bundle(num_classes=3)
    frames = list(reverse_steps(bundle, 2, sampler="dpm++", steps=4, generator=torch.Generator().manual_seed(0),
                                class_labels=1, guidance=2.0))
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert frames[0].t > frames[-1].t
    for f in frames:
        assert f.x_t.shape == f.x0_hat.shape == f.eps_hat.shape == f.prev.shape == (2, 1, 8, 8)
        assert f.x0_hat.abs().max() <= 1.0
    assert torch.equal(frames[1].x_t, frames[0].prev)


@pytest.mark.parametrize("sampler", ["ddim", "ddpm", "dpm++"])
def test_sdedit_runs_only_the_timesteps_below_start_from_x0_noised_there(sampler):
    """SDEdit (Meng et al. 2022): of 10 steps over 0..999 only those <= start_t run, from q(x_t | x0) at the first."""
    bundle = tiny_bundle()
    x0 = torch.rand(1, 1, 8, 8) * 2 - 1
    full = [f.t for f in reverse_steps(bundle, 1, sampler=sampler, steps=10, generator=torch.Generator().manual_seed(0))]
    for start_t, expected in [(999, full), (499, [t for t in full if t <= 499]), (0, [0])]:
        frames = list(reverse_steps(bundle, 1, sampler=sampler, steps=10, generator=torch.Generator().manual_seed(3),
                                    x0=x0, start_t=start_t))
        assert [f.t for f in frames] == expected and frames[-1].num_steps == len(expected)
        ab = bundle.alphas_cumprod[expected[0]]
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3))
        assert torch.allclose(frames[0].x_t, ab.sqrt() * x0 + (1 - ab).sqrt() * noise, atol=1e-5)
    with pytest.raises(ValueError, match="start_t 1000 is outside 0..999"):
        next(reverse_steps(bundle, 1, sampler=sampler, steps=10, x0=x0, start_t=1000))


@pytest.mark.parametrize("sampler", ["ddim", "ddpm", "dpm++"])
def test_sdedit_never_starts_above_start_t_when_the_grid_is_coarse(sampler):
    """1 step over 0..999 is t = 999 alone: SDEdit from t = 99 must not noise the image to 999 (it did, so every
    start gave the same image); the grid is refined to ceil(1000 / 100) = 10 steps and runs t = 99."""
    bundle = tiny_bundle()
    x0 = torch.rand(1, 1, 8, 8) * 2 - 1
    for steps, start_t, expected in [(1, 99, [99]), (1, 499, [499]), (3, 99, [99]), (20, 0, [0]), (1, 999, [999])]:
        frames = list(reverse_steps(bundle, 1, sampler=sampler, steps=steps, generator=torch.Generator().manual_seed(0),
                                    x0=x0, start_t=start_t))
        assert [f.t for f in frames] == expected, (steps, start_t)
    near = [f.prev for f in reverse_steps(bundle, 1, sampler=sampler, steps=1, x0=x0, start_t=0,
                                          generator=torch.Generator().manual_seed(0))][-1]
    assert (near - x0).abs().mean() < 0.2  # from t = 0 the image comes back almost as it was


def test_ddim_eta_1_stays_finite_where_alpha_bar_is_near_0():
    """DDIM at eta 1, 5 steps of the capped cosine schedule (alpha-bar_999 = 2.4e-9): sqrt(1 - ab_prev - sigma^2) was
    the square root of a float32 rounding below 0, NaN, and the sample all black."""
    from diffusers import DDIMScheduler

    from core.diffusion.schedules import SAMPLING_SPACING

    x, eps = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)).unbind(0)
    plain = DDIMScheduler(trained_betas=betas("cosine").tolist(), clip_sample=False, **SAMPLING_SPACING)
    ours = make_scheduler("ddim", "cosine")
    for s in (plain, ours):
        s.set_timesteps(5)
    step = lambda s: s.step(eps[None], s.timesteps[0], x[None], eta=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.isnan(step(plain).prev_sample).any()  # the fault, in diffusers' own scheduler
    assert torch.isfinite(step(ours).prev_sample).all()
    bundle = tiny_bundle(schedule="cosine")
    out = sample_images(bundle, 1, sampler="ddim", steps=5, eta=1.0, generator=torch.Generator().manual_seed(42))
    assert torch.isfinite(out).all() and out.std() > 0


def test_class_none_of_a_conditional_model_samples_its_unconditional_output():
    """Class "none" (None) runs the null class: the same image as guidance w = 0 on any class."""
    bundle = tiny_bundle(num_classes=3)
    run = lambda **kw: sample_images(bundle, 1, sampler="ddim", steps=3, generator=torch.Generator().manual_seed(4), **kw)
    assert torch.allclose(run(class_labels=None, guidance=3.0), run(class_labels=2, guidance=0.0), atol=1e-6)


def test_ddim_eta0_is_deterministic_per_seed():
    bundle = tiny_bundle(num_classes=3)
    run = lambda seed: sample_images(bundle, 1, sampler="ddim", steps=3, eta=0.0, class_labels=2, guidance=3.0,
                                     generator=torch.Generator().manual_seed(seed))
    assert torch.equal(run(11), run(11))
    assert not torch.equal(run(11), run(12))


def test_sampling_with_another_schedule_maps_timesteps_by_snr():
    train = alphas_cumprod("cosine")
    t = torch.tensor([999, 700, 300, 0])
    assert model_timesteps(t, train, train) is t
    mapped = model_timesteps(t, alphas_cumprod("linear"), train)
    lin = alphas_cumprod("linear")[t]
    inner = (lin < train[0]) & (lin > train[-1])
    # interpolated alpha-bar of the training schedule at the mapped (fractional) timestep equals the sampling one
    idx = mapped.floor().long().clamp(max=998)
    frac = mapped - idx
    interp_ab = train[idx] * (1 - frac) + train[idx + 1] * frac
    assert torch.allclose(interp_ab[inner], lin[inner], rtol=0.05)


# ---------------------------------------------------------------- guidance
def test_classifier_free_guidance_scale_0_and_1_follow_the_formula():
    bundle = tiny_bundle(num_classes=3, seed=1)
    with torch.no_grad():  # make the class embedding matter
        bundle.unet.class_embedding.weight.normal_(0, 3)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor(500)
    y, null = torch.tensor([0, 2]), torch.tensor([3, 3])
    with torch.no_grad():
        eps_c = bundle.unet(x, t, class_labels=y).sample
        eps_u = bundle.unet(x, t, class_labels=null).sample
        assert not torch.allclose(eps_c, eps_u, atol=1e-3)
        assert torch.allclose(guided_output(bundle.unet, x, t, y, 3, 0.0), eps_u, atol=1e-6)   # w = 0: unconditional
        assert torch.allclose(guided_output(bundle.unet, x, t, y, 3, 1.0), eps_c, atol=1e-6)   # w = 1: conditional
        w = 4.0
        assert torch.allclose(guided_output(bundle.unet, x, t, y, 3, w), eps_u + w * (eps_c - eps_u), atol=1e-5)


def test_classifier_guidance_gradient_raises_class_log_probability():
    from core.diffusion.model import NoisyClassifier
    from core.diffusion.sampling import classifier_gradient

    torch.manual_seed(0)
    clf = NoisyClassifier(1, 3, width=8).eval()
    x, y, t = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 1]), torch.tensor(300)
    logp = lambda z: torch.log_softmax(clf(z, t.float().expand(4)), 1)[torch.arange(4), y]
    grad = classifier_gradient(clf, x, t, y)
    with torch.no_grad():
        assert (logp(x + 1e-2 * grad) > logp(x)).all()

    bundle = tiny_bundle(num_classes=3)
    bundle.classifier = clf
    kw = dict(sampler="ddim", steps=2, class_labels=1)
    s0 = sample_images(bundle, 1, guidance=0.0, guidance_type="classifier", generator=torch.Generator().manual_seed(5), **kw)
    unguided = sample_images(bundle, 1, guidance=0.0, generator=torch.Generator().manual_seed(5), **kw)
    s5 = sample_images(bundle, 1, guidance=5.0, guidance_type="classifier", generator=torch.Generator().manual_seed(5), **kw)
    assert torch.allclose(s0, unguided, atol=1e-6)  # scale 0: the unconditional model alone
    assert not torch.allclose(s0, s5, atol=1e-4)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=0), "steps 0 is outside 1..1000"),
    (dict(steps=1001), "steps 1001 is outside 1..1000"),
    (dict(steps=2.5), "not an integer"),
    (dict(eta=-0.1), "eta -0.1 is outside 0..1"),
    (dict(eta=1.5), "eta 1.5 is outside 0..1"),
    (dict(guidance=25.0), "guidance 25.0 is outside 0..20"),
    (dict(guidance=-1.0), "outside 0..20"),
    (dict(sampler="euler"), "valid samplers: ddpm, ddim, dpm\\+\\+"),
    (dict(schedule="quadratic"), "valid schedules: linear, cosine, sigmoid, scaled_linear"),
    (dict(guidance_type="magic"), "valid: classifier-free, classifier"),
    (dict(guidance_type="classifier", guidance=2.0), "no noisy classifier"),
])
def test_bad_sampling_arguments_are_refused(kwargs, message):
    bundle = tiny_bundle(num_classes=3)
    args = dict(sampler="ddim", steps=2, eta=0.0, guidance=1.0, class_labels=0) | kwargs
    with pytest.raises(ValueError, match=message):
        next(reverse_steps(bundle, 1, **args))


def test_class_names_and_indices_are_checked():
    bundle = tiny_bundle(num_classes=3)
    assert bundle.class_index("2") == 2 and bundle.class_index(1) == 1 and bundle.class_index("none") is None
    with pytest.raises(ValueError, match="valid classes: 0, 1, 2"):
        bundle.class_index("cat")
    with pytest.raises(ValueError, match="outside 0..2"):
        bundle.class_index(7)


def test_diffusers_classes_resolve_from_many_threads_at_once():
    """Regression: app threads resolving diffusers' lazy names together raised "cannot import name" errors.

    Runs in a fresh interpreter, where diffusers is not imported yet (the race is on the first lookup).
    """
    import subprocess
    import sys
    from pathlib import Path

    script = """
import threading
from core.diffusion.lib import diffusers_class
errors = []
def look_up(name):
    try:
        diffusers_class(name)
    except Exception as e:
        errors.append(repr(e))
names = ["DDPMScheduler", "DDIMScheduler", "DPMSolverMultistepScheduler", "UNet2DModel"] * 3
threads = [threading.Thread(target=look_up, args=(n,)) for n in names]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(errors), errors[:1])
"""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("0 "), out.stdout


def test_schedule_chart_draws_the_marker_at_t_and_refuses_unknown_names():
    import numpy as np

    from core.diffusion.schedule_chart import SIZE, curve_values, draw_schedule_chart

    for curve in ("alpha_bar", "beta", "log10_snr"):
        assert curve_values(curve, "cosine").shape == (1000,)
    assert np.all(np.diff(curve_values("log10_snr", "linear")) < 0)  # SNR falls with t
    plain = np.asarray(draw_schedule_chart("alpha_bar", 0, "cosine"))
    at_300 = np.asarray(draw_schedule_chart("alpha_bar", 300, "cosine"))
    at_700 = np.asarray(draw_schedule_chart("alpha_bar", 700, "cosine"))
    assert plain.shape == (SIZE[1], SIZE[0], 3)
    changed = lambda a, b: np.nonzero((a != b).any(axis=(0, 2)))[0]  # columns that differ
    cols_300, cols_700 = changed(plain, at_300), changed(plain, at_700)
    assert cols_300.size and cols_700.size and cols_300.mean() < cols_700.mean()  # the marker moves right with t
    with pytest.raises(ValueError, match="valid: alpha_bar, beta, log10_snr"):
        draw_schedule_chart("gamma", 10, "cosine")
    with pytest.raises(ValueError, match="valid schedules"):
        draw_schedule_chart("beta", 10, "quadratic")


def test_a_tiny_alpha_bar_is_written_with_its_digits():
    """At t = T alpha-bar_t is below 0.001: written 0.0000 beside sqrt(alpha-bar_t) = 0.006 it looked wrong."""
    import math

    from core.diffusion.schedules import alphas_cumprod
    from core.diffusion.service import describe_t

    ab = float(alphas_cumprod("linear", 1000)[-1])
    line = describe_t(1000, "linear")
    assert ab < 1e-3 and f"alpha-bar_t = {ab:.1e}," in line and f"**{math.sqrt(ab):.3f}** x_0" in line
    assert "alpha-bar_t = 0.0000" not in line and "alpha-bar_t = 0.5" not in describe_t(1, "linear")
