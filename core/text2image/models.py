"""The three networks of latent diffusion (Rombach et al. 2022), built from diffusers and transformers parts.

* ``AutoencoderKL``: x (B, 3, H, W) in [-1, 1] <-> z (B, 4, H/f, W/f); KL-regularised (sec. 3), f = 2^(levels - 1).
* ``UNet2DConditionModel``: eps_theta(z_t, t, tau(y)), cross-attention to the text tokens (sec. 3.3, eq. 3):
  Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V with Q from the image features and K, V from tau(y).
* ``CLIPModel``: a text tower tau (a causal transformer, its last hidden states condition the UNet) and an image
  tower, trained together with the contrastive loss of Radford et al. 2021 (eq. in fig. 3).

All sizes are small enough to train and sample on a CPU; the shapes are those of Stable Diffusion, scaled down.
"""

from __future__ import annotations

from pathlib import Path

LATENT_CHANNELS = 4


def _groups(widths) -> int:
    """Largest GroupNorm group count in (32, 16, 8, 4, 2, 1) that divides every width."""
    return next(g for g in (32, 16, 8, 4, 2, 1) if all(w % g == 0 for w in widths))


def build_autoencoder(resolution: int = 64, widths=(32, 64, 128), layers_per_block: int = 1,
                      latent_channels: int = LATENT_CHANNELS):
    """An ``AutoencoderKL`` with ``len(widths)`` levels: a (3, R, R) image <-> a (4, R/f, R/f) latent, f = 2^(L-1)."""
    from core.diffusion.lib import diffusers_class
    AutoencoderKL = diffusers_class("AutoencoderKL")

    levels = len(widths)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=latent_channels, sample_size=resolution,
        down_block_types=("DownEncoderBlock2D",) * levels, up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=tuple(widths), layers_per_block=layers_per_block, norm_num_groups=_groups(widths),
    )


def build_unet(latent_size: int, cross_attention_dim: int, widths=(64, 128, 192), layers_per_block: int = 1,
               heads: int = 4, latent_channels: int = LATENT_CHANNELS):
    """A ``UNet2DConditionModel`` laid out as Stable Diffusion's: cross-attention at every level but the lowest.

    Args:
        latent_size: side of the latent (16 for a 64 px image and f = 4); divisible by 2^(levels - 1).
        cross_attention_dim: width of the text encoder's hidden states (the keys and values of cross-attention).
        heads: attention heads per transformer block.
    """
    from core.diffusion.lib import diffusers_class
    UNet2DConditionModel = diffusers_class("UNet2DConditionModel")

    levels = len(widths)
    if latent_size % 2 ** (levels - 1):
        raise ValueError(f"latent size {latent_size} is not divisible by 2**{levels - 1} for {levels} UNet levels")
    down = ("CrossAttnDownBlock2D",) * (levels - 1) + ("DownBlock2D",)
    up = ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (levels - 1)
    return UNet2DConditionModel(
        sample_size=latent_size, in_channels=latent_channels, out_channels=latent_channels,
        down_block_types=down, up_block_types=up, block_out_channels=tuple(widths),
        layers_per_block=layers_per_block, cross_attention_dim=int(cross_attention_dim),
        attention_head_dim=heads, norm_num_groups=_groups(widths),
    )


def build_clip(tokenizer, width: int = 256, layers: int = 4, heads: int = 4, image_size: int = 64,
               patch_size: int = 8, projection_dim: int = 128):
    """A small ``CLIPModel`` (text and vision transformers) for ``tokenizer``'s vocabulary and length."""
    from core.diffusion.lib import transformers_class
    CLIPConfig = transformers_class("CLIPConfig")
    CLIPModel = transformers_class("CLIPModel")
    CLIPTextConfig = transformers_class("CLIPTextConfig")
    CLIPVisionConfig = transformers_class("CLIPVisionConfig")

    text = CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers,
        num_attention_heads=heads, max_position_embeddings=tokenizer.model_max_length, projection_dim=projection_dim,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    vision = CLIPVisionConfig(
        hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers, num_attention_heads=heads,
        image_size=image_size, patch_size=patch_size, num_channels=3, projection_dim=projection_dim,
    )
    return CLIPModel(CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(),
                                projection_dim=projection_dim))


TEXT_READING = ("attn2.to_k.weight", "attn2.to_v.weight")  # the only UNet weights whose shape is the text width


def init_unet_from(unet, folder) -> list[str]:
    """Copy a trained text-to-image model's UNet into ``unet`` (same widths, levels and heads) and return the names
    of the weights left as initialised: the cross-attention keys and values (``attn2.to_k`` / ``attn2.to_v``, each
    (width, D_text)) when the two models' text encoders differ in width D_text. What the UNet knows about drawing
    carries over; how it reads the new text encoder is learned afresh (a warm start for a UNet on another encoder).

    Raises ``ValueError`` if ``folder`` holds no UNet or one of another layout."""
    from core.diffusion.lib import diffusers_class
    UNet2DConditionModel = diffusers_class("UNet2DConditionModel")

    if not (Path(folder) / "unet" / "config.json").is_file():
        raise ValueError(f"init_unet {str(folder)!r} holds no text-to-image UNet (no unet/config.json)")
    try:
        source = UNet2DConditionModel.from_pretrained(folder, subfolder="unet").state_dict()
    except (OSError, ValueError) as exc:
        raise ValueError(f"init_unet {str(folder)!r} holds no text-to-image UNet: {str(exc).splitlines()[0]}") from None
    target = unet.state_dict()
    if source.keys() != target.keys():
        raise ValueError(f"init_unet {str(folder)!r}: its UNet has another layout (widths, layers_per_block, heads)")
    fresh = [k for k, v in target.items() if v.shape != source[k].shape]
    wrong = [k for k in fresh if not k.endswith(TEXT_READING)]
    if wrong:
        raise ValueError(f"init_unet {str(folder)!r}: {wrong[0]} is {tuple(source[wrong[0]].shape)} there, "
                         f"{tuple(target[wrong[0]].shape)} here (another UNet layout)")
    unet.load_state_dict({k: (target[k] if k in fresh else source[k]).to(target[k].dtype) for k in target})
    return fresh
