"""Training a class-conditional DDPM through the shared engine (``python -m core.train diffusion``).

Loss (Ho et al. 2020, Algorithm 1 / eq. 14, "L_simple"): E_{x0, t, eps} || target - net(x_t, t, y) ||^2 with
x_t = q_sample(x0, t, eps) (eq. 4) and target = eps (epsilon prediction) or v (Salimans & Ho 2022).
Label dropout replaces y by the null class with probability ``label_dropout`` (Ho & Salimans 2022,
Algorithm 1), so the same network is also unconditional. When ``noisy_classifier`` is on, a small
classifier p(y | x_t, t) learns on the same x_t (Dhariwal & Nichol 2021) for classifier guidance.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from core.engine import Method

from .config import DiffusionConfig
from .forward import q_sample, v_target
from .model import DiffusionModel, NoisyClassifier, build_unet
from .pipeline import DiffusionBundle, save_bundle
from .schedules import alphas_cumprod, make_scheduler

CLASSIFIER_LOSS_WEIGHT = 0.1
NEAR_BLACK = 0.05  # a pixel at most this bright (13 of 255) counts as clean background


def speckled_share(images: torch.Tensor, reach: int = 3, min_pixels: int = 4) -> float:
    """Share of grey-on-black images (N, 1, H, W) in [0, 1] with speckle: at least ``min_pixels`` pixels
    brighter than ``NEAR_BLACK`` with no ink (> 0.5) within ``reach`` pixels, i.e. noise on the paper."""
    paper = F.max_pool2d(images, 2 * reach + 1, 1, reach) < 0.5  # (N, 1, H, W): far from every stroke
    grey = (images > NEAR_BLACK) & paper
    return float((grey.flatten(1).sum(1) >= min_pixels).float().mean())


class DiffusionMethod(Method):
    """DDPM / DDIM: a class-conditional UNet2DModel trained to denoise (Ho et al. 2020)."""

    name = "diffusion"
    config_class = DiffusionConfig

    def __init__(self, config: DiffusionConfig):
        super().__init__(config)
        self._datasets: dict = {}

    # ------------------------------------------------------------------ data and model
    def build_dataset(self, split: str = "train"):
        if split not in self._datasets:
            self._datasets[split] = super().build_dataset(split)
        return self._datasets[split]

    def _data_info(self) -> tuple[int, int, int, list[str]]:
        """(channels, resolution, K classes (0 if unconditional), class names) of the training data."""
        ds = self.build_dataset("train")
        c = self.config
        num_classes = int(getattr(ds, "num_classes", 0) or 0) if c.class_conditional else 0
        names = [str(n) for n in getattr(ds, "class_names", [])][:num_classes] or [str(i) for i in range(num_classes)]
        return int(ds.channels), int(c.resolution or ds.resolution), num_classes, names

    def build_model(self) -> DiffusionModel:
        channels, resolution, num_classes, _ = self._data_info()
        c = self.config
        unet = build_unet(resolution, channels, c.channels, c.layers_per_block, num_classes)
        classifier = NoisyClassifier(channels, num_classes) if (c.noisy_classifier and num_classes) else None
        return DiffusionModel(unet, classifier)

    def _alphas_cumprod(self, device) -> torch.Tensor:
        if getattr(self, "_ab", None) is None or self._ab.device != torch.device(device):
            self._ab = alphas_cumprod(self.config.schedule, self.config.num_train_timesteps).to(device)
        return self._ab

    # ------------------------------------------------------------------ training
    def training_step(self, model, batch, ctx) -> dict[str, torch.Tensor]:
        c = self.config
        x0 = batch["image"] * 2 - 1                                     # (B, C, H, W) in [-1, 1]
        if x0.shape[-1] != (c.resolution or x0.shape[-1]):
            x0 = F.interpolate(x0, size=(c.resolution, c.resolution), mode="bilinear", antialias=True)
        B, device = x0.shape[0], x0.device
        ab = self._alphas_cumprod(device)
        t = torch.randint(0, c.num_train_timesteps, (B,), device=device)  # t ~ U{0..T-1}
        noise = torch.randn_like(x0)                                    # eps ~ N(0, I)
        x_t = q_sample(x0, t, ab, noise)                                # eq. 4
        labels, drop_labels = None, None
        _, _, num_classes, _ = self._data_info()
        if num_classes:
            labels = batch["label"].to(device).long().view(B)
            drop = torch.rand(B, device=device) < c.label_dropout      # CFG label dropout
            drop_labels = torch.where(drop, torch.full_like(labels, num_classes), labels)
        classify = labels is not None and c.noisy_classifier
        out, logits = model(x_t, t, drop_labels, classify=classify)
        target = noise if c.prediction_type == "epsilon" else v_target(x0, noise, ab[t].view(B, 1, 1, 1))
        mse = F.mse_loss(out.float(), target.float())                   # L_simple, eq. 14
        losses = {"loss": mse, "mse": mse.detach()}
        if classify:
            ce = F.cross_entropy(logits.float(), labels)
            losses["loss"] = mse + CLASSIFIER_LOSS_WEIGHT * ce
            losses["classifier_ce"] = ce.detach()
            losses["classifier_acc"] = (logits.argmax(1) == labels).float().mean().detach()
        return losses

    # ------------------------------------------------------------------ inference
    def _scheduler(self):
        c = self.config
        return make_scheduler("ddpm", c.schedule, c.num_train_timesteps, c.prediction_type)

    def bundle(self, module: DiffusionModel) -> DiffusionBundle:
        """An inference bundle around the live (EMA) module, as :func:`load_bundle` would give."""
        _, _, _, names = self._data_info()
        return DiffusionBundle(module.unet, dict(self._scheduler().config), module.classifier, names,
                               self.config.schedule, source="training", dataset=self.config.dataset)

    def _labels(self, num: int, device) -> torch.Tensor | None:
        _, _, num_classes, _ = self._data_info()
        return torch.arange(num, device=device) % num_classes if num_classes else None

    @torch.no_grad()
    def generate(self, module, labels, generator, steps: int, guidance: float) -> torch.Tensor:
        """DDIM (eta 0) samples in [0, 1] for class ``labels`` (N,), in batches of 100."""
        from .sampling import sample_images

        bundle = self.bundle(module)
        out = []
        for s in range(0, len(labels), 100):
            lab = labels[s:s + 100]
            out.append(sample_images(bundle, len(lab), sampler="ddim", steps=steps, generator=generator,
                                     class_labels=lab, guidance=guidance).cpu())
        return torch.cat(out)

    @torch.no_grad()
    def sample(self, module, num, generator):
        from .sampling import sample_images

        c = self.config
        labels = self._labels(num, generator.device)
        if labels is None:
            return sample_images(self.bundle(module), num, sampler="ddim", steps=c.sample_steps, generator=generator)
        return self.generate(module, labels, generator, c.sample_steps, c.sample_guidance)

    def save_inference(self, module, folder) -> None:
        _, _, _, names = self._data_info()
        save_bundle(module, folder, self._scheduler(), names, self.config.schedule, self.config.dataset)

    def load_inference(self, folder) -> DiffusionModel:
        """The UNet (and noisy classifier) that ``save_bundle`` wrote to ``folder``."""
        from safetensors.torch import load_model

        model = self.build_model()
        load_model(model.unet, f"{folder}/diffusion_pytorch_model.safetensors")
        if model.classifier is not None:
            load_model(model.classifier, f"{folder}/noisy_classifier/model.safetensors")
        return model

    # ------------------------------------------------------------------ evaluation
    def evaluation_note(self) -> str:
        c = self.config
        if c.eval_samples <= 0:
            return "measuring the held-out denoising loss for the card"
        return (f"measuring the model for its card: the held-out loss, then {c.eval_samples} samples of {c.eval_steps} "
                f"DDIM steps each, scored by the {c.dataset} classifier (eval_samples sets how many; 0 skips them)")

    @torch.no_grad()
    def evaluate(self, module) -> dict[str, float]:
        """Held-out denoising loss; with a classifier of the dataset (``checkpoints/classifier/<dataset>``): class
        accuracy and FID of samples in its features, and for grey images how clean the paper is."""
        from core.engine import make_generator

        c = self.config
        device = next(module.parameters()).device
        metrics = {"test_mse": self._test_mse(module, device)}
        if c.eval_samples <= 0:
            return metrics
        from core.engine import list_checkpoints

        _, _, num_classes, names = self._data_info()
        world = c.dataset
        if not num_classes or world not in list_checkpoints("classifier"):
            print(f"no {world} classifier (checkpoints/classifier/{world}; for MNIST or CIFAR-10 train one with "
                  f"python -m core.train classifier --dataset {world}): sample metrics skipped", flush=True)
            return metrics
        from core.metrics import frechet_distance, label_accuracy, label_head, load_feature_extractor, reference_images

        labels = torch.arange(c.eval_samples) % num_classes
        images = self.generate(module, labels.to(device), make_generator(c.seed + 1, device), c.eval_steps,
                               c.sample_guidance)
        try:
            extractor = load_feature_extractor(world)  # one load for the label head and the FID features
            if label_head(world, extractor.classifier):  # the digit, the hair style, the CIFAR class
                metrics.update(label_accuracy(images, labels, world, names, classifier=extractor.classifier))
            real = reference_images(world, len(images), resolution=c.resolution or None)
            metrics[f"fid_{world}_classifier_features"] = frechet_distance(real, images, world=world,
                                                                           extractor=extractor)
            if images.shape[1] == 1:  # grey ink on black: is the paper as clean as the world's?
                metrics["near_black_share"] = float((images <= NEAR_BLACK).float().mean())
                metrics["world_near_black_share"] = float((real <= NEAR_BLACK).float().mean())
                metrics["speckled_share"] = speckled_share(images)
                metrics["world_speckled_share"] = speckled_share(real)
        except Exception as exc:  # a missing bundled classifier must not lose a finished training
            print(f"evaluation with the {world} classifier skipped: {exc}", flush=True)
        return metrics

    @torch.no_grad()
    def _test_mse(self, module, device, num: int = 512) -> float:
        """L_simple on held-out images (fixed t and noise per image, label given)."""
        c = self.config
        ds = self.build_dataset("test")
        batch = ds.get_batch(list(range(min(num, len(ds)))))
        g = torch.Generator().manual_seed(1234)
        x0 = batch["image"].to(device) * 2 - 1
        if c.resolution and x0.shape[-1] != c.resolution:
            x0 = F.interpolate(x0, size=(c.resolution, c.resolution), mode="bilinear", antialias=True)
        t = torch.randint(0, c.num_train_timesteps, (len(x0),), generator=g).to(device)
        noise = torch.randn(x0.shape, generator=g).to(device)
        ab = self._alphas_cumprod(device)
        labels = batch["label"].to(device).long() if module.unet.config.num_class_embeds else None
        out = module.unet(q_sample(x0, t, ab, noise), t, class_labels=labels).sample
        target = noise if c.prediction_type == "epsilon" else v_target(x0, noise, ab[t].view(-1, 1, 1, 1))
        return float(F.mse_loss(out, target))

    def model_card_notes(self) -> str:
        c = self.config
        return f"""A denoising diffusion model (DDPM, [Ho et al. 2020](https://arxiv.org/abs/2006.11239)): diffusers
`UNet2DModel` with widths {list(c.channels)}, {c.layers_per_block} resnet block(s) per level, self-attention at the
lowest resolution{', class-conditional through a class embedding with a null class for classifier-free guidance ([Ho & Salimans 2022](https://arxiv.org/abs/2207.12598)), label dropout ' + format(c.label_dropout, 'g') if c.class_conditional else ''}.
Noise schedule `{c.schedule}` over T = {c.num_train_timesteps} steps, {c.prediction_type} prediction, EMA weights.
{'A small noisy-image classifier p(y | x_t, t) (folder `noisy_classifier/`) is trained alongside for classifier guidance ([Dhariwal & Nichol 2021](https://arxiv.org/abs/2105.05233)).' if c.noisy_classifier and c.class_conditional else ''}

Samples and metrics: DDIM (eta 0), {c.sample_steps} steps for `samples.png` (row-major, class = index mod number of
classes), {c.eval_steps} steps for the metrics, guidance scale {c.sample_guidance:g}. `class_accuracy*`: the bundled
world classifier (`checkpoints/classifier/<world>`) on {c.eval_samples} samples, the fraction read as the class asked
for, per class. `fid_*_classifier_features`: FID between those samples and as many held-out test images **in the
penultimate features of that classifier (not Inception)**, comparable only within GenLab. `test_mse`: the training
loss on 512 held-out images. Grey worlds: `near_black_share`, the share of sample pixels at most {NEAR_BLACK:g} bright
(clean background; speckle and bolder strokes lower it), beside `world_near_black_share` of the held-out images;
`speckled_share`, the share of samples with 4 or more such grey pixels at least 4 px from any stroke (noise on the
paper), beside `world_speckled_share`.

Load: `core.diffusion.pipeline.load_bundle("checkpoints/diffusion/<name>")`, or the UNet alone with
`diffusers.UNet2DModel.from_pretrained(folder)` and the scheduler with `DDPMScheduler.from_pretrained(folder)`.
"""
