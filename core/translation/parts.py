"""The part-weighted L1 of pix2pix on the faces world: the eyes, brows, mouth and glasses weigh more.

pix2pix's L1 term (Isola et al. 2017, eq. 3) weighs every pixel alike, and at 64 px a frowning mouth is a 7 x 3 px
arc, an eyebrow or a glasses frame a 1-2 px line, some in colours the label map leaves open: most of the per-pixel
loss is the colour guess of the large regions, and the small parts that decide expression and eye shape stay soft.
Weighting the L1 per pixel by the label map,

    L_L1(G) = E[ sum_ij w_ij |B_ij - G(A)_ij| ] / (H W),      w_ij = 1 + lambda_parts * M_ij,

with M the eyebrow, eye, mouth and glasses pixels of the label map dilated by one pixel (their rims too), adds weight
there and takes none from the rest (w is not normalised: the outline keeps the weight it has in pix2pix). Where
GFPGAN's facial-component losses (Wang et al. 2021) find the eyes and mouth by landmarks, here the label map, known
at training time, says where the parts are.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

PART_CLASSES = ("eyebrows", "eyes", "mouth", "glasses")


def part_mask(label_map: torch.Tensor, dilation: int = 1) -> torch.Tensor:
    """(N, H, W) class indices (``LABEL_NAMES`` order) -> (N, 1, H, W) float mask in {0, 1} of the eyebrow, eye,
    mouth and glasses pixels, dilated by ``dilation`` pixels (a (2 dilation + 1)^2 square)."""
    from core.data.worlds.faces_parts import LABEL_NAMES

    mask = torch.zeros_like(label_map, dtype=torch.bool)
    for name in PART_CLASSES:
        mask |= label_map == LABEL_NAMES.index(name)
    mask = mask.float()[:, None]
    if dilation:
        mask = F.max_pool2d(mask, 2 * dilation + 1, stride=1, padding=dilation)
    return mask


def part_weights(label_map: torch.Tensor, lambda_parts: float) -> torch.Tensor:
    """(N, H, W) label map -> (N, 1, H, W) per-pixel L1 weights 1 + lambda_parts * M (see the module docstring)."""
    return 1 + lambda_parts * part_mask(label_map)


def weighted_l1(fake: torch.Tensor, real: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """mean(w |real - fake|) over every pixel and channel; fake, real (N, C, H, W), weights (N, 1, H, W)."""
    return ((fake.float() - real.float()).abs() * weights).mean()
