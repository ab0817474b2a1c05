"""An offline CLIP tokenizer trained by the project on a world's captions (byte-level BPE, as CLIP's).

CLIP's tokenizer (Radford et al. 2021, following GPT-2) lower-cases the text, splits it into words, maps every
byte to a printable character and merges frequent character pairs (byte-pair encoding, Sennrich et al. 2016), with
"</w>" marking the end of a word. Its base vocabulary holds all 256 bytes, alone and word-final, so *no input is
ever unknown*: a word the captions never used (or an emoji) falls apart into smaller pieces, down to single bytes.

The merges are learned here with the ``tokenizers`` library on the world's captions, so each caption word becomes
one token; the result is a plain ``transformers.CLIPTokenizer`` (``save_pretrained`` / ``from_pretrained``), which
diffusers' Stable Diffusion pipeline uses as it would CLIP's own.
"""

from __future__ import annotations

import json
from typing import Iterable

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
END_OF_WORD = "</w>"


def train_clip_tokenizer(captions: Iterable[str], max_length: int, vocab_size: int = 1024):
    """A ``CLIPTokenizer`` whose merges are learned from ``captions``.

    Args:
        captions: training texts (lower-cased by the tokenizer).
        max_length: ``model_max_length``: prompts are padded / truncated to it, start and end tokens included;
            at most the text encoder's ``max_position_embeddings``.
        vocab_size: at most this many tokens (512 byte tokens + merges + 2 special tokens).
    Raises:
        ValueError: ``vocab_size`` below the 514 tokens of the base vocabulary, or ``max_length`` < 3.
    """
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from core.diffusion.lib import transformers_class
    CLIPTokenizer = transformers_class("CLIPTokenizer")

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())  # the 256 byte characters
    base = len(alphabet) * 2 + 2
    if vocab_size < base:
        raise ValueError(f"vocab_size must be at least {base} (bytes, word-final bytes, 2 special tokens)")
    if max_length < 3:
        raise ValueError("max_length must be at least 3 (start, one token, end)")
    reference = CLIPTokenizer(vocab={BOS: 0, EOS: 1}, merges=[])  # its normaliser and pre-tokeniser are CLIP's
    bpe = Tokenizer(models.BPE(end_of_word_suffix=END_OF_WORD))
    bpe.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "),
                                           normalizers.Lowercase()])
    bpe.pre_tokenizer = reference.backend_tokenizer.pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - base + len(alphabet), min_frequency=2,
                                  initial_alphabet=alphabet, end_of_word_suffix=END_OF_WORD, show_progress=False)
    bpe.train_from_iterator(list(captions), trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    vocab = {}
    for token in alphabet + [a + END_OF_WORD for a in alphabet]:
        vocab.setdefault(token, len(vocab))
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    vocab.setdefault(BOS, len(vocab))
    vocab.setdefault(EOS, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=int(max_length))
