"""Running a translator at test time the way the reference's test script does.

The reference (``test.py`` without ``--eval``) leaves the networks in training mode: batch norm normalises with
the statistics of the image being translated (not the running averages) and dropout is active. Here batch norm
always uses the image's statistics (its running averages are never touched) and dropout is off unless
``dropout=True`` ("dropout noise": pix2pix's only source of randomness, Isola et al. 2017 section 3.1).
"""

from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager

import torch
from torch import nn

_LOCKS: "weakref.WeakKeyDictionary[nn.Module, threading.Lock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _lock(module: nn.Module) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(module, threading.Lock())


@contextmanager
def test_mode(module: nn.Module, dropout: bool = False):
    """Batch norm on the batch's own statistics (running stats untouched), dropout on or off; one caller at a
    time per module (the modes are module state), restored afterwards."""
    with _lock(module):
        saved = [(m, m.training, getattr(m, "momentum", None)) for m in module.modules()]
        module.eval()
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                m.train()
                m.momentum = 0.0                                        # running = 1 * running + 0 * batch
            elif isinstance(m, nn.Dropout) and dropout:
                m.train()
        try:
            yield module
        finally:
            for m, training, momentum in saved:
                m.training = training
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.momentum = momentum


@torch.no_grad()
def translate_batch(translator, images: torch.Tensor, direction: str = "AtoB", dropout: bool = False,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] (H, W divisible by the generator's multiple) -> (N, C', H, W) in [0, 1].

    ``generator`` seeds the dropout masks, so dropout noise is reproducible per seed.
    """
    net = translator.generator(direction)
    device = next(net.parameters()).device
    x = images.to(device).float() * 2 - 1
    with test_mode(net, dropout):
        if dropout and generator is not None:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
                y = net(x)
        else:
            y = net(x)
    return ((y.float() + 1) / 2).clamp(0, 1)
