"""Configs of the three latent-diffusion trainings (autoencoder, CLIP, text-to-image UNet), saved with the weights."""

from __future__ import annotations

from dataclasses import dataclass

from core.engine.config import TrainConfig, choice, number, parse_widths

from .data import HOLDOUT

WORLDS = ("shapes", "faces")
WEIGHT_DTYPES = ("float32", "float16")
SAMPLERS = ("ddim", "dpm++", "euler", "ddpm")



def parse_holdout_field(value) -> tuple[str, ...]:
    """"red star,blue heart" or a sequence -> a tuple of pairs (checked by :func:`data.parse_holdout`)."""
    from .data import parse_holdout

    items = value.split(",") if isinstance(value, str) else value
    pairs = tuple(str(p).strip(" ()[]'\"") for p in items)  # also "('red star', 'blue heart')" from a text box
    pairs = tuple(p for p in pairs if p)
    parse_holdout(pairs)
    return pairs


@dataclass
class AutoencoderConfig(TrainConfig):
    """The latent autoencoder (``AutoencoderKL``, Rombach et al. 2022 sec. 3) that the UNet works inside.

    Args:
        widths: channels per level; L levels give a latent of side resolution / 2^(L-1).
        layers_per_block: residual blocks per level.
        eval_images: held-out images whose reconstructions the card measures.
        kl_weight: weight of KL(q(z|x) || N(0, I)) (a light regulariser: the latent stays an image-like map).
        decoder_only: train the decoder alone, the encoder frozen (continue with ``--from-export``): the latent space,
            its ``scaling_factor`` and every diffusion model trained in it stay valid, as with Stable Diffusion's
            fine-tuned decoders (sd-vae-ft-mse).
        edge_weight: lambda_edge of the edge-weighted L1 (:func:`core.text2image.autoencoder_method.edge_weighted_l1`;
            0 = plain L1): an object's outline weighs 1 + lambda_edge times a flat pixel, so the decoder draws the
            outlines of small objects, which are a few pixels of each image, instead of blobs of their colour.
        output_edges: weigh the edges of the reconstruction too (``edge_weighted_l1``'s ``output_edges``), so that an
            edge the decoder draws where the image has none costs as much as a missed outline.
        lambda_adv: weight of the patch-adversarial term of Esser et al. 2021 (VQGAN) and Rombach et al. 2022 sec. 3
            (0 = none): a PatchGAN critic judges patches of x and D(z) (hinge loss), and the decoder's loss adds
            lambda_adv * lambda * (-critic(D(z))), lambda the adaptive weight ||grad L_rec|| / ||grad L_adv|| at the
            decoder's last layer (:func:`adaptive_weight`). Stable Diffusion's autoencoders use 0.5.
        ndf / n_layers_D: the critic's first-layer width and number of stride-2 layers (pix2pix's PatchGAN; 2 layers
            see 34 x 34 px patches).
        disc_start: the step from which the adversarial term enters the decoder's loss (Esser et al. 2021's
            ``disc_start``); before it the critic learns alone, so the decoder is not pushed by an untrained judge.
        critic_lr: the critic's learning rate (0 = ``lr``; a faster critic is Heusel et al. 2017's two time-scale rule).
        weights_dtype: dtype of the exported weights ("float16" halves a bundled checkpoint; they load into float32).
    """

    dataset: str = choice("shapes", WORLDS)
    resolution: int = number(64, 16, 1024)
    steps: int = number(4000, 1, 10_000_000)
    batch_size: int = number(32, 1, 4096)
    lr: float = number(5e-4, 1e-7, 1.0)  # 0 would train nothing
    ema_decay: float = number(0.999, 0.0, 1.0)
    sample_every: int = number(500, 0, 10_000_000)
    widths: tuple[int, ...] = (32, 64, 128)
    layers_per_block: int = number(1, 1, 4)
    kl_weight: float = number(1e-5, 0.0, 1.0)
    decoder_only: bool = False
    edge_weight: float = number(0.0, 0.0, 1000.0)
    output_edges: bool = False
    lambda_adv: float = number(0.0, 0.0, 10.0)
    ndf: int = number(32, 8, 256)
    n_layers_D: int = number(2, 1, 4)
    disc_start: int = number(0, 0, 10_000_000)
    critic_lr: float = number(0.0, 0.0, 1.0)
    eval_images: int = number(512, 0, 10_000)
    weights_dtype: str = choice("float32", WEIGHT_DTYPES)

    def validate(self) -> "AutoencoderConfig":
        super().validate()
        self.widths = parse_widths(self.widths, "widths", (2, 5))
        return self


