"""A public server (a Hugging Face Space or --public): training behind the admin token, visitors' files cleaned
up, ZeroGPU when present, and the Space upload (against a fake of huggingface_hub, never the network)."""

from __future__ import annotations

import os
import sys
import time
import types

import pytest

from core.engine import hosting


def test_training_is_open_on_a_private_server_and_needs_the_admin_token_on_a_public_one(monkeypatch):
    monkeypatch.delenv("GENLAB_ADMIN_TOKEN", raising=False)
    hosting.check_may_train(True, public=False)
    with pytest.raises(ValueError, match="--no-train"):
        hosting.check_may_train(False, public=False)
    with pytest.raises(ValueError, match="off on this public server.*GENLAB_ADMIN_TOKEN"):
        hosting.check_may_train(True, public=True, token="anything")
    monkeypatch.setenv("GENLAB_ADMIN_TOKEN", "s3cret")
    for none in ("", None):
        with pytest.raises(ValueError, match="needs its admin token.*type it in the admin token box"):
            hosting.check_may_train(True, public=True, token=none)
    for wrong in ("s3cre", "s3cret "):  # a typo is told apart from no token (it was given the same line)
        with pytest.raises(ValueError, match="that admin token is not this server's"):
            hosting.check_may_train(True, public=True, token=wrong)
    hosting.check_may_train(True, public=True, token="s3cret")


def test_public_mode_is_on_for_a_space_the_flag_or_the_variable(monkeypatch):
    for name in ("SYSTEM", "GENLAB_PUBLIC"):
        monkeypatch.delenv(name, raising=False)
    assert not hosting.public_mode() and hosting.public_mode(True)
    monkeypatch.setenv("SYSTEM", "spaces")
    assert hosting.public_mode()
    monkeypatch.delenv("SYSTEM")
    monkeypatch.setenv("GENLAB_PUBLIC", "1")
    assert hosting.public_mode()


def test_gpu_task_uses_spaces_gpu_only_on_zero_gpu_hardware(monkeypatch):
    def work(x):
        return x + 1

    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert hosting.gpu_task(work) is work                      # no ZeroGPU: unchanged, `spaces` never imported
    calls = []
    fake = types.ModuleType("spaces")
    fake.GPU = lambda duration: (lambda fn: calls.append(duration) or (lambda *a: ("on gpu", fn(*a))))
    monkeypatch.setitem(sys.modules, "spaces", fake)
    assert hosting.gpu_task(work) is work                      # the package alone is not the hardware
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert hosting.gpu_task(work, duration=30)(1) == ("on gpu", 2) and calls == [30]
    monkeypatch.setitem(sys.modules, "spaces", None)           # ZeroGPU variable but no package: no error
    assert hosting.gpu_task(work) is work


def test_scratch_files_older_than_an_hour_are_deleted(monkeypatch, tmp_path):
    monkeypatch.setattr(hosting.tempfile, "gettempdir", lambda: str(tmp_path))
    old = hosting.scratch_file(".gif")
    old.write_bytes(b"x")
    past = time.time() - hosting.SCRATCH_MAX_AGE_S - 10
    os.utime(old, (past, past))
    recent = hosting.scratch_file(".gif")
    new = hosting.scratch_file(".gif")
    assert not old.exists() and recent.exists() and new.exists() and new != recent


def test_a_visitors_adapters_stay_until_left_untouched_a_day(monkeypatch, tmp_path):
    """A visitor's adapters outlive their page (a reload deleted them); those of a browser that did not come back for
    a day are swept; listing a visitor's adapters (their picker) counts as a use."""
    from core.lora import service

    monkeypatch.setattr(service.tempfile, "gettempdir", lambda: str(tmp_path))
    mine, stale, other = (service.session_root(s) for s in ("mine", "stale", "other"))
    for folder in (mine, stale, other):
        (folder / "sks-ti-1").mkdir(parents=True)
    past = time.time() - service.SESSION_MAX_AGE_S - 10
    for folder in (mine, stale):
        os.utime(folder, (past, past))
    service.list_adapters("mine")
    service.sweep_sessions()
    assert mine.exists() and not stale.exists() and other.exists()


def test_deploy_uploads_the_app_without_tests_to_a_gradio_space():
    sys.path.insert(0, "scripts")
    try:
        import deploy_space
    finally:
        sys.path.pop(0)

    class FakeHfApi:
        def __init__(self):
            self.calls = []

        def __getattr__(self, name):
            return lambda *args, **kwargs: self.calls.append((name, args, kwargs))

    api = FakeHfApi()
    files = deploy_space.deploy("someone/genlab", admin_token="s3cret", api=api)
    names = [c[0] for c in api.calls]
    assert names == ["create_repo", "upload_folder", "add_space_secret"]
    create, upload, secret = (c[2] for c in api.calls)
    assert create["repo_type"] == "space" and create["space_sdk"] == "gradio" and create["exist_ok"]
    assert upload["repo_type"] == "space" and upload["allow_patterns"] == files
    assert api.calls[2][1][1:] == ("GENLAB_ADMIN_TOKEN", "s3cret")
    for needed in ("app.py", "README.md", "requirements.txt", "core/engine/trainer.py", "demos/vae.py"):
        assert needed in files
    assert any(f.startswith("checkpoints/") and f.endswith(".safetensors") for f in files)
    assert not any(f.startswith(("tests/", ".ci/", "benchmarks/")) for f in files)
    assert deploy_space.check_front_matter()["app_file"] == "app.py"


def test_a_public_app_refuses_training_without_the_token_and_trains_with_it(monkeypatch, tmp_path):
    from gradio_client import Client

    from app import build_demo, launch

    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path))
    monkeypatch.delenv("GENLAB_ADMIN_TOKEN", raising=False)
    demo = build_demo(device="cpu", public=True)
    launch(demo, server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        train = dict(run_name="public-run", steps=2, batch_size=8, api_name="/train_vae")
        with pytest.raises(Exception, match="off on this public server"):
            client.predict(**train)
        monkeypatch.setenv("GENLAB_ADMIN_TOKEN", "s3cret")
        with pytest.raises(Exception, match="that admin token is not this server's"):
            client.predict(**train, admin_token="guess")
        status = client.predict(**train, admin_token="s3cret")[0]
        assert "public-run" in status and (tmp_path / "vae" / "public-run" / "config.json").is_file()
    finally:
        demo.close()
