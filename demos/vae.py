"""VAE latent explorer tab: walk a 2-D latent map, traverse latent dims, interpolate, encode your own
image, and compare AE / VAE / VQ-VAE. The tab is a view over ``core.vae.service`` and ``core.vae.explore``.

Public endpoints (DESIGN.md §3): ``/vae_decode`` (checkpoint, latent -> image) and
``/vae_reconstruct`` (checkpoint, image file -> input as seen, reconstruction, latent).
"""

from __future__ import annotations

import math

import gradio as gr
import torch

from core.engine import list_checkpoints
from core.vae.service import (derived, stamp, load_model, train_config, test_set, scatter, to_image, grid_image,
                               is_vq, plane_to_latent, latent_to_plane, parse_latent, zero_latent, decode,
                               load_upload, reconstruct, checkpoint_info, SCATTER_IMAGES)
from demos.common import AppContext, checkpoint_picker, run_standalone, seed_control, training_panel, ui_errors

TITLE = "VAE latent explorer"
ABOUT = """**VAE latent explorer.** An autoencoder squeezes an image into a small code z and decodes it back.
A *variational* autoencoder ([Kingma & Welling 2014](https://arxiv.org/abs/1312.6114)) makes the encoder
output a distribution q(z|x) and pulls it towards the prior N(0, I) with a KL term, so the whole latent
space decodes to plausible images and you can sample from it; [beta-VAE](https://openreview.net/forum?id=Sy2fzU9gl)
(Higgins et al. 2017) weighs that pull more. [VQ-VAE](https://arxiv.org/abs/1711.00937) (van den Oord et
al. 2017) replaces the Gaussian code with a grid of entries from a learned codebook."""

MAX_DIMS = 32  # latent sliders built (shown: the model's latent size)
DEFAULT_MAP = "vae2d-digits"
DEFAULT_DENSE = "vae16-faces"
COMPARE = ("ae16-faces", "vae16-faces", "vqvae-faces")
TRAIN_FIELDS = ["dataset", "data_root", "download", "model_type", "latent_dim", "beta", "likelihood", "steps", "lr",
                "batch_size", "noise_std", "num_codes"]