@dataclass
class ClipConfig(TrainConfig):
    """A small CLIP (Radford et al. 2021) trained contrastively on a world's images and captions.

    Args:
        width / layers / heads: both transformers' size; patch_size: the image tower's patches.
        projection_dim: the shared embedding space of images and texts.
        vocab_size: tokens of the BPE tokenizer trained on ``tokenizer_captions`` training captions.
        max_length: tokens per prompt, start and end included (the text tower's positions).
        holdout: "colour shape" pairs whose scenes are never shown (the same as the UNet's).
        tokenizer_captions: training captions the tokenizer is trained on.
        cache_items: render this many training scenes once and draw batches from memory (0: render each batch).
        weights_dtype: dtype of the exported weights ("float16" halves a bundled checkpoint; they load into float32).
        hard_negatives: also score each image against its own caption with one shape word swapped for another
            (NegCLIP, Yuksekgonul et al. 2023), so that telling shapes apart pays even when the batch's other
            captions differ in colour anyway (``shapes`` world).
        shape_groups: end each batch with this many groups of 8 one-object scenes of one colour and size that differ
            only in shape (``data.ShapeGroups``; ``shapes`` world, cached); 0 = random batches.
        pool_padding: half the loss with each caption pooled at a random position after its end token instead of at
            the end token: the padding states, which a text-to-image UNet reads beside the words but which the CLIP
            loss never trains, then summarise the caption too.
    """

    dataset: str = choice("shapes", WORLDS)
    resolution: int = number(64, 16, 1024)
    steps: int = number(3000, 1, 10_000_000)
    batch_size: int = number(128, 2, 4096)
    lr: float = number(5e-4, 1e-7, 1.0)  # 0 would train nothing
    ema_decay: float = number(0.0, 0.0, 1.0)
    sample_every: int = number(0, 0, 10_000_000)
    num_samples: int = number(16, 1, 256)
    width: int = number(256, 16, 2048)
    layers: int = number(4, 1, 24)
    heads: int = number(4, 1, 32)
    patch_size: int = number(8, 2, 64)
    projection_dim: int = number(128, 8, 2048)
    vocab_size: int = number(1024, 514, 100_000)
    max_length: int = number(32, 4, 512)
    tokenizer_captions: int = number(20_000, 100, 1_000_000)
    holdout: tuple[str, ...] = HOLDOUT
    hard_negatives: bool = False
    shape_groups: int = number(0, 0, 512)
    pool_padding: bool = False
    cache_items: int = number(0, 0, 1_000_000)
    weights_dtype: str = choice("float32", WEIGHT_DTYPES)

    def validate(self) -> "ClipConfig":
        super().validate()
        self.holdout = parse_holdout_field(self.holdout)
        if self.shape_groups and (self.dataset != "shapes" or not self.cache_items):
            raise ValueError("shape_groups needs the shapes world and cache_items > 0")
        if self.shape_groups * 8 > self.batch_size:
            raise ValueError(f"shape_groups {self.shape_groups} x 8 scenes exceed batch_size {self.batch_size}")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")
        if self.resolution % self.patch_size:
            raise ValueError(f"resolution {self.resolution} is not divisible by patch_size {self.patch_size}")
        return self


