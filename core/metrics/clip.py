"""CLIP for evaluation (Radford et al. 2021): GenLab's own, and OpenAI's ViT-B/32 when it is on disk.

- ``"genlab"``: ``checkpoints/text2image/clip-shapes``, trained by GenLab on the shapes world's captions (bundled). Its
  images are 64 px in [-1, 1].
- ``"openai"``: ``openai/clip-vit-base-patch32``, from ``checkpoints/metrics/clip-vit-base-patch32/`` or the Hugging
  Face cache, never downloaded here; its images go through its own image processor (224 px, CLIP's normalisation).

    from core.metrics.clip import load_clip
    clip = load_clip("genlab")                    # None when it is not installed
    clip.scores(images, prompts)                  # (N,) 100 cos(image, caption): the CLIP score (Hessel et al. 2021)
    clip.image_embeds(images)                     # (N, D): features for FID and precision / recall in CLIP space
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

OPENAI = "openai/clip-vit-base-patch32"
_LOADED: dict[str, "Clip | None"] = {}
_LOCK = threading.Lock()


@dataclass
class Clip:
    """A loaded CLIP: its model, tokenizer and (OpenAI's) image processor; ``name`` says which it is."""

    model: torch.nn.Module
    tokenizer: object
    name: str
    processor: object | None = None

    def pixels(self, images: torch.Tensor) -> torch.Tensor:
        """The vision tower's input for images (N, 1 or 3, H, W) in [0, 1]."""
        if self.processor is not None:
            from core.data import to_pil

            return self.processor(images=[to_pil(x) for x in images], return_tensors="pt")["pixel_values"]
        side = self.model.config.vision_config.image_size
        x = images.float().repeat(1, 3 // images.shape[1], 1, 1)
        if x.shape[-1] != side:
            x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True)
        return x * 2 - 1

    @torch.no_grad()
    def image_embeds(self, images: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
        """(N, projection_dim) image embeddings, not normalised."""
        return torch.cat([_embeds(self.model.get_image_features(pixel_values=self.pixels(images[s:s + batch_size])))
                          for s in range(0, len(images), batch_size)])

    @torch.no_grad()
    def text_embeds(self, prompts: list[str], batch_size: int = 100) -> torch.Tensor:
        out = []
        for s in range(0, len(prompts), batch_size):
            ids = self.tokenizer(list(prompts[s:s + batch_size]), padding="max_length", truncation=True,
                                 max_length=self.tokenizer.model_max_length, return_tensors="pt").input_ids
            out.append(_embeds(self.model.get_text_features(input_ids=ids)))
        return torch.cat(out)

    def scores(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        """(N,) 100 cos(image embedding, text embedding) of each image with its prompt."""
        if len(images) != len(prompts):
            raise ValueError(f"got {len(images)} images but {len(prompts)} prompts")
        return 100 * (F.normalize(self.image_embeds(images), dim=-1) * F.normalize(self.text_embeds(prompts), dim=-1)).sum(-1)


def _embeds(out) -> torch.Tensor:
    """The projected embedding: transformers 5 returns it as the output's ``pooler_output``."""
    return (out if torch.is_tensor(out) else out.pooler_output).float()


def openai_folder() -> Path | None:
    """OpenAI's CLIP on disk: ``checkpoints/metrics/clip-vit-base-patch32/`` or the Hugging Face cache; else None."""
    from core.engine import checkpoint_root

    local = checkpoint_root() / "metrics" / OPENAI.split("/")[1]
    if (local / "config.json").is_file():
        return local
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(OPENAI, local_files_only=True))
    except Exception:  # noqa: BLE001 - not in the cache (or no cache): absent, never downloaded
        return None


def load_clip(which: str = "genlab") -> Clip | None:
    """GenLab's (``"genlab"``) or OpenAI's (``"openai"``) CLIP, loaded once per process; None when not on disk."""
    if which not in ("genlab", "openai"):
        raise ValueError(f"which must be 'genlab' or 'openai', got {which!r}")
    with _LOCK:
        if which not in _LOADED:
            _LOADED[which] = _load(which)
        return _LOADED[which]


def best_clip() -> Clip | None:
    """OpenAI's CLIP when it is on disk, else GenLab's; None when neither is."""
    return load_clip("openai") or load_clip("genlab")


def _load(which: str) -> Clip | None:
    from core.diffusion.lib import transformers_class
    from core.engine import list_checkpoints, resolve_checkpoint

    if which == "genlab":
        if "clip-shapes" not in list_checkpoints("text2image"):
            return None
        folder, processor = resolve_checkpoint("text2image", "clip-shapes"), None
    else:
        folder = openai_folder()
        if folder is None:
            return None
        processor = transformers_class("CLIPImageProcessor").from_pretrained(folder)
    model = transformers_class("CLIPModel").from_pretrained(folder, dtype=torch.float32).eval().requires_grad_(False)
    tokenizer = transformers_class("CLIPTokenizer").from_pretrained(folder)
    return Clip(model, tokenizer, "GenLab's shapes CLIP" if which == "genlab" else "OpenAI CLIP ViT-B/32", processor)
