"""core/text2image's latent autoencoder: a decoder-only leg, the edge-weighted L1, the off-edge error measure and the
latent probe."""

from __future__ import annotations

import torch


def test_a_decoder_only_leg_keeps_the_latent_space(tmp_path):
    """--decoder-only continues an autoencoder with q(z|x) frozen: the encoder and the exported scaling factor are
    unchanged (every diffusion model trained in that latent space stays valid); the decoder learns (here with the
    edge-weighted L1 over the image's and the reconstruction's edges, as the bundled decoder's last leg) and its
    export measures how far the reconstructions stray off the image's edges."""
    import json

    from core.engine import Trainer
    from core.text2image.autoencoder_method import AutoencoderMethod
    from core.text2image.config import AutoencoderConfig

    quiet = dict(batch_size=4, sample_every=0, checkpoint_every=0, log_every=1, num_samples=2, device="cpu",
                 resolution=16, widths=(8, 8), eval_images=8, lr=1e-2, ema_decay=0.0)
    list(Trainer(AutoencoderMethod(AutoencoderConfig(steps=2, **quiet)), tmp_path / "ae").run())
    before = AutoencoderMethod(AutoencoderConfig(**quiet)).load_inference(tmp_path / "ae").state_dict()
    factor = json.loads((tmp_path / "ae" / "config.json").read_text())["scaling_factor"]
    leg = AutoencoderMethod(AutoencoderConfig(steps=6, decoder_only=True, edge_weight=20.0, output_edges=True, **quiet))
    list(Trainer(leg, tmp_path / "ae", from_export=True).run())
    after = leg.load_inference(tmp_path / "ae").state_dict()
    frozen = [k for k in before if k.startswith(("encoder.", "quant_conv."))]
    trained = [k for k in before if k.startswith(("decoder.", "post_quant_conv.")) and k.endswith("weight")]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in trained)
    assert json.loads((tmp_path / "ae" / "config.json").read_text())["scaling_factor"] == factor
    metrics = json.loads((tmp_path / "ae" / "metrics.json").read_text())
    assert 0 <= metrics["off_edge_peak/median"] <= metrics["off_edge_peak/p90"] <= 3


def test_edge_weighted_l1_is_l1_at_zero_and_weighs_an_outline_more_than_a_flat_pixel():
    from torch.nn import functional as F

    from core.text2image.autoencoder_method import edge_map, edge_weighted_l1

    x = -torch.ones(1, 3, 16, 16)
    x[..., 4:12, 4:12] = 1                                           # a square on a flat background
    noise = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(edge_weighted_l1(x + noise, x, 0.0), F.l1_loss(x + noise, x))
    w = 1 + 20 * edge_map(x)
    assert torch.allclose(edge_weighted_l1(x + noise, x, 20.0), (w * noise.abs()).sum() / (3 * w.sum()))
    on_edge, flat = x.clone(), x.clone()
    on_edge[..., 4, 8] += 0.5                                        # the same error on the outline ...
    flat[..., 0, 0] += 0.5                                           # ... and in a flat corner
    assert edge_map(x)[0, 0, 4, 8] == 1 and edge_map(x)[0, 0, 0, 0] == 0
    assert edge_weighted_l1(on_edge, x, 20.0) > 10 * edge_weighted_l1(flat, x, 20.0)
    assert edge_weighted_l1(on_edge, x, 0.0) == edge_weighted_l1(flat, x, 0.0)


def test_output_edges_weigh_a_ghost_drawn_on_flat_background_as_much_as_a_missed_outline():
    from core.text2image.autoencoder_method import edge_map, edge_weighted_l1

    x = -torch.ones(1, 3, 24, 24)
    x[..., 4:10, 4:10] = 1                                           # the object
    ghost = x.clone()
    ghost[..., 16:19, 16:19] += 0.6                                  # a blob the decoder drew on flat background
    assert edge_map(x)[..., 15:20, 15:20].sum() == 0                 # x has no edge there
    plain, weighted = edge_weighted_l1(ghost, x, 20.0), edge_weighted_l1(ghost, x, 20.0, output_edges=True)
    assert weighted > 3 * plain
    assert torch.equal(edge_weighted_l1(x, x, 20.0, output_edges=True), torch.zeros(()))
    assert torch.equal(edge_weighted_l1(ghost, x, 0.0, output_edges=True), edge_weighted_l1(ghost, x, 0.0))
    ghost.requires_grad_(True)                                       # the weights are constants: the gradient is
    edge_weighted_l1(ghost, x, 20.0, output_edges=True).backward()   # sign(error) x weight, zero where exact
    assert ghost.grad[..., 0, 0].abs().sum() == 0 and ghost.grad[..., 17, 17].gt(0).all()


