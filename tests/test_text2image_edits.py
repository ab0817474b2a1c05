"""Image-to-image measured: recolouring edits of held-out shapes scenes read back from their pixels."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from tests.test_text2image_training import LosslessAutoencoder


def _painted(starts: torch.Tensor, prompts: list[str], shift: int = 0) -> torch.Tensor:
    """The start images with their object's pixels painted in the colour each prompt asks for (shifted ``shift`` px
    right and down): the edit a perfect image-to-image run makes (``shift`` 0) or one that loses the place."""
    from core.data.worlds.shapes import COLOUR_NAMES, COLOURS
    from core.text2image.evaluate import colour_mask

    out = starts.clone()
    for i, (image, prompt) in enumerate(zip(starts, prompts)):
        new = next(name for name in COLOUR_NAMES if f" {name} " in prompt)
        old = max(COLOUR_NAMES, key=lambda name: int(colour_mask(image[None], name)[0].sum()))
        mask = colour_mask(image[None], old)[0].roll((shift, shift), (0, 1))
        background = image.median(-1).values.median(-1).values
        out[i][:, colour_mask(image[None], old)[0]] = background[:, None]
        out[i][:, mask] = torch.tensor(COLOURS[new], dtype=torch.float32)[:, None] / 255
    return out


def test_recolouring_edits_read_what_was_painted_and_the_place_lost_at_strength_one():
    """A fake image-to-image run that paints each start object in the prompt's colour (and at strength 1 draws it
    25 px away) is read as recoloured, shape and place kept, no background change; the moved object as placed
    wrong; the start image itself (the autoencoder's round trip here, lossless) as not recoloured."""
    from core.text2image.config import Text2ImageConfig
    from core.text2image.edit_evaluate import EDIT_STRENGTHS, edit_scenes, far_colours, read_edits, recolour_edits
    from core.text2image.method import Text2ImageMethod

    method = Text2ImageMethod(Text2ImageConfig())
    seen = []

    def generate(unet, prompts, generator, steps, guidance, init_images=None, strength=1.0):
        seen.append((len(prompts), strength, steps))
        return _painted(init_images, prompts, shift=25 if strength == 1.0 else 0)

    method.generate = generate
    method.frozen = lambda device=None: (LosslessAutoencoder(), None, None)
    m = recolour_edits(method, SimpleNamespace(device=torch.device("cpu")), num=24, start=300, steps=3)
    assert seen == [(24, s, 3) for s in EDIT_STRENGTHS] and m["edit_prompts"] == 24
    for s in ("0.2", "0.4", "0.6", "0.8"):
        assert m[f"edit_{s}/recoloured"] >= 0.9 and m[f"edit_{s}/shape_kept"] >= 0.9, m
        assert m[f"edit_{s}/place_kept"] == 1.0 and m[f"edit_{s}/background"] < 0.01
    assert m["edit_1/place_kept"] == 0.0 and m["edit_1/edited"] == 0.0
    assert m["edit_autoencoder/background"] < 1e-6

    scenes = edit_scenes(24, 300)
    for (_, colour, _), new in zip(scenes["objects"].tolist(), scenes["new_colours"].tolist()):
        assert new in far_colours(colour) and colour not in far_colours(colour)
    from core.metrics import load_classifier

    unchanged = read_edits(scenes["images"], scenes["images"], scenes["objects"], scenes["new_colours"],
                           load_classifier("shapes"))
    assert not any(unchanged["recoloured"]) and not any(unchanged["edited"]) and all(unchanged["place_kept"])
