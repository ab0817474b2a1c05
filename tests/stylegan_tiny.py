"""A tiny StyleGAN generator for tests (16x16, 8-dim latents, non-trivial weights everywhere)."""

from __future__ import annotations

import torch

from core.stylegan.generator import Generator


def tiny_generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    G = Generator(resolution=16, z_dim=8, w_dim=8, mapping_layers=2, channels=[16, 8, 8])
    with torch.no_grad():  # non-trivial weights everywhere (noise strengths, biases and w_avg start at 0)
        for name, p in G.named_parameters():
            if name.endswith("strength") or name.endswith("bias"):
                p.normal_(0, 0.3)
        G.mapping.w_avg.normal_()
    return G.eval()
