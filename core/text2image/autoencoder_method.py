"""Training the latent autoencoder (``python -m core.train autoencoder``): an ``AutoencoderKL`` on a world.

Loss (Rombach et al. 2022 sec. 3, without its perceptual term, which needs a pretrained network):
L = ||x - D(z)||_1 + kl_weight KL(q(z|x) || N(0, I)), z ~ q(z|x) = N(mu(x), sigma(x)^2) (reparameterised);
with ``edge_weight`` > 0 the L1 is weighted towards the image's edges (:func:`edge_weighted_l1`); with ``lambda_adv``
> 0 a PatchGAN critic's hinge term is added with the adaptive weight of Esser et al. 2021 (:class:`AutoencoderWithCritic`).
``decoder_only`` trains D alone on z ~ q(z|x) of the frozen encoder (the KL term is then a constant).
At export the latent's scale is measured and saved as ``scaling_factor`` = 1 / std(z) (as Stable Diffusion's 0.18215),
so the diffusion model sees latents of unit variance.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from core.engine import Method

from .config import AutoencoderConfig

SCALE_IMAGES = 256
SHAPE_SCENES = 600     # held-out shapes scenes whose one-object ones measure what the latent keeps


@torch.no_grad()
def reconstruct(vae, images: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
    """D(mu(x)): images (N, 3, H, W) in [0, 1] -> their round trip through ``vae`` (N, 3, H, W) in [0, 1], on the
    images' device; run in batches on the autoencoder's device."""
    device = next(vae.parameters()).device
    out = [(vae.decode(vae.encode(images[s:s + batch_size].to(device) * 2 - 1).latent_dist.mean).sample / 2 + 0.5)
           .clamp(0, 1) for s in range(0, len(images), batch_size)]
    return torch.cat(out).to(images.device)


def edge_map(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) in [0, 1]: the absolute horizontal plus vertical finite differences of ``x`` (N, C, H, W), summed
    over channels, dilated by a 3x3 max (both sides of an edge) and clipped to 1."""
    dx = F.pad((x[..., :, 1:] - x[..., :, :-1]).abs().sum(1, keepdim=True), (0, 1))
    dy = F.pad((x[..., 1:, :] - x[..., :-1, :]).abs().sum(1, keepdim=True), (0, 0, 0, 1))
    return F.max_pool2d(dx + dy, 3, stride=1, padding=1).clamp(max=1)


def edge_weighted_l1(x_hat: torch.Tensor, x: torch.Tensor, edge_weight: float,
                     output_edges: bool = False) -> torch.Tensor:
    """sum_i w_i |x_hat_i - x_i| / sum_i w_i over pixels and channels, w = 1 + edge_weight * edge_map(x): the L1 with an
    object's outline weighing up to 1 + edge_weight times a flat pixel. Equals ``F.l1_loss`` at ``edge_weight`` 0.

    With ``output_edges`` the weight is 1 + edge_weight * max(edge_map(x), edge_map(x_hat)) (the map of x_hat taken
    as a constant): an edge the decoder draws where x has none (a ghost beside an object, a ring in a flat
    background) weighs as much as a real outline, instead of being one flat pixel among thousands.
    x_hat, x: (N, C, H, W) in [-1, 1]."""
    if edge_weight == 0:
        return F.l1_loss(x_hat, x)
    edges = edge_map(x)
    if output_edges:
        edges = torch.maximum(edges, edge_map(x_hat.detach()))
    w = 1 + edge_weight * edges
    return (w * (x_hat - x).abs()).mean() / w.mean()


def off_edge_peaks(x_hat: torch.Tensor, x: torch.Tensor, margin: int = 3) -> torch.Tensor:
    """(N,): per image, the largest error of a 3x3 patch away from the image's edges: the mean over the patch of
    |x_hat - x| summed over channels (0 = exact, 3 = white for black), among pixels more than ``margin`` px from any
    edge of x (``edge_map(x)`` > 0.05). A blob the decoder draws on flat background, such as a ghost beside an object,
    shows here; the blurring of a real outline does not. x_hat, x: (N, C, H, W) in [0, 1]."""
    err = (x_hat - x).abs().sum(1, keepdim=True)
    near = F.max_pool2d(edge_map(x), 2 * margin + 1, stride=1, padding=margin) > 0.05
    patch = F.avg_pool2d(err, 3, stride=1, padding=1, count_include_pad=False)
    return patch.masked_fill(near, 0).amax((1, 2, 3))


