"""Every metric of one sample set against a world's held-out images, in that world's classifier features, with
error bars and the real-vs-real floor (train images against test images: what the sample size alone gives); and,
for conditional models, how well each image follows its condition (``conditional.py``).

The features come from GenLab's bundled world classifiers, not Inception-v3: the numbers compare only with other
GenLab numbers on the same world ("FID in digits-classifier features").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

REPEATS = 20
METRICS = {  # key -> (label, higher is better)
    "fid": ("FID", False),
    "kid": ("KID x 100", False),
    "precision": ("precision", True),
    "recall": ("recall", True),
    "density": ("density", True),
    "coverage": ("coverage", True),
    "score": ("IS-style score", True),
    "class_tv": ("class TV", False),
}


def frechet_from_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID from feature sets (N, D), (M, D): ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^½) (Heusel et al. 2017),
    with Tr((Σ_r Σ_g)^½) as the sum of the square roots of the eigenvalues of Σ_r Σ_g, as torchmetrics computes it."""
    real, fake = real.double(), fake.double()
    mu_r, mu_g = real.mean(0), fake.mean(0)
    cov_r, cov_g = torch.cov(real.T), torch.cov(fake.T)
    eig = torch.linalg.eigvals(cov_r @ cov_g).sqrt().real.sum()
    return float(((mu_r - mu_g) ** 2).sum() + cov_r.trace() + cov_g.trace() - 2 * eig)