def test_off_edge_peaks_find_a_blob_on_flat_background_and_ignore_a_blurred_outline():
    from torch.nn import functional as F

    from core.text2image.autoencoder_method import off_edge_peaks

    x = torch.zeros(3, 3, 32, 32)
    x[..., 8:16, 8:16] = 1                                           # a white square on black
    blurred = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)  # errors on the outline only
    ghost = x.clone()
    ghost[1, :, 24:27, 24:27] = 0.5                                   # image 1: a grey 3x3 blob 8 px off the square
    peaks = off_edge_peaks(torch.stack([x[0], ghost[1], blurred[2]]), x)
    assert peaks.shape == (3,)
    assert peaks[0] == 0 and peaks[2] == 0
    assert torch.isclose(peaks[1], torch.tensor(1.5))                # 0.5 on each of 3 channels, the whole patch


def test_the_latent_probe_reads_shapes_from_a_latent_that_holds_them_and_not_from_a_blank_one():
    from torch.nn import functional as F

    from core.text2image.latent_probe import one_object_scenes, probe_accuracy

    train, test = one_object_scenes("train", 2000), one_object_scenes("test", 400)
    assert len(train[0]) == len(train[1]) == len(train[2]) == len(train[3]) > 300
    def pooled(x):                                                  # a 3 x 16 x 16 "latent" that holds the shapes
        return F.avg_pool2d(x * 2 - 1, 4)

    read = probe_accuracy(pooled, train, test, num_classes=8, epochs=20, batch_size=32)
    blank = probe_accuracy(lambda x: torch.zeros(len(x), 4, 16, 16), train, test, 8, epochs=20, batch_size=32)
    assert set(read) == set(blank) == {f"shape_in_latent/{s}" for s in ("small", "medium", "large")}
    assert sum(read.values()) / 3 > 0.45 and sum(read.values()) / 3 > sum(blank.values()) / 3 + 0.25


def test_a_decoder_leg_with_a_critic_keeps_the_latent_space_and_exports_the_critic(tmp_path):
    """--lambda-adv adds a PatchGAN critic (hinge loss, adaptive weight from --disc-start on): the decoder-only leg still leaves the encoder
    as it was, the critic learns and is exported beside the autoencoder (critic.safetensors), and a further
    --from-export leg continues with it."""
    from safetensors.torch import load_file

    from core.engine import Trainer
    from core.text2image.autoencoder_method import AutoencoderMethod
    from core.text2image.config import AutoencoderConfig

    quiet = dict(batch_size=4, sample_every=0, checkpoint_every=0, log_every=1, num_samples=2, device="cpu",
                 resolution=16, widths=(8, 8), eval_images=8, lr=1e-2, ema_decay=0.0)
    list(Trainer(AutoencoderMethod(AutoencoderConfig(steps=2, **quiet)), tmp_path / "ae").run())
    before = AutoencoderMethod(AutoencoderConfig(**quiet)).load_inference(tmp_path / "ae").state_dict()
    adv = dict(decoder_only=True, lambda_adv=0.5, ndf=8, n_layers_D=1, critic_lr=2e-2, **quiet)
    leg = AutoencoderMethod(AutoencoderConfig(steps=5, disc_start=3, **adv))
    events = list(Trainer(leg, tmp_path / "ae", resume=False, from_export=True).run())  # as from a bundled export
    after = leg.load_inference(tmp_path / "ae").state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("encoder.", "quant_conv.")))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    logged = [e.losses for e in events if e.kind == "step" and e.losses]
    assert len(logged) == 3 and all({"critic", "adv", "adaptive_weight"} <= set(e) for e in logged)
    assert float(logged[0]["adaptive_weight"]) == 0 < min(float(e["adaptive_weight"]) for e in logged[1:])  # disc_start
    exported = load_file(str(tmp_path / "ae" / "critic.safetensors"))
    fresh = AutoencoderMethod(AutoencoderConfig(**adv)).build_model().critic.state_dict()
    assert exported.keys() == fresh.keys() and all(exported[k].shape == fresh[k].shape for k in fresh)
    assert any(not torch.equal(exported[k], fresh[k]) for k in fresh if k.endswith("weight"))


def test_the_adaptive_weight_balances_the_two_gradients():
    """Esser et al. 2021 eq. 7: scaling L_adv by lambda gives its gradient at the last layer the norm of L_rec's."""
    from core.text2image.autoencoder_method import adaptive_weight

    w = torch.randn(4, 4, requires_grad=True)
    rec, adv = (w ** 2).sum(), 1000 * w.sum()
    lam = adaptive_weight(rec, adv, w)
    g_rec = torch.autograd.grad(rec, w, retain_graph=True)[0].norm()
    g_adv = torch.autograd.grad(lam * adv, w)[0].norm()
    assert abs(float(g_adv / g_rec) - 1) < 1e-3
    assert not lam.requires_grad