def adaptive_weight(rec_loss: torch.Tensor, adv_loss: torch.Tensor, last_layer: torch.Tensor,
                    max_weight: float = 1e4) -> torch.Tensor:
    """Esser et al. 2021 eq. 7: lambda = ||grad_{G_L} L_rec|| / (||grad_{G_L} L_adv|| + 1e-4), clamped to
    [0, ``max_weight``] and detached, G_L the weight of the decoder's last layer: the adversarial gradient is scaled
    to the size of the reconstruction's, whatever their losses' scales."""
    g_rec = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_adv = torch.autograd.grad(adv_loss, last_layer, retain_graph=True)[0]
    return (g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0, max_weight).detach()


def reconstruction_loss(vae, x: torch.Tensor, config) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(L_rec, KL per pixel, x_hat) for images x (B, 3, H, W) in [-1, 1]: x_hat = D(z), z ~ q(z|x) reparameterised,
    L_rec the (edge-weighted) L1 of ``config``. No graph through the encoder when ``decoder_only`` froze it."""
    posterior = vae.encode(x).latent_dist
    x_hat = vae.decode(posterior.sample()).sample                   # (B, 3, H, W)
    rec = edge_weighted_l1(x_hat.float(), x.float(), config.edge_weight, config.output_edges)
    return rec, posterior.kl().mean() / x[0].numel(), x_hat


class AutoencoderWithCritic(nn.Module):
    """The autoencoder and a PatchGAN critic (Isola et al. 2017; without normalisation layers: judged batch by batch,
    a batch-normalised critic could not tell 36 dB reconstructions from the images) that judges patches of x against
    patches of D(z), trained with the hinge loss: L_critic = E[relu(1 - C(x))] + E[relu(1 + C(D(z)))], L_adv = -E[C(D(z))].
    ``forward(mode="g")`` gives the decoder's loss (without the adversarial term when ``adversarial`` is False) and
    ``mode="d"`` the critic's (one module, so DDP sees both)."""

    def __init__(self, vae, config):
        from core.translation.networks import NLayerDiscriminator

        super().__init__()
        self.vae = vae
        self.critic = NLayerDiscriminator(3, config.ndf, config.n_layers_D, "none")
        self.config = config

    def forward(self, mode: str, x: torch.Tensor, x_hat: torch.Tensor | None = None, adversarial: bool = True):
        c = self.config
        if mode == "d":                                              # x, x_hat (detached): (B, 3, H, W) in [-1, 1]
            loss = F.relu(1 - self.critic(x)).mean() + F.relu(1 + self.critic(x_hat)).mean()
            return loss, {"critic": loss.detach()}
        rec, kl, x_hat = reconstruction_loss(self.vae, x, c)
        adv = -self.critic(x_hat).mean()
        lam = adaptive_weight(rec, adv, self.vae.decoder.conv_out.weight) if adversarial else torch.zeros(())
        loss = rec + c.kl_weight * kl + c.lambda_adv * lam * adv
        return loss, {"l1": rec.detach(), "kl": kl.detach(), "adv": adv.detach(), "adaptive_weight": lam}, x_hat


