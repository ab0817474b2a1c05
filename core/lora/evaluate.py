"""How well an adapter learnt its concept, and what it did to everything else (numbers for its card).

* fidelity: the mean distance, in the shapes classifier's penultimate features (``core.metrics``), between generated
  images and the instance images' mean feature; for the prompt with the trigger word through the adapter and through
  the base model (the same prompt; for textual inversion the base reads the class word there). Lower is closer.
* bright share: the share of near-white pixels (all channels > 0.85) in the objects, the example concept's colour.
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

    meta = read_meta(folder)
    features = load_feature_extractor("shapes")
    target = features(instances).mean(0)
    pairs = [generate_pair(pipe, base, [(folder, 1.0)], meta["prompt"], s) for s in range(seeds)]
    before = torch.stack([a for a, _ in pairs])
    after = torch.stack([b for _, b in pairs])
    dist = lambda x: float((features(x) - target).norm(dim=1).mean())
    white = lambda x: float((x > 0.85).all(1).float().mean())
    drift = []
    for prompt in DRIFT_PROMPTS:
        for s in range(3):
            a, b = generate_pair(pipe, base, [(folder, 1.0)], prompt, s)
            drift.append(float((a - b).abs().mean()))
    return {"fidelity_base": dist(before), "fidelity_adapter": dist(after), "fidelity_instances": dist(instances),
            "bright_share_base": white(before), "bright_share_adapter": white(after),
            "bright_share_instances": white(instances), "prior_drift": sum(drift) / len(drift), "seeds": seeds,
            "samples": (before, after)}
