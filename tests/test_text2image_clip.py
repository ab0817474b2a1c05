"""The project's CLIP: hard negatives (NegCLIP) and the measures of what a CLIP and a text encoder tell apart."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch

from core.data.worlds.shapes import COLOUR_NAMES, SHAPES, SIZE_NAMES


def test_swap_shape_changes_one_shape_word_to_another():
    from core.text2image.clip_method import swap_shape

    g = torch.Generator().manual_seed(0)
    caption = "a large red circle to the left of a small blue square"
    seen = set()
    for _ in range(40):
        twin = swap_shape(caption, g)
        a, b = caption.split(), twin.split()
        diff = [(x, y) for x, y in zip(a, b) if x != y]
        assert len(a) == len(b) and len(diff) == 1 and diff[0][0] in ("circle", "square") and diff[0][1] in SHAPES
        seen.add(diff[0])
    assert len(seen) > 6                                   # both words and many replacements get drawn
    assert swap_shape("a photo of nothing", g) == "a photo of nothing"


def test_hard_negatives_add_rivals_to_the_image_side_only():
    """Cross-entropy over a superset of logits is larger: the same model and batch lose more with the twins."""
    from core.engine import StepContext
    from core.text2image.clip_method import ClipMethod
    from core.text2image.config import ClipConfig

    losses = {}
    for hard in (False, True):
        method = ClipMethod(ClipConfig(resolution=16, width=16, layers=1, heads=2, patch_size=8, projection_dim=8,
                                       tokenizer_captions=200, hard_negatives=hard, device="cpu"))
        torch.manual_seed(0)
        model = method.build_model()
        batch = method.build_dataset("train").get_batch(list(range(8)))
        out = method.training_step(model, batch, StepContext(0, SimpleNamespace(device=torch.device("cpu")), {}))
        out["loss"].backward()
        losses[hard] = float(out["loss"].detach())
        assert all(p.grad is not None for p in model.text_model.parameters() if p.requires_grad)
    assert losses[True] > losses[False]


def test_shape_groups_end_each_batch_in_captions_that_differ_only_in_shape():
    """With shape_groups, the batch's last 8 k captions come in groups of one colour and size, one shape each (the
    held-out pairs never among them), the rest as drawn; the same indices give the same batch (resume is exact)."""
    from core.text2image.clip_method import ClipMethod
    from core.text2image.config import ClipConfig

    config = ClipConfig(batch_size=32, shape_groups=2, cache_items=3000, tokenizer_captions=200).validate()
    data = ClipMethod(config).build_dataset("train")
    indices = list(range(500, 532))
    batch = data.get_batch(indices)
    assert batch["text"][:16] == data.dataset.get_batch(indices[:16])["text"]
    for g in (16, 24):
        group = batch["text"][g:g + 7]  # 7 or 8 shapes per colour and size: 8 less the held-out pair's
        words = [c.split() for c in group]
        assert all(re.fullmatch(r"a \w+ \w+ \w+", c) for c in group) and len({w[3] for w in words}) == 7
        assert len({(w[1], w[2]) for w in words}) == 1                             # one size and colour
        assert not {f"{w[2]} {w[3]}" for w in words} & set(config.holdout)
    assert data.get_batch(indices)["text"] == batch["text"]
    with pytest.raises(ValueError, match="exceed batch_size"):
        ClipConfig(batch_size=8, shape_groups=2, cache_items=100).validate()
    with pytest.raises(ValueError, match="cache_items"):
        ClipConfig(shape_groups=1).validate()


def test_pool_padding_trains_the_states_after_the_end_token():
    """The CLIP loss reads each caption at its end token only, so the padding states after it (which a text-to-image
    UNet reads too) get no gradient; with pool_padding they do."""
    from core.engine import StepContext
    from core.text2image.clip_method import ClipMethod
    from core.text2image.config import ClipConfig

    reached = {}
    for pool in (False, True):
        method = ClipMethod(ClipConfig(resolution=16, width=16, layers=1, heads=2, patch_size=8, projection_dim=8,
                                       max_length=16, tokenizer_captions=200, pool_padding=pool, device="cpu"))
        torch.manual_seed(0)
        model = method.build_model()
        grads = []
        model.text_model.final_layer_norm.register_full_backward_hook(lambda m, gin, gout: grads.append(gout[0]))
        batch = method.build_dataset("train").get_batch(list(range(8)))
        out = method.training_step(model, batch, StepContext(0, SimpleNamespace(device=torch.device("cpu")), {}))
        out["loss"].backward()
        ids = method.tokenize(batch["text"], torch.device("cpu"))
        eos = (ids == model.config.text_config.eos_token_id).int().argmax(1)
        after = torch.arange(ids.shape[1])[None] > eos[:, None]                    # (B, L): the padding
        assert after.any()
        reached[pool] = float(grads[0][after].abs().sum())
    assert reached[False] == 0 and reached[True] > 0


def _one_hot_of(shape, colour, size):
    return torch.cat([torch.eye(8)[shape], torch.eye(8)[colour], torch.eye(3)[size]])


def _attributes(caption):
    words = caption.split()
    return SHAPES.index(words[3]), COLOUR_NAMES.index(words[2]), SIZE_NAMES.index(words[1])


@pytest.mark.parametrize("parts, expected", [((0,), (1.0, 0.0, 0.0)), ((0, 1), (0.5, 0.5, 0.0)),
                                             ((1, 2), (0.0, 0.5, 0.5))])
def test_text_state_shares_are_the_attributes_share_of_the_variance(monkeypatch, parts, expected):
    """Hidden states that are one-hot codes of some attributes: each coded attribute holds an equal share (balanced
    captions, equal variances of the codes), the others none."""
    import core.text2image.text_encoders as text_encoders
    from core.text2image.evaluate import text_state_shares

    def encode(tokenizer, encoder, captions, device=None):
        codes = [torch.eye(8 if k < 2 else 3)[_attributes(c)[k]] for c in captions for k in parts]
        codes = torch.stack([torch.cat(codes[i * len(parts):(i + 1) * len(parts)]) for i in range(len(captions))])
        if parts == (1, 2):                                 # equal variance: scale the size code to the colour's
            codes[:, 8:] *= ((7 / 8) / (2 / 3)) ** 0.5   # total variances of 8- and 3-way one-hot codes
        return SimpleNamespace(embeds=codes[:, None, :])

    monkeypatch.setattr(text_encoders, "encode_prompts", encode)
    shares = text_state_shares(None, None)
    for name, value in zip(("shape", "colour", "size"), expected):
        assert shares[f"text_states/{name}"] == pytest.approx(value, abs=1e-6)


def test_clip_zero_shot_is_perfect_for_a_clip_that_sees_every_attribute_and_blind_without_shapes(monkeypatch):
    import core.metrics.clip as clip_module
    import core.text2image.evaluate as evaluate

    tables = torch.tensor([[[s, c, z, 1], [0, 0, 0, 0], [0, 0, 0, 0]] for s, c, z in
                           [(k % 8, (3 * k) % 8, k % 3) for k in range(48)]])
    images = torch.arange(48, dtype=torch.float32).view(48, 1, 1, 1).expand(48, 3, 2, 2)
    monkeypatch.setattr(evaluate, "one_object_scenes", lambda split, num, resolution=64: (images, None, None, tables))
    monkeypatch.setattr(clip_module.Clip, "text_embeds", lambda self, prompts: torch.stack(
        [_one_hot_of(*_attributes(p)) for p in prompts]))
    for blind, shape_rate in ((False, 1.0), (True, 6 / 48)):
        def image_embeds(self, x):
            codes = torch.stack([_one_hot_of(*tables[int(i[0, 0, 0])][0, :3].tolist()) for i in x])
            if blind:
                codes[:, :8] = 0
            return codes
        monkeypatch.setattr(clip_module.Clip, "image_embeds", image_embeds)
        m = evaluate.clip_zero_shot(torch.nn.Identity(), None)
        assert m["zero_shot_images"] == 48 and m["zero_shot/colour"] == m["zero_shot/size"] == 1.0
        assert m["zero_shot/shape"] == pytest.approx(shape_rate)   # blind: the first rival, a circle, always wins
        by_size = [m[f"zero_shot/shape_{size}"] for size in SIZE_NAMES]
        assert sum(by_size) / 3 == pytest.approx(shape_rate)       # 16 images of each size
