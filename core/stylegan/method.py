"""StyleGAN2 as a GenLab method: config, the G/D pair and the alternating training step for the engine.

    python -m core.train stylegan --dataset faces --steps 3000 --out checkpoints/stylegan/my-faces

Per step (StyleGAN2, Karras et al. 2020, appendix B): one D step with the logistic loss, every
``r1_every`` steps a lazy R1 step, then one G step with the non-saturating loss and style mixing.
The engine keeps an EMA of the generator (G_ema), which is what is exported and sampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.engine import Method, StepContext, TrainConfig, choice, number

from .augment import diff_augment
from .discriminator import Discriminator
from .generator import Generator, default_channels
from .losses import d_logistic_loss, g_nonsaturating_loss, lazy_r1_loss, mix_ws, mixing_cutoff, r1_penalty

DATASETS = ("digits", "faces", "shapes", "folder", "mnist", "fashion_mnist", "cifar10")
AUGMENT_POLICIES = ("", "translation", "color,translation", "color,translation,cutout")


@dataclass
class StyleGANConfig(TrainConfig):
    """StyleGAN2 settings (defaults: the bundled 64x64 faces model, small enough for a CPU).

    Args:
        z_dim, w_dim: latent sizes. mapping_layers / mapping_lr_mul: the mapping MLP.
        channel_base, channel_max: feature maps at resolution r are ``min(channel_base // r, channel_max)``.
        r1_gamma, r1_every: R1 weight gamma and the lazy-regularisation interval.
        mixing_prob: probability of style-mixing regularisation per generated sample.
        diffaug: DiffAugment policy applied to real and fake images before D ("" = none).
        g_start: the generator's updates begin at this step; until then only D trains (lets a fresh D
            catch up with a grown generator after ``--from-export``).
        eval_samples: generated / real images used for the FID in the model card.
    """

    dataset: str = choice("faces", DATASETS)
    steps: int = number(3000, 1, 10_000_000)
    batch_size: int = number(16, 2, 4096, help="at least 2 (minibatch standard deviation)")
    lr: float = number(0.002, 1e-7, 1.0)  # 0 would train nothing
    ema_decay: float = number(0.995, 0.0, 1.0)
    sample_every: int = number(250, 0, 10_000_000)
    checkpoint_every: int = number(250, 0, 10_000_000)
    z_dim: int = number(128, 4, 1024)
    w_dim: int = number(128, 4, 1024)
    mapping_layers: int = number(4, 1, 8)
    mapping_lr_mul: float = number(0.01, 1e-4, 1.0)
    channel_base: int = number(1024, 16, 1 << 20)
    channel_max: int = number(128, 4, 1024)
    r1_gamma: float = number(0.5, 0.0, 1000.0, help="R1 weight; 0 disables")
    r1_every: int = number(16, 1, 1000)
    mixing_prob: float = number(0.9, 0.0, 1.0)
    diffaug: str = choice("translation", AUGMENT_POLICIES, help="DiffAugment policy for small data sets")
    g_start: int = number(0, 0, 10_000_000, help="G updates begin at this step (only D trains before it)")
    eval_samples: int = number(2000, 0, 100_000)

    def validate(self) -> "StyleGANConfig":
        """Also: the resolution, when given, is a power of two >= 8 (checked when a run is asked for, not after it
        waited for the training slot)."""
        super().validate()
        r = self.resolution
        if r and (r < 8 or r & (r - 1)):
            raise ValueError(f"resolution must be 0 (the data's own, rounded up to a power of two) or a power of two "
                             f">= 8, got {r}")
        return self


# the model card's mixing grids: layer set taken from B -> file
MIXING_FIGURES = {"coarse": "style_mixing_coarse.png", "middle": "style_mixing_middle.png",
                  "fine": "style_mixing_fine.png", "middle + fine": "style_mixing_middle_fine.png",
                  "8 px and up": "style_mixing_8px_up.png"}


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


class StyleGANPair(nn.Module):
    """G and D in one module whose ``forward(mode=...)`` computes one loss, so that under DDP every backward
    follows exactly one forward of the wrapped model (gradients are synchronised).

    Modes: ``"d"`` -> (logistic D loss, D(real) mean, D(fake) mean); ``"r1"`` -> R1 penalty;
    ``"g"`` -> non-saturating G loss with style mixing.
    """

    def __init__(self, generator: Generator, discriminator: Discriminator, mixing_prob: float = 0.9,
                 diffaug: str = ""):
        super().__init__()
        self.G, self.D = generator, discriminator
        self.mixing_prob, self.diffaug = mixing_prob, diffaug

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(diff_augment(x, self.diffaug))

    def generate(self, batch: int, update_w_avg: bool = False) -> torch.Tensor:
        """Fake images with style-mixing regularisation: two z's, crossover at a random layer."""
        G, device = self.G, self.G.const.device
        z1, z2 = torch.randn(2, batch, G.z_dim, device=device)
        ws = G.mapping_ws(z1, update_w_avg=update_w_avg)
        if self.mixing_prob > 0:
            cut = mixing_cutoff(G.num_ws, batch, self.mixing_prob, device=device)
            ws = mix_ws(ws, G.mapping_ws(z2), cut)
        return G.synthesis(ws, noise_mode="random")

    def forward(self, mode: str, real: torch.Tensor | None = None, batch: int = 0):
        if mode == "d":
            with torch.no_grad():
                fake = self.generate(real.shape[0])
            real_logits, fake_logits = self.discriminate(real), self.discriminate(fake)
            return d_logistic_loss(real_logits, fake_logits), real_logits.detach().mean(), fake_logits.detach().mean()
        if mode == "r1":
            return r1_penalty(self.discriminate, real)
        if mode == "g":
            return g_nonsaturating_loss(self.discriminate(self.generate(batch, update_w_avg=True)))
        raise ValueError(f"unknown mode {mode!r}")


