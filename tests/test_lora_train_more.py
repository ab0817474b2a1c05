"""Train more: an adapter trained further from where it stopped, and adapters told apart on a shared pipeline."""

from __future__ import annotations

import pytest
import torch

from tests.lora_tiny import tiny_images, train_tiny
from tests.text2image_tiny import tiny_pipeline


@pytest.mark.parametrize("method,text", [("lora", True), ("textual_inversion", False)])
def test_a_cancelled_adapter_continued_ends_where_one_uninterrupted_run_ends(tmp_path, method, text):
    """Train more: 4 steps cancelled, then continued from the saved adapter (its weights, AdamW's moments, the batch
    generator) to 8, equals 8 steps in one run; the continued run counts its steps on and charts every loss."""
    from safetensors.torch import load_file

    from core.lora.service import TRAIN_STATE, generate_pair, read_meta, train_adapter, weights_file
    from core.lora.train_more import continue_settings, read_resume

    pipe = tiny_pipeline()
    whole, config, _, losses = train_tiny(pipe, tmp_path, method, steps=8, name="whole", train_text_encoder=text)
    calls = iter(range(100))
    cancel = lambda: next(calls) >= 4  # noqa: E731  (polled once per step)
    halves = list(train_adapter(pipe, "tiny", tiny_images(), config, tmp_path / "halves", cancel))
    assert read_meta(tmp_path / "halves")["steps"] == 4 and (tmp_path / "halves" / TRAIN_STATE).is_file()
    _, at_four = generate_pair(pipe, "tiny", [(tmp_path / "halves", 1.0)], config.prompt(), 0)  # loaded at 4 steps
    more = continue_settings(tmp_path / "halves", 4)
    more.validate_every = 0
    events = list(train_adapter(pipe, "tiny", tiny_images(), more, tmp_path / "halves",
                                resume=read_resume(tmp_path / "halves", more)))
    assert [e["step"] for e in events if "loss" in e] == [5, 6, 7, 8] and events[0]["steps"] == 8
    result = events[-1]["result"]
    assert result.steps == 8 and result.losses == pytest.approx(losses, rel=1e-4, abs=1e-6)
    a, b = load_file(weights_file(whole, method)), load_file(weights_file(tmp_path / "halves", method))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert read_meta(tmp_path / "halves")["steps"] == 8 and [e["step"] for e in halves if "loss" in e] == [1, 2, 3, 4]
    # the pipeline held the 4-step weights: it loads the new ones (and unloads those), drawing what 8 steps draw
    _, one = generate_pair(pipe, "tiny", [(whole, 1.0)], config.prompt(), 0)
    _, two = generate_pair(pipe, "tiny", [(tmp_path / "halves", 1.0)], config.prompt(), 0)
    assert torch.allclose(one, two, atol=1e-4) and not torch.allclose(two, at_four, atol=1e-3)


def test_an_adapter_saved_without_its_optimizer_continues_from_its_weights(tmp_path):
    """A bundled adapter keeps no train_state.pt: it continues from its weights (AdamW's moments start afresh);
    settings that do not fit (another rank) are refused in one line."""
    from core.lora.service import TRAIN_STATE, train_adapter
    from core.lora.train_more import continue_settings, read_resume

    pipe = tiny_pipeline()
    folder, config, _, losses = train_tiny(pipe, tmp_path, steps=6)
    (folder / TRAIN_STATE).unlink()
    more = continue_settings(folder, 3)
    resume = read_resume(folder, more)
    assert resume.step == 6 and resume.optimizer_state is None and resume.losses == []
    events = list(train_adapter(pipe, "tiny", tiny_images(), more, folder, resume=resume))
    assert [e["step"] for e in events if "loss" in e] == [7, 8, 9]
    more.rank = 8
    with pytest.raises(ValueError, match="does not fit"):
        list(train_adapter(pipe, "tiny", tiny_images(), more, folder, resume=read_resume(folder, more)))


def test_two_visitors_adapters_of_one_name_draw_their_own_weights(tmp_path):
    """Each visitor's first adapter is called sks-lora-1: two of them, trained differently, are two adapters on the
    shared pipeline (it loaded the first one's weights for both: one visitor saw the other's images)."""
    from core.lora.loading import _LOADED, MAX_LOADED
    from core.lora.service import generate_pair

    pipe = tiny_pipeline()
    first, config, _, _ = train_tiny(pipe, tmp_path / "visitor1", steps=3, name="sks-lora-1")
    second, _, _, _ = train_tiny(pipe, tmp_path / "visitor2", steps=12, name="sks-lora-1")
    _, a = generate_pair(pipe, "tiny", [(first, 1.0)], config.prompt(), 0)
    _, b = generate_pair(pipe, "tiny", [(second, 1.0)], config.prompt(), 0)
    _, a_again = generate_pair(pipe, "tiny", [(first, 1.0)], config.prompt(), 0)
    assert not torch.allclose(a, b, atol=1e-3) and torch.allclose(a, a_again, atol=1e-5)
    assert len(pipe.get_list_adapters()["unet"]) == len(_LOADED[pipe]) == 2 <= MAX_LOADED
