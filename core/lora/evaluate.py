"""How well an adapter learnt its concept, and what it did to everything else (numbers for its card).

* the reachable target: the instance images as the pipeline's autoencoder reconstructs them. A UNet adapter can only
  draw what the latent space holds (the bundled autoencoder never saw white, and gives white back as pale yellow).
* fidelity: the mean distance, in the shapes classifier's penultimate features (``core.metrics``), between generated
  images and the reachable target's mean feature; for the prompt with the trigger word through the adapter and
  through the base model (the same prompt; for textual inversion the base reads the class word there). Lower is closer.
* concept read: the share of generated images in which the shapes classifier sees the colours, the shapes, and both,
  that it sees in most instance images, base vs adapter, and on the instances themselves (the reading's ceiling).
* prior drift: for prompts without the trigger word, the mean absolute pixel difference between the images with the
  adapter loaded and without (0: nothing else changed).
"""

from __future__ import annotations

import torch

DRIFT_PROMPTS = ("a large red circle", "a small blue star", "a medium green square", "a large yellow heart")


@torch.no_grad()
def measure(pipe, base: str, folder, instances: torch.Tensor, seeds: int = 12) -> dict:
    from core.metrics import load_feature_extractor

    from .service import generate_pair, read_meta

    from core.lora.train import encode_images
    from core.text2image.sampling import decode

    meta = read_meta(folder)
    features = load_feature_extractor("shapes")
    reachable = decode(pipe, encode_images(pipe, instances)).cpu()
    target = features(reachable).mean(0)
    pairs = [generate_pair(pipe, base, [(folder, 1.0)], meta["prompt"], s) for s in range(seeds)]
    before = torch.stack([a for a, _ in pairs])
    after = torch.stack([b for _, b in pairs])
    dist = lambda x: float((features(x) - target).norm(dim=1).mean())
    concept, reads = concept_reading(instances)
    drift = []
    for prompt in DRIFT_PROMPTS:
        for s in range(3):
            a, b = generate_pair(pipe, base, [(folder, 1.0)], prompt, s)
            drift.append(float((a - b).abs().mean()))
    return {"fidelity_base": dist(before), "fidelity_adapter": dist(after), "fidelity_reachable": dist(reachable),
            **{f"concept_read{part}_{who}": read(images) for part, read in reads.items()
               for who, images in (("base", before), ("adapter", after), ("instances", instances))},
            "concept": concept,
            "prior_drift": sum(drift) / len(drift), "seeds": seeds,
            "samples": (before, after)}


def concept_reading(instances: torch.Tensor):
    """(the concept as the shapes classifier reads most instance images, e.g. "purple circle"; {"": both, "_colour",
    "_shape": a function giving the share of images in which it sees all of that concept's colours and shapes,
    its colours, its shapes})."""
    from collections import Counter

    from core.data.worlds.shapes import COLOUR_NAMES, SHAPES
    from core.metrics import load_classifier, predict

    classifier = load_classifier("shapes", None, instances.device)

    def seen(images):  # per image: (shapes seen, colours seen), heads 0-7 and 8-15 of the classifier
        p = predict(images.cpu(), classifier=classifier)
        return [(frozenset(k for k in range(8) if row[k] == 1), frozenset(k for k in range(8) if row[8 + k] == 1))
                for row in p]

    shapes, colours = Counter(seen(instances)).most_common(1)[0][0]
    name = " ".join([COLOUR_NAMES[c] for c in sorted(colours)] + [SHAPES[s] for s in sorted(shapes)]) or "nothing"
    share = lambda test: lambda images: sum(test(s, c) for s, c in seen(images)) / len(images)
    return name, {"": share(lambda s, c: shapes <= s and colours <= c), "_colour": share(lambda s, c: colours <= c),
                  "_shape": share(lambda s, c: shapes <= s)}