class AutoencoderMethod(Method):
    """A KL autoencoder (diffusers ``AutoencoderKL``) for latent diffusion."""

    name = "autoencoder"
    checkpoint_dir = "text2image"  # its models sit beside the text-to-image ones that use them
    config_class = AutoencoderConfig

    def build_dataset(self, split: str = "train"):
        from core.data import get_dataset

        if not hasattr(self, "_datasets"):
            self._datasets = {}
        if split not in self._datasets:
            self._datasets[split] = get_dataset(self.config.dataset, split=split, resolution=self.config.resolution)
        return self._datasets[split]

    @property
    def manual_optimization(self) -> bool:
        """With a critic (``lambda_adv`` > 0) the step alternates the decoder's and the critic's updates itself."""
        return self.config.lambda_adv > 0

    def build_model(self):
        from .models import build_autoencoder

        c = self.config
        model = build_autoencoder(c.resolution, c.widths, c.layers_per_block)
        if c.decoder_only:                                           # q(z|x) frozen: the latent space stays as it is
            model.encoder.requires_grad_(False)
            model.quant_conv.requires_grad_(False)
        return AutoencoderWithCritic(model, c) if c.lambda_adv > 0 else model

    def ema_module(self, model):
        return model.vae if isinstance(model, AutoencoderWithCritic) else model

    def continuation_modules(self, model) -> dict:
        return {"critic": model.critic} if isinstance(model, AutoencoderWithCritic) else {}

    def configure_optimizers(self, model):
        if not isinstance(model, AutoencoderWithCritic):
            return super().configure_optimizers(model)
        c, betas = self.config, (0.5, 0.9)                           # Esser et al. 2021's Adam settings
        trainable = [p for p in model.vae.parameters() if p.requires_grad]
        return {"g": torch.optim.Adam(trainable, lr=c.lr, betas=betas),
                "d": torch.optim.Adam(model.critic.parameters(), lr=c.critic_lr or c.lr, betas=betas)}

    def training_step(self, model, batch, ctx):
        x = batch["image"] * 2 - 1                                   # (B, 3, H, W) in [-1, 1]
        if self.manual_optimization:
            return self._adversarial_step(model, x, ctx)
        l1, kl, _ = reconstruction_loss(model, x, self.config)
        return {"loss": l1 + self.config.kl_weight * kl, "l1": l1.detach(), "kl": kl.detach()}

    def _adversarial_step(self, model, x, ctx):
        raw = model.module if hasattr(model, "module") else model
        distributed = raw is not model
        if not distributed:
            raw.critic.requires_grad_(False)                         # the decoder's step: the critic is a fixed judge
        loss, logs, x_hat = model(mode="g", x=x, adversarial=ctx.step >= self.config.disc_start)
        ctx.optimizers["g"].zero_grad(set_to_none=True)
        ctx.backward(loss)
        if self.config.grad_clip > 0:
            ctx.accelerator.clip_grad_norm_(raw.vae.parameters(), self.config.grad_clip)
        ctx.optimizers["g"].step()
        if not distributed:
            raw.critic.requires_grad_(True)
        loss_d, logs_d = model(mode="d", x=x, x_hat=x_hat.detach())
        ctx.optimizers["d"].zero_grad(set_to_none=True)
        ctx.backward(loss_d)
        ctx.optimizers["d"].step()
        return {"loss": loss.detach(), **logs, **logs_d}

    @torch.no_grad()
    def latent_std(self, module) -> float:
        """std of z = mu(x) over held-out images (the inverse of the scaling factor)."""
        device = next(module.parameters()).device
        x = self.build_dataset("test").get_batch(list(range(SCALE_IMAGES)))["image"].to(device) * 2 - 1
        return float(module.encode(x).latent_dist.mean.float().std())

    @torch.no_grad()
    def sample(self, module, num, generator):
        """Reconstructions: held-out images (odd rows) above their reconstructions (even rows)."""
        device = next(module.parameters()).device
        per_row = self.sample_layout(num)[0]
        x = self.build_dataset("test").get_batch(list(range(num)))["image"].to(device)
        x_hat = reconstruct(module, x)
        rows = []
        for s in range(0, num, per_row):
            rows += [x[s:s + per_row], x_hat[s:s + per_row]]
        return torch.cat(rows)[:num]

    def sample_layout(self, num):
        per_row = max(1, int(num ** 0.5 + 0.999))
        return per_row, ["held-out x", "reconstruction"] * -(-num // (2 * per_row)), []

    def save_inference(self, module, folder) -> None:
        module = copy.deepcopy(module)
        module.register_to_config(scaling_factor=1.0 / max(self.latent_std(module), 1e-6))
        if self.config.weights_dtype == "float16":
            module = module.half()
        module.save_pretrained(folder)

    def load_inference(self, folder):
        from core.diffusion.lib import diffusers_class
        AutoencoderKL = diffusers_class("AutoencoderKL")

        return AutoencoderKL.from_pretrained(folder, dtype=torch.float32)

    @torch.no_grad()
    def evaluate(self, module) -> dict:
        """PSNR (dB) and L1 of reconstructions of held-out images, the median and 90th percentile over them of
        ``off_edge_peaks`` (``off_edge_peak/*``), the latent's std, and on the shapes world what the round trip keeps
        of each object's shape (``shapes_kept``)."""
        c = self.config
        if c.eval_images <= 0:
            return {}
        device = next(module.parameters()).device
        ds = self.build_dataset("test")
        errors, l1s, peaks = [], [], []
        for s in range(0, c.eval_images, 64):
            x = ds.get_batch(list(range(s, min(s + 64, c.eval_images))))["image"].to(device)
            x_hat = reconstruct(module, x)
            errors.append(((x_hat - x) ** 2).flatten(1).mean(1))
            l1s.append((x_hat - x).abs().flatten(1).mean(1))
            peaks.append(off_edge_peaks(x_hat, x))
        mse, peaks = torch.cat(errors), torch.cat(peaks)
        metrics = {"psnr_db": float((10 * torch.log10(1 / mse.clamp_min(1e-10))).mean()),
                   "l1": float(torch.cat(l1s).mean()), "off_edge_peak/median": float(peaks.median()),
                   "off_edge_peak/p90": float(peaks.quantile(0.9)), "latent_std": self.latent_std(module)}
        if c.dataset == "shapes":
            metrics.update(self.shapes_kept(module))
        return metrics

    @torch.no_grad()
    def shapes_kept(self, module, num: int = SHAPE_SCENES, scenes: tuple | None = None) -> dict:
        """How often the bundled shapes classifier reads the right shape in the one-object scenes among the first ``num``
        held-out images, per object size: ``shape_read/<size>`` on the images, ``shape_kept/<size>`` on their round trip
        D(mu(x)). The second is the most any diffusion model in this latent space can draw. {} without the classifier.
        ``scenes``: those scenes already drawn (:func:`core.text2image.evaluate.one_object_scenes`), instead of ``num``."""
        from core.engine import list_checkpoints
        from core.metrics import load_classifier

        from .evaluate import SIZES_FOR_HOLDOUT, one_object_scenes, read_attributes

        if "shapes" not in list_checkpoints("classifier"):
            return {}
        images, _, sizes, objects = scenes or one_object_scenes("test", num, self.config.resolution)
        classifier = load_classifier("shapes", None, "cpu")
        read = read_attributes(images, objects, classifier)["shape"]
        kept = read_attributes(reconstruct(module, images), objects, classifier)["shape"]
        metrics = {}
        for k, size in enumerate(SIZES_FOR_HOLDOUT):
            rows = (sizes == k).nonzero().flatten().tolist()
            if rows:
                metrics[f"shape_read/{size}"] = sum(read[j] for j in rows) / len(rows)
                metrics[f"shape_kept/{size}"] = sum(kept[j] for j in rows) / len(rows)
        return metrics

    def model_card_notes(self) -> str:
        c = self.config
        f = 2 ** (len(c.widths) - 1)
        loss = f"L1 + {c.kl_weight:g} KL"
        if c.decoder_only:
            loss += "; the last leg trained the decoder alone, the encoder frozen"
        if c.edge_weight:
            loss += (", with" if c.decoder_only else ";") + \
                f" the L1 weighted towards edges (lambda_edge {c.edge_weight:g}, `edge_weighted_l1`)"
            if c.output_edges:
                loss += ", those the reconstruction draws as well as the image's"
        if c.lambda_adv:
            loss += (f"; plus {c.lambda_adv:g} x a PatchGAN critic's hinge term with the adaptive weight of Esser et al. "
                     f"2021 (ndf {c.ndf}, {c.n_layers_D} layers)")
        return f"""A KL-regularised autoencoder for latent diffusion ([Rombach et al. 2022](https://arxiv.org/abs/2112.10752),
sec. 3): diffusers `AutoencoderKL`, widths {list(c.widths)}, a {c.resolution} px RGB image <-> a 4 x {c.resolution // f} x
{c.resolution // f} latent (f = {f}, {3 * f * f / 4:g}x fewer numbers). Loss: {loss}. `scaling_factor` in
`config.json` is 1 / std of the latent on {SCALE_IMAGES} held-out images. `samples.png`: held-out images (odd rows) above
their reconstructions (even rows). `psnr_db` / `l1`: reconstruction of the first {c.eval_images} held-out images.

Load: `diffusers.AutoencoderKL.from_pretrained("checkpoints/text2image/<name>")`.
"""
