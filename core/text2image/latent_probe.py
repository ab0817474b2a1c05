"""Does the latent hold an object's shape? A probe read of an autoencoder's latent space on the ``shapes`` world.

``python -m core.text2image.latent_probe --vae checkpoints/text2image/autoencoder-shapes`` (about 3 min on 2 CPU cores)

A small convolutional probe (three 3x3 convolutions, a global max pool, a linear layer) is trained, with fixed seeds,
to read the shape of the one object in one-object train scenes from z = mu(x), and is measured on the one-object
scenes among held-out images, per object size. Beside what the shapes classifier reads after the round trip
D(mu(x)) (the autoencoder card's ``shape_kept/<size>``), it tells where the shape is lost: a probe that reads it from
z while D(z) does not show it means the encoder kept it and the decoder did not draw it (Alain & Bengio 2016,
linear probes; here a small non-linear one, as the shape of a 2-3 latent pixel object is not linear in z).
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.nn import functional as F

from .evaluate import SIZES_FOR_HOLDOUT, one_object_scenes


def make_probe(channels: int, num_classes: int, width: int = 64) -> nn.Module:
    """The probe: (N, channels, h, w) latent -> (N, num_classes) logits, translation invariant by its max pool."""
    return nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.SiLU(),
                         nn.Conv2d(width, width, 3, padding=1), nn.SiLU(),
                         nn.Conv2d(width, width, 3, padding=1), nn.SiLU(),
                         nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))


@torch.no_grad()
def encode_all(encode, images: torch.Tensor, batch: int = 250) -> torch.Tensor:
    return torch.cat([encode(images[s:s + batch]) for s in range(0, len(images), batch)])


def probe_accuracy(encode, train: tuple, test: tuple, num_classes: int, epochs: int = 15, batch_size: int = 128,
                   lr: float = 1e-3, seed: int = 0) -> dict:
    """Train the probe on ``encode`` of the train scenes and read the test scenes.

    Args:
        encode: images (N, 3, H, W) in [0, 1] -> latents (N, C, h, w).
        train, test: (images, shape ids, size ids, tables) as :func:`core.text2image.evaluate.one_object_scenes`
            returns.
        num_classes: number of shapes.
    Returns:
        {"shape_in_latent/<size>": accuracy in [0, 1]} for each size present in ``test``.
    """
    torch.manual_seed(seed)
    z_train, z_test = encode_all(encode, train[0]), encode_all(encode, test[0])
    probe = make_probe(z_train.shape[1], num_classes)
    opt = torch.optim.Adam(probe.parameters(), lr)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(z_train), generator=order)
        for s in range(0, len(perm), batch_size):
            i = perm[s:s + batch_size]
            loss = F.cross_entropy(probe(z_train[i]), train[1][i])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        right = (probe(z_test).argmax(1) == test[1]).float()
    return {f"shape_in_latent/{name}": float(right[test[2] == k].mean())
            for k, name in enumerate(SIZES_FOR_HOLDOUT) if bool((test[2] == k).any())}


def main(argv=None) -> dict:
    from core.data.worlds.shapes import SHAPES

    from .autoencoder_method import AutoencoderMethod
    from .config import AutoencoderConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vae", default="checkpoints/text2image/autoencoder-shapes", help="an AutoencoderKL folder")
    parser.add_argument("--train-scenes", type=int, default=30000, help="train scenes scanned for one-object ones")
    parser.add_argument("--test-scenes", type=int, default=3000, help="held-out scenes scanned for one-object ones")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args(argv)

    from core.diffusion.lib import diffusers_class

    vae = diffusers_class("AutoencoderKL").from_pretrained(args.vae, dtype=torch.float32).eval()
    train = one_object_scenes("train", args.train_scenes)
    test = one_object_scenes("test", args.test_scenes)
    metrics = probe_accuracy(lambda x: vae.encode(x * 2 - 1).latent_dist.mean, train, test, len(SHAPES),
                             epochs=args.epochs)
    metrics.update(AutoencoderMethod(AutoencoderConfig()).shapes_kept(vae, scenes=test))
    print(f"{len(train[1])} one-object train scenes, {len(test[1])} held-out ones "
          f"({', '.join(f'{int((test[2] == k).sum())} {s}' for k, s in enumerate(SIZES_FOR_HOLDOUT))})")
    print("| object size | classifier on x | probe on z = mu(x) | classifier on D(z) |\n|---|---:|---:|---:|")
    for size in SIZES_FOR_HOLDOUT:
        print(f"| {size} | {metrics[f'shape_read/{size}']:.1%} | {metrics[f'shape_in_latent/{size}']:.1%} "
              f"| {metrics[f'shape_kept/{size}']:.1%} |")
    return metrics


if __name__ == "__main__":
    main()
