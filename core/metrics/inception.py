"""Inception-v3 features for the standard FID, used only when its weights are on disk.

The standard FID (Heusel et al. 2017, as computed by TTUR's TensorFlow code, pytorch-fid, torch-fidelity and
torchmetrics) uses the 2015-12-05 TensorFlow Inception-v3 graph: images resized to 299 x 299 with TensorFlow 1.x's
bilinear resize, scaled to [-1, 1], and the 2,048 average-pooled features before the classifier ("pool3"). This
module builds that network (with the graph's quirks: average pools that ignore padding, a max pool in the last block)
under the parameter names of the PyTorch port of those weights, ``pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid)
or ``weights-inception-2015-12-05-6726825d.pth`` (torch-fidelity), so either file loads as it is, with
``torch.load(weights_only=True)``.

Nothing downloads on its own: :func:`find_weights` looks in ``checkpoints/metrics/`` and in torch's hub cache (where
those tools keep the file); ``python -m core.metrics.inception --download`` fetches it when the user asks.

    from core.metrics.inception import find_weights, load_inception
    if find_weights():
        net = load_inception()                  # InceptionFeatures, eval mode
        feats = net(images)                     # (N, 2048) from (N, 1 or 3, H, W) uint8 or float in [0, 1]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

FILES = ("pt_inception-2015-12-05-6726825d.pth", "weights-inception-2015-12-05-6726825d.pth")
URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FILES[0]
SIDE = 299


def resize_like_tensorflow1(x: torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """TensorFlow 1.x ``resize_bilinear`` (align_corners False): output pixel i samples the input at i * in / out,
    without PyTorch's half-pixel offset; the last row and column are repeated past the edge. (N, C, H, W) float."""
    for dim in (2, 3):
        size = x.shape[dim]
        src = torch.arange(side, dtype=torch.float32, device=x.device) * (size / side)
        lo = src.long()
        hi = (lo + 1).clamp(max=size - 1)
        w = (src - lo.float()).to(x.dtype)
        shape = [1, 1, 1, 1]
        shape[dim] = side
        a, b = x.index_select(dim, lo), x.index_select(dim, hi)
        x = a + (b - a) * w.view(shape)
    return x


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 0.001, as the TF graph) -> ReLU; parameters named ``conv`` and ``bn``."""

    def __init__(self, c_in: int, c_out: int, kernel, stride: int = 1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _conv(spec) -> BasicConv2d:
    c_in, c_out, kernel, *rest = spec
    stride = rest[0] if rest else 1
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    padding = rest[1] if len(rest) > 1 else ((k[0] // 2, k[1] // 2) if stride == 1 else 0)
    return BasicConv2d(c_in, c_out, kernel, stride, padding)


class Mixed(nn.Module):
    """An Inception block: parallel branches concatenated on channels.

    ``branches``: a list of branches, each a list of (name, conv spec) applied in turn; a branch whose last entry is
    a list of such pairs ends in parallel convs whose outputs are concatenated (the 1x3 / 3x1 pairs of the last
    blocks). ``pool``: "avg" (3x3, padding not counted, then the 1x1 ``branch_pool`` conv to ``pool_channels``),
    "max" (the same with a max pool) or "max/2" (3x3 stride-2 max pool, no conv).
    """

    def __init__(self, branches: list, pool: str, pool_channels: tuple[int, int] | None = None):
        super().__init__()
        if pool_channels is not None:
            self.branch_pool = _conv((*pool_channels, 1))
        self.plan, self.pool = [], pool
        for branch in branches:
            steps = []
            for entry in branch:
                names = [n for n, _ in entry] if isinstance(entry, list) else [entry[0]]
                for name, spec in entry if isinstance(entry, list) else [entry]:
                    self.add_module(name, _conv(spec))
                steps.append(names)
            self.plan.append(steps)

    def forward(self, x):
        out = []
        for steps in self.plan:
            h = x
            for names in steps:
                h = torch.cat([getattr(self, n)(h) for n in names], 1)
            out.append(h)
        if self.pool == "max/2":
            out.append(F.max_pool2d(x, 3, stride=2))
        else:
            pooled = (F.avg_pool2d(x, 3, 1, 1, count_include_pad=False) if self.pool == "avg"
                      else F.max_pool2d(x, 3, 1, 1))
            out.append(self.branch_pool(pooled))
        return torch.cat(out, 1)


def _block_a(c_in, pool_features):
    return Mixed([[("branch1x1", (c_in, 64, 1))],
                  [("branch5x5_1", (c_in, 48, 1)), ("branch5x5_2", (48, 64, 5))],
                  [("branch3x3dbl_1", (c_in, 64, 1)), ("branch3x3dbl_2", (64, 96, 3)), ("branch3x3dbl_3", (96, 96, 3))]],
                 "avg", (c_in, pool_features))


def _block_c(c_in, c7):
    return Mixed([[("branch1x1", (c_in, 192, 1))],
                  [("branch7x7_1", (c_in, c7, 1)), ("branch7x7_2", (c7, c7, (1, 7))), ("branch7x7_3", (c7, 192, (7, 1)))],
                  [("branch7x7dbl_1", (c_in, c7, 1)), ("branch7x7dbl_2", (c7, c7, (7, 1))),
                   ("branch7x7dbl_3", (c7, c7, (1, 7))), ("branch7x7dbl_4", (c7, c7, (7, 1))),
                   ("branch7x7dbl_5", (c7, 192, (1, 7)))]], "avg", (c_in, 192))


def _block_e(c_in, pool):
    pair = lambda prefix: [(f"{prefix}a", (384, 384, (1, 3))), (f"{prefix}b", (384, 384, (3, 1)))]
    return Mixed([[("branch1x1", (c_in, 320, 1))],
                  [("branch3x3_1", (c_in, 384, 1)), pair("branch3x3_2")],
                  [("branch3x3dbl_1", (c_in, 448, 1)), ("branch3x3dbl_2", (448, 384, 3)), pair("branch3x3dbl_3")]],
                 pool, (c_in, 192))


class InceptionFeatures(nn.Module):
    """The FID Inception-v3 (module docstring). ``forward``: (N, 1 or 3, H, W) uint8 in [0, 255] or float in [0, 1],
    any size -> (N, 2048) pool3 features (float32); :meth:`logits` -> (N, 1008) class logits without the bias, as
    torch-fidelity and torchmetrics compute the Inception Score."""

    num_features = 2048

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = _conv((3, 32, 3, 2))
        self.Conv2d_2a_3x3 = _conv((32, 32, 3, 1, 0))
        self.Conv2d_2b_3x3 = _conv((32, 64, 3))
        self.Conv2d_3b_1x1 = _conv((64, 80, 1))
        self.Conv2d_4a_3x3 = _conv((80, 192, 3, 1, 0))
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = _block_a(192, 32), _block_a(256, 64), _block_a(288, 64)
        self.Mixed_6a = Mixed([[("branch3x3", (288, 384, 3, 2))],
                               [("branch3x3dbl_1", (288, 64, 1)), ("branch3x3dbl_2", (64, 96, 3)),
                                ("branch3x3dbl_3", (96, 96, 3, 2))]], "max/2")
        self.Mixed_6b, self.Mixed_6c = _block_c(768, 128), _block_c(768, 160)
        self.Mixed_6d, self.Mixed_6e = _block_c(768, 160), _block_c(768, 192)
        self.Mixed_7a = Mixed([[("branch3x3_1", (768, 192, 1)), ("branch3x3_2", (192, 320, 3, 2))],
                               [("branch7x7x3_1", (768, 192, 1)), ("branch7x7x3_2", (192, 192, (1, 7))),
                                ("branch7x7x3_3", (192, 192, (7, 1))), ("branch7x7x3_4", (192, 192, 3, 2))]], "max/2")
        self.Mixed_7b, self.Mixed_7c = _block_e(1280, "avg"), _block_e(2048, "max")
        self.fc = nn.Linear(2048, 1008)

    def train(self, mode: bool = True) -> "InceptionFeatures":
        return super().train(False)  # a fixed feature extractor

    @staticmethod
    def prepare(images: torch.Tensor) -> torch.Tensor:
        """Any image batch -> (N, 3, 299, 299) in [-1, 1] as the TF graph sees it (gray repeated to RGB)."""
        x = images.float() if images.dtype == torch.uint8 else images.float().clamp(0, 1) * 255
        x = x.round() if images.dtype != torch.uint8 else x  # the graph reads 8-bit images
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        return (resize_like_tensorflow1(x) - 128) / 128

    @torch.no_grad()
    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"):
            x = getattr(self, name)(x)
        x = F.max_pool2d(x, 3, stride=2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return x.mean((2, 3))  # (N, 2048)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pool3(self.prepare(images)).float()

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.pool3(self.prepare(images)) @ self.fc.weight.T

    @torch.no_grad()
    def read(self, images: torch.Tensor, batch_size: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
        """(features (N, 2048), logits (N, 1008)) in one pass, ``batch_size`` images at a time (299 px is large)."""
        feats = [self.pool3(self.prepare(images[s:s + batch_size])) for s in range(0, len(images), batch_size)]
        feats = torch.cat(feats).float()
        return feats, feats @ self.fc.weight.T


def search_folders() -> list[Path]:
    """Where :func:`find_weights` looks: ``checkpoints/metrics/`` and torch's hub cache (``$TORCH_HOME``)."""
    from core.engine import checkpoint_root

    return [checkpoint_root() / "metrics", Path(torch.hub.get_dir()) / "checkpoints"]


