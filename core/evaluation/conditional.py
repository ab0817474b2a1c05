"""Metrics of conditional models: does each image show what it was asked for? Per image, so that the error bars come
from the same random subsets as the other metrics; each beside its floor, the same reading of real data.

- class label (conditional GANs, class-conditional diffusion): **condition accuracy**, how often the world
  classifier's label head reads the class the model was given. Floor: its accuracy on real held-out images.
- text (text-to-image): **CLIP score**, 100 cos(image, caption) in GenLab's CLIP (``checkpoints/text2image/
  clip-shapes``; Hessel et al. 2021 without their clipping at 0), and in OpenAI's CLIP ViT-B/32 when it is on disk
  (``core.metrics.clip``). Floor: the real images of those captions.
- paired translation (pix2pix): **PSNR**, **SSIM** and the **LPIPS-style** distance to the real target
  (``core.metrics.perceptual``). No floor: a perfect translation scores 100 dB, 1 and 0.
- unpaired translation (CycleGAN): **in target domain**, how often the faces classifier reads the target value of the
  attribute (e.g. blonde hair). Floor: the same reading of real faces of the target domain.
"""

from __future__ import annotations

import torch

CONDITIONAL = {  # key -> (label, higher is better)
    "class_accuracy": ("condition accuracy", True),
    "clip_score": ("CLIP score", True),
    "clip_score_openai": ("CLIP score (OpenAI ViT-B/32)", True),
    "psnr": ("PSNR (dB)", True),
    "ssim": ("SSIM", True),
    "lpips_style": ("LPIPS-style distance", False),
    "in_target": ("in target domain", True),
}
ASKED = {"class": "a class label", "text": "a caption", "paired": "an input map (paired)",
         "domain": "a photo of the other domain"}


def clip_scores(images: torch.Tensor, prompts: list[str]) -> dict[str, torch.Tensor]:
    """{metric: (N,) 100 cos(image, caption)} in GenLab's CLIP and, when on disk, OpenAI's; {} without either."""
    from core.metrics.clip import load_clip

    out = {}
    for which, key in (("genlab", "clip_score"), ("openai", "clip_score_openai")):
        clip = load_clip(which)
        if clip is not None:
            out[key] = clip.scores(images, prompts)
    return out


def _head(judge, attribute: str) -> int:
    return list(judge.extractor.classifier.head_names).index(attribute)


@torch.no_grad()
def _read(judge, images: torch.Tensor, head: int) -> torch.Tensor:
    net = judge.extractor.classifier
    return torch.cat([net.predict(net.prepare(images[s:s + 250]))[:, head] for s in range(0, len(images), 250)])


def per_image_scores(judge, images: torch.Tensor, condition: dict) -> dict[str, torch.Tensor]:
    """{metric: (N,) per-image value} for generated images (N, C, H, W) in [0, 1] and their ``condition``
    (``samplers.Samples.condition``); {} when the model is unconditional."""
    kind = condition.get("kind")
    if kind == "class":
        return {"class_accuracy": (_read(judge, images, judge.head) == condition["labels"]).float()}
    if kind == "text":
        return clip_scores(images, condition["prompts"])
    if kind == "paired":
        from core.metrics.perceptual import paired_scores

        return paired_scores(images, condition["target"], classifier=judge.extractor.classifier)
    if kind == "domain":
        from core.data.worlds.faces import ATTRIBUTES

        wanted = ATTRIBUTES[condition["attribute"]].index(condition["value"])
        return {"in_target": (_read(judge, images, _head(judge, condition["attribute"])) == wanted).float()}
    return {}


def condition_floor(judge, condition: dict) -> dict[str, float]:
    """The same conditional metrics on real held-out data (module docstring), cached on the judge per kind."""
    kind = condition.get("kind")
    if kind in judge.floors:
        return judge.floors[kind]
    from .measure import real_images

    floor: dict[str, float] = {}
    if kind == "class":  # the judge's head is the world's label head
        floor = {"class_accuracy": float((judge.real["classes"] == judge.real["labels"]).float().mean())}
    elif kind == "text":  # the real images of the captions the samples were drawn for
        from .samplers import CONDITIONS_FROM

        real = real_images(judge.world, judge.num, first=CONDITIONS_FROM)
        floor = {k: float(v.mean()) for k, v in clip_scores(real["image"], real["text"]).items()}
    elif kind == "domain":
        scores = per_image_scores(judge, real_images(judge.world, judge.num, domain=judge.domain)["image"], condition)
        floor = {"in_target": float(scores["in_target"].mean())}
    judge.floors[kind] = floor
    return floor
