"""Teaching a text-to-image pipeline a new concept from a few images.

* LoRA (Hu et al. 2022): each attention projection W of the UNet (to_q, to_k, to_v, to_out.0) gains a low-rank update
  W + (alpha / r) B A, A (r x d_in), B (d_out x r); only A and B train, B starts at 0 so the adapter starts as a no-op.
  Trained DreamBooth-style (Ruiz et al. 2023): the instance prompt "a <trigger> <class word>" with the latent-diffusion
  loss || eps - eps_theta(z_t, t, tau(prompt)) ||^2 on the instance images; with prior preservation the same loss on
  images the base model draws for "a <class word>" is added (weight ``prior_weight``), so the class keeps its meaning;
  and (``keep_unconditional``) the unconditional prediction is held at the base model's, as guidance needs.
* Textual inversion (Gal et al. 2023): only a new token's input embedding v* trains (initialised from the class
  word's), with the same loss; the UNet and the rest of the text encoder stay frozen.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch.nn import functional as F

LORA_TARGETS = {"all": ["to_q", "to_k", "to_v", "to_out.0"],            # every attention projection (DreamBooth LoRA)
                "cross": ["attn2.to_k", "attn2.to_v"]}                   # the text's keys and values (Custom Diffusion)
TEXT_ENCODER_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]       # a CLIP text encoder's self-attention
METHODS = ("lora", "textual_inversion")
EXP = ("exp_avg", "exp_avg_sq")  # AdamW's first and second moments


@dataclass
class PersonalizeConfig:
    """Settings of one personalization run (validated by :func:`core.lora.service.check_settings`)."""

    trigger: str = "sks"
    class_word: str = "circle"
    method: str = "lora"
    rank: int = 4
    alpha: float = 4.0
    lr: float = 1e-3
    steps: int = 200
    batch_size: int = 4
    targets: str = "all"
    train_text_encoder: bool = False   # LoRA: also a LoRA on the text encoder's attention (diffusers' train_dreambooth_lora)
    prior_preservation: bool = False
    prior_weight: float = 1.0
    keep_unconditional: bool = True
    class_images: int = 8
    validate_every: int = 50
    seed: int = 0

    @property
    def token(self) -> str:
        """The word in prompts: the trigger itself (LoRA) or a new token "<trigger>" (textual inversion)."""
        return self.trigger if self.method == "lora" else f"<{self.trigger}>"

    def prompt(self) -> str:
        return f"a {self.token} {self.class_word}"


@dataclass
class TrainResult:
    method: str
    state: dict                        # LoRA: diffusers-format UNet LoRA tensors; TI: {token: embedding (D,)}
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0
    text_encoder_state: dict | None = None   # LoRA with train_text_encoder: the text encoder's LoRA tensors
    optimizer_state: dict | None = None      # AdamW's moments and the batch generator: what a continued run resumes
    generator_state: torch.Tensor | None = None


@dataclass
class Resume:
    """Where a continued run starts: a saved adapter (its tensors as :attr:`TrainResult.state` holds them), the steps
    and seconds it has trained, its losses, and, when saved with it, the optimizer and batch generator states (without
    them, AdamW's moments start at zero and the batches are drawn from seed + step)."""

    state: dict
    step: int
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)
    text_encoder_state: dict | None = None
    optimizer_state: dict | None = None
    generator_state: torch.Tensor | None = None


def _alphas_cumprod(pipe) -> torch.Tensor:
    from core.diffusion.lib import diffusers_class

    return diffusers_class("DDPMScheduler").from_config(pipe.scheduler.config).alphas_cumprod


@torch.no_grad()
def encode_images(pipe, images: torch.Tensor) -> torch.Tensor:
    """z0 = s E(x) (the posterior mean) of images (N, 3, H, W) in [0, 1] at the pipeline's size."""
    vae = pipe.vae
    return vae.encode(images.to(vae.device, vae.dtype) * 2 - 1).latent_dist.mean * vae.config.scaling_factor


