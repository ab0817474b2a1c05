"""pix2pix and CycleGAN as a GenLab method (``python -m core.train translation``).

    python -m core.train translation --model pix2pix --paired-input labels --out checkpoints/translation/my-labels2face
    python -m core.train translation --model cyclegan --gan-mode lsgan --no-dropout --netG resnet_6blocks ...
    python -m core.train translation --dataset folder --data-root facades --folder-layout side_by_side --direction BtoA

Per step: one G step (pix2pix eq. 4 or CycleGAN eq. 3, see ``losses.py``), then one D step on the same fakes
(CycleGAN's through a history pool of 50). Adam(lr, beta1 = 0.5); the learning rate stays constant, then decays
linearly to 0 over the last ``lr_decay_fraction`` of the steps (the reference's ``n_epochs`` + ``n_epochs_decay``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from core.engine import Method, StepContext, TrainConfig, choice, number

from .data import PAIRED_INPUTS, FaceDomains, FacePairs, Reversed
from .losses import GAN_MODES, linear_decay
from .model import MODELS, TranslationGAN, Translator, set_requires_grad
from .networks import DISCRIMINATORS, GENERATORS, NORMS, multiple_of
from .parts import part_weights

DATASETS = ("faces", "folder", "official")


@dataclass
class TranslationConfig(TrainConfig):
    """pix2pix / CycleGAN settings (defaults: the bundled 64 px labels -> face pix2pix, small enough for a CPU).

    Args:
        model: "pix2pix" (paired, L1 + conditional GAN) or "cyclegan" (unpaired, cycle + identity + GAN).
        paired_input: faces world, pix2pix: A is the "labels" map (a colour per class) or the "edges" map.
        domain_attribute, domain_a, domain_b: faces world, CycleGAN: A = faces with that attribute value, B = other.
        folder_layout: dataset "folder", pix2pix: "folders" (A/ + B/) or "side_by_side" (the pix2pix zips' A|B).
        official: dataset "official": an official pix2pix / CycleGAN dataset by name ("facades", "horse2zebra"...),
            read from its archive in the datasets cache (``--download`` fetches it; see ``datasets.py``).
        direction: "AtoB" or "BtoA" (swap the sides, as the reference's --direction).
        netG, ngf, norm, dropout: generator (reference names; unet_64 is unet_256 with 6 levels for 64 px).
        netD, ndf, n_layers_D: discriminator ("basic" = 70x70 PatchGAN).
        gan_mode: "vanilla" (pix2pix), "lsgan" (CycleGAN) or "wgangp".
        lambda_GAN, lambda_L1, lambda_cycle, lambda_identity, lambda_gp: loss weights (paper values 1, 100, 10,
            0.5, 10; lambda_GAN 0 trains L1 only, lambda_L1 0 the GAN only: the loss comparison).
        lambda_feat: pix2pix, PatchGAN discriminators: pix2pixHD's feature-matching loss on D's hidden layers
            (0 = off, the pix2pix paper; pix2pixHD uses 10).
        lambda_parts: pix2pix on the faces world, A to B: the L1 weight of each eyebrow, eye, mouth and glasses pixel
            of the label map is 1 + lambda_parts (``parts.py``; 0 = off, every pixel weighs 1 as in the paper).
        pool_size: generated images kept for CycleGAN's discriminators (0 disables).
        beta1: Adam's beta1.
        lr_decay_fraction: the share of the steps over which the learning rate decays linearly to 0.
        eval_samples: held-out images measured for the model card.
        weights_dtype: dtype of the exported inference weights; "float16" halves the file (they load into float32).
    """

    dataset: str = choice("faces", DATASETS)
    resolution: int = number(64, 0, 1024)
    steps: int = number(4000, 1, 10_000_000)
    batch_size: int = number(16, 1, 4096)
    lr: float = number(2e-4, 1e-7, 1.0, help="Adam's step size: the papers' 0.0002 for long runs (the CLI's default, "
                       "the bundled models); 0.001 shows faces within a few hundred steps (the tab's default)")
    ema_decay: float = number(0.0, 0.0, 1.0)
    grad_clip: float = number(0.0, 0.0, 1e6, help="unused: GAN steps are not clipped")
    sample_every: int = number(250, 0, 10_000_000)
    checkpoint_every: int = number(500, 0, 10_000_000)
    num_samples: int = number(9, 3, 256, help="images in the sample grid: rows of (input, translation, target)")
    model: str = choice("pix2pix", MODELS)
    paired_input: str = choice("labels", PAIRED_INPUTS, help="faces world, pix2pix: the input map")
    domain_attribute: str = "hair_colour"
    domain_a: str = "black"
    domain_b: str = "blonde"
    folder_layout: str = choice("folders", ("folders", "side_by_side"))
    official: str = field(default="", metadata={"help": "dataset official only: its name, e.g. facades or horse2zebra"})
    direction: str = choice("AtoB", ("AtoB", "BtoA"))
    netG: str = choice("unet_64", GENERATORS)
    ngf: int = number(32, 1, 512)
    norm: str = choice("instance", NORMS)
    dropout: bool = True
    netD: str = choice("basic", DISCRIMINATORS)
    ndf: int = number(32, 1, 512)
    n_layers_D: int = number(3, 1, 8)
    gan_mode: str = choice("vanilla", GAN_MODES)
    lambda_GAN: float = number(1.0, 0.0, 1e4)
    lambda_L1: float = number(100.0, 0.0, 1e4, help="weight of the L1 loss to the target (paper: 100; 0: GAN only)")
    lambda_cycle: float = number(10.0, 0.0, 1e4)
    lambda_identity: float = number(0.5, 0.0, 1e4)
    lambda_gp: float = number(10.0, 0.0, 1e4)
    lambda_feat: float = number(0.0, 0.0, 1e4, help="pix2pix: discriminator feature matching (pix2pixHD uses 10)")
    lambda_parts: float = number(0.0, 0.0, 1e4, help="pix2pix, faces: more L1 weight on eyes, brows, mouth, glasses")
    pool_size: int = number(50, 0, 10_000)
    beta1: float = number(0.5, 0.0, 0.999)
    lr_decay_fraction: float = number(0.5, 0.0, 1.0)
    eval_samples: int = number(500, 0, 10_000)
    weights_dtype: str = choice("float32", ("float32", "float16"),
                                help="dtype of the exported weights (float16 halves a bundled checkpoint)")

    def validate(self) -> "TranslationConfig":
        super().validate()
        if bool(self.official.strip()) != (self.dataset == "official"):  # a name the run would silently not use
            raise ValueError("official names an official dataset (e.g. 'facades') for dataset 'official' only"
                             if self.official.strip() else "dataset 'official' needs official: a dataset's name, "
                             "e.g. 'facades' or 'horse2zebra'")
        if self.model == "pix2pix" and self.lambda_GAN == 0 and self.lambda_L1 == 0:
            raise ValueError("lambda_GAN and lambda_L1 are both 0: pix2pix would have no loss")
        if self.lambda_feat and (self.model != "pix2pix" or self.netD == "pixel"):
            raise ValueError("lambda_feat (feature matching) is for pix2pix with a PatchGAN (netD basic or n_layers)")
        if self.lambda_parts and not (self.model == "pix2pix" and self.dataset == "faces" and self.direction == "AtoB"):
            raise ValueError("lambda_parts (the part-weighted L1) is for pix2pix on the faces world, direction AtoB: "
                             "the label map locates the parts")
        if self.resolution and self.resolution % multiple_of(self.netG):
            raise ValueError(f"resolution {self.resolution} is not divisible by {multiple_of(self.netG)}, "
                             f"which {self.netG} needs (unet_<N> needs a multiple of N)")
        return self


class TranslationMethod(Method):
    """pix2pix (Isola et al. 2017) and CycleGAN (Zhu et al. 2017) on paired or unpaired images."""

    name = "translation"
    config_class = TranslationConfig
    manual_optimization = True
    find_unused_parameters = True

    def __init__(self, config: TranslationConfig):
        super().__init__(config)
        if self.config.grad_accum != 1:
            raise ValueError("translation trains with grad_accum=1 (each step is a G step and a D step)")
        self._datasets: dict = {}

    # ------------------------------------------------------------------ data and model
    def build_dataset(self, split: str = "train"):
        if split in self._datasets:
            return self._datasets[split]
        c = self.config
        res = c.resolution or None
        if c.dataset == "faces":
            ds = (FacePairs(c.paired_input, split, res, seed=0) if c.model == "pix2pix"
                  else FaceDomains(c.domain_attribute, c.domain_a, c.domain_b, split, res))
        elif c.dataset == "official":
            from core.data import PairedFolder, UnpairedFolder

            from .datasets import official_root

            root = official_root(c.official, c.model, c.data_root or None, c.download)
            ds = (PairedFolder(root, split, res, layout="side_by_side", background="white") if c.model == "pix2pix"
                  else UnpairedFolder(root, split, res, background="white"))
        else:
            from core.data import PairedFolder, UnpairedFolder

            if not c.data_root:
                raise ValueError("dataset 'folder' needs --data-root (A/ + B/, side-by-side A|B, or trainA/ + trainB/)")
            ds = (PairedFolder(c.data_root, split, res, layout=c.folder_layout, background="white")
                  if c.model == "pix2pix" else UnpairedFolder(c.data_root, split, res, background="white"))
        if c.direction == "BtoA":
            ds = Reversed(ds)
        self._datasets[split] = ds
        return ds

    def task(self) -> dict:
        """What A and B are, saved in the checkpoint's config for the tab."""
        c = self.config
        if c.dataset == "faces" and c.model == "pix2pix":
            a = {"labels": "label map", "edges": "edge map"}[c.paired_input]
            task = {"input": c.paired_input, "a": a, "b": "face", "world": "faces"}
        elif c.dataset == "faces":
            noun = c.domain_attribute.replace("_colour", "").replace("_", " ")   # hair_colour -> "black hair"
            task = {"input": "photo", "a": f"{c.domain_a} {noun}", "b": f"{c.domain_b} {noun}", "world": "faces",
                    "attribute": c.domain_attribute, "value_a": c.domain_a, "value_b": c.domain_b}
        else:
            name = c.official if c.dataset == "official" else "folder"
            task = {"input": "photo", "a": f"{name} A", "b": f"{name} B"}
        if c.direction == "BtoA":  # B is now the input: a face (or photo), never a label or edge map
            task["a"], task["b"] = task["b"], task["a"]
            task["input"] = "photo"
        return task

    def build_translator(self) -> Translator:
        c = self.config
        ds = self.build_dataset("train")
        return Translator(c.model, c.netG, ds.channels_a, ds.channels_b, c.ngf, c.norm, c.dropout, self.task())

    def build_model(self) -> TranslationGAN:
        c = self.config
        return TranslationGAN(self.build_translator(), c.netD, c.ndf, c.n_layers_D, c.norm, c.gan_mode, c.lambda_GAN,
                              c.lambda_L1, c.lambda_cycle, c.lambda_identity, c.lambda_gp, c.pool_size, c.seed,
                              c.lambda_feat)

    def configure_optimizers(self, model: TranslationGAN) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        d_params = [p for d in model.discriminators() for p in d.parameters()]
        return {"g": torch.optim.Adam(model.translator.parameters(), lr=c.lr, betas=(c.beta1, 0.999)),
                "d": torch.optim.Adam(d_params, lr=c.lr, betas=(c.beta1, 0.999))}

    def ema_module(self, model: TranslationGAN) -> Translator:
        return model.translator

    # ------------------------------------------------------------------ training
    def _images(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        res = self.config.resolution
        a, b = batch["A"] * 2 - 1, batch["B"] * 2 - 1                  # (B, C, H, W) in [-1, 1]
        if res and a.shape[-1] != res:
            a = F.interpolate(a, size=(res, res), mode="bilinear", antialias=True)
            b = F.interpolate(b, size=(res, res), mode="bilinear", antialias=True)
        return a, b

    def training_step(self, model, batch: dict, ctx: StepContext) -> dict[str, torch.Tensor]:
        c = self.config
        raw = model.module if hasattr(model, "module") else model
        distributed = raw is not model
        factor = linear_decay(ctx.step, c.steps, round(c.steps * c.lr_decay_fraction))
        for opt in ctx.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = c.lr * factor
        a, b = self._images(batch)
        l1_weights = part_weights(batch["label_map"], c.lambda_parts) if c.lambda_parts else None

        if not distributed:
            set_requires_grad(raw.discriminators(), False)               # G step: D is a fixed judge
        loss_g, g_losses, fakes = model(mode="g", a=a, b=b, l1_weights=l1_weights)
        ctx.optimizers["g"].zero_grad(set_to_none=True)
        ctx.backward(loss_g)
        ctx.optimizers["g"].step()

        if not distributed:
            set_requires_grad(raw.discriminators(), True)
        loss_d, d_losses = model(mode="d", a=a, b=b, fakes=fakes)
        ctx.optimizers["d"].zero_grad(set_to_none=True)
        ctx.backward(loss_d)
        ctx.optimizers["d"].step()
        out = {k: v.detach() for k, v in {**g_losses, **d_losses}.items()}
        out["lr"] = torch.tensor(c.lr * factor)
        return out

    # ------------------------------------------------------------------ inference and evaluation
    def held_out(self, num: int) -> dict:
        """The first ``num`` held-out items (the same ones in every card and in the tab's examples)."""
        ds = self.build_dataset("test")
        return ds.get_batch(list(range(min(num, len(ds)))))

    def sample_layout(self, num: int) -> tuple[int, list[str], list[str]]:
        cycle = self.config.model == "cyclegan"
        return 3, [], ["input A", "G_AB(A)", "G_BA(G_AB(A))"] if cycle else ["input A", "G(A)", "target B"]

    def generated(self, samples: torch.Tensor) -> torch.Tensor:
        """G(A) of each (A, G(A), third) row."""
        return samples[1::3]

    @torch.no_grad()
    def sample(self, module: Translator, num: int, generator: torch.Generator) -> torch.Tensor:
        """A grid of rows (A, G(A), B) for pix2pix or (A, G_AB(A), G_BA(G_AB(A))) for CycleGAN, (3 num', C, H, W)."""
        from .inference import translate_batch

        rows = max(1, num // 3)
        batch = self.held_out(rows)
        device = next(module.parameters()).device
        a = batch["A"].to(device)
        fake = translate_batch(module, a, "AtoB")
        third = translate_batch(module, fake, "BtoA") if module.G_BA is not None else batch["B"].to(device)
        return torch.stack([a, fake, third], 1).flatten(0, 1).float().cpu()

    @torch.no_grad()
    def evaluate(self, module: Translator) -> dict:
        from .evaluate import evaluate_translator

        c = self.config
        if not c.eval_samples:
            return {}
        held_out = self.held_out(c.eval_samples)
        world = getattr(self.build_dataset("test"), "world", None)    # the faces world's pairs (A -> B) only
        if c.model == "pix2pix" and hasattr(world, "recoloured"):
            held_out["B_recoloured"] = world.recoloured(range(len(held_out["B"])), seed=c.seed)
        return evaluate_translator(module, held_out, self.task())

    def save_inference(self, module: Translator, folder) -> None:
        """config.json + model.safetensors; cast to float16 when ``weights_dtype`` says so (a copy: training goes on
        in float32)."""
        import copy

        if self.config.weights_dtype == "float16":
            module = copy.deepcopy(module).half()
        module.save_pretrained(folder)

    def load_inference(self, folder) -> Translator:
        from core.engine import load_pretrained

        return load_pretrained(Translator, folder)

    def model_card_results(self, metrics: dict) -> str:
        from .evaluate import results_markdown

        return results_markdown(metrics)

    def model_card_notes(self) -> str:
        c = self.config
        what = {"pix2pix": "pix2pix (U-Net or ResNet generator, conditional PatchGAN, L1 + GAN loss)",
                "cyclegan": "CycleGAN (two generators, two PatchGANs, cycle + identity + GAN loss)"}[c.model]
        task = self.task()
        return (f"{what}, translating **{task['a']} -> {task['b']}**. Load it with "
                "`core.translation.service.load_checkpoint(name)`, or pick it in the app's pix2pix & CycleGAN tab. "
                "The sample grid's rows are input, translation, and the target (pix2pix) or the cycle "
                "reconstruction (CycleGAN).")
