"""The GAN card's measurements, in the dataset classifier's features (comparable only within GenLab):

- FID / KID against the held-out test images, beside the real-vs-real floor (train vs test, same count);
- improved precision and recall (k = 3) and density and coverage (k = 5) in the same features: fidelity vs
  diversity (a model that draws a few good digits keeps precision and loses recall);
- the Inception-Score-style score (``core.metrics.classifier_score``) of the samples and of real images;
- class coverage: the share of each class among the samples as the classifier reads them, its total variation
  distance (TV) from the real images' shares, and the rarest class's share (mode collapse drops classes);
- within-class spread: how different two samples of the same digit are (mean pixel distance), over the same for
  real images; 1 is as varied as the data, 0 is one image per class (a conditional G that ignores z);
- for conditional models, how often the classifier reads the class G was asked for.

    python -m core.train gans --reevaluate --out checkpoints/gans/<name>      # measures a checkpoint again
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from core.engine.notes import percent

EVAL_SEED = 12345
log = logging.getLogger(__name__)


@torch.no_grad()
def generate(G, num: int, seed: int = EVAL_SEED, truncation: float = 0.0, batch: int = 256
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``num`` images (N, C, res, res) in [0, 1] from z drawn with ``seed``, and their labels (conditional G: the
    classes 0, 1, ..., K-1 in turn; else None)."""
    from .networks import sample_z

    g = torch.Generator().manual_seed(seed)
    device = next(G.parameters()).device
    labels = torch.arange(num) % G.num_classes if G.num_classes else None
    out = []
    for s in range(0, num, batch):
        z = sample_z(min(batch, num - s), G.z_dim, g, truncation).to(device)
        y = labels[s:s + len(z)].to(device) if labels is not None else None
        out.append(((G(z, y) + 1) / 2).clamp(0, 1).cpu())
    return torch.cat(out), labels


def spread(images: torch.Tensor, classes: torch.Tensor, k: int, most: int = 100) -> float:
    """Mean L1 pixel distance between two different images of the same class (first ``most`` of each class),
    averaged over the classes that have two or more."""
    values = []
    for j in range(k):
        group = images[classes == j][:most].flatten(1)
        if len(group) >= 2:
            d = torch.cdist(group, group, p=1) / group.shape[1]
            values.append(float(d.sum() / (len(group) * (len(group) - 1))))
    return sum(values) / len(values) if values else 0.0


def class_shares(predicted: torch.Tensor, k: int) -> list[float]:
    """The share of each class 0..k-1 among predicted labels (N,)."""
    return (torch.bincount(predicted, minlength=k).float() / max(len(predicted), 1)).tolist()


@torch.no_grad()
def evaluate_generator(G, world: str, num: int, seed: int = EVAL_SEED) -> dict:
    """The card's metrics for generator ``G`` on ``world`` with ``num`` generated and ``num`` real images, in the
    features of ``checkpoints/classifier/<world>`` (bundled for the worlds; for MNIST or CIFAR-10 trained by
    ``python -m core.train classifier --dataset <name> --out checkpoints/classifier/<name>``).
    Returns {} (and logs why) when there is no such classifier."""
    from core.engine import list_checkpoints

    if world not in list_checkpoints("classifier"):
        log.warning("no measurements for dataset %r: no classifier in checkpoints/classifier/%s (train one with "
                    "python -m core.train classifier --dataset %s --out checkpoints/classifier/%s)",
                    world, world, world, world)
        return {}
    from core.metrics import (classifier_score, density_coverage, frechet_distance, kernel_inception_distance,
                              label_head, load_feature_extractor, precision_recall, predict, reference_images)

    extractor = load_feature_extractor(world)
    net = extractor.classifier
    was_training = G.training
    G.eval()
    real = reference_images(world, num)
    native = real.shape[-1]
    fake, labels = generate(G, num, seed)
    G.train(was_training)
    if fake.shape[-1] != native:
        fake = F.interpolate(fake, size=(native, native), mode="bilinear", antialias=True).clamp(0, 1)
    train_real = reference_images(world, num, split="train")
    head = list(net.head_names).index(label_head(world, net) or net.head_names[0])
    k = net.head_sizes[head]
    fake_classes, real_classes = predict(fake, classifier=net)[:, head], predict(real, classifier=net)[:, head]
    fake_shares, real_shares = class_shares(fake_classes, k), class_shares(real_classes, k)
    kid, kid_std = kernel_inception_distance(real, fake, world=world, extractor=extractor)
    score, score_std = classifier_score(fake, classifier=net)
    real_f, fake_f = extractor(real), extractor(fake)
    precision, recall = precision_recall(real_f, fake_f)
    density, coverage = density_coverage(real_f, fake_f)
    metrics = {
        "fid": frechet_distance(real, fake, world=world, extractor=extractor),
        "fid_real_train_vs_test": frechet_distance(real, train_real, world=world, extractor=extractor),
        "kid": kid, "kid_std": kid_std,
        "precision": precision, "recall": recall, "density": density, "coverage": coverage,
        "classifier_score": score, "classifier_score_std": score_std,
        "classifier_score_real": classifier_score(real, classifier=net)[0],
        "class_tv": 0.5 * sum(abs(a - b) for a, b in zip(fake_shares, real_shares)),
        "min_class_share": min(fake_shares),
        "within_class_spread": spread(fake, labels if labels is not None else fake_classes, k)
        / max(spread(real, real_classes, k), 1e-8),
        "eval_images": num,
        "class_shares": {"classes": list(net.class_names[head]), "generated": fake_shares, "real": real_shares},
    }
    if labels is not None:
        metrics["class_accuracy"] = float((fake_classes == labels).float().mean())
    return metrics