@torch.no_grad()
def class_images(pipe, class_word: str, num: int, seed: int) -> torch.Tensor:
    """The base model's own pictures of "a <class word>" (prior preservation), (num, 3, H, W) in [0, 1]."""
    from core.text2image.sampling import decode, denoise
    from core.text2image.text_encoders import encode_prompts

    cond = encode_prompts(pipe.tokenizer, pipe.text_encoder, [f"a {class_word}"] * num).embeds
    neg = encode_prompts(pipe.tokenizer, pipe.text_encoder, [""] * num).embeds
    last = None
    for last in denoise(pipe, cond, neg, 20, 4.0, "ddim", torch.Generator().manual_seed(seed)):
        pass
    return decode(pipe, last.prev)


def add_lora(unet, rank: int, alpha: float, targets: str = "all", init: str | bool = "gaussian") -> list[torch.nn.Parameter]:
    """Attach a fresh peft LoRA adapter "default" to the UNet's attention projections (``targets``: "all" or "cross",
    the cross-attention keys and values only, as Custom Diffusion, Kumari et al. 2023); returns its parameters."""
    from peft import LoraConfig

    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=int(rank), lora_alpha=float(alpha), init_lora_weights=init,
                                target_modules=LORA_TARGETS[targets]))
    return [p for n, p in unet.named_parameters() if "lora_" in n]


def add_text_encoder_lora(text_encoder, rank: int, alpha: float) -> list[torch.nn.Parameter]:
    """Attach a fresh peft LoRA to a CLIP text encoder's attention projections; returns its parameters.
    ValueError for an encoder without them (the MiniLM sentence encoder names its layers otherwise)."""
    from peft import LoraConfig

    text_encoder.requires_grad_(False)
    try:
        text_encoder.add_adapter(LoraConfig(r=int(rank), lora_alpha=float(alpha), init_lora_weights="gaussian",
                                            target_modules=TEXT_ENCODER_TARGETS))
    except ValueError as exc:
        raise ValueError("a text-encoder LoRA needs a CLIP text encoder (q_proj / k_proj / v_proj / out_proj); "
                         f"this base model's has none: {str(exc).splitlines()[0][:120]}") from exc
    return [p for n, p in text_encoder.named_parameters() if "lora_" in n]


def load_lora_state(model, state: dict) -> None:
    """Put saved LoRA tensors (diffusers' format, with or without the "unet." / "text_encoder." prefix, as
    :func:`lora_state` and ``save_lora_weights`` write them) into ``model``'s fresh adapter "default" (same rank and
    targets). ``ValueError`` when they do not fit it."""
    from diffusers.utils import convert_state_dict_to_peft, convert_unet_state_dict_to_peft
    from peft import set_peft_model_state_dict

    state = {k.split(".", 1)[1] if k.split(".", 1)[0] in ("unet", "text_encoder") else k: v for k, v in state.items()}
    convert = convert_unet_state_dict_to_peft if any(".lora.down." in k for k in state) else convert_state_dict_to_peft
    try:
        loaded = set_peft_model_state_dict(model, convert(state), adapter_name="default")
    except RuntimeError as exc:  # a size mismatch: another rank
        raise ValueError(f"the saved adapter does not fit: {str(exc).splitlines()[0][:160]}") from exc
    missing = [k for k in loaded.missing_keys if "lora_" in k]
    if loaded.unexpected_keys or missing or not state:
        raise ValueError(f"the saved adapter does not fit: {len(missing)} of the model's LoRA tensors missing, "
                         f"{len(loaded.unexpected_keys)} unknown")


def lora_state(unet) -> dict:
    """The adapter's tensors in diffusers' LoRA format (what ``save_lora_weights`` writes)."""
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in convert_state_dict_to_diffusers(get_peft_model_state_dict(unet)).items()}