@dataclass
class Text2ImageConfig(TrainConfig):
    """Latent diffusion (Rombach et al. 2022): a UNet2DConditionModel denoising the autoencoder's latents, conditioned
    by cross-attention on a frozen text encoder; caption dropout for classifier-free guidance (Ho & Salimans 2022).

    Args:
        autoencoder: folder of a trained ``AutoencoderKL`` (``python -m core.train autoencoder``).
        text_encoder: "minilm" (pretrained, from PyPI) or the folder of a GenLab CLIP (``python -m core.train clip``).
        widths / layers_per_block / heads: the UNet.
        caption_dropout: probability of training on the empty prompt instead of the caption (the unconditional model).
        holdout: "colour shape" pairs whose scenes are never shown (compositional generalisation).
        beta_start / beta_end: Stable Diffusion's "scaled_linear" betas over ``num_train_timesteps``.
        num_train_timesteps: T, the noise levels of the forward process.
        weights_dtype: dtype of the exported weights ("float16" halves a bundled checkpoint; they load into float32).
        sample_steps / sample_guidance: DDIM steps and guidance scale w of the sample grids and the evaluation.
        eval_prompts: held-out prompts generated and read back by the world classifier at the end (0 skips).
        eval_one_object: one-object held-out prompts (after those) measured on their own, for a tighter figure on the
            single-object target (0 skips, as does ``eval_prompts`` 0).
        eval_edits: held-out one-object scenes recoloured by image-to-image at strengths 0.2-1
            (:mod:`core.text2image.edit_evaluate`; 0 skips, as does ``eval_prompts`` 0).
        cache_items: render this many training scenes once and draw batches from memory (0: render each batch).
        init_unet: folder of a trained text-to-image model (same UNet layout, any text encoder) whose UNet starts this
            one ("" = a fresh UNet); weights that read a text encoder of another width start fresh
            (:func:`core.text2image.models.init_unet_from`). A resumed or ``--from-export`` leg then replaces these
            weights by its own, so only the first leg starts from them (the folder is still read when the model is built).
    """

    dataset: str = choice("shapes", WORLDS)
    resolution: int = number(64, 16, 1024)
    steps: int = number(6000, 1, 10_000_000)
    batch_size: int = number(64, 1, 4096)
    lr: float = number(3e-4, 1e-7, 1.0)  # 0 would train nothing
    ema_decay: float = number(0.999, 0.0, 1.0)
    sample_every: int = number(1000, 0, 10_000_000)
    num_samples: int = number(16, 1, 256)
    autoencoder: str = "checkpoints/text2image/autoencoder-shapes"
    text_encoder: str = "checkpoints/text2image/clip-shapes"
    widths: tuple[int, ...] = (64, 96, 128)
    layers_per_block: int = number(1, 1, 4)
    heads: int = number(4, 1, 32)
    caption_dropout: float = number(0.1, 0.0, 1.0)
    holdout: tuple[str, ...] = HOLDOUT
    num_train_timesteps: int = number(1000, 10, 4000)
    beta_start: float = number(0.00085, 1e-6, 0.1)
    beta_end: float = number(0.012, 1e-5, 0.5)
    sample_steps: int = number(25, 1, 1000)
    sample_guidance: float = number(4.0, 0.0, 20.0)
    eval_prompts: int = number(200, 0, 10_000)
    eval_one_object: int = number(400, 0, 10_000)
    eval_edits: int = number(100, 0, 10_000)
    cache_items: int = number(0, 0, 1_000_000)
    init_unet: str = ""
    weights_dtype: str = choice("float32", WEIGHT_DTYPES)

    def validate(self) -> "Text2ImageConfig":
        super().validate()
        self.widths = parse_widths(self.widths, "widths", (2, 5))
        self.holdout = parse_holdout_field(self.holdout)
        if self.beta_end <= self.beta_start:
            raise ValueError(f"beta_end {self.beta_end} must be above beta_start {self.beta_start}")
        if any(w % self.heads for w in self.widths):
            raise ValueError(f"every width of {self.widths} must be divisible by heads {self.heads}")
        return self