def results_markdown(metrics: dict) -> str:
    """The card's class-coverage table (the scalars are in the engine's metric table)."""
    shares = metrics.get("class_shares")
    if not shares:
        return ""
    head = "| | " + " | ".join(shares["classes"]) + " |\n|---|" + "---|" * len(shares["classes"]) + "\n"
    rows = "".join(f"| {name} | " + " | ".join(percent(v) for v in shares[key]) + " |\n"
                   for key, name in (("generated", "samples"), ("real", "real test images")))
    return f"""### Class coverage

{metrics['eval_images']} samples (seed {EVAL_SEED}, no truncation) and as many real test images, each read by GenLab's
classifier. A class far below the real share is a mode the generator drops (mode collapse); `class_tv` is the total
variation distance between the two rows (0: the same, 1: nothing in common).

{head}{rows}"""


def card_notes(config, method) -> str:
    """What the model is and how it was trained, for the card."""
    from .method import variant_name

    c = config
    critic = "critic" if c.loss in ("wgan", "wgan-gp") else "discriminator"
    arch = ("progressive growing from {s} to {r} px (ProGAN: fade-in, minibatch std, equalized lr, pixel norm)"
            .format(s=c.start_resolution, r=c.resolution) if c.architecture == "progan"
            else f"DCGAN generator (ngf {c.ngf}, batch norm, ReLU, tanh) and {critic} (ndf {c.ndf}, "
                 f"norm {method.d_norm}{', spectral norm' if c.spectral_norm else ''}, LeakyReLU 0.2)")
    cond = (f" Class-conditional: G reads z with a learned label embedding; D reads the label by "
            f"{c.conditioning}." if c.conditional else "")
    kind, lr, betas = method.optimizer_settings
    optimizer = f"{'Adam' if kind == 'adam' else 'RMSprop'}, lr {lr:g}" + (f", betas {betas}" if betas else "")
    return f"""**{variant_name(c)}** on `{c.dataset}` at {c.resolution} px: {arch}.{cond} Loss `{c.loss}`,
{method.n_critic} {critic} step(s) per G step{', feature matching added to G' if c.feature_matching else ''}.
Optimiser: {optimizer} for G, D's lr {c.d_lr_ratio:g} times G's.
The weights are the generator EMA (decay {c.ema_decay:g}), stored in float16.

Load it with `core.gans.service.load_generator(folder)`; `G(z, labels)` gives images in [-1, 1]
(z ~ N(0, I) of size {c.z_dim}). FID and KID are measured in GenLab's {c.dataset} classifier features, not Inception:
they compare only with other GenLab numbers on the same dataset.
"""


def readme_table() -> str:
    """The README's table of every finished GAN checkpoint, from the cards' metrics.json (``--reevaluate`` remeasures
    a card): ``python -m core.gans.evaluate``."""
    from .service import MEASUREMENT_HEADERS, measurements

    rows = measurements()
    lines = ["| " + " | ".join(MEASUREMENT_HEADERS) + " |", "|---" * len(MEASUREMENT_HEADERS) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(readme_table())