def personalize(pipe, images: torch.Tensor, config: PersonalizeConfig,
                cancel: Callable[[], bool] = lambda: False, resume: Resume | None = None) -> Iterator[dict]:
    """Train an adapter; yield {"step", "steps", "loss"} per step, {"validation": image} every ``validate_every``
    steps, and finally {"result": TrainResult}. With ``resume``, the saved adapter trains ``config.steps`` more steps
    (counted on from ``resume.step``); with its optimizer and generator states, a run cancelled and continued ends
    where one run of the same total steps ends. Training works on copies (the UNet without any loaded adapter; the
    tokenizer and text encoder for textual inversion): the shared pipeline never changes, and adapters switched on
    it meanwhile do not reach the training; the caller saves the result and loads it back the supported way
    (``load_lora_weights`` / ``load_textual_inversion``).

    Args:
        pipe: a float32 ``StableDiffusionPipeline`` (GenLab's).
        images: (N, 3, H, W) in [0, 1] at the pipeline's image size.
        cancel: polled each step; True stops early with what was learnt.
        resume: the adapter to continue (same settings: method, rank, alpha, targets, text encoder).
    """
    from core.text2image.text_encoders import encode_prompts

    from core.text2image.pipeline import assemble

    c = config
    torch.manual_seed(c.seed)
    # private copies: another visitor may switch adapters on the shared UNet while this trains
    unet = copy.deepcopy(pipe.unet)
    if getattr(unet, "peft_config", None):
        unet.delete_adapters(list(unet.peft_config))                       # the base model, whatever was loaded
    tokenizer, text_encoder = pipe.tokenizer, pipe.text_encoder
    train_text = c.method == "lora" and c.train_text_encoder
    if c.method == "textual_inversion" or train_text:
        tokenizer, text_encoder = copy.deepcopy(tokenizer), copy.deepcopy(text_encoder)
        if getattr(text_encoder, "peft_config", None):
            text_encoder.delete_adapter(list(text_encoder.peft_config))          # the base encoder
    work = assemble(unet, pipe.vae, tokenizer, text_encoder, pipe.scheduler)   # the copies, for validation images
    z_inst = encode_images(pipe, images)                                   # (N, 4, h, w)
    z_class = encode_images(pipe, class_images(work, c.class_word, c.class_images, c.seed + 1)) \
        if c.prior_preservation else None
    ab = _alphas_cumprod(pipe)
    token_id = None
    if c.method == "lora":
        params = add_lora(unet, c.rank, c.alpha, c.targets)
        unet.enable_adapters()  # a copy of a pipeline whose LoRA was switched off keeps its layers off: the first
        if train_text:          # step (every step without keep_unconditional) trained through a switched-off adapter
            params += add_text_encoder_lora(text_encoder, c.rank, c.alpha)
            text_encoder.enable_adapters()
        if resume is not None:
            load_lora_state(unet, resume.state)
            if train_text:
                load_lora_state(text_encoder, resume.text_encoder_state or {})
        cond = encode_prompts(tokenizer, text_encoder, [c.prompt()]).embeds
    else:
        init_ids = tokenizer(c.class_word, add_special_tokens=False).input_ids
        tokenizer.add_tokens([c.token])
        token_id = tokenizer.convert_tokens_to_ids(c.token)
        text_encoder.resize_token_embeddings(len(tokenizer))
        table = text_encoder.get_input_embeddings().weight
        with torch.no_grad():
            table[token_id] = table[init_ids].mean(0) if resume is None else resume.state[c.token]
        frozen_rows = table.detach().clone()
        text_encoder.requires_grad_(False)
        table.requires_grad_(True)
        params = [table]
    if train_text:  # the base encoder's: the same whether the run starts afresh or continues a trained LoRA
        text_encoder.disable_adapters()
    class_cond = encode_prompts(tokenizer, text_encoder, [f"a {c.class_word}"]).embeds if c.prior_preservation else None
    empty = encode_prompts(tokenizer, text_encoder, [""]).embeds
    if train_text:
        text_encoder.enable_adapters()
    optimizer = torch.optim.AdamW(params, lr=c.lr, weight_decay=0.0)
    first = resume.step if resume is not None else 0
    generator = torch.Generator().manual_seed(c.seed + first)
    if resume is not None and resume.optimizer_state is not None:
        if token_id is None:
            optimizer.load_state_dict(resume.optimizer_state)
        else:  # textual inversion keeps v*'s row of AdamW's moments (the table's other rows never move)
            row = resume.optimizer_state
            optimizer.state[table] = {"step": row["step"].clone(), **{
                k: torch.zeros_like(table).index_copy_(0, torch.tensor([token_id]), row[k]) for k in EXP}}
    if resume is not None and resume.generator_state is not None:
        generator.set_state(resume.generator_state)
    losses, start, step = list(resume.losses) if resume else [], time.perf_counter(), first
    total = first + c.steps
    for step in range(first + 1, total + 1):
        if cancel():
            step -= 1
            break
        with torch.enable_grad():   # the step only: a yield inside would leave the mode on another thread
            idx = torch.randint(len(z_inst), (min(c.batch_size, len(z_inst)),), generator=generator)
            z0 = z_inst[idx]
            if c.method == "textual_inversion" or train_text:   # the prompt's encoding moves with what is trained
                cond = text_encoder(tokenizer([c.prompt()], padding="max_length", max_length=tokenizer.model_max_length,
                                              truncation=True, return_tensors="pt").input_ids)[0]
            loss = _denoising_loss(unet, z0, cond, ab, generator)
            if z_class is not None:
                cls = z_class[torch.randint(len(z_class), (len(z0),), generator=generator)]
                loss = loss + c.prior_weight * _denoising_loss(unet, cls, class_cond, ab, generator)
            if c.method == "lora" and c.keep_unconditional:
                loss = loss + _unconditional_drift(unet, z0, empty, ab, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if token_id is not None:   # only v* moves: every other row goes back to its frozen value
                with torch.no_grad():
                    keep = torch.ones(len(table), dtype=torch.bool)
                    keep[token_id] = False
                    table[keep] = frozen_rows[keep]
        losses.append(float(loss.detach()))
        yield {"step": step, "steps": total, "loss": losses[-1]}
        if c.validate_every and step % c.validate_every == 0 and step < total:
            yield {"validation": _validation_image(work, c), "step": step}
    if c.validate_every:
        yield {"validation": _validation_image(work, c), "step": step}
    state = lora_state(unet) if c.method == "lora" else \
        {c.token: text_encoder.get_input_embeddings().weight[token_id].detach().clone()}
    text_state = lora_state(text_encoder) if train_text else None
    seconds = time.perf_counter() - start + (resume.seconds if resume else 0.0)
    moments = optimizer.state_dict()
    if token_id is not None and table in optimizer.state:
        moments = {"step": optimizer.state[table]["step"], **{k: optimizer.state[table][k][token_id:token_id + 1]
                                                              for k in EXP}}
    yield {"result": TrainResult(c.method, state, losses, seconds, step, text_state, moments, generator.get_state())}


def _unconditional_drift(unet, z0, empty, ab, generator) -> torch.Tensor:
    """|| eps_LoRA(z_t, t, "") - eps_base(z_t, t, "") ||^2: the unconditional prediction, which classifier-free
    guidance subtracts, stays the base model's (without it the LoRA also moved eps(z_t, ""), and guidance amplified
    the difference into noise on some seeds)."""
    t = torch.randint(0, len(ab), (len(z0),), generator=generator)
    a = ab[t].view(-1, 1, 1, 1)
    z_t = a.sqrt() * z0 + (1 - a).sqrt() * torch.randn(z0.shape, generator=generator)
    cond = empty.expand(len(z0), -1, -1)
    with torch.no_grad():
        unet.disable_adapters()
        target = unet(z_t, t, encoder_hidden_states=cond).sample
        unet.enable_adapters()
    return F.mse_loss(unet(z_t, t, encoder_hidden_states=cond).sample, target)


def _denoising_loss(unet, z0, cond, ab, generator) -> torch.Tensor:
    t = torch.randint(0, len(ab), (len(z0),), generator=generator)
    eps = torch.randn(z0.shape, generator=generator)
    a = ab[t].view(-1, 1, 1, 1)
    z_t = a.sqrt() * z0 + (1 - a).sqrt() * eps
    return F.mse_loss(unet(z_t, t, encoder_hidden_states=cond.expand(len(z0), -1, -1)).sample, eps)


@torch.no_grad()
def _validation_image(pipe, c: PersonalizeConfig) -> torch.Tensor:
    from core.text2image.sampling import decode, denoise
    from core.text2image.text_encoders import encode_prompts

    cond = encode_prompts(pipe.tokenizer, pipe.text_encoder, [c.prompt()]).embeds
    neg = encode_prompts(pipe.tokenizer, pipe.text_encoder, [""]).embeds
    last = None
    for last in denoise(pipe, cond, neg, 15, 4.0, "ddim", torch.Generator().manual_seed(c.seed)):
        pass
    return decode(pipe, last.prev)[0]
