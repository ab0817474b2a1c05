"""``--init-unet``: a text-to-image UNet started from another model's, whatever its text encoder's width."""

from __future__ import annotations

import pytest
import torch

from tests.text2image_tiny import tiny_method


def test_a_unet_starts_from_another_models_and_only_its_text_reading_weights_start_fresh(tmp_path):
    from core.engine import Trainer
    from core.text2image.method import Text2ImageMethod

    source = tiny_method(tmp_path / "a", clip_width=16)
    list(Trainer(source, tmp_path / "a" / "t2i").run())
    trained = source.load_inference(tmp_path / "a" / "t2i").state_dict()

    wider = tiny_method(tmp_path / "b", clip_width=24, init_unet=str(tmp_path / "a" / "t2i"))
    unet = wider.build_model()
    state = unet.state_dict()
    fresh = {k for k, v in state.items() if v.shape != trained[k].shape}
    assert fresh and all(k.endswith(("attn2.to_k.weight", "attn2.to_v.weight")) for k in fresh)
    assert all(state[k].shape[1] == 24 for k in fresh)                   # they read the new encoder's width
    assert all(torch.equal(state[k], trained[k].float()) for k in state if k not in fresh)
    # it trains (the engine's first leg), and a run on a same-width encoder copies everything
    assert list(Trainer(wider, tmp_path / "b" / "t2i").run())[-1].kind == "done"
    same = Text2ImageMethod(type(source.config)(**{**vars(source.config), "init_unet": str(tmp_path / "a" / "t2i")}))
    assert all(torch.equal(v, trained[k].float()) for k, v in same.build_model().state_dict().items())


def test_a_folder_without_a_unet_or_of_another_layout_is_refused(tmp_path):
    from core.engine import Trainer

    source = tiny_method(tmp_path / "a")
    list(Trainer(source, tmp_path / "a" / "t2i").run())
    with pytest.raises(ValueError, match="holds no text-to-image UNet"):
        tiny_method(tmp_path / "b", init_unet=str(tmp_path / "a" / "ae")).build_model()
    with pytest.raises(ValueError, match="another layout"):
        tiny_method(tmp_path / "c", widths=(8, 8), init_unet=str(tmp_path / "a" / "t2i")).build_model()
