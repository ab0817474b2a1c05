"""The rosinality stylegan2-pytorch converter, on a state dict with that repository's key layout built here.

The expected images come from an independent, literal implementation of the reference forward pass
written in this file (per-sample modulated weights, grouped over the batch; stride-2 transposed
convolution + upfirdn2d blur; toRGB skips up-sampled by upfirdn2d), so the test fails if a key is
mapped to the wrong tensor, a reshape is wrong, or a scale differs.
"""

from __future__ import annotations

import argparse
import math

import pytest
import torch
import torch.nn.functional as F

from core.engine import CheckpointError
from core.stylegan.convert import generator_from_rosinality, load_rosinality_file, rosinality_config

SIZE, STYLE_DIM, N_MLP = 16, 8, 2
CHANNELS = {4: 16, 8: 12, 16: 8}


def reference_state_dict(seed: int = 0) -> dict:
    """Random tensors under the keys and shapes of rosinality's ``Generator(16, 8, 2).state_dict()``."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0):
        return torch.randn(*shape, generator=g) * scale

    sd = {}
    for k in range(1, N_MLP + 1):
        sd[f"style.{k}.weight"] = rnd(STYLE_DIM, STYLE_DIM, scale=100.0)  # stored / lr_mul like the reference
        sd[f"style.{k}.bias"] = rnd(STYLE_DIM)

    def styled(prefix, cin, cout, upsample):
        sd[f"{prefix}.conv.weight"] = rnd(1, cout, cin, 3, 3)
        sd[f"{prefix}.conv.modulation.weight"] = rnd(cin, STYLE_DIM)
        sd[f"{prefix}.conv.modulation.bias"] = 1 + rnd(cin, scale=0.1)
        if upsample:
            sd[f"{prefix}.conv.blur.kernel"] = blur_kernel() * 4
        sd[f"{prefix}.noise.weight"] = rnd(1, scale=0.5)
        sd[f"{prefix}.activate.bias"] = rnd(cout, scale=0.3)

    def to_rgb(prefix, cin, upsample):
        if upsample:
            sd[f"{prefix}.upsample.kernel"] = blur_kernel() * 4
        sd[f"{prefix}.conv.weight"] = rnd(1, 3, cin, 1, 1)
        sd[f"{prefix}.conv.modulation.weight"] = rnd(cin, STYLE_DIM)
        sd[f"{prefix}.conv.modulation.bias"] = 1 + rnd(cin, scale=0.1)
        sd[f"{prefix}.bias"] = rnd(1, 3, 1, 1, scale=0.3)

    sd["input.input"] = rnd(1, CHANNELS[4], 4, 4)
    styled("conv1", CHANNELS[4], CHANNELS[4], False)
    to_rgb("to_rgb1", CHANNELS[4], False)
    res_list = [2**i for i in range(3, int(math.log2(SIZE)) + 1)]
    cin = CHANNELS[4]
    for level, res in enumerate(res_list):
        cout = CHANNELS[res]
        styled(f"convs.{2 * level}", cin, cout, True)
        styled(f"convs.{2 * level + 1}", cout, cout, False)
        to_rgb(f"to_rgbs.{level}", cout, True)
        cin = cout
    num_layers = (int(math.log2(SIZE)) - 2) * 2 + 1
    for i in range(num_layers):
        r = 2 ** ((i + 5) // 2)
        sd[f"noises.noise_{i}"] = rnd(1, 1, r, r)
    return sd


# ---------------------------------------------------------------------- the reference forward, written out
def blur_kernel() -> torch.Tensor:
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = torch.outer(k, k)
    return k / k.sum()


def upfirdn(x, kernel, up, pad0, pad1):
    """Upsample by zero insertion, pad, then convolve (true convolution) with ``kernel``, per channel."""
    b, c, h, w = x.shape
    if up > 1:
        y = x.new_zeros(b, c, h * up, w * up)
        y[..., ::up, ::up] = x
        x = y
    x = F.pad(x, (pad0, pad1, pad0, pad1))
    return F.conv2d(x, kernel.flip(0, 1).expand(c, 1, *kernel.shape), groups=c)


def equal_linear(x, weight, bias, lr_mul=1.0, act=False):
    y = F.linear(x, weight * (lr_mul / math.sqrt(weight.shape[1])))
    if act:
        return F.leaky_relu(y + bias * lr_mul, 0.2) * math.sqrt(2)
    return y + bias * lr_mul


def modulated(sd, prefix, x, style, demodulate, upsample):
    weight = sd[f"{prefix}.conv.weight"]  # (1, O, I, k, k)
    _, cout, cin, k, _ = weight.shape
    s = equal_linear(style, sd[f"{prefix}.conv.modulation.weight"], sd[f"{prefix}.conv.modulation.bias"])
    w = weight / math.sqrt(cin * k * k) * s[:, None, :, None, None]  # (B, O, I, k, k)
    if demodulate:
        w = w * torch.rsqrt(w.pow(2).sum([2, 3, 4]) + 1e-8)[:, :, None, None, None]
    outs = []
    for b in range(x.shape[0]):
        if upsample:
            y = F.conv_transpose2d(x[b : b + 1], w[b].transpose(0, 1), stride=2)
            y = upfirdn(y, blur_kernel() * 4, 1, 1, 1)
        else:
            y = F.conv2d(x[b : b + 1], w[b], padding=k // 2)
        outs.append(y)
    return torch.cat(outs)


def styled_conv(sd, prefix, x, style, noise, upsample=False):
    y = modulated(sd, prefix, x, style, True, upsample)
    y = y + sd[f"{prefix}.noise.weight"] * noise
    return F.leaky_relu(y + sd[f"{prefix}.activate.bias"][None, :, None, None], 0.2) * math.sqrt(2)


def rgb(sd, prefix, x, style, skip):
    y = modulated(sd, prefix, x, style, False, False) + sd[f"{prefix}.bias"]
    if skip is not None:
        y = y + upfirdn(skip, blur_kernel() * 4, 2, 2, 1)
    return y


def reference_forward(sd, z, truncation=1.0, truncation_latent=None):
    x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    for k in range(1, N_MLP + 1):
        x = equal_linear(x, sd[f"style.{k}.weight"], sd[f"style.{k}.bias"], lr_mul=0.01, act=True)
    if truncation < 1:
        x = truncation_latent + truncation * (x - truncation_latent)
    n_latent = int(math.log2(SIZE)) * 2 - 2
    latent = x[:, None].repeat(1, n_latent, 1)
    noise = [sd[f"noises.noise_{i}"] for i in range((int(math.log2(SIZE)) - 2) * 2 + 1)]
    out = sd["input.input"].repeat(z.shape[0], 1, 1, 1)
    out = styled_conv(sd, "conv1", out, latent[:, 0], noise[0])
    skip = rgb(sd, "to_rgb1", out, latent[:, 1], None)
    i = 1
    for level in range(len(noise) // 2):
        out = styled_conv(sd, f"convs.{2 * level}", out, latent[:, i], noise[i], upsample=True)
        out = styled_conv(sd, f"convs.{2 * level + 1}", out, latent[:, i + 1], noise[i + 1])
        skip = rgb(sd, f"to_rgbs.{level}", out, latent[:, i + 2], skip)
        i += 2
    return skip


# ---------------------------------------------------------------------- tests
def test_config_is_read_off_the_shapes():
    config = rosinality_config(reference_state_dict())
    assert config == {"resolution": 16, "z_dim": 8, "w_dim": 8, "mapping_layers": 2, "mapping_lr_mul": 0.01,
                      "channels": [16, 12, 8], "image_channels": 3}


def test_converted_generator_reproduces_the_reference_forward():
    sd = reference_state_dict()
    G = generator_from_rosinality(sd, w_avg_samples=512)
    z = torch.randn(3, STYLE_DIM, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference_forward(sd, z)
        got = G(z, psi=1.0, noise_mode="const")
    assert got.shape == (3, 3, 16, 16)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    # truncation towards the converted w_avg matches the reference's truncation_latent
    with torch.no_grad():
        expected = reference_forward(sd, z, truncation=0.5, truncation_latent=G.w_avg)
        got = G(z, psi=0.5, noise_mode="const")
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_w_avg_is_the_mean_mapped_latent():
    G = generator_from_rosinality(reference_state_dict(), w_avg_samples=4096)
    with torch.no_grad():
        mean = G.mapping(torch.randn(4096, STYLE_DIM, generator=torch.Generator().manual_seed(5))).mean(0)
    assert (G.w_avg - mean).abs().max() < 0.15 * mean.abs().max() + 0.05


def test_checkpoint_file_with_args_namespace_loads_safely(tmp_path):
    sd = reference_state_dict()
    path = tmp_path / "stylegan2.pt"
    torch.save({"g_ema": sd, "args": argparse.Namespace(size=16, latent=8, n_mlp=2)}, path)
    loaded = load_rosinality_file(path)
    assert set(loaded) == set(sd)
    from core.stylegan.convert import main

    out = tmp_path / "converted"
    assert main([str(path), "--out", str(out)]) == 0
    from core.engine import load_pretrained
    from core.stylegan.generator import Generator

    G = load_pretrained(Generator, out)
    assert G.resolution == 16 and G.num_ws == 6


def test_bad_files_give_checkpoint_errors(tmp_path):
    sd = reference_state_dict()
    del sd["conv1.conv.weight"]
    with pytest.raises(CheckpointError, match="missing key"):
        generator_from_rosinality(sd)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot load"):
        load_rosinality_file(bad)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="no rosinality g_ema"):
        load_rosinality_file(other)


def test_stored_latent_avg_becomes_the_truncation_centre(tmp_path):
    """Files from rosinality's convert_weight.py carry the official average w as ``latent_avg``."""
    from core.stylegan.convert import load_rosinality_checkpoint, main

    sd = reference_state_dict()
    w_dim = sd["style.1.weight"].shape[0]
    stored = torch.randn(1, w_dim)
    path = tmp_path / "ffhq.pt"
    torch.save({"g_ema": sd, "latent_avg": stored}, path)
    g_ema, latent_avg = load_rosinality_checkpoint(path)
    G = generator_from_rosinality(g_ema, latent_avg=latent_avg)
    assert torch.equal(G.mapping.w_avg, stored[0])
    assert main([str(path), "--out", str(tmp_path / "out")]) == 0
    from core.stylegan.generator import Generator

    assert torch.equal(Generator.from_pretrained(tmp_path / "out").mapping.w_avg, stored[0])
    plain = generator_from_rosinality(sd)                       # no latent_avg: the mean mapped latent
    assert not torch.equal(plain.mapping.w_avg, stored[0])
