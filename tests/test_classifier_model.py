"""ConvClassifier: shapes, input preparation, save/load, and that a few steps of training fit data."""

import pytest
import torch

from core.classifier.model import ConvClassifier
from core.engine import load_pretrained


def tiny(**kw):
    args = dict(in_channels=1, image_size=16, channels=(4, 8), num_features=8, head_sizes=(3,), head_names=("label",))
    args.update(kw)
    torch.manual_seed(0)
    return ConvClassifier(**args)


@pytest.mark.parametrize("norm,pool", [("group", "mean"), ("batch", "grid")])
def test_multi_head_shapes_and_split(norm, pool):
    net = tiny(in_channels=3, head_sizes=(2, 5), head_names=("hat", "hair"), norm=norm, pool=pool).eval()
    x = torch.rand(6, 3, 16, 16)
    logits = net(x)
    assert logits.shape == (6, 7)
    assert [z.shape[1] for z in net.split_logits(logits)] == [2, 5]
    assert net.features(x).shape == (6, 8)
    pred = net.predict(x)
    assert pred.shape == (6, 2) and pred.dtype == torch.long
    assert (pred[:, 0] < 2).all() and (pred[:, 1] < 5).all()
    assert net.class_names == (("0", "1"), ("0", "1", "2", "3", "4"))


def test_prepare_uint8_gray_rgb_and_resize():
    net = tiny()
    x = torch.rand(4, 1, 16, 16)
    u8 = (x * 255).round().to(torch.uint8)
    assert torch.allclose(net.prepare(u8), u8.float() / 255)
    assert torch.equal(net.prepare(x), x)
    rgb = x.repeat(1, 3, 1, 1)
    assert torch.allclose(net.prepare(rgb), x, atol=1e-6)  # equal channels -> same luma
    big = net.prepare(torch.rand(2, 3, 64, 64))
    assert big.shape == (2, 1, 16, 16) and big.dtype == torch.float32
    assert tiny(in_channels=3).prepare(x).shape == (4, 3, 16, 16)
    with pytest.raises(ValueError, match="must be"):
        net.prepare(torch.rand(2, 2, 16, 16))
    with pytest.raises(ValueError, match="norm must be"):
        tiny(norm="layer")


def test_save_load_roundtrip(tmp_path):
    net = tiny(head_sizes=(2, 3), head_names=("a", "b"), class_names=(("no", "yes"), ("r", "g", "b")),
               norm="batch", pool="grid")
    net(torch.rand(8, 1, 16, 16))  # a train-mode pass moves the BatchNorm running statistics
    net.eval()
    net.save_pretrained(tmp_path)
    back = load_pretrained(ConvClassifier, tmp_path).eval()
    x = torch.rand(3, 1, 16, 16)
    assert torch.equal(back(x), net(x)) and back.pool == "grid"
    assert back.class_names == (("no", "yes"), ("r", "g", "b")) and back.head_names == ("a", "b")


def test_few_steps_lower_the_loss_on_a_learnable_task():
    # class = orientation of a bright bar at a random place: 0 horizontal, 1 vertical, 2 both (a cross)
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (96,), generator=g)
    pos = torch.randint(2, 14, (96, 2), generator=g)
    x = torch.rand(96, 1, 16, 16, generator=g) * 0.3
    for i, k in enumerate(y.tolist()):
        r, c = pos[i].tolist()
        if k in (0, 2):
            x[i, 0, r - 1:r + 1, :] += 0.7
        if k in (1, 2):
            x[i, 0, :, c - 1:c + 1] += 0.7
    net = tiny(channels=(8, 16), num_features=16)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    with torch.no_grad():
        first = float(net.loss(net(x), y))
    for _ in range(40):
        loss = net.loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert float(net.loss(net(x), y)) < 0.3 * first
    assert (net.predict(x)[:, 0] == y).float().mean() > 0.9