class StyleGANMethod(Method):
    """StyleGAN2 (mapping network, modulated convolutions, style mixing, lazy R1, G EMA, DiffAugment)."""

    name = "stylegan"
    config_class = StyleGANConfig
    manual_optimization = True
    find_unused_parameters = True  # the D step runs G under no_grad

    def __init__(self, config: StyleGANConfig):
        super().__init__(config)
        if self.config.grad_accum != 1:
            raise ValueError("stylegan trains with grad_accum=1 (each step is a D step and a G step)")
        self._data_shape = None
        self._last_r1 = 0.0

    # ------------------------------------------------------------------ model
    def data_shape(self) -> tuple[int, int]:
        """(channels, resolution) of the training images: the config's resolution, else the power of two at or above
        the dataset's (the digits' 28 px -> 32; real images are resized to it at each step)."""
        if self._data_shape is None:
            ds = self.build_dataset("train")
            res = self.config.resolution or max(8, 1 << (int(ds.resolution) - 1).bit_length())
            self._data_shape = (ds.channels, res)
        return self._data_shape

    def build_generator(self) -> Generator:
        c = self.config
        channels, res = self.data_shape()
        return Generator(resolution=res, z_dim=c.z_dim, w_dim=c.w_dim, mapping_layers=c.mapping_layers,
                         mapping_lr_mul=c.mapping_lr_mul, channels=default_channels(res, c.channel_base, c.channel_max),
                         image_channels=channels)

    def build_model(self) -> StyleGANPair:
        c = self.config
        G = self.build_generator()
        D = Discriminator(G.resolution, G.channels, G.image_channels)
        return StyleGANPair(G, D, c.mixing_prob, c.diffaug)

    def configure_optimizers(self, model: StyleGANPair) -> dict[str, torch.optim.Optimizer]:
        """Adam(beta1=0, beta2=0.99); D's lr and betas corrected for lazy R1 (StyleGAN2 appendix B)."""
        c = self.config
        ratio = c.r1_every / (c.r1_every + 1) if c.r1_gamma > 0 else 1.0
        return {
            "g": torch.optim.Adam(model.G.parameters(), lr=c.lr, betas=(0.0, 0.99), eps=1e-8),
            "d": torch.optim.Adam(model.D.parameters(), lr=c.lr * ratio, betas=(0.0, 0.99**ratio), eps=1e-8),
        }

    def _apply_learning_rates(self, opt_g, opt_d) -> None:
        c = self.config
        ratio = c.r1_every / (c.r1_every + 1) if c.r1_gamma > 0 else 1.0
        for group in opt_g.param_groups:
            group["lr"], group["betas"] = c.lr, (0.0, 0.99)
        for group in opt_d.param_groups:
            group["lr"], group["betas"] = c.lr * ratio, (0.0, 0.99**ratio)

    def ema_module(self, model: StyleGANPair) -> Generator:
        return model.G

    def continuation_modules(self, model: StyleGANPair) -> dict[str, nn.Module]:
        """The discriminator: exported beside G, so a run whose resume state is lost goes on against the D
        that trained it (a fresh D first undoes part of what G learned)."""
        return {"discriminator": model.D}

    # ------------------------------------------------------------------ training
    def training_step(self, model, batch: dict, ctx: StepContext) -> dict[str, torch.Tensor]:
        c = self.config
        raw = model.module if hasattr(model, "module") else model
        distributed = raw is not model
        opt_g, opt_d = ctx.optimizers["g"], ctx.optimizers["d"]
        self._apply_learning_rates(opt_g, opt_d)  # the config's lr, also after a resume that changed it
        real = batch["image"] * 2 - 1  # (B, C, H, W) in [-1, 1]
        if real.shape[-1] != raw.G.resolution:
            real = nn.functional.interpolate(real, size=(raw.G.resolution,) * 2, mode="bilinear", antialias=True)

        # D step: logistic loss on real vs generated
        if not distributed:
            set_requires_grad(raw.G, False)
            set_requires_grad(raw.D, True)
        loss_d, d_real, d_fake = model(mode="d", real=real)
        opt_d.zero_grad(set_to_none=True)
        ctx.backward(loss_d)
        opt_d.step()

        # lazy R1 on real images
        if c.r1_gamma > 0 and ctx.step % c.r1_every == 0:
            penalty = model(mode="r1", real=real)
            opt_d.zero_grad(set_to_none=True)
            ctx.backward(lazy_r1_loss(penalty, c.r1_gamma, c.r1_every))
            opt_d.step()
            self._last_r1 = float(penalty.detach())

        losses = {"loss_d": loss_d.detach(), "d_real": d_real, "d_fake": d_fake, "r1": torch.tensor(self._last_r1)}
        if ctx.step < c.g_start:  # D catches up with a fixed G
            return losses

        # G step: non-saturating loss with style mixing; updates w_avg
        if not distributed:
            set_requires_grad(raw.G, True)
            set_requires_grad(raw.D, False)
        loss_g = model(mode="g", batch=real.shape[0])
        opt_g.zero_grad(set_to_none=True)
        ctx.backward(loss_g)
        opt_g.step()
        opt_d.zero_grad(set_to_none=True)
        if not distributed:
            set_requires_grad(raw.D, True)
        return {**losses, "loss_g": loss_g.detach()}

    def save_inference(self, module: Generator, folder) -> None:
        """config.json + model.safetensors, plus the figures the model card shows (style mixing, truncation)."""
        from .evaluate import mixing_sets
        from .explore import mixing_grid, truncation_strip, upscale

        module.save_pretrained(folder)
        sets = mixing_sets(module)
        with torch.no_grad():
            for name, file in MIXING_FIGURES.items():
                grid = mixing_grid(module, [1, 2, 3, 4], [5, 6, 7, 8], sets[name], psi=1.0)
                upscale(grid, 2 * grid.width).save(f"{folder}/{file}")
            strip = truncation_strip(module, [1, 2, 3], [-1.0, -0.5, 0.0, 0.5, 0.7, 1.0, 1.5])
            upscale(strip, 2 * strip.width).save(f"{folder}/truncation.png")

    # ------------------------------------------------------------------ sampling, metrics
    @torch.no_grad()
    def sample(self, module: Generator, num: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(num, module.z_dim, generator=generator, device=generator.device)
        return ((module(z.to(module.const.device), psi=1.0, noise_mode="const") + 1) / 2).clamp(0, 1)

    @torch.no_grad()
    def evaluate(self, module: Generator) -> dict:
        """FID / KID (``evaluate_generator``) and, for the faces world, what mixing takes from B
        (``mixing_transfer`` over ``eval_samples / 4`` seed pairs)."""
        from .evaluate import MIXING_WORLDS, crossover_sets, evaluate_generator, mixing_sets, mixing_transfer

        c = self.config
        if c.eval_samples <= 0:
            return {}
        metrics = evaluate_generator(module, self.build_dataset("test"), c.dataset, c.eval_samples)
        if metrics and c.dataset in MIXING_WORLDS:
            pairs = max(c.eval_samples // 4, 1)
            metrics["mixing_pairs"] = pairs
            metrics["mixing_transfer"] = mixing_transfer(module, mixing_sets(module), pairs, c.dataset)
            metrics["mixing_crossover"] = mixing_transfer(module, crossover_sets(module), pairs, c.dataset)
        return metrics

    def model_card_results(self, metrics: dict) -> str:
        return self._coverage_results(metrics) + self._mixing_results(metrics)

    def _coverage_results(self, metrics: dict) -> str:
        from core.metrics import coverage_table

        if "attribute_coverage" not in metrics:
            return ""
        return f"""### Which attribute values the samples show (coverage)

{metrics['eval_images']} samples (psi 1, constant noise) and as many real test images, each read by GenLab's
{self.config.dataset} classifier. TV is the total variation distance between the two frequency lists (0: the
same, 1: nothing in common). A large TV is a mode the generator drops or overproduces, which FID folds into one
number.

{coverage_table(metrics['attribute_coverage'])}

"""

    def _mixing_results(self, metrics: dict) -> str:
        from .evaluate import mixing_table

        if "mixing_transfer" not in metrics:
            return ""
        return f"""### What style mixing takes from B

`python -m core.stylegan.evaluate --checkpoint <name> --pairs {metrics['mixing_pairs']}` gives this table:
{metrics['mixing_pairs']} seed pairs (A, B) at psi 1 with constant noise; the mix is A with B's w on the named layers.
GenLab's {self.config.dataset} attribute classifier reads A, B and the mix. Each cell counts the pairs where the
classifier reads A and B differently, and gives how often the mix shows B's value / A's value; the rest of the mixes
show a third value that belongs to neither seed. Shape attributes come first, then colours.

{mixing_table(metrics['mixing_transfer'])}
{self._cleanest_split(metrics['mixing_transfer'])}{self._crossover_results(metrics)}"""

    @staticmethod
    def _cleanest_split(transfer: dict) -> str:
        from .evaluate import SPLIT_COLOURS, SPLIT_SHAPES, cleanest_split, split_score

        best = cleanest_split(transfer)
        if best is None:
            return ""
        names = lambda heads: ", ".join(h.replace("_", " ") for h in heads)
        return (f"\nThe cleanest split of A's shapes from B's colours is **{best}** (the tab opens on it): the smaller "
                f"of A's mean share over {names(SPLIT_SHAPES)} and B's over {names(SPLIT_COLOURS)} is "
                f"{100 * split_score(transfer[best]):.0f} %.\n")

    @staticmethod
    def _crossover_results(metrics: dict) -> str:
        from .evaluate import crossover_report

        if "mixing_crossover" not in metrics:
            return ""
        return f"""
### Where each attribute lives (crossover)

The same pairs. {crossover_report(metrics['mixing_crossover'])}
"""

    def model_card_notes(self) -> str:
        c = self.config
        channels, res = self._data_shape or (None, c.resolution)
        return f"""A StyleGAN2 generator (Karras et al. 2020, [arXiv:1912.04958](https://arxiv.org/abs/1912.04958))
trained from scratch with GenLab's own implementation (`core/stylegan`): an {c.mapping_layers}-layer mapping
network (lr multiplier {c.mapping_lr_mul:g}, z_dim {c.z_dim}, w_dim {c.w_dim}), a learned 4x4 constant,
modulated/demodulated 3x3 convolutions with per-layer noise, toRGB skips, equalized learning rate; a residual
discriminator with minibatch std; non-saturating logistic loss, lazy R1 (gamma {c.r1_gamma:g} every
{c.r1_every} steps), style-mixing regularisation (p = {c.mixing_prob:g}), DiffAugment policy
`{c.diffaug or 'none'}`. The weights are the generator EMA (decay {c.ema_decay:g}); `w_avg` (the truncation
centre) is stored as a buffer of the mapping network.

Load it with `core.stylegan.generator.Generator.from_pretrained(folder)`; `G(z, psi=0.7)` gives images in
[-1, 1]. The samples below use psi = 1 (no truncation) and constant noise.

### Style mixing (StyleGAN figure 3)

Top row: seeds B = 5..8; left column: seeds A = 1..4; each cell is A with B's w on the named layers (psi 1).

Coarse layers (4-8 px) from B: ![coarse](style_mixing_coarse.png)

Middle layers (16-32 px) from B: ![middle](style_mixing_middle.png)

Fine layers (64 px and up) from B: ![fine](style_mixing_fine.png)

Middle and fine layers (16 px and up) from B (A keeps the coarse layers): ![middle + fine](style_mixing_middle_fine.png)

Every layer from 8 px up from B (A keeps only the 4x4 convolution, w0): ![8 px and up](style_mixing_8px_up.png)

### Truncation

Rows: seeds 1, 2, 3; columns: psi = -1, -0.5, 0, 0.5, 0.7, 1, 1.5 (psi 0 is the mean face, the same for every seed).

![truncation](truncation.png)
"""