def find_weights() -> Path | None:
    """The first Inception weights file found on disk (module docstring), or None."""
    for folder in search_folders():
        for name in FILES:
            if (folder / name).is_file():
                return folder / name
    return None


def load_inception(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> InceptionFeatures:
    """:class:`InceptionFeatures` with the weights of ``path`` (default: :func:`find_weights`), in eval mode.

    Raises:
        FileNotFoundError: no weights on disk (the message says where to put them and how to download them).
        RuntimeError: a file whose parameters are not the FID Inception's.
    """
    path = Path(path) if path is not None else find_weights()
    if path is None or not path.is_file():
        raise FileNotFoundError(f"no Inception-v3 weights ({FILES[0]}) in {' or '.join(map(str, search_folders()))}; "
                                "copy the file there, or run python -m core.metrics.inception --download when online")
    net = InceptionFeatures()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.to(device).eval().requires_grad_(False)


def main(argv=None) -> int:
    """The command line; an offline download is one ``error:`` line (exit status 2), never a traceback."""
    from core.engine.cli import run_cli

    return run_cli(_main, argv)


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.metrics.inception",
                                     description="Where the FID Inception-v3 weights are; --download fetches them.")
    parser.add_argument("--download", action="store_true", help=f"download {FILES[0]} into torch's hub cache")
    args = parser.parse_args(argv)
    found = find_weights()
    if found is None and args.download:
        target = Path(torch.hub.get_dir()) / "checkpoints" / FILES[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(URL, str(target), hash_prefix="6726825d")
        except OSError as exc:  # offline: urllib's URLError
            raise ConnectionError(f"could not download {URL} ({getattr(exc, 'reason', exc)}); on a machine with "
                                  f"internet run this again, or copy {FILES[0]} into {target.parent}") from None
        found = target
    print(found if found else f"not found in {', '.join(map(str, search_folders()))} (--download fetches it)")
    return 0 if found else 1


if __name__ == "__main__":
    raise SystemExit(main())
