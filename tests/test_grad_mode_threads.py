"""Grad mode is per thread, and Gradio resumes a streaming generator on whichever worker thread is free: a
generator that yields inside ``torch.no_grad()`` leaves the thread it started on with gradients off, and the next
training that lands on that thread failed with "element 0 of tensors does not require grad"."""

from __future__ import annotations

import ast
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from core.engine import Trainer
from tests.test_stylegan_core import tiny_generator
from tests.toy_method import ToyConfig, ToyMethod

ROOT = Path(__file__).resolve().parents[1]
GRAD_MODES = ("no_grad", "inference_mode", "set_grad_enabled", "enable_grad")


def _grad_mode_blocks_with_a_yield(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(m in ast.unparse(i.context_expr) for i in node.items for m in GRAD_MODES):
            if any(isinstance(sub, (ast.Yield, ast.YieldFrom)) for sub in ast.walk(node)):
                yield node.lineno


def test_no_generator_yields_inside_a_grad_mode_block():
    found = [f"{path.relative_to(ROOT)}:{line}"
             for folder in ("core", "demos") for path in sorted((ROOT / folder).rglob("*.py"))
             for line in _grad_mode_blocks_with_a_yield(ast.parse(path.read_text()))]
    assert not found, f"a yield inside a grad-mode block leaks the mode to the thread it started on: {found}"


def test_a_projection_resumed_on_other_threads_leaves_every_thread_with_gradients_on():
    from core.stylegan.project import project

    G = tiny_generator()
    target = ((G(torch.randn(1, 8), noise_mode="const")[0] + 1) / 2).detach().clamp(0, 1)
    steps = project(G, target, steps=6, report_every=1)
    pools = [ThreadPoolExecutor(1) for _ in range(3)]   # three worker threads, as Gradio's pool hands them out
    try:
        for k in range(6):
            assert pools[k % 3].submit(next, steps).result().step == k + 1
        assert all(pool.submit(torch.is_grad_enabled).result() for pool in pools)
    finally:
        for pool in pools:
            pool.shutdown()


def test_training_works_on_a_thread_left_with_gradients_off(tmp_path):
    def train():
        torch.set_grad_enabled(False)   # what another request may have left on this worker thread
        cfg = ToyConfig(steps=3, batch_size=4, log_every=1, sample_every=0, checkpoint_every=0, num_samples=2)
        return [e.kind for e in Trainer(ToyMethod(cfg), tmp_path / "run").run()]

    with ThreadPoolExecutor(1) as pool:
        kinds = pool.submit(train).result()
    assert kinds.count("step") == 3 and kinds[-1] == "done"
