"""core/vae/explore.py and plots.py: what the tab computes, with small random models (CPU, fast)."""

from __future__ import annotations

import math

import pytest
import torch

from core.vae import explore
from core.vae.models import VAE, VQVAE, AutoEncoder
from core.vae.plots import LatentMap


@pytest.fixture(scope="module")
def vae2d():
    torch.manual_seed(0)
    return VAE(latent_dim=2, channels=8, hidden=16).eval()


@pytest.fixture(scope="module")
def vq():
    torch.manual_seed(0)
    return VQVAE(in_channels=3, image_size=32, channels=8, num_codes=16, code_dim=4, downsample=2).eval()


def test_decode_point_validates_and_clamps(vae2d):
    assert explore.decode_point(vae2d, [0.5, -1.0]).shape == (1, 28, 28)
    far = explore.decode_point(vae2d, [1e6, -1e6])
    edge = explore.decode_point(vae2d, [explore.LATENT_LIMIT, -explore.LATENT_LIMIT])
    assert torch.equal(far, edge)  # out of range is clamped, not extrapolated
    with pytest.raises(ValueError, match="2-D latent"):
        explore.decode_point(vae2d, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="finite"):
        explore.decode_point(vae2d, [float("nan"), 0.0])
    with pytest.raises(ValueError, match="numbers"):
        explore.decode_point(vae2d, ["a", 0.0])


def test_manifold_grid_layout(vae2d):
    grid = explore.manifold_grid(vae2d, 5)
    assert grid.shape == (25, 1, 28, 28)
    v = explore.gaussian_quantiles(5)
    assert v[2].abs() < 1e-6 and v[0] == pytest.approx(-1.6449, abs=1e-3)
    # top-left decodes (z1 low, z2 high); bottom-right (z1 high, z2 low)
    assert torch.allclose(grid[0], explore.decode_point(vae2d, [v[0], v[-1]]), atol=1e-5)
    assert torch.allclose(grid[-1], explore.decode_point(vae2d, [v[-1], v[0]]), atol=1e-5)
    with pytest.raises(ValueError, match="grid size"):
        explore.manifold_grid(vae2d, 100)


def test_traversal_changes_only_the_chosen_dim():
    torch.manual_seed(0)
    model = AutoEncoder(latent_dim=4, channels=8, hidden=16).eval()
    strip = explore.traversal(model, [0.1, 0.2, 0.3, 0.4], 2, [-1.0, 0.0, 1.0])
    assert strip.shape == (3, 1, 28, 28)
    assert torch.allclose(strip[1], explore.decode_point(model, [0.1, 0.2, 0.0, 0.4]), atol=1e-5)
    with pytest.raises(ValueError, match="dim"):
        explore.traversal(model, [0.0] * 4, 7, [0.0])


def test_prior_samples_are_seeded(vae2d, vq):
    a, b = explore.prior_samples(vae2d, 4, 7), explore.prior_samples(vae2d, 4, 7)
    assert torch.equal(a, b) and not torch.equal(a, explore.prior_samples(vae2d, 4, 8))
    assert explore.prior_samples(vq, 3, 0).shape == (3, 3, 32, 32)
    with pytest.raises(ValueError, match="seed"):
        explore.prior_samples(vae2d, 4, -1)
    with pytest.raises(ValueError, match="between"):
        explore.prior_samples(vae2d, 0, 1)


def test_slerp_and_lerp():
    a, b = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 2.0])
    t = torch.linspace(0, 1, 5)
    s = explore.slerp(a, b, t)
    assert torch.allclose(s[0], a) and torch.allclose(s[-1], b, atol=1e-6)
    angles = torch.atan2(s[:, 1], s[:, 0])
    assert torch.allclose(angles, t * math.pi / 2, atol=1e-5)  # constant angular speed
    assert torch.allclose(s.norm(dim=1), torch.full((5,), 2.0))  # stays on the sphere; lerp cuts inside
    assert explore.lerp(a, b, t)[2].norm() < 1.5
    assert torch.allclose(explore.lerp(a, b, t)[2], (a + b) / 2)
    assert torch.allclose(explore.slerp(a, 2 * a, t)[2], 1.5 * a)  # parallel -> lerp


