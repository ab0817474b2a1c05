"""The exponential moving average of a model's weights, with a warm-up.

After n updates the EMA weights move towards the model's with decay ``min(decay, (1 + n) / (10 + n))``, the warm-up of
diffusers' ``EMAModel`` (Tarvainen & Valpola 2017 ramp the decay up likewise): a fixed 0.995 kept 37 % of the random
initial weights after 200 steps, so a short run's samples, drawn from the EMA model, were flat grey while the
trained generator already drew shapes. Over a long run it is the plain EMA (the warm-up's share is gone after some
hundred steps).
"""

from __future__ import annotations

import torch


def warmup_ema_fn(decay: float):
    """A ``multi_avg_fn`` for ``torch.optim.swa_utils.AveragedModel``: EMA_{n+1} = d_n EMA_n + (1 - d_n) W_{n+1},
    d_n = min(decay, (1 + n) / (10 + n)), n = the updates so far (the AveragedModel's ``n_averaged``, saved with its
    state, so a resumed run goes on with the same d_n).

    Args:
        decay: the EMA's decay once warmed up, in [0, 1].
    Raises:
        ValueError: ``decay`` outside [0, 1].
    """
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"EMA decay {decay} is outside [0, 1]")

    @torch.no_grad()
    def update(ema_params: list[torch.Tensor], params: list[torch.Tensor], num_averaged) -> None:
        n = float(num_averaged)
        d = min(decay, (1.0 + n) / (10.0 + n))
        if torch.is_floating_point(ema_params[0]) or torch.is_complex(ema_params[0]):
            torch._foreach_lerp_(ema_params, params, 1.0 - d)
        else:  # integer buffers (a batch norm's step count): as torch's own EMA does
            for p_ema, p in zip(ema_params, params, strict=True):
                p_ema.copy_(p_ema * d + p * (1.0 - d))

    return update


__all__ = ["warmup_ema_fn"]
