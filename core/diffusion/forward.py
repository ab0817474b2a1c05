"""The forward (noising) process and the conversions between x0, eps and v.

Ho et al. 2020 (https://arxiv.org/abs/2006.11239), eq. 4: q(x_t | x_0) = N(sqrt(alpha-bar_t) x_0,
(1 - alpha-bar_t) I), so x_t = sqrt(alpha-bar_t) x_0 + sqrt(1 - alpha-bar_t) eps with eps ~ N(0, I).
"""

from __future__ import annotations

import torch


def _gather(alphas_cumprod: torch.Tensor, t, like: torch.Tensor) -> torch.Tensor:
    """alpha-bar_t broadcast to ``like``'s shape: (B,) or scalar t -> (B, 1, 1, 1)."""
    t = torch.as_tensor(t, device=alphas_cumprod.device).long()
    ab = alphas_cumprod.to(like.device)[t.to(like.device)].to(like.dtype)
    return ab.reshape(-1, *([1] * (like.dim() - 1))) if ab.dim() else ab


def q_sample(x0: torch.Tensor, t, alphas_cumprod: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(alpha-bar_t) x_0 + sqrt(1 - alpha-bar_t) eps  (Ho et al. 2020, eq. 4).

    Args:
        x0: clean images in [-1, 1], (B, C, H, W).
        t: timesteps, int or (B,) long in [0, T-1].
        alphas_cumprod: alpha-bar, (T,).
        noise: eps, same shape as x0.
    """
    ab = _gather(alphas_cumprod, t, x0)
    return ab.sqrt() * x0 + (1.0 - ab).sqrt() * noise


def q_mean_std(x0: torch.Tensor, t, alphas_cumprod: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean sqrt(alpha-bar_t) x_0 and standard deviation sqrt(1 - alpha-bar_t) of q(x_t | x_0) (eq. 4)."""
    ab = _gather(alphas_cumprod, t, x0)
    return ab.sqrt() * x0, (1.0 - ab).sqrt() * torch.ones_like(x0)


def v_target(x0: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """v = sqrt(alpha-bar) eps - sqrt(1 - alpha-bar) x_0  (Salimans & Ho 2022, https://arxiv.org/abs/2202.00512, sec. 4)."""
    return alpha_bar.sqrt() * noise - (1.0 - alpha_bar).sqrt() * x0


def split_prediction(model_output: torch.Tensor, x_t: torch.Tensor, alpha_bar: torch.Tensor,
                     prediction_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0-hat, eps-hat) from the network output at noise level alpha-bar.

    epsilon: x0 = (x_t - sqrt(1 - ab) eps) / sqrt(ab)   (eq. 4 solved for x_0; Ho et al. 2020 eq. 15)
    v:       x0 = sqrt(ab) x_t - sqrt(1 - ab) v,  eps = sqrt(1 - ab) x_t + sqrt(ab) v  (Salimans & Ho 2022)
    """
    ab = alpha_bar.to(x_t.dtype)
    if prediction_type == "epsilon":
        eps = model_output
        x0 = (x_t - (1.0 - ab).sqrt() * eps) / ab.sqrt()
    elif prediction_type == "v_prediction":
        x0 = ab.sqrt() * x_t - (1.0 - ab).sqrt() * model_output
        eps = (1.0 - ab).sqrt() * x_t + ab.sqrt() * model_output
    else:
        raise ValueError(f"unknown prediction type {prediction_type!r}; valid: epsilon, v_prediction")
    return x0, eps