def test_interpolate_endpoints_reconstruct_the_inputs(vae2d, vq):
    x = torch.rand(2, 1, 28, 28)
    strip = explore.interpolate(vae2d, x[0], x[1], 6, "spherical")
    assert strip.shape == (6, 1, 28, 28)
    assert torch.allclose(strip[0], vae2d.reconstruct(x[:1])[0], atol=1e-5)
    assert torch.allclose(strip[-1], vae2d.reconstruct(x[1:])[0], atol=1e-5)
    y = torch.rand(2, 3, 32, 32)
    assert explore.interpolate(vq, y[0], y[1], 4, "linear").shape == (4, 3, 32, 32)
    with pytest.raises(ValueError, match="mode"):
        explore.interpolate(vae2d, x[0], x[1], 4, "cubic")


class _Data:
    def __init__(self, n=40, c=1, s=28):
        g = torch.Generator().manual_seed(0)
        self.images, self.labels = torch.rand(n, c, s, s, generator=g), torch.arange(n) % 10

    def __len__(self):
        return len(self.images)

    def get_batch(self, idx):
        return {"image": self.images[idx], "label": self.labels[idx]}


def test_latent_scatter_and_pca_projection(vae2d):
    s = explore.latent_scatter(vae2d, _Data(), 30)
    assert s["xy"].shape == (30, 2) and torch.equal(s["xy"], s["z"])
    model = AutoEncoder(latent_dim=6, channels=8, hidden=16).eval()
    s = explore.latent_scatter(model, _Data(), 30)
    assert s["xy"].shape == (30, 2) and s["basis"].shape == (6, 2)
    assert torch.allclose(s["basis"].t() @ s["basis"], torch.eye(2), atol=1e-5)  # orthonormal axes


def test_codebook_usage_and_code_map(vq, vae2d):
    images = torch.rand(5, 3, 32, 32)
    counts = explore.codebook_usage(vq, images)
    assert counts.sum() == 5 * 8 * 8 and counts.shape == (16,)
    idx, colour = explore.code_index_map(vq, images[0])
    assert idx.shape == (8, 8) and colour.shape == (3, 256, 256)
    assert torch.equal(colour[:, ::32, ::32], explore.code_palette(16)[idx].permute(2, 0, 1))
    with pytest.raises(ValueError, match="VQ-VAE"):
        explore.codebook_usage(vae2d, torch.rand(1, 1, 28, 28))
    with pytest.raises(ValueError, match="latent vector"):
        explore.decode_point(vq, [0.0, 0.0])


def test_latent_map_pixels_round_trip():
    m = LatentMap(-3.0, 3.0, size=400)
    for x, y in [(0.0, 0.0), (-2.5, 1.0), (2.9, -2.9)]:
        px, py = m.to_pixel(x, y)
        assert m.to_latent(px, py) == pytest.approx((x, y), abs=1e-6)
    assert m.to_pixel(0, 3.0)[1] < m.to_pixel(0, -3.0)[1]  # up is +z2
    image = m.draw(torch.randn(50, 2), torch.arange(50) % 10, [str(i) for i in range(10)], marker=(1.0, 1.0))
    assert image.height == 400 and 400 + 40 < image.width < 400 + 96  # plot + legend column, as wide as its names
    named = m.draw(torch.randn(50, 2), torch.arange(50) % 6, ["short", "long", "bob", "spiky", "curly", "bun"])
    assert named.width > image.width and named.height == 400
    assert m.draw(torch.zeros(1, 2), torch.zeros(1)).size == (400, 400)
    assert LatentMap.around(torch.randn(100, 2) * 10).hi > 10


def test_center_like_mnist_scales_and_centres_the_ink():
    x = torch.zeros(1, 112, 112)
    x[:, 5:105, 60:70] = 1.0  # a tall bar near the right edge, filling the canvas
    out = explore.center_like_mnist(x, 28)
    ink = out[0] > 0.3
    rows = ink.any(1).nonzero().flatten()
    assert 18 <= int(rows[-1] - rows[0]) + 1 <= 21  # the long side fits the 20-px box
    mass = out[0].sum()
    cy = (out[0].sum(1) * torch.arange(28)).sum() / mass
    cx = (out[0].sum(0) * torch.arange(28)).sum() / mass
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1  # centre of mass in the middle
    assert explore.center_like_mnist(torch.zeros(1, 56, 56), 28).shape == (1, 28, 28)
