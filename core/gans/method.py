"""The GAN variants as one engine Method: the config picks the loss, the architecture and the switches.

    python -m core.train gans --loss nonsaturating --out checkpoints/gans/dcgan-digits          # DCGAN
    python -m core.train gans --loss wgan-gp --out checkpoints/gans/wgan-gp-digits               # WGAN-GP
    python -m core.train gans --conditional --spectral-norm --feature-matching --out ...          # cGAN + SN + FM
    python -m core.train gans --architecture progan --loss wgan-gp --out checkpoints/gans/progan-digits

Per step: ``n_critic`` D updates (each on a fresh real batch), then one G update. Settings left at 0 / "auto"
take each paper's own: DCGAN and LSGAN Adam(2e-4, β 0.5, 0.999); WGAN RMSprop(5e-5), clip 0.01, 5 critic steps;
WGAN-GP Adam(1e-4, β 0, 0.9), λ 10, 5 critic steps, layer norm in the critic; ProGAN Adam(1e-3, β 0, 0.99), one
critic step, drift 0.001. The engine keeps an EMA of G, which is what is exported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.engine import Method, StepContext, TrainConfig, choice, number

from .losses import (CRITICS, LOSSES, clip_weights, d_loss, feature_matching_loss, g_loss, gradient_penalty,
                     mode_seeking_loss)
from .networks import CONDITIONINGS, Discriminator, Generator, levels, sample_z
from .progressive import ProDiscriminator, ProGenerator

DATASETS = ("digits", "faces", "shapes", "folder", "mnist", "fashion_mnist", "cifar10")
ARCHITECTURES = ("dcgan", "progan")
# loss -> (optimizer, lr, betas, n_critic): each paper's own settings, used where the config says "auto" / 0
PAPER_SETTINGS = {
    "nonsaturating": ("adam", 2e-4, (0.5, 0.999), 1),   # Radford et al. 2016
    "lsgan": ("adam", 2e-4, (0.5, 0.999), 1),           # Mao et al. 2017 (the DCGAN settings)
    "hinge": ("adam", 2e-4, (0.5, 0.999), 1),           # as DCGAN, so only the loss differs
    "wgan": ("rmsprop", 5e-5, None, 5),                 # Arjovsky et al. 2017, algorithm 1
    "wgan-gp": ("adam", 1e-4, (0.0, 0.9), 5),           # Gulrajani et al. 2017, algorithm 1
}
PROGAN_SETTINGS = ("adam", 1e-3, (0.0, 0.99), 1)        # Karras et al. 2018, appendix A.1


@dataclass
class GANConfig(TrainConfig):
    """GAN-variant settings (defaults: DCGAN on 32 px digits, small enough for a CPU).

    Args:
        loss: nonsaturating (DCGAN), lsgan, wgan, wgan-gp, hinge (``core.gans.losses``).
        architecture: dcgan (``networks.py``) or progan (``progressive.py``: grows from ``start_resolution``).
        z_dim, ngf, ndf: latent size and the feature maps of G's last / D's first block.
        conditional, conditioning: class-conditional G and D; D reads the label by concat or projection.
        spectral_norm: spectral normalisation of every D layer. feature_matching: add Salimans' loss to G's.
        minibatch_std: ProGAN's minibatch standard deviation map in D (progan always has it).
        mode_seeking: weight of Mao et al.'s mode-seeking loss, which stops a conditional G from ignoring z.
        d_norm: D's normalisation; auto = batch (layer for wgan-gp, which forbids batch norm in the critic), also
            with spectral norm (SNGAN drops it; in short trials here the conditional runs learned faster with it).
        n_critic: D steps per G step (0: 5 for wgan / wgan-gp, else 1). lr: 0 = the paper's (see the module).
        clip_value: WGAN's weight clipping c. gp_lambda: WGAN-GP's λ. drift: ProGAN's ε_drift E[D(x)²].
        start_resolution: ProGAN's first resolution; one stage per doubling, each half fade-in, half stable.
        eval_samples: images generated for the card's measurements.
    """

    dataset: str = choice("digits", DATASETS)
    resolution: int = number(32, 8, 256, help="a power of two")
    steps: int = number(3000, 1, 10_000_000)
    lr: float = number(0.0, 0.0, 1.0, help="0: the paper's learning rate for this loss")
    ema_decay: float = number(0.995, 0.0, 1.0, help="G's EMA (half-life about 140 steps)")
    sample_every: int = number(250, 0, 10_000_000)
    num_samples: int = number(100, 1, 256, help="100: a 10 x 10 grid, one class per column when conditional")
    loss: str = choice("nonsaturating", LOSSES)
    architecture: str = choice("dcgan", ARCHITECTURES)
    z_dim: int = number(64, 2, 1024, help="size of the latent z that G draws from")
    ngf: int = number(16, 4, 512, help="G's width: feature maps of its last block (doubled per block before)")
    ndf: int = number(32, 4, 512, help="D's width: feature maps of its first block (doubled per block after)")
    conditional: bool = False
    conditioning: str = choice("concat", CONDITIONINGS,
                               help="how a conditional D reads the label: concat or projection (Miyato & Koyama)")
    spectral_norm: bool = False
    feature_matching: bool = False
    minibatch_std: bool = False
    mode_seeking: float = number(0.0, 0.0, 100.0, help="weight of the mode-seeking loss (MSGAN); 0 = off")
    d_lr_ratio: float = number(1.0, 0.01, 100.0, help="D's learning rate over G's (TTUR, Heusel et al. 2017)")
    d_norm: str = choice("auto", ("auto", "batch", "layer", "none"))
    n_critic: int = number(0, 0, 100, help="0: 5 for wgan / wgan-gp, else 1")
    clip_value: float = number(0.01, 0.0, 10.0)
    gp_lambda: float = number(10.0, 0.0, 1000.0)
    drift: float = number(0.001, 0.0, 1.0, help="ProGAN's drift penalty on D(x)² (critic losses only)")
    start_resolution: int = number(8, 4, 256)
    eval_samples: int = number(2000, 0, 100_000)

    def validate(self) -> "GANConfig":
        super().validate()
        levels(self.resolution)
        if self.architecture == "progan" and (self.conditional or self.start_resolution > self.resolution):
            raise ValueError("progan is unconditional here and needs start_resolution <= resolution")
        return self


def variant_name(c: GANConfig) -> str:
    """The variant's usual name, e.g. "DCGAN", "WGAN-GP", "cGAN (DCGAN loss, concat) + SN + FM", "ProGAN (WGAN-GP)"
    (SN: spectral norm, FM: feature matching, MS: mode seeking)."""
    loss = {"nonsaturating": "DCGAN", "lsgan": "LSGAN", "wgan": "WGAN", "wgan-gp": "WGAN-GP", "hinge": "hinge"}[c.loss]
    if c.architecture == "progan":
        return f"ProGAN ({loss})"
    if c.conditional:
        loss = f"cGAN ({'DCGAN' if c.loss == 'nonsaturating' else loss} loss, {c.conditioning})"
    elif c.loss == "hinge":
        loss = "hinge GAN"
    return (loss + (" + SN" if c.spectral_norm else "") + (" + FM" if c.feature_matching else "")
            + (" + MS" if c.mode_seeking else ""))


class GANPair(nn.Module):
    """G and D in one module, so the engine saves, resumes and wraps (DDP) them together."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module):
        super().__init__()
        self.G, self.D = generator, discriminator


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


