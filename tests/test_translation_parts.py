"""core/translation/parts.py: the part-weighted L1 of pix2pix on the faces world."""

from __future__ import annotations

import pytest
import torch

from core.data.worlds.faces_parts import LABEL_NAMES
from core.translation.parts import part_mask, part_weights, weighted_l1

MOUTH, EYES, BROWS, GLASSES, SKIN = (LABEL_NAMES.index(n) for n in ("mouth", "eyes", "eyebrows", "glasses", "skin"))


def test_the_mask_is_the_eyes_brows_mouth_and_glasses_grown_by_one_pixel():
    maps = torch.full((1, 16, 16), SKIN)
    maps[0, 2, 2], maps[0, 5, 8], maps[0, 9, 5], maps[0, 13, 12] = BROWS, EYES, MOUTH, GLASSES
    mask = part_mask(maps)
    assert mask.shape == (1, 1, 16, 16) and int(mask.sum()) == 4 * 9          # four 3x3 squares
    assert mask[0, 0, 1:4, 1:4].all() and mask[0, 0, 4:7, 7:10].all() and mask[0, 0, 8:11, 4:7].all()
    assert mask[0, 0, 12:15, 11:14].all()
    assert int(part_mask(maps, dilation=0).sum()) == 4


def test_weights_are_one_off_the_parts_and_one_plus_lambda_on_them():
    maps = torch.full((2, 8, 8), SKIN)
    maps[1, 4, 4] = MOUTH
    w = part_weights(maps, 9.0)
    assert torch.equal(w[0], torch.ones(1, 8, 8))
    assert float(w[1].max()) == 10.0 and int((w[1] == 10).sum()) == 9 and float(w[1].min()) == 1.0


def test_weighted_l1_is_plain_l1_with_unit_weights_and_counts_the_parts_more():
    torch.manual_seed(0)
    fake, real = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    assert float(weighted_l1(fake, real, torch.ones(2, 1, 8, 8))) == pytest.approx(float((fake - real).abs().mean()))
    maps = torch.full((2, 8, 8), SKIN)
    maps[:, 0, 0] = EYES                                                      # a 2x2 corner after dilation
    off = real.clone()
    off[:, :, 0, 0] += 1                                                      # an error of 1 in a part pixel
    loss = weighted_l1(off, real, part_weights(maps, 9.0))
    assert float(loss) == pytest.approx(10 * 2 * 3 / (2 * 3 * 64))


def test_the_world_faces_parts_cover_a_small_share_of_the_image():
    from core.data import get_dataset

    maps = get_dataset("faces", split="test", resolution=64, seed=0).get_batch(list(range(32)))["label_map"]
    share = part_mask(maps).mean((1, 2, 3))
    assert bool(((share > 0.01) & (share < 0.25)).all())