def kid_from_features(real: torch.Tensor, fake: torch.Tensor, subsets: int = 50, size: int = 500,
                      seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): unbiased MMD² with the kernel (xᵀy / d + 1)³; (mean, std) over random subsets."""
    g = torch.Generator().manual_seed(seed)
    real, fake = real.double(), fake.double()
    size, d, values = max(2, min(size, len(real) // 2, len(fake) // 2)), real.shape[1], []  # subsets that differ
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=g)[:size]]
        y = fake[torch.randperm(len(fake), generator=g)[:size]]
        kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
        m = size
        values.append((kxx.sum() - kxx.trace()) / (m * (m - 1)) + (kyy.sum() - kyy.trace()) / (m * (m - 1))
                      - 2 * kxy.mean())
    values = torch.stack(values)
    return float(values.mean()), float(values.std())


def _tv(a: torch.Tensor, b: torch.Tensor, k: int) -> float:
    fa = torch.bincount(a, minlength=k).double() / len(a)
    fb = torch.bincount(b, minlength=k).double() / len(b)
    return float(0.5 * (fa - fb).abs().sum())


JUDGE_HEADS = {"digits": "label", "faces": "hair_style", "shapes": "count"}  # the head of the score and class TV


def real_images(world: str, num: int, split: str = "test", domain: tuple[str, str] | None = None,
                first: int = 0) -> dict:
    """``num`` items of a world's split from item ``first`` on (images, labels, captions...); ``domain`` =
    (attribute, value) keeps the faces whose attribute has that value (a CycleGAN's target domain)."""
    from core.data import get_dataset

    ds = get_dataset(world, split=split)
    if domain is None:
        index = list(range(first, min(first + int(num), len(ds))))
    else:
        from core.translation.data import domain_indices

        index = domain_indices(split, 0, *domain)[:int(num)].tolist()
    return ds.get_batch(index)


FEATURES = {"world": "the world classifier's features (comparable only inside GenLab)",
            "inception": "Inception-v3 pool3 features (the standard FID; the score is the Inception Score)",
            "clip": "CLIP image embeddings (OpenAI's ViT-B/32 when on disk, else GenLab's shapes CLIP)"}


class WorldJudge:
    """A world's classifier as the judge: features, class logits and the held-out reference sets, loaded once.

    ``domain`` = (attribute, value): the reference sets are only the faces of that domain (CycleGAN's target).
    ``features`` = "inception": FID, KID, precision / recall, density / coverage in Inception-v3's pool3 features and
    the score from its logits (the Inception Score), when its weights are on disk (``core.metrics.inception``);
    "clip": in CLIP image embeddings (``core.metrics.clip``; FD in CLIP space, Kynkäänniemi et al. 2023). The
    class TV, the score (but with Inception) and the conditional metrics still read the world classifier."""

    def __init__(self, world: str, num: int, domain: tuple[str, str] | None = None, features: str = "world"):
        from core.metrics import load_feature_extractor

        if features not in FEATURES:
            raise ValueError(f"features must be one of {list(FEATURES)}, got {features!r}")
        self.world, self.num, self.domain, self.features = world, num, domain, features
        self.extractor = load_feature_extractor(world)
        self.inception = self.clip = None
        if features == "inception":
            from core.metrics.inception import load_inception

            self.inception = load_inception()
        elif features == "clip":
            from core.metrics.clip import best_clip

            self.clip = best_clip()
        self.description = (f"CLIP image embeddings ({self.clip.name})" if self.clip is not None
                            else FEATURES[features])
        net = self.extractor.classifier
        self.head = list(net.head_names).index(JUDGE_HEADS.get(world, net.head_names[0]))
        self.classes = net.head_sizes[self.head]
        test = real_images(world, num, domain=domain)
        self.real = self.read(test["image"])
        self.real["labels"] = test["label"]
        self.train = self.read(real_images(world, num, "train", domain)["image"])
        self.size = test["image"].shape[-1]
        self.floors: dict[str, dict] = {}  # condition kind -> its floor, computed on first use

    @torch.no_grad()
    def read(self, images: torch.Tensor) -> dict:
        """Features (N, D), the score's logits (N, K) and the predicted classes (N,) of images in [0, 1]."""
        net, feats, logits = self.extractor.classifier, [], []
        for s in range(0, len(images), 250):
            x = net.prepare(images[s:s + 250])
            f = net.features(x)
            feats.append(f.float())
            logits.append(net.split_logits(net.heads(f))[self.head].float())
        logits = torch.cat(logits)
        out = {"features": torch.cat(feats), "logits": logits, "classes": logits.argmax(1)}
        if self.inception is not None:
            out["features"], out["logits"] = self.inception.read(images)
        elif self.clip is not None:
            out["features"] = self.clip.image_embeds(images)
        return out

    def metrics(self, fake: dict, seed: int = 0, kid_subsets: int = 50) -> dict[str, float]:
        """Every metric of ``fake`` (a ``read`` result) against the held-out reference set (KID over ``kid_subsets``
        random subsets)."""
        from core.metrics import density_coverage, precision_recall
        from core.metrics.score import score_of_logits

        real = self.real
        precision, recall = precision_recall(real["features"], fake["features"])
        density, coverage = density_coverage(real["features"], fake["features"])
        kid = kid_from_features(real["features"], fake["features"], subsets=kid_subsets, seed=seed)[0]
        return {"kid": 100 * kid, "fid": frechet_from_features(real["features"], fake["features"]),
                "precision": precision, "recall": recall, "density": density, "coverage": coverage,
                "score": score_of_logits(fake["logits"], splits=1)[0], "class_tv": _tv(fake["classes"], real["classes"], self.classes)}

    def measure(self, images: torch.Tensor, seed: int = 0, repeats: int = REPEATS, condition: dict | None = None) -> dict:
        """{metric: value}, {metric: std} and the floor {metric: train-vs-test value} for generated ``images``
        (N, C, H, W) in [0, 1] of any size. The std is the delete-d jackknife's (Shao & Wu 1989) over ``repeats``
        random subsets of 80 % of the samples: their spread times sqrt(0.8 / 0.2), an estimate of how much the value
        moves with another sample of N images (another seed); subsets rather than a bootstrap with replacement,
        whose duplicates would shrink the k-NN balls. With a ``condition`` (``samplers.Samples.condition``) the
        result also holds "conditional": {metric: value}, with its std from the same subsets, and its floor."""
        from .conditional import condition_floor, per_image_scores

        scores = per_image_scores(self, images, condition or {})
        if images.shape[-1] != self.size:
            images = F.interpolate(images, size=(self.size, self.size), mode="bilinear", antialias=True).clamp(0, 1)
        fake = self.read(images)
        values = self.metrics(fake, seed=seed)
        n = len(images)
        g, runs, keep = torch.Generator().manual_seed(seed), [], min(n - 1, max(2, int(0.8 * n)))
        for _ in range(repeats):
            idx = torch.randperm(n, generator=g)[:keep]
            run = self.metrics({k: v[idx] for k, v in fake.items()}, seed=seed, kid_subsets=10)
            runs.append({**run, **{k: float(v[idx].mean()) for k, v in scores.items()}})
        inflate = (keep / (n - keep)) ** 0.5  # delete-d jackknife, d = n - keep
        std = {k: inflate * float(torch.tensor([r[k] for r in runs]).std()) for k in runs[0]}
        out = {"values": values, "std": std, "floor": self.metrics(self.train, seed=seed), "images": len(images)}
        if scores:
            out["conditional"] = {k: float(v.mean()) for k, v in scores.items()}
            out["condition"] = condition["kind"]
            out["conditional_floor"] = condition_floor(self, condition)
        return out
