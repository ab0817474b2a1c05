"""Measured results of a translator on held-out faces-world data, for its model card and ``metrics.json``.

pix2pix (label map or edges -> face): L1, PSNR and SSIM (Wang et al. 2004) against the real target, and how often
the bundled faces classifier reads the same value of each attribute from the translation as from the real
target. The shape attributes are fixed by the input map; colours are not (a label map has no skin tone), so for
those the agreement only says how often the model guesses the same colour. Beside it, when the held-out set has
``B_recoloured`` (the world's ``Faces.recoloured``: the same faces with every shape exact and the colours drawn
afresh), the same agreement for those redrawn faces: the classifier's reads move with colours too (eye shape most),
so this is the most a translator can score with this classifier as the ruler.

CycleGAN (domain A <-> domain B): the share of translations the classifier puts in the target domain, the
share whose other attributes (content) it reads as in the source, the cycle error ||F(G(a)) - a||_1, and the
FID between translations and real target-domain images in the classifier's features (with the untranslated
source images' FID as the baseline).
"""

from __future__ import annotations

import torch

from .inference import translate_batch

SHAPE_ATTRIBUTES = ("head_shape", "hair_style", "eye_shape", "expression", "glasses", "pose")


def _psnr_ssim(fake: torch.Tensor, real: torch.Tensor, batch_size: int = 100) -> tuple[float, float]:
    """PSNR of the whole set (10 log10(1 / MSE), the squared error pooled over every pixel, as torchmetrics computes
    it for a batch) and the mean SSIM, in batches: SSIM on a whole set at once held gigabytes."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    squared, ssim = 0.0, []
    for s in range(0, len(fake), batch_size):
        f, r = fake[s:s + batch_size].float(), real[s:s + batch_size].float()
        squared += float(((f - r) ** 2).double().sum())
        ssim.append(structural_similarity_index_measure(f, r, data_range=1.0, reduction="none"))
    mse = squared / fake.numel()
    psnr = float("inf") if mse == 0 else float(10 * torch.log10(torch.tensor(1.0 / mse, dtype=torch.float64)))
    return psnr, float(torch.cat(ssim).mean())


def _classifier_installed() -> bool:
    """The attribute metrics need the bundled faces classifier; without it only the pixel metrics are measured."""
    from core.engine import list_checkpoints

    return "faces" in list_checkpoints("classifier")


def _translate_all(translator, images: torch.Tensor, direction: str, batch: int = 100) -> torch.Tensor:
    return torch.cat([translate_batch(translator, images[s:s + batch], direction).cpu()
                      for s in range(0, len(images), batch)])


@torch.no_grad()
def evaluate_translator(translator, held_out: dict, task: dict) -> dict:
    """Metrics on ``held_out`` = {"A", "B", "attributes_A", "attributes_B"} (faces world, optionally "B_recoloured"
    (N, 3, H, W) in [0, 1]) or {"A", "B"} (folders)."""
    a, b = held_out["A"].float(), held_out["B"].float()
    if translator.G_BA is None:
        return _evaluate_paired(translator, a, b, task, held_out.get("B_recoloured"))
    return _evaluate_unpaired(translator, a, b, task)


def _evaluate_paired(translator, a, b, task, shape_exact=None) -> dict:
    fake = _translate_all(translator, a, "AtoB")
    psnr, ssim = _psnr_ssim(fake, b)
    metrics = {"pairs": len(a), "l1": float((fake - b).abs().mean()), "psnr_db": psnr, "ssim": ssim}
    if task.get("world") == "faces" and _classifier_installed():
        from core.data.worlds.faces import ATTRIBUTE_NAMES
        from core.metrics import predict

        read_fake, read_real = predict(fake, "faces"), predict(b, "faces")
        agree = {name: float((read_fake[:, k] == read_real[:, k]).float().mean())
                 for k, name in enumerate(ATTRIBUTE_NAMES)}
        metrics["attribute_agreement"] = agree
        if shape_exact is not None:  # the same faces, every shape exact, colours guessed: the ruler's own limit
            read_exact = predict(shape_exact.float(), "faces")
            metrics["attribute_agreement_shape_exact"] = {
                name: float((read_exact[:, k] == read_real[:, k]).float().mean())
                for k, name in enumerate(ATTRIBUTE_NAMES)}
        metrics["shape_agreement_min"] = min(agree[n] for n in SHAPE_ATTRIBUTES)
        metrics["shape_agreement_mean"] = sum(agree[n] for n in SHAPE_ATTRIBUTES) / len(SHAPE_ATTRIBUTES)
    return metrics


def _evaluate_unpaired(translator, a, b, task) -> dict:
    metrics = {"images_per_domain": len(a)}
    directions = (("AtoB", a, b, task.get("value_b")), ("BtoA", b, a, task.get("value_a")))
    for direction, source, target, target_value in directions:
        back = "BtoA" if direction == "AtoB" else "AtoB"
        fake = _translate_all(translator, source, direction)
        rec = _translate_all(translator, fake, back)
        m = {"cycle_l1": float((rec - source).abs().mean())}
        if task.get("world") == "faces" and task.get("attribute") and _classifier_installed():
            from core.data.worlds.faces import ATTRIBUTE_NAMES, ATTRIBUTES
            from core.metrics import frechet_distance, predict

            column = ATTRIBUTE_NAMES.index(task["attribute"])
            wanted = ATTRIBUTES[task["attribute"]].index(target_value)
            read_fake, read_source = predict(fake, "faces"), predict(source, "faces")
            m["in_target_domain"] = float((read_fake[:, column] == wanted).float().mean())
            kept = {name: float((read_fake[:, k] == read_source[:, k]).float().mean())
                    for k, name in enumerate(ATTRIBUTE_NAMES) if k != column}
            m["content_kept"] = kept
            m["content_kept_mean"] = sum(kept.values()) / len(kept)
            m["fid"] = frechet_distance(target, fake, "faces")
            m["fid_untranslated"] = frechet_distance(target, source, "faces")
        metrics[direction] = m
    return metrics


def results_markdown(metrics: dict) -> str:
    """The card's tables for :func:`evaluate_translator`'s metrics."""
    if not metrics:
        return ""
    if "pairs" in metrics:
        lines = [f"On {metrics['pairs']} held-out pairs: L1 {metrics['l1']:.4f} (pixel values in [0, 1]), "
                 f"PSNR {metrics['psnr_db']:.2f} dB, SSIM {metrics['ssim']:.3f}."]
        agree = metrics.get("attribute_agreement")
        if agree:
            exact = metrics.get("attribute_agreement_shape_exact")
            lines += ["", "How often the faces classifier reads the same value from the translation as from the real "
                      "target (shape attributes are fixed by the input; colours are not)"
                      + (", and from the same faces drawn by the world with every shape exact and the colours drawn "
                         "afresh (what a translator that draws the shapes perfectly and guesses the colours would "
                         "score: the classifier's own limit as a ruler)" if exact else "") + ":", "",
                      "| attribute | fixed by the input | agreement |" + (" shape-exact redraw |" if exact else ""),
                      "|---|---|---|" + ("---|" if exact else "")]
            lines += [f"| {name.replace('_', ' ')} | {'yes' if name in SHAPE_ATTRIBUTES else 'no'} | {100 * v:.1f} % |"
                      + (f" {100 * exact[name]:.1f} % |" if exact else "") for name, v in agree.items()]
        return "\n".join(lines)
    lines = [f"On {metrics['images_per_domain']} held-out images per domain:", "",
             "| direction | in the target domain | content kept (mean over attributes) | cycle L1 | FID (classifier "
             "features) | FID untranslated |", "|---|---|---|---|---|---|"]
    for d in ("AtoB", "BtoA"):
        m = metrics.get(d, {})
        if "in_target_domain" in m:
            lines.append(f"| {d} | {100 * m['in_target_domain']:.1f} % | {100 * m['content_kept_mean']:.1f} % | "
                         f"{m['cycle_l1']:.4f} | {m['fid']:.1f} | {m['fid_untranslated']:.1f} |")
        elif m:
            lines.append(f"| {d} | - | - | {m['cycle_l1']:.4f} | - | - |")
    kept = metrics.get("AtoB", {}).get("content_kept")
    if kept:
        lines += ["", "Content kept per attribute (A -> B / B -> A):", "", "| attribute | A -> B | B -> A |",
                  "|---|---|---|"]
        back = metrics["BtoA"]["content_kept"]
        lines += [f"| {n.replace('_', ' ')} | {100 * v:.1f} % | {100 * back[n]:.1f} % |" for n, v in kept.items()]
    return "\n".join(lines)