class GANMethod(Method):
    """GAN variants (DCGAN, LSGAN, WGAN, WGAN-GP, hinge, conditional with SN / feature matching, ProGAN)."""

    name = "gans"
    config_class = GANConfig
    manual_optimization = True

    def __init__(self, config: GANConfig):
        super().__init__(config)
        if self.config.grad_accum != 1:
            raise ValueError("gans trains with grad_accum=1 (each step is n_critic D steps and a G step)")
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # its steps call G and D directly: DDP would not sync them
            raise ValueError("gans trains in one process (its 32 px models need no more); run it without torchrun")
        self._info = None
        self._dataset = None
        self.phase = (None, 1.0)  # ProGAN: (level, alpha) of the last step; None = every block

    # ------------------------------------------------------------------ resolved settings
    @property
    def n_critic(self) -> int:
        c = self.config
        if c.n_critic:
            return c.n_critic
        return 1 if c.architecture == "progan" else PAPER_SETTINGS[c.loss][3]

    @property
    def d_norm(self) -> str:
        c = self.config
        if c.d_norm != "auto":
            return c.d_norm
        return "layer" if c.loss == "wgan-gp" else "batch"  # with SN too (see the cgan-sn-ms-digits notes)

    def data_info(self) -> tuple[int, int]:
        """(image channels, number of classes: 0 unless conditional)."""
        if self._info is None:
            ds = self.build_dataset("train")
            k = int(getattr(ds, "num_classes", 0) or 0) if self.config.conditional else 0
            if self.config.conditional and not k:
                raise ValueError(f"dataset {self.config.dataset!r} has no class labels: train it unconditional")
            self._info = (int(ds.channels), k)
        return self._info

    # ------------------------------------------------------------------ model
    def build_model(self) -> GANPair:
        c = self.config
        channels, k = self.data_info()
        if c.architecture == "progan":
            return GANPair(ProGenerator(c.z_dim, c.ngf, channels, c.resolution),
                           ProDiscriminator(c.ngf, channels, c.resolution))
        return GANPair(Generator(c.z_dim, c.ngf, channels, c.resolution, k),
                       Discriminator(c.ndf, channels, c.resolution, self.d_norm, c.spectral_norm, k, c.conditioning,
                                     c.minibatch_std))

    @property
    def optimizer_settings(self) -> tuple[str, float, tuple | None]:
        """(optimizer, G's learning rate, betas): the config's lr, or the paper's when it is 0."""
        c = self.config
        kind, lr, betas, _ = PROGAN_SETTINGS if c.architecture == "progan" else PAPER_SETTINGS[c.loss]
        return kind, c.lr or lr, betas

    def card_learning_rate(self) -> str:
        _, lr, _ = self.optimizer_settings
        d_lr = lr * self.config.d_lr_ratio
        rates = f"{lr:g} for G and D" if d_lr == lr else f"{lr:g} for G, {d_lr:g} for D"
        return rates + (" (the paper's: config lr 0)" if not self.config.lr else "")

    def configure_optimizers(self, model: GANPair) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        kind, lr, betas = self.optimizer_settings
        if kind == "rmsprop":
            return {"g": torch.optim.RMSprop(model.G.parameters(), lr=lr),
                    "d": torch.optim.RMSprop(model.D.parameters(), lr=lr * c.d_lr_ratio)}
        return {"g": torch.optim.Adam(model.G.parameters(), lr=lr, betas=betas),
                "d": torch.optim.Adam(model.D.parameters(), lr=lr * c.d_lr_ratio, betas=betas)}

    def ema_module(self, model: GANPair) -> nn.Module:
        return model.G

    # ------------------------------------------------------------------ training
    def progan_phase(self, step: int) -> tuple[int, float]:
        """(level, alpha) at ``step``: equal stages from ``start_resolution`` up; in each stage after the first,
        the new block fades in over the first half (alpha 0 -> 1) and trains at alpha 1 over the second."""
        c = self.config
        first, last = levels(c.start_resolution) if c.start_resolution >= 8 else 0, levels(c.resolution)
        stage_len = c.steps / (last - first + 1)
        stage = min(int(step / stage_len), last - first)
        if stage == 0:
            return first, 1.0
        return first + stage, min(1.0, 2 * (step - stage * stage_len) / stage_len)

    def _real(self, images: torch.Tensor, level: int | None, alpha: float) -> torch.Tensor:
        """Real images in [-1, 1] at the model's resolution, or at a ProGAN level (blended like G's fade-in)."""
        x = images * 2 - 1
        if x.shape[-1] != self.config.resolution:
            x = F.interpolate(x, size=(self.config.resolution,) * 2, mode="bilinear", antialias=True)
        if level is None:
            return x
        x = F.adaptive_avg_pool2d(x, 4 * 2 ** level)
        if alpha < 1 and level > 0:
            x = alpha * x + (1 - alpha) * F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
        return x

    def _fresh_batch(self, like: dict) -> dict:
        """Another real batch for the extra critic steps (drawn with the global RNG, which resume restores)."""
        if self._dataset is None:
            self._dataset = self.build_dataset("train")
        idx = torch.randint(len(self._dataset), (len(like["image"]),)).tolist()
        batch = self._dataset.get_batch(idx)
        return {k: v.to(like["image"].device) if torch.is_tensor(v) else v for k, v in batch.items()}

    def _labels(self, batch: int, device) -> torch.Tensor | None:
        k = self.data_info()[1]
        return torch.randint(k, (batch,), device=device) if k else None

    def training_step(self, model, batch: dict, ctx: StepContext) -> dict[str, torch.Tensor]:
        c = self.config
        raw = model.module if hasattr(model, "module") else model
        G, D = raw.G, raw.D
        opt_g, opt_d = ctx.optimizers["g"], ctx.optimizers["d"]
        level, alpha = self.progan_phase(ctx.step) if c.architecture == "progan" else (None, 1.0)
        if level is not None:
            G.level = D.level = level
            G.alpha = D.alpha = alpha
        self.phase = (level, alpha)
        conditional = bool(self.data_info()[1])
        B = len(batch["image"])
        stats: dict[str, float] = {}

        set_requires_grad(G, False)
        set_requires_grad(D, True)
        for i in range(self.n_critic):
            b = batch if i == 0 else self._fresh_batch(batch)
            real = self._real(b["image"], level, alpha)
            y_real = b["label"].long() if conditional else None
            y_fake = self._labels(B, real.device)
            with torch.no_grad():
                fake = G(sample_z(B, c.z_dim, device=real.device), y_fake)
            s_real, _ = D(real, y_real)
            s_fake, _ = D(fake, y_fake)
            loss = d_loss(c.loss, s_real, s_fake)
            if c.loss == "wgan-gp":
                penalty, norm = gradient_penalty(lambda x: D(x, y_real)[0], real, fake)
                loss = loss + c.gp_lambda * penalty
                stats["gp"], stats["gp_grad_norm"] = float(penalty.detach()), float(norm)
            if c.architecture == "progan" and c.loss in CRITICS and c.drift:
                loss = loss + c.drift * (s_real ** 2).mean()
            opt_d.zero_grad(set_to_none=True)
            ctx.backward(loss)
            stats["d_grad_norm"] = float(torch.nn.utils.clip_grad_norm_(D.parameters(), float("inf")))
            opt_d.step()
            if c.loss == "wgan":
                clip_weights(D, c.clip_value)
        stats.update(loss_d=float(loss.detach()), d_real=float(s_real.detach().mean()),
                     d_fake=float(s_fake.detach().mean()))
        if c.loss in CRITICS:
            stats["w_estimate"] = stats["d_real"] - stats["d_fake"]  # E D(x) - E D(G(z)) ≈ Wasserstein-1 (times K)

        set_requires_grad(G, True)
        set_requires_grad(D, False)
        y_fake = self._labels(B, real.device)
        if c.mode_seeking and y_fake is not None:  # two halves, same labels, different z
            y_fake = torch.cat([y_fake[:B // 2]] * 2) if B % 2 == 0 else y_fake
        z = sample_z(B, c.z_dim, device=real.device)
        fake = G(z, y_fake)
        s_fake, f_fake = D(fake, y_fake)
        loss_g = g_loss(c.loss, s_fake)
        if c.mode_seeking and B % 2 == 0:
            ms = mode_seeking_loss(fake, z)
            loss_g = loss_g + c.mode_seeking * ms
            stats["mode_seeking"] = float(ms.detach())
        if c.feature_matching:
            with torch.no_grad():
                _, f_real = D(real, y_real)
            fm = feature_matching_loss(f_real, f_fake)
            loss_g = loss_g + fm
            stats["feature_matching"] = float(fm.detach())
        opt_g.zero_grad(set_to_none=True)
        ctx.backward(loss_g)
        opt_g.step()
        opt_d.zero_grad(set_to_none=True)
        set_requires_grad(D, True)
        if level is not None:
            stats["resolution"], stats["alpha"] = float(4 * 2 ** level), alpha
        return {"loss_g": loss_g.detach(), **{k: torch.tensor(v) for k, v in stats.items()}}

    # ------------------------------------------------------------------ sampling, export, metrics
    def save_inference(self, module: nn.Module, folder) -> None:
        """config.json + model.safetensors in float16 (the bundled size budget; loading casts back to float32)."""
        from safetensors.torch import save_file

        module.save_pretrained(folder)
        state = {k: v.detach().half().contiguous() if v.is_floating_point() else v.contiguous()
                 for k, v in module.state_dict().items()}
        save_file(state, f"{folder}/model.safetensors")

    def load_inference(self, folder) -> nn.Module:
        from .service import load_generator

        return load_generator(folder)

    @torch.no_grad()
    def sample(self, module: nn.Module, num: int, generator: torch.Generator) -> torch.Tensor:
        """``num`` images in [0, 1] at full resolution; conditional ones cycle through the classes 0, 1, ..."""
        level, alpha = self.phase
        if level is not None:  # ProGAN mid-training: the current stage, upsampled (nearest) for the grid
            module.level, module.alpha = level, alpha
        device = next(module.parameters()).device
        labels = torch.arange(num, device=device) % module.num_classes if module.num_classes else None
        x = module(sample_z(num, module.z_dim, generator).to(device), labels)
        if x.shape[-1] != self.config.resolution:
            x = F.interpolate(x, size=(self.config.resolution,) * 2, mode="nearest")
        return ((x + 1) / 2).clamp(0, 1)

    @torch.no_grad()
    def evaluate(self, module: nn.Module) -> dict:
        from .evaluate import evaluate_generator

        if self.config.eval_samples <= 0:
            return {}
        return evaluate_generator(module, self.config.dataset, self.config.eval_samples)

    def model_card_results(self, metrics: dict) -> str:
        from .evaluate import results_markdown

        return results_markdown(metrics)

    def model_card_notes(self) -> str:
        from .evaluate import card_notes

        return card_notes(self.config, self)
