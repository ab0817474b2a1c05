"""StyleGAN core: truncation, style mixing, w_avg, modulated convolution, R1, DiffAugment, projection (training,
saving and evaluation: test_stylegan_training.py).

Tiny generators (16x16, 8-dim latents) on CPU; every test runs in well under a second or two.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.stylegan import explore
from core.stylegan.augment import diff_augment, parse_policy
from core.stylegan.discriminator import Discriminator
from core.stylegan.generator import Generator, truncate
from core.stylegan.layers import ModulatedConv2d, upsample2x
from core.stylegan.losses import lazy_r1_loss, mix_ws, mixing_cutoff, r1_penalty
from core.stylegan.mapping import MappingNetwork
from tests.stylegan_tiny import tiny_generator


def as_array(image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


# ---------------------------------------------------------------------- truncation and mixing
def test_psi_zero_gives_the_same_image_for_every_seed():
    G = tiny_generator()
    images = [as_array(explore.generate(G, seed, psi=0.0)) for seed in (0, 1, 12345, 2**32 - 1)]
    for img in images[1:]:
        assert np.array_equal(img, images[0])
    assert not np.array_equal(as_array(explore.generate(G, 1, psi=1.0)), as_array(explore.generate(G, 2, psi=1.0)))


def test_psi_zero_is_the_image_of_w_avg():
    G = tiny_generator()
    ws = G.w_avg[None, None].expand(1, G.num_ws, -1)
    expected = explore.to_pil(explore.render(G, ws)[0])
    assert np.array_equal(as_array(explore.generate(G, 7, psi=0.0)), as_array(expected))


def test_truncation_cutoff_only_touches_leading_layers():
    ws = torch.randn(2, 6, 4)
    w_avg = torch.randn(4)
    out = truncate(ws, w_avg, psi=0.5, cutoff=2)
    torch.testing.assert_close(out[:, :2], w_avg + 0.5 * (ws[:, :2] - w_avg))
    torch.testing.assert_close(out[:, 2:], ws[:, 2:])
    torch.testing.assert_close(truncate(ws, w_avg, psi=1.0), ws)


def test_mixing_a_seed_with_itself_equals_plain_generation():
    G = tiny_generator()
    plain = as_array(explore.generate(G, 42, psi=0.7))
    for layers in ([0, 1], [3, 4, 5], list(range(G.num_ws))):
        assert np.array_equal(as_array(explore.mix(G, 42, 42, layers, psi=0.7)), plain)


def test_mixing_with_no_layers_from_b_equals_a_and_all_layers_equals_b():
    G = tiny_generator()
    a, b = as_array(explore.generate(G, 3)), as_array(explore.generate(G, 4))
    assert np.array_equal(as_array(explore.mix(G, 3, 4, [])), a)
    assert np.array_equal(as_array(explore.mix(G, 3, 4, list(range(G.num_ws)))), b)
    mixed = as_array(explore.mix(G, 3, 4, [0, 1]))
    assert not np.array_equal(mixed, a) and not np.array_equal(mixed, b)


def test_style_mixing_regularisation_crossover():
    ws1, ws2 = torch.zeros(3, 5, 2), torch.ones(3, 5, 2)
    mixed = mix_ws(ws1, ws2, torch.tensor([1, 3, 5]))
    assert mixed[0, :, 0].tolist() == [0, 1, 1, 1, 1]
    assert mixed[1, :, 0].tolist() == [0, 0, 0, 1, 1]
    assert mixed[2, :, 0].tolist() == [0, 0, 0, 0, 0]  # cutoff = num_ws: no mixing
    cut = mixing_cutoff(5, 1000, 0.9, torch.Generator().manual_seed(0))
    assert cut.min() >= 1 and cut.max() <= 5
    assert 0.85 < (cut < 5).float().mean() < 0.95


def test_mixing_grid_layout_and_cells():
    G = tiny_generator()
    grid = explore.mixing_grid(G, [1, 2], [3, 4, 5], [0, 1], padding=2)
    step = G.resolution + 2
    assert grid.size == (4 * step + 2, 3 * step + 2)
    cell = np.asarray(grid)[2 * step + 2 : 2 * step + 2 + G.resolution, 3 * step + 2 : 3 * step + 2 + G.resolution]
    # row A = 2, column B = 5 (rendered in one batch, so allow a rounding step)
    assert np.abs(cell.astype(np.int16) - as_array(explore.mix(G, 2, 5, [0, 1]))).max() <= 1
    with pytest.raises(ValueError, match="1 to 5"):
        explore.mixing_grid(G, [1, 2, 3, 4, 5, 6], [1], [])


# ---------------------------------------------------------------------- w_avg
def test_w_avg_update_is_a_moving_average():
    torch.manual_seed(0)
    mapping = MappingNetwork(8, 8, num_layers=2, w_avg_beta=0.9)
    old = torch.randn(8)
    mapping.w_avg.copy_(old)
    z = torch.randn(32, 8)
    w = mapping(z, update_w_avg=True)
    torch.testing.assert_close(mapping.w_avg, w.mean(0) + 0.9 * (old - w.mean(0)))
    before = mapping.w_avg.clone()
    mapping(z)  # no update unless asked
    torch.testing.assert_close(mapping.w_avg, before)


def test_w_avg_converges_to_the_mean_w():
    torch.manual_seed(0)
    mapping = MappingNetwork(8, 8, num_layers=2, w_avg_beta=0.9)
    for _ in range(200):
        mapping(torch.randn(64, 8), update_w_avg=True)
    true_mean = mapping(torch.randn(20000, 8)).mean(0)
    assert (mapping.w_avg - true_mean).abs().max() < 0.05 * true_mean.abs().max() + 0.02


def test_generator_step_updates_w_avg_and_d_step_does_not():
    from core.stylegan.method import StyleGANPair

    G = tiny_generator()
    pair = StyleGANPair(G, Discriminator(16, G.channels), mixing_prob=0.9)
    before = G.w_avg.clone()
    pair("d", real=torch.rand(4, 3, 16, 16) * 2 - 1)
    torch.testing.assert_close(G.w_avg, before)
    pair("g", batch=4)
    assert not torch.equal(G.w_avg, before)


# ---------------------------------------------------------------------- layers
def test_modulated_conv_matches_equations_1_to_3():
    """conv(x * s) * d equals a convolution with the per-sample weights w'' of StyleGAN2 eq. 1-3."""
    torch.manual_seed(0)
    layer = ModulatedConv2d(4, 5, 3, w_dim=6)
    with torch.no_grad():
        layer.affine.bias.normal_()
    x, w = torch.randn(2, 4, 7, 7), torch.randn(2, 6)
    s = layer.affine(w)  # (B, I)
    out = []
    for b in range(2):
        w1 = layer.weight * layer.weight_gain * s[b][None, :, None, None]  # eq. 1
        w2 = w1 / (w1.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8).sqrt()  # eq. 2-3
        out.append(F.conv2d(x[b : b + 1], w2, padding=1))
    torch.testing.assert_close(layer(x, w), torch.cat(out), rtol=1e-4, atol=1e-5)


def test_demodulated_output_has_unit_variance_for_unit_input():
    torch.manual_seed(0)
    layer = ModulatedConv2d(64, 64, 3, w_dim=8)
    y = layer(torch.randn(8, 64, 16, 16), torch.randn(8, 8))
    assert 0.8 < y[..., 1:-1, 1:-1].std() < 1.2  # eq. 3 restores unit std (away from the zero-padded border)


def test_fir_upsampling_is_bilinear_inside_the_image():
    x = torch.randn(1, 2, 6, 6)
    up = upsample2x(x)
    bil = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert up.shape == (1, 2, 12, 12)
    torch.testing.assert_close(up[..., 1:-1, 1:-1], bil[..., 1:-1, 1:-1])


def test_noise_modes():
    G = tiny_generator()
    z = torch.randn(2, 8)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    torch.testing.assert_close(G(z, noise_mode="random", noise_generator=g1),
                               G(z, noise_mode="random", noise_generator=g2))
    assert not torch.allclose(G(z, noise_mode="const"), G(z, noise_mode="none"))
    torch.testing.assert_close(G(z, noise_mode="const"), G(z, noise_mode="const"))
    with pytest.raises(ValueError, match="noise mode"):
        G(z, noise_mode="loud")


def test_layer_groups_cover_every_layer_once():
    G = Generator(resolution=64, z_dim=8, w_dim=8, mapping_layers=1, channels=[8, 8, 8, 8, 8])
    groups = G.style_groups()
    assert G.num_ws == 10
    assert groups == {"coarse": [0, 1, 2], "middle": [3, 4, 5, 6], "fine": [7, 8, 9]}
    assert sorted(sum(groups.values(), [])) == list(range(G.num_ws))


# ---------------------------------------------------------------------- losses
def test_r1_penalty_matches_finite_differences():
    torch.manual_seed(0)
    D = Discriminator(8, [8, 4], image_channels=3).double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    penalty = r1_penalty(D, x)
    # central differences of sum_b D(x_b) (the samples are independent up to the minibatch-std feature,
    # whose coupling is exactly what autograd also differentiates)
    eps = 1e-5
    flat = x.flatten()
    grad = torch.zeros_like(flat)
    with torch.no_grad():
        for i in range(flat.numel()):
            e = torch.zeros_like(flat)
            e[i] = eps
            grad[i] = (D((flat + e).view_as(x)).sum() - D((flat - e).view_as(x)).sum()) / (2 * eps)
    expected = grad.view_as(x).square().flatten(1).sum(1).mean()
    torch.testing.assert_close(penalty, expected, rtol=1e-5, atol=1e-9)
    assert penalty.requires_grad  # create_graph: the penalty trains D
    assert lazy_r1_loss(penalty, gamma=2.0, every=16).item() == pytest.approx(penalty.item() * 16)


def test_r1_penalty_stays_float32_under_bf16_autocast():
    torch.manual_seed(0)
    D = Discriminator(8, [8, 4], image_channels=3)
    x = torch.randn(2, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        penalty = r1_penalty(D, x)
    assert penalty.dtype == torch.float32
    torch.testing.assert_close(penalty, r1_penalty(D, x))


# ---------------------------------------------------------------------- DiffAugment
def test_diffaugment_keeps_shape_flows_gradients_and_validates_policy():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    y = diff_augment(x, "color,translation,cutout", torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert torch.equal(diff_augment(x, ""), x)
    cut = diff_augment(torch.ones(8, 1, 16, 16), "cutout", torch.Generator().manual_seed(0))
    assert (cut == 0).flatten(1).sum(1).tolist() == [64] * 8  # one 8x8 square per image
    with pytest.raises(ValueError, match="unknown DiffAugment"):
        parse_policy("color,zoom")


# ---------------------------------------------------------------------- validation
def test_bad_inputs_give_clear_errors():
    G = tiny_generator()
    with pytest.raises(ValueError, match="outside"):
        explore.generate(G, 2**32, psi=1.0)
    with pytest.raises(ValueError, match="outside"):
        explore.generate(G, -1, psi=1.0)
    with pytest.raises(ValueError, match="psi"):
        explore.generate(G, 1, psi=1.6)
    with pytest.raises(ValueError, match="does not exist"):
        explore.mix(G, 1, 2, [G.num_ws])
    with pytest.raises(ValueError, match="not a layer index"):
        explore.mix(G, 1, 2, ["coarse"])
    with pytest.raises(ValueError, match="cutoff"):
        explore.generate(G, 1, cutoff=99)
    assert explore.check_layers(G, ["w3: 16x16", 1, "1"]) == [1, 3]
    assert explore.check_layers(G, "[0,1]") == explore.check_layers(G, "1, 0") == [0, 1]  # one string, as an API sends
    assert explore.check_layers(G, "w3: 16x16") == [3] and explore.check_layers(G, "") == []
    from core.engine.seed import parse_seeds

    assert parse_seeds("1, 2;3", explore.MAX_GRID_SEEDS) == [1, 2, 3]
    with pytest.raises(ValueError, match=r"seeds: seed 'x' is not a whole number in \[0, 4294967295\]"):
        parse_seeds("1, x", explore.MAX_GRID_SEEDS)
    with pytest.raises(ValueError, match=r"seeds B \(columns\): at most 5 seeds, got 6"):  # which box
        parse_seeds("1 2 3 4 5 6", 5, what="seeds B (columns)")


# ---------------------------------------------------------------------- interpolation, projection, io
def test_interpolation_starts_at_a_and_ends_at_b():
    G = tiny_generator()
    a, b = as_array(explore.generate(G, 5)), as_array(explore.generate(G, 6))
    for space in ("z", "w"):
        for method in ("lerp", "slerp"):
            frames = explore.interpolation_frames(G, 5, 6, space, method, frames=5)
            assert len(frames) == 5
            assert np.abs(as_array(frames[0]) - a).max() <= 1
            assert np.abs(as_array(frames[-1]) - b).max() <= 1
    # truncated as the still images: psi 0 on the first 2 layers only (it truncated every layer: one mean face)
    a, b = (as_array(explore.generate(G, s, psi=0.0, cutoff=2)) for s in (5, 6))
    assert np.abs(a - b).max() > 10   # (the layers above the cutoff keep each seed's own w)
    for space in ("z", "w"):
        frames = explore.interpolation_frames(G, 5, 6, space, "lerp", frames=3, psi=0.0, cutoff=2)
        assert np.abs(as_array(frames[0]) - a).max() <= 1 and np.abs(as_array(frames[-1]) - b).max() <= 1


def test_slerp_keeps_the_norm_on_the_sphere():
    a, b = torch.randn(1, 64), torch.randn(1, 64)
    b = b / b.norm() * a.norm()
    mid = explore.slerp(a, b, 0.5)
    torch.testing.assert_close(mid.norm(), a.norm())
    torch.testing.assert_close(explore.slerp(a, b, 0.0), a, atol=1e-5, rtol=1e-5)


def test_projection_reduces_the_loss_on_a_generated_image():
    from core.stylegan.project import project

    G = tiny_generator()
    target = (G(torch.randn(1, 8), noise_mode="const")[0] + 1) / 2
    reports = list(project(G, target.detach().clamp(0, 1), steps=60, space="w+", report_every=10))
    assert [r.step for r in reports] == [10, 20, 30, 40, 50, 60]
    assert reports[-1].loss < 0.5 * reports[0].loss
    assert reports[-1].ws.shape == (1, G.num_ws, G.w_dim)
    assert all(p.requires_grad for p in G.parameters())  # left as it was


def test_truncation_strip_has_the_mean_face_in_the_psi_zero_column():
    G = tiny_generator()
    strip = np.asarray(explore.truncation_strip(G, [1, 2], [0.0, 1.0], padding=2)).astype(np.int16)
    step = G.resolution + 2
    cell = lambda i, j: strip[i * step + 2 : i * step + 2 + G.resolution, j * step + 2 : j * step + 2 + G.resolution]
    assert np.abs(cell(0, 0) - cell(1, 0)).max() <= 1  # psi 0: same image for both seeds
    assert np.abs(cell(0, 1) - cell(1, 1)).max() > 10  # psi 1: different seeds differ


def test_mixing_transfer_is_0_with_no_layers_and_1_with_all_layers_from_b():
    """A mix with no layers from B is A (nothing taken from B); with every layer it is B (everything taken)."""
    from core.stylegan.evaluate import mixing_table, mixing_transfer

    torch.manual_seed(0)
    G = Generator(resolution=64, z_dim=16, w_dim=16, mapping_layers=2, channels=[16, 16, 8, 8, 4]).eval()
    out = mixing_transfer(G, {"none": [], "all": list(range(G.num_ws))}, num_pairs=40, batch=20)
    measured = [v for v in out["none"].values() if v["B"] == v["B"]]
    assert measured and all(v == {"B": 0.0, "A": 1.0} for v in measured)
    assert all(v == {"B": 1.0, "A": 0.0} for v in out["all"].values() if v["B"] == v["B"])
    table = mixing_table(out)
    assert "| attribute: % B's / % A's | none layers from B | all layers from B |" in table
    head = next(h for h, v in out["none"].items() if v["B"] == v["B"]).replace("_", " ")
    assert f"| {head} | 0 / 100 | 100 / 0 |" in table.splitlines()


def test_mixing_sets_of_a_64px_generator():
    """Layers 0-9 act on 4, 8, 8, 16, 16, 32, 32, 64, 64, 64 px; '8 px and up' leaves A only w0."""
    from core.stylegan.evaluate import crossover_sets, mixing_sets

    G = Generator(resolution=64, z_dim=16, w_dim=16, mapping_layers=2, channels=[16, 16, 8, 8, 4])
    sets = mixing_sets(G)
    assert sets["coarse"] == [0, 1, 2] and sets["middle"] == [3, 4, 5, 6] and sets["fine"] == [7, 8, 9]
    assert sets["middle + fine"] == list(range(3, 10)) and sets["8 px and up"] == list(range(1, 10))
    cross = list(crossover_sets(G).values())
    assert cross[0] == sets["8 px and up"] and cross[2] == sets["middle + fine"] and cross[-1] == [9]
