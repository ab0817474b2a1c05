"""Training a small CLIP on a world (``python -m core.train clip``): its text tower conditions a text-to-image UNet.

Contrastive loss of Radford et al. 2021 (fig. 3): for a batch of N (image, caption) pairs with unit embeddings
I_i, T_j and a learned temperature, logits = exp(t) I T^T (N x N) and L = (CE(logits, diag) + CE(logits^T, diag)) / 2:
each image must pick out its own caption among the batch's, and each caption its image. The BPE tokenizer is trained
first on the training captions (``tokenizer.py``) and saved beside the weights.

With ``hard_negatives`` (NegCLIP, Yuksekgonul et al. 2023, sec. 5) each caption also gets a twin with one shape word
swapped for another, and each image must pick its own caption among the N captions and the N twins (an N x 2N
image-to-text cross-entropy; the text-to-image side is unchanged). In the ``shapes`` world two random captions almost
always differ in colour, so without them a CLIP need not see outlines at all. With ``shape_groups`` each batch also
ends in groups of one-object scenes of one colour and size (``data.ShapeGroups``): there the images and the captions'
text states can only be told apart by their shapes.
"""

from __future__ import annotations

import copy

import torch

from core.engine import Method

from .config import ClipConfig
from .data import CaptionedData

RETRIEVAL_GROUP = 100


def swap_shape(caption: str, generator: torch.Generator | None = None) -> str:
    """``caption`` with one of its shape words (chosen at random) replaced by another shape (a hard negative);
    unchanged when it names no shape."""
    import re

    from core.data.worlds.shapes import SHAPES

    found = list(re.finditer(r"\b(" + "|".join(SHAPES) + r")\b", caption))
    if not found:
        return caption
    pick = lambda n: int(torch.randint(n, (1,), generator=generator))
    word = found[pick(len(found))]
    others = [s for s in SHAPES if s != word.group(1)]
    return caption[:word.start()] + others[pick(len(others))] + caption[word.end():]