# ---------------------------------------------------------------------------------------------- the tab
def build(ctx: AppContext) -> None:
    names = list_checkpoints("vae")

    def pick(preferred):
        return preferred if preferred in names else (names[0] if names else None)

    gr.Markdown("Why is a VAE's latent space smooth and an AE's not? What does beta trade away? What is a "
                "VQ-VAE codebook? Pick a checkpoint and explore; everything runs on CPU in milliseconds.")
    with gr.Tabs():
        # ------------------------------------------------------------------ latent map (2-D)
        with gr.Tab("Latent map"):
            with gr.Row():
                map_ckpt = checkpoint_picker("vae", value=pick(DEFAULT_MAP), elem_id="vae-map-ckpt", scale=3)
                map_info = gr.Markdown()
            with gr.Row():
                map_img = gr.Image(label="held-out images encoded (colour = class); click to decode a point",
                                   type="pil", format="png", interactive=False, elem_id="vae-map")
                with gr.Column():
                    point_img = gr.Image(label="decoded at the point", type="pil", format="png",
                                         interactive=False, elem_id="vae-point")
                    z1 = gr.Slider(-3, 3, value=0, step=0.01, label="z1", elem_id="vae-z1")
                    z2 = gr.Slider(-3, 3, value=0, step=0.01, label="z2", elem_id="vae-z2")
            gr.Markdown("For models with more than 2 latent dims the map shows the first two principal axes "
                        "(PC1, PC2) of the encoded held-out set, and a point decodes z = mean + x PC1 + y PC2.")
            with gr.Row():
                grid_n = gr.Slider(5, 30, value=20, step=1, label="manifold grid size")
                grid_btn = gr.Button("Decode the latent plane (manifold)")
            grid_img = gr.Image(label="decoded grid over the latent plane (rows: z2 high -> low; columns: z1 low -> high)",
                                type="pil", format="png", interactive=False)

        # ------------------------------------------------------------------ traversal / samples
        with gr.Tab("Traverse & sample"):
            with gr.Row():
                dense_ckpt = checkpoint_picker("vae", value=pick(DEFAULT_DENSE), elem_id="vae-dense-ckpt", scale=3)
                dense_info = gr.Markdown()
            with gr.Row():
                with gr.Column(scale=2):
                    gr.Markdown("One slider per latent dimension (hidden beyond the model's latent size).")
                    sliders = [gr.Slider(-3, 3, value=0, step=0.05, label=f"z{i + 1}", visible=i < 16,
                                         elem_id=f"vae-dim-{i}") for i in range(MAX_DIMS)]
                with gr.Column(scale=1):
                    dense_img = gr.Image(label="decoded z", type="pil", format="png", interactive=False,
                                         elem_id="vae-decoded")
                    latent_box = gr.Textbox(label="latent z (comma-separated; |z| > 6 is clamped)",
                                            value=zero_latent(dense_ckpt.value), elem_id="vae-latent")
                    decode_btn = gr.Button("Decode z", variant="primary")
                    with gr.Row():
                        zero_btn = gr.Button("z = 0")
                        prior_btn = gr.Button("z from the prior")
                    with gr.Row():
                        test_index = gr.Number(value=0, precision=0, minimum=0, label="held-out image #", scale=2)
                        encode_btn = gr.Button("encode it", scale=1)
                    z_seed = seed_control("seed for z", elem_id="vae-z-seed")
            with gr.Row():
                trav_dim = gr.Number(value=1, precision=0, minimum=1, maximum=MAX_DIMS, label="traverse dim")
                trav_range = gr.Slider(0.5, 6, value=3, step=0.5, label="from -r to +r")
                trav_steps = gr.Slider(3, 15, value=9, step=1, label="steps")
                trav_btn = gr.Button("Traverse from the current z")
            trav_img = gr.Image(label="traversal", type="pil", format="png", interactive=False)
            with gr.Row():
                n_samples = gr.Slider(1, 64, value=16, step=1, label="prior samples")
                sample_seed = seed_control("seed", elem_id="vae-sample-seed")
                sample_btn = gr.Button("Sample z ~ p(z) and decode")
            samples_img = gr.Image(label="samples from the prior", type="pil", format="png", interactive=False)
            gr.Markdown("Samples are only as good as the match between p(z) = N(0, I) and where the encoder puts real "
                        "images: the KL term pays for that match (a larger beta pays more, and blurs reconstructions); "
                        "an AE never pays it, so its 'prior samples' decode codes it has never seen.")

        # ------------------------------------------------------------------ interpolation
        with gr.Tab("Interpolate"):
            with gr.Row():
                interp_ckpt = checkpoint_picker("vae", value=pick(DEFAULT_DENSE), elem_id="vae-interp-ckpt", scale=3)
                index_a = gr.Number(value=0, precision=0, minimum=0, label="held-out image A #")
                index_b = gr.Number(value=3, precision=0, minimum=0, label="held-out image B #")
                interp_steps = gr.Slider(2, 16, value=10, step=1, label="steps")
            with gr.Row():
                upload_a = gr.File(label="or upload A", file_types=["image"], type="filepath")
                upload_b = gr.File(label="or upload B", file_types=["image"], type="filepath")
            interp_btn = gr.Button("Interpolate", variant="primary")
            lerp_img = gr.Image(label="linear: (1 - t) z_A + t z_B", type="pil", format="png", interactive=False)
            slerp_img = gr.Image(label="spherical (slerp): along the great circle, keeps |z| typical of the prior",
                                 type="pil", format="png", interactive=False)

        # ------------------------------------------------------------------ encode your own
        with gr.Tab("Encode your own"):
            with gr.Row():
                own_ckpt = checkpoint_picker("vae", value=pick(DEFAULT_MAP), elem_id="vae-own-ckpt", scale=3)
            with gr.Row():
                with gr.Column():
                    with gr.Tabs():
                        with gr.Tab("Upload"):
                            upload = gr.File(label="an image (any size or mode; grey models invert dark-on-light)", file_types=["image"], type="filepath",
                                             elem_id="vae-upload")
                            upload_btn = gr.Button("Encode the upload", variant="primary")
                        with gr.Tab("Draw"):
                            sketch = gr.Sketchpad(label="draw (grey models see dark ink on white inverted, like the digits)",
                                                  canvas_size=(280, 280), type="numpy", image_mode="RGB",
                                                  brush=gr.Brush(colors=["#000000", "#e0402a", "#f2c230", "#3a7bd5",
                                                                         "#3cb371", "#ffffff"],
                                                                 default_color="#000000", default_size=14),
                                                  elem_id="vae-sketch")
                            sketch_btn = gr.Button("Encode the drawing", variant="primary")
                with gr.Column():
                    with gr.Row():
                        seen_img = gr.Image(label="input as the model sees it", type="pil", format="png", interactive=False)
                        rec_img = gr.Image(label="reconstruction", type="pil", format="png", interactive=False)
                    latent_json = gr.JSON(label="latent")
                own_map = gr.Image(label="where it lands on the map", type="pil", format="png", interactive=False)

        # ------------------------------------------------------------------ compare
        with gr.Tab("Compare AE / VAE / VQ-VAE"):
            with gr.Row():
                cmp_pickers = [checkpoint_picker("vae", label=label, value=pick(default), elem_id=f"vae-cmp-{i}")
                               for i, (label, default) in enumerate(zip(("A", "B", "C"), COMPARE))]
            with gr.Row():
                cmp_n = gr.Slider(2, 12, value=8, step=1, label="images")
                cmp_seed = seed_control("seed", elem_id="vae-cmp-seed")
                cmp_btn = gr.Button("Compare", variant="primary")
            cmp_note = gr.Markdown()
            cmp_rec = gr.Image(label="held-out images (top row), then each model's reconstruction", type="pil",
                               format="png", interactive=False)
            cmp_samples = gr.Image(label="prior samples, one row per model (an AE has no prior: N(0, I) misses its codes)",
                                   type="pil", format="png", interactive=False)
            gr.Markdown("### VQ-VAE codebook")
            with gr.Row():
                vq_ckpt = checkpoint_picker("vae", label="VQ-VAE checkpoint", value=pick(COMPARE[2]),
                                            elem_id="vae-vq-ckpt")
                vq_index = gr.Number(value=0, precision=0, minimum=0, label="held-out image #")
                vq_btn = gr.Button("Codebook usage and code map")
            with gr.Row():
                usage_plot = gr.BarPlot(x="rank", y="count", tooltip=["code", "count"], x_title="codes, most used first",
                                        label="code usage on 1000 held-out images", height=280)
                with gr.Column():
                    vq_input = gr.Image(label="image", type="pil", format="png", interactive=False)
                    vq_map = gr.Image(label="code index map (one colour per code)", type="pil", format="png",
                                      interactive=False)
                    vq_rec = gr.Image(label="decoded from those codes", type="pil", format="png", interactive=False)
            vq_note = gr.Markdown()

    all_pickers = [map_ckpt, dense_ckpt, interp_ckpt, own_ckpt, *cmp_pickers, vq_ckpt]
    training_panel(ctx, "vae", TRAIN_FIELDS, defaults={"steps": 1000, "channels": 16, "sample_every": 100},
                   pickers=tuple(all_pickers))

    # ============================================================================ events
    # ---- latent map
    @ui_errors
    def on_map_checkpoint(name):
        if not name:
            return "No checkpoint yet: train one below.", None, gr.update(), gr.update(), None
        model = load_model(ctx, name)
        info = checkpoint_info(name)
        if is_vq(model):
            return (info + "  \nA VQ-VAE has a grid of discrete codes, not a 2-D plane: see *Compare*.",
                    None, gr.update(), gr.update(), None)
        model, s = scatter(ctx, name)
        m = s["map"]
        names_ = ("z1", "z2") if model.latent_dim == 2 else ("PC1", "PC2")
        x, y = 0.0, 0.0  # the map's centre: z = 0 (2-D) or the mean of the codes (PC plane)
        image = m.draw(s["xy"] - (0 if model.latent_dim == 2 else s["mean"] @ s["basis"]), s["labels"],
                       getattr(test_set(ctx, name), "class_names", None), marker=(x, y), axis_names=names_)
        z = plane_to_latent(model, s, x, y)
        from core.vae.explore import decode_point

        upd = dict(minimum=round(m.lo, 2), maximum=round(m.hi, 2), value=0.0)
        return (info, image, gr.update(label=names_[0], **upd), gr.update(label=names_[1], **upd),
                to_image(decode_point(model, z)))

    map_outputs = [map_info, map_img, z1, z2, point_img]
    gr.on(triggers=None, fn=on_map_checkpoint, inputs=map_ckpt, outputs=map_outputs, api_visibility="private")  # load + change

    @ui_errors
    def on_point(name, x, y):
        from core.vae.explore import decode_point

        model, s = scatter(ctx, name)
        return to_image(decode_point(model, plane_to_latent(model, s, float(x), float(y))))

    @ui_errors
    def on_point_map(name, x, y):
        model, s = scatter(ctx, name)
        shift = 0 if model.latent_dim == 2 else s["mean"] @ s["basis"]
        return s["map"].draw(s["xy"] - shift, s["labels"], getattr(test_set(ctx, name), "class_names", None),
                             marker=(float(x), float(y)),
                             axis_names=("z1", "z2") if model.latent_dim == 2 else ("PC1", "PC2"))

    for slider in (z1, z2):
        slider.input(on_point, inputs=[map_ckpt, z1, z2], outputs=point_img, api_visibility="private",
                     trigger_mode="always_last", show_progress="hidden")
        slider.release(on_point_map, inputs=[map_ckpt, z1, z2], outputs=map_img, api_visibility="private",
                       trigger_mode="always_last", show_progress="hidden")

    @ui_errors
    def on_map_click(name, evt: gr.SelectData):
        if not name:
            raise ValueError("choose a checkpoint first")
        model, s = scatter(ctx, name)
        scale = s["map"].size  # the image is shown at its own pixel size; index is in image pixels
        px, py = evt.index if isinstance(evt.index, (list, tuple)) else (scale / 2, scale / 2)
        x, y = s["map"].to_latent(float(px), float(py))
        return round(x, 2), round(y, 2), on_point(name, x, y), on_point_map(name, x, y)

    map_img.select(on_map_click, inputs=map_ckpt, outputs=[z1, z2, point_img, map_img], api_visibility="private",
                   show_progress="hidden")

    @ui_errors
    def on_grid(name, n):
        n = int(n)
        if not 5 <= n <= 30:
            raise ValueError(f"grid size must be between 5 and 30, got {n}")
        _, mtime = stamp(name)
        return derived(ctx).get(("vae-grid", name, mtime, n), lambda: _grid(name, n))  # same for every student

    def _grid(name, n):
        from core.vae.explore import gaussian_quantiles, manifold_grid

        model, s = scatter(ctx, name)
        if model.latent_dim == 2:
            values = gaussian_quantiles(n) if model.model_type == "vae" else torch.linspace(s["map"].lo, s["map"].hi, n)
            images = manifold_grid(model, n, values=values)
        else:  # the PC1/PC2 plane through the mean
            v = torch.linspace(s["map"].lo, s["map"].hi, n) * 0.8
            zs = [plane_to_latent(model, s, float(a), float(b)) for b in v.flip(0) for a in v]
            with torch.no_grad():
                images = model.decode(torch.tensor(zs, device=ctx.device))
        return grid_image(images, nrow=n, padding=0, scale=max(1, 640 // (n * model.image_size)))

    grid_btn.click(on_grid, inputs=[map_ckpt, grid_n], outputs=grid_img, api_visibility="private")

    # ---- traversal / samples
    def _dims(name):
        model = load_model(ctx, name)
        if is_vq(model):
            raise ValueError(f"{name!r} is a VQ-VAE: its latent is a grid of codes, not a vector to traverse; "
                             "pick an ae, dae or vae checkpoint")
        return model, min(model.latent_dim, MAX_DIMS)

    def _slider_updates(model, z, limit=None):
        n = min(model.latent_dim, MAX_DIMS)
        rng = {} if limit is None else {"minimum": -limit, "maximum": limit}
        return [gr.update(visible=i < n, value=round(float(z[i]), 2) if i < n else 0.0, **(rng if i < n else {}))
                for i in range(MAX_DIMS)]

    def _z_text(z) -> str:
        return ", ".join(f"{float(v):.3g}" for v in z)

    @ui_errors
    def on_dense_checkpoint(name):
        if not name:
            return ["No checkpoint yet.", None, ""] + [gr.update()] * MAX_DIMS
        model = load_model(ctx, name)
        if is_vq(model):
            return ([checkpoint_info(name) + "  \nVQ-VAE: no latent vector here; see *Compare*.", None, ""]
                    + [gr.update(visible=False)] * MAX_DIMS)
        z = torch.zeros(model.latent_dim)
        note = "" if model.latent_dim <= MAX_DIMS else f"  \n(sliders for the first {MAX_DIMS} dims)"
        _, s = scatter(ctx, name)  # slider range: where the encoded held-out images lie (at least +-3)
        limit = float(min(6.0, max(3.0, math.ceil(float(s["z"].abs().quantile(0.99))))))
        return ([checkpoint_info(name) + note, decode(ctx, name, z.tolist()), _z_text(z)]
                + _slider_updates(model, z, limit))

    gr.on(triggers=None, fn=on_dense_checkpoint, inputs=dense_ckpt,
          outputs=[dense_info, dense_img, latent_box, *sliders], api_visibility="private")

    @ui_errors
    def on_slider(name, text, *values):
        model, n = _dims(name)
        z = parse_latent(text) if text else []
        z = (z + [0.0] * model.latent_dim)[:model.latent_dim]
        z[:n] = [float(v) for v in values[:n]]
        return decode(ctx, name, z), _z_text(z)

    for s_ in sliders:
        s_.input(on_slider, inputs=[dense_ckpt, latent_box, *sliders], outputs=[dense_img, latent_box],
                 api_visibility="private", trigger_mode="always_last", show_progress="hidden")

    @ui_errors
    def on_decode_text(name, text):
        model = load_model(ctx, name)
        image = decode(ctx, name, text)
        if is_vq(model):
            return [image] + [gr.update()] * MAX_DIMS
        from core.vae.explore import as_latent

        return [image] + _slider_updates(model, as_latent(model, parse_latent(text))[0])

    @ui_errors
    def vae_decode(checkpoint: str, latent: str):
        """Decode a latent: "z1, z2, ..." for ae/dae/vae (|z| > 6 clamped), or h*w code indices for a VQ-VAE."""
        return decode(ctx, checkpoint, latent)

    # the public endpoint: checkpoint + latent -> image (sliders follow in the UI)
    decode_btn.click(vae_decode, inputs=[dense_ckpt, latent_box], outputs=dense_img, api_name="vae_decode").then(
        on_decode_text, inputs=[dense_ckpt, latent_box], outputs=[dense_img, *sliders], api_visibility="private")

    @ui_errors
    def on_set_z(name, mode, seed, index):
        model, _ = _dims(name)
        if mode == "zero":
            z = torch.zeros(model.latent_dim)
        elif mode == "prior":
            from core.engine import check_seed

            z = torch.randn(model.latent_dim, generator=torch.Generator().manual_seed(check_seed(seed)))
        else:
            ds, i = test_set(ctx, name), int(index)
            if not 0 <= i < len(ds):
                raise ValueError(f"held-out image # must be in [0, {len(ds) - 1}]")
            with torch.no_grad():
                z = model.encode(ds[i]["image"][None].to(ctx.device))[0].cpu()
        return [decode(ctx, name, z.tolist()), _z_text(z)] + _slider_updates(model, z)

    set_outputs = [dense_img, latent_box, *sliders]
    zero_btn.click(lambda n, s, i: on_set_z(n, "zero", s, i), inputs=[dense_ckpt, z_seed, test_index],
                   outputs=set_outputs, api_visibility="private")
    prior_btn.click(lambda n, s, i: on_set_z(n, "prior", s, i), inputs=[dense_ckpt, z_seed, test_index],
                    outputs=set_outputs, api_visibility="private")
    encode_btn.click(lambda n, s, i: on_set_z(n, "encode", s, i), inputs=[dense_ckpt, z_seed, test_index],
                     outputs=set_outputs, api_visibility="private")

    @ui_errors
    def on_traverse(name, text, dim, r, steps):
        from core.vae.explore import as_latent, traversal

        model, _ = _dims(name)
        z = as_latent(model, parse_latent(text))[0].tolist()
        d = int(dim) - 1
        if not 0 <= d < model.latent_dim:
            raise ValueError(f"traverse dim must be in [1, {model.latent_dim}]")
        values = torch.linspace(-float(r), float(r), int(steps)).tolist()
        return grid_image(traversal(model, z, d, values), nrow=len(values), scale=max(1, 96 // model.image_size))

    trav_btn.click(on_traverse, inputs=[dense_ckpt, latent_box, trav_dim, trav_range, trav_steps], outputs=trav_img,
                   api_visibility="private")

    @ui_errors
    def on_samples(name, n, seed):
        from core.vae.explore import prior_samples

        model = load_model(ctx, name)
        images = prior_samples(model, int(n), seed)
        nrow = max(1, round(len(images) ** 0.5))
        return grid_image(images, nrow=nrow, scale=max(1, 96 // model.image_size))

    sample_btn.click(on_samples, inputs=[dense_ckpt, n_samples, sample_seed], outputs=samples_img,
                     api_visibility="private")

    # ---- interpolation
    @ui_errors
    def on_interpolate(name, ia, ib, file_a, file_b, steps):
        from core.vae.explore import interpolate

        model = load_model(ctx, name)
        ends = []
        for index, f in ((ia, file_a), (ib, file_b)):
            if f:
                ends.append(load_upload(model, f, train_config(name).dataset))
            else:
                ds, i = test_set(ctx, name), int(index or 0)
                if not 0 <= i < len(ds):
                    raise ValueError(f"held-out image # must be in [0, {len(ds) - 1}]")
                ends.append(ds[i]["image"])
        scale = max(1, 96 // model.image_size)
        strips = []
        for mode in ("linear", "spherical"):
            images = interpolate(model, ends[0], ends[1], int(steps), mode).cpu()
            strips.append(grid_image(torch.cat([ends[0][None], images, ends[1][None]]), nrow=int(steps) + 2,
                                     scale=scale))
        return strips

    interp_btn.click(on_interpolate, inputs=[interp_ckpt, index_a, index_b, upload_a, upload_b, interp_steps],
                     outputs=[lerp_img, slerp_img], api_visibility="private")

    # ---- encode your own
    def _own(name, src):
        seen, rec, latent = reconstruct(ctx, name, src)
        model = load_model(ctx, name)
        where = None
        if not is_vq(model):
            model, s = scatter(ctx, name)
            z = torch.tensor(latent["z"])
            x, y = latent_to_plane(model, s, z)
            shift = 0 if model.latent_dim == 2 else s["mean"] @ s["basis"]
            where = s["map"].draw(s["xy"] - shift, s["labels"], getattr(test_set(ctx, name), "class_names", None),
                                  marker=(x, y), axis_names=("z1", "z2") if model.latent_dim == 2 else ("PC1", "PC2"))
        return seen, rec, latent, where

    @ui_errors
    def vae_reconstruct(checkpoint: str, image: str):
        """Encode and decode an image file: (the input as the model sees it, its reconstruction, the latent)."""
        return reconstruct(ctx, checkpoint, image)

    upload_btn.click(vae_reconstruct, inputs=[own_ckpt, upload], outputs=[seen_img, rec_img, latent_json],
                     api_name="vae_reconstruct").then(
        ui_errors(_own), inputs=[own_ckpt, upload], outputs=[seen_img, rec_img, latent_json, own_map],
        api_visibility="private")
    sketch_btn.click(ui_errors(_own), inputs=[own_ckpt, sketch], outputs=[seen_img, rec_img, latent_json, own_map],
                     api_visibility="private")

    # ---- compare
    @ui_errors
    def on_compare(a, b, c, n, seed):
        from core.engine import check_seed
        from core.vae.explore import prior_samples

        models = [(name, load_model(ctx, name)) for name in (a, b, c) if name]
        if not models:
            raise ValueError("choose at least one checkpoint")
        shapes = {m.image_shape for _, m in models}
        if len(shapes) > 1:
            raise ValueError("the compared checkpoints must work on the same image size and channels; got "
                             + ", ".join(f"{name}: {m.image_shape}" for name, m in models))
        ds = test_set(ctx, models[0][0])
        n = int(n)
        g = torch.Generator().manual_seed(check_seed(seed))
        idx = torch.randperm(len(ds), generator=g)[:n].tolist()
        x = ds.get_batch(idx)["image"].to(ctx.device)
        rows, samples = [x], []
        with torch.no_grad():
            for _, m in models:
                rows.append(m.reconstruct(x))
                samples.append(prior_samples(m, n, seed))
        scale = max(1, 80 // models[0][1].image_size)
        note = "Rows: " + ", ".join(["held-out"] + [f"**{name}** ({m.model_type})" for name, m in models])
        return note, grid_image(torch.cat(rows), nrow=n, scale=scale), grid_image(torch.cat(samples), nrow=n, scale=scale)

    cmp_btn.click(on_compare, inputs=[*cmp_pickers, cmp_n, cmp_seed], outputs=[cmp_note, cmp_rec, cmp_samples],
                  api_visibility="private")

    @ui_errors
    def on_codebook(name, index):
        import pandas as pd

        from core.vae.explore import code_index_map, codebook_usage
        from core.vae.losses import perplexity

        model = load_model(ctx, name)
        if not is_vq(model):
            raise ValueError(f"{name!r} is not a VQ-VAE checkpoint")
        ds = test_set(ctx, name)
        i = int(index or 0)
        if not 0 <= i < len(ds):
            raise ValueError(f"held-out image # must be in [0, {len(ds) - 1}]")
        _, mtime = stamp(name)
        counts = derived(ctx).get(("vae-usage", name, mtime), lambda: codebook_usage(
            model, ds.get_batch(list(range(min(SCATTER_IMAGES, len(ds)))))["image"]))
        order = torch.argsort(counts, descending=True)
        frame = pd.DataFrame({"rank": list(range(len(order))), "code": [int(k) for k in order],
                              "count": counts[order].tolist()})
        x = ds[i]["image"]
        idx, colour = code_index_map(model, x)
        with torch.no_grad():
            rec = model.decode_indices(idx[None].to(ctx.device))[0]
        note = (f"{int((counts > 0).sum())} of {model.num_codes} codes used on {min(SCATTER_IMAGES, len(ds))} held-out "
                f"images; perplexity {perplexity(counts):.1f} (the number of equally used codes with the same "
                f"entropy). This image uses {len(idx.unique())} distinct codes on its {idx.shape[0]}x{idx.shape[1]} grid.")
        return frame, to_image(x), to_image(colour), to_image(rec), note

    vq_btn.click(on_codebook, inputs=[vq_ckpt, vq_index], outputs=[usage_plot, vq_input, vq_map, vq_rec, vq_note],
                 api_visibility="private")


if __name__ == "__main__":
    run_standalone(build, TITLE)
