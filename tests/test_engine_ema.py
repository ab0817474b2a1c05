"""The exponential moving average of the weights, with its warm-up (core.engine.ema)."""

from __future__ import annotations

import pytest


def test_the_ema_warms_up_then_decays_as_asked_and_resumes_where_it_was():
    """d_n = min(decay, (1 + n) / (10 + n)) after n updates: the first update copies, early ones follow the model
    closely (a fixed 0.995 kept 37 % of the random initial weights after 200 steps: a short GAN run's samples were
    flat grey), later ones are the plain EMA; n is in the AveragedModel's state, so a resume goes on alike."""
    import torch
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from core.engine.ema import warmup_ema_fn

    def run(avg_fn, steps: int, start=None):
        net = torch.nn.Linear(1, 1, bias=False)
        ema = AveragedModel(net, multi_avg_fn=avg_fn, use_buffers=True)
        if start is not None:
            ema.load_state_dict(start.state_dict())
        for n in range(0 if start is None else int(start.n_averaged), steps):
            with torch.no_grad():
                net.weight.fill_(float(n))          # the model's weight: the step
            ema.update_parameters(net)
        return ema

    expected = 0.0
    for n in range(1, 400):
        d = min(0.995, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * n
    warm = run(warmup_ema_fn(0.995), 400)
    assert abs(warm.module.weight.item() - expected) < 1e-2
    # after 200 steps: the warmed-up EMA trails the model by under 40 steps; the fixed one still holds its start
    assert 199 - run(warmup_ema_fn(0.995), 200).module.weight.item() < 40
    assert 199 - run(get_ema_multi_avg_fn(0.995), 200).module.weight.item() > 80
    half = run(warmup_ema_fn(0.995), 150)
    resumed = run(warmup_ema_fn(0.995), 400, start=half)
    assert int(resumed.n_averaged) == 400 and abs(resumed.module.weight.item() - warm.module.weight.item()) < 1e-3
    with pytest.raises(ValueError, match="outside"):
        warmup_ema_fn(1.5)