class ClipMethod(CaptionedData, Method):
    """CLIP (``transformers.CLIPModel``) trained from scratch on a world's captions and images."""

    name = "clip"
    checkpoint_dir = "text2image"  # its models sit beside the text-to-image ones that use them
    config_class = ClipConfig

    @property
    def tokenizer(self):
        if getattr(self, "_tokenizer", None) is None:
            from .tokenizer import train_clip_tokenizer

            c = self.config
            self._tokenizer = train_clip_tokenizer(self.build_dataset("train").captions(c.tokenizer_captions),
                                                   c.max_length, c.vocab_size)
        return self._tokenizer

    def build_dataset(self, split: str = "train"):
        """The world's captioned pairs; for training with ``shape_groups``, batches that end in shape-only groups."""
        dataset = super().build_dataset(split)
        if split != "train" or not self.config.shape_groups:
            return dataset
        if getattr(self, "_grouped", None) is None:
            from .data import ShapeGroups

            self._grouped = ShapeGroups(dataset, self.config.shape_groups)
        return self._grouped

    def build_model(self):
        from .models import build_clip

        c = self.config
        return build_clip(self.tokenizer, c.width, c.layers, c.heads, c.resolution, c.patch_size, c.projection_dim)

    def tokenize(self, texts, device):
        return self.tokenizer(list(texts), padding="max_length", max_length=self.config.max_length, truncation=True,
                              return_tensors="pt")["input_ids"].to(device)

    def training_step(self, model, batch, ctx):
        import torch.nn.functional as F

        texts = list(batch["text"])
        if self.config.hard_negatives:
            texts += [swap_shape(t) for t in texts]        # the global RNG: restored on resume
        ids = self.tokenize(texts, ctx.device)                        # (B, L), or (2B, L): captions, then twins
        out = model(input_ids=ids, pixel_values=batch["image"] * 2 - 1)
        n = len(batch["text"])
        target = torch.arange(n, device=ids.device)
        loss = (F.cross_entropy(out.logits_per_image, target) + F.cross_entropy(out.logits_per_text[:n], target)) / 2
        matched = (out.logits_per_image.argmax(1) == target).float().mean()
        if not self.config.pool_padding:
            return {"loss": loss, "batch_accuracy": matched.detach()}
        padded = self._padding_logits(model, out, ids[:n])
        padding_loss = (F.cross_entropy(padded, target) + F.cross_entropy(padded.T, target)) / 2
        return {"loss": (loss + padding_loss) / 2, "eos_loss": loss.detach(), "padding_loss": padding_loss.detach(),
                "batch_accuracy": matched.detach()}

    @staticmethod
    def _padding_logits(model, out, ids):
        """Image-to-caption logits (B, B) with each caption pooled at a random position from its end token on (the
        padding, which a text-to-image UNet reads too) instead of at the end token alone."""
        import torch.nn.functional as F

        states = out.text_model_output.last_hidden_state[:len(ids)]               # (B, L, D), final layer norm
        length = ids.shape[1]
        eos = (ids == model.config.text_config.eos_token_id).int().argmax(1)       # first end token
        pick = eos + (torch.rand(len(ids), device=ids.device) * (length - eos)).long()   # eos .. length - 1
        text = F.normalize(model.text_projection(states[torch.arange(len(ids)), pick]), dim=-1)
        image = F.normalize(out.image_embeds, dim=-1)
        return model.logit_scale.exp() * image @ text.T

    @torch.no_grad()
    def sample(self, module, num, generator):
        """Held-out images, each framed green when CLIP picks its own caption among the group's, red otherwise."""
        device = next(module.parameters()).device
        batch = self.build_dataset("test").get_batch(list(range(max(num, 2))))
        right = self._matches(module, batch["image"].to(device), batch["text"])
        images = batch["image"][:num].clone()
        for i in range(num):
            frame = torch.tensor([0.1, 0.8, 0.2] if right[i] else [0.9, 0.1, 0.1])
            images[i, :, :2, :], images[i, :, -2:, :] = frame[:, None, None], frame[:, None, None]
            images[i, :, :, :2], images[i, :, :, -2:] = frame[:, None, None], frame[:, None, None]
        return images

    def _matches(self, module, images, texts) -> torch.Tensor:
        ids = self.tokenize(texts, images.device)
        out = module(input_ids=ids, pixel_values=images * 2 - 1)
        return (out.logits_per_image.argmax(1) == torch.arange(len(ids), device=images.device)).cpu()

    def save_inference(self, module, folder) -> None:
        if self.config.weights_dtype == "float16":
            module = copy.deepcopy(module).half()
        module.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    def load_inference(self, folder):
        from core.diffusion.lib import transformers_class
        CLIPModel = transformers_class("CLIPModel")
        CLIPTokenizer = transformers_class("CLIPTokenizer")

        self._tokenizer = CLIPTokenizer.from_pretrained(folder)
        return CLIPModel.from_pretrained(folder, dtype=torch.float32)

    @torch.no_grad()
    def evaluate(self, module) -> dict:
        """Retrieval top-1 within groups of 100 held-out pairs (image -> caption and caption -> image) and the mean
        CLIP score 100 cos(I, T) of matched pairs (the reference for generated images' CLIP scores)."""
        device = next(module.parameters()).device
        ds = self.build_dataset("test")
        i2t, t2i, scores = [], [], []
        for s in range(0, 1000, RETRIEVAL_GROUP):
            batch = ds.get_batch(list(range(s, s + RETRIEVAL_GROUP)))
            out = module(input_ids=self.tokenize(batch["text"], device),
                         pixel_values=batch["image"].to(device) * 2 - 1)
            target = torch.arange(RETRIEVAL_GROUP, device=device)
            i2t.append((out.logits_per_image.argmax(1) == target).float().mean())
            t2i.append((out.logits_per_text.argmax(1) == target).float().mean())
            img = torch.nn.functional.normalize(out.image_embeds, dim=-1)
            txt = torch.nn.functional.normalize(out.text_embeds, dim=-1)
            scores.append(100 * (img * txt).sum(-1).mean())
        metrics = {"retrieval_image_to_text_top1": float(torch.stack(i2t).mean()),
                   "retrieval_text_to_image_top1": float(torch.stack(t2i).mean()),
                   "clip_score_real_pairs": float(torch.stack(scores).mean())}
        if self.config.dataset == "shapes":
            from .evaluate import clip_zero_shot, text_state_shares

            metrics.update(clip_zero_shot(module, self.tokenizer, resolution=self.config.resolution))
            metrics.update(text_state_shares(self.tokenizer, module.text_model))
        return metrics

    def model_card_notes(self) -> str:
        c = self.config
        return f"""A small CLIP ([Radford et al. 2021](https://arxiv.org/abs/2103.00020)) trained from scratch on the
`{c.dataset}` world's captions: `transformers.CLIPModel`, text and image transformers of width {c.width}, {c.layers} layers,
{c.heads} heads ({c.patch_size} px patches), a shared {c.projection_dim}-d embedding; a byte-level BPE tokenizer (vocabulary
{c.vocab_size}, {c.max_length} tokens) trained by `core.text2image.tokenizer` on {c.tokenizer_captions} training captions.
Held out of training (scenes holding any of them are skipped): {', '.join(c.holdout) or 'nothing'}.

Its text tower is the `clip` text encoder of the text-to-image models; its two towers give the CLIP score of generated
images. `samples.png`: held-out images framed green when CLIP picks their own caption among {max(c.num_samples, 2)}.
Metrics on 1,000 held-out pairs in groups of {RETRIEVAL_GROUP}: retrieval top-1 both ways (chance 1 %) and the mean CLIP
score 100 cos(image, caption) of matched pairs. On the `shapes` world also what it tells apart
(`core.text2image.evaluate`): `zero_shot/<attribute>`, how often a held-out one-object image scores its own caption
above every caption that differs in that attribute only (chance 1/8 for shape and colour, 1/3 for size), and
`text_states/<attribute>`, the share of the variance of the text tower's hidden states (what a text-to-image UNet
reads) that the attribute explains over the 192 one-object captions.

Load: `transformers.CLIPModel.from_pretrained(folder)`, `transformers.CLIPTokenizer.from_pretrained(folder)`.
"""
