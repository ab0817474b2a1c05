"""The settings sweep (``python -m core.text2image.settings_sweep``): its settings are checked before anything runs."""

from __future__ import annotations

import pytest


def test_a_setting_is_sampler_steps_and_guidance_and_a_bad_one_is_named():
    from core.text2image.settings_sweep import parse_setting

    assert parse_setting("ddim:25:4") == ("ddim", 25, 4.0)
    assert parse_setting("dpm++:1:0") == ("dpm++", 1, 0.0) and parse_setting("euler:1000:20") == ("euler", 1000, 20.0)
    for bad in ("ddim:25", "ddim:x:4", "plms:25:4", "ddim:0:4", "ddim:25:21", "ddim:25:4:1"):
        with pytest.raises(ValueError, match="setting"):
            parse_setting(bad)
