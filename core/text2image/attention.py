"""Recording the UNet's cross-attention maps: which prompt token each latent pixel attends to.

In every cross-attention layer (``attn2`` of a transformer block) the probabilities
softmax(Q K^T / sqrt(d)) (Rombach et al. 2022 eq. 3) give, for each latent pixel, a distribution over the L prompt
tokens. diffusers' default ``AttnProcessor2_0`` never materialises them (it calls fused attention), so
:class:`CrossAttentionRecorder` computes them with ``attn.get_attention_scores`` and keeps their mean over heads.
:class:`AttentionStore` averages over layers (each resized to the latent's size) per denoising step: the result for
one step is (B, L, h, w) and sums to one over the tokens at every pixel (a mean and a bilinear resize of distributions
are distributions).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


class AttentionStore:
    """Collects the recorders' maps for the current step; :meth:`step_maps` averages them and starts the next step."""

    def __init__(self, latent_size: tuple[int, int]):
        self.latent_size = latent_size
        self.take: slice = slice(None)   # which part of the batch to keep (the conditional half under guidance)
        self._maps: list[torch.Tensor] = []

    def add(self, probs: torch.Tensor, heads: int) -> None:
        """probs (B * heads, h * w, L) of one layer -> (B, L, latent h, latent w), stored."""
        bh, hw, tokens = probs.shape
        mean = probs.float().view(bh // heads, heads, hw, tokens).mean(1)[self.take]   # (B, hw, L)
        h0, w0 = self.latent_size
        h = int(round(math.sqrt(hw * h0 / w0)))
        maps = mean.transpose(1, 2).reshape(-1, tokens, h, hw // h)
        if maps.shape[-2:] != (h0, w0):
            maps = F.interpolate(maps, size=(h0, w0), mode="bilinear", align_corners=False)
        self._maps.append(maps.cpu())

    def step_maps(self) -> torch.Tensor | None:
        """(B, L, h, w) mean over the layers recorded since the last call (None if none were)."""
        if not self._maps:
            return None
        out = torch.stack(self._maps).mean(0)
        self._maps = []
        return out


class CrossAttentionRecorder:
    """An attention processor for cross-attention layers that also hands its probabilities to a store."""

    def __init__(self, store: AttentionStore):
        self.store = store

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        if hidden_states.ndim != 3 or encoder_hidden_states is None:
            raise ValueError("CrossAttentionRecorder only serves cross-attention on token sequences (attn2)")
        batch, length, _ = hidden_states.shape
        mask = attn.prepare_attention_mask(attention_mask, encoder_hidden_states.shape[1], batch)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))                 # (B heads, hw, d)
        key = attn.head_to_batch_dim(attn.to_k(encoder_hidden_states))           # (B heads, L, d)
        value = attn.head_to_batch_dim(attn.to_v(encoder_hidden_states))
        probs = attn.get_attention_scores(query, key, mask)                      # (B heads, hw, L)
        self.store.add(probs, attn.heads)
        out = attn.batch_to_head_dim(torch.bmm(probs, value))                    # (B, hw, C)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor


class record_cross_attention:
    """Context manager: install recorders on every ``attn2`` of ``unet`` and restore its processors afterwards.

    Yields the :class:`AttentionStore`.
    """

    def __init__(self, unet, latent_size: tuple[int, int]):
        self.unet, self.store = unet, AttentionStore(latent_size)

    def __enter__(self) -> AttentionStore:
        self.saved = dict(self.unet.attn_processors)
        recorder = CrossAttentionRecorder(self.store)
        self.unet.set_attn_processor({name: recorder if ".attn2." in name else proc
                                      for name, proc in self.saved.items()})
        return self.store

    def __exit__(self, *exc) -> None:
        self.unet.set_attn_processor(self.saved)
