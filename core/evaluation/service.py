"""The Evaluate tab's plain functions: measure chosen checkpoints on one world, cache the results, and lay them out
(table, charts, samples side by side, and why a metric can disagree with the eye). No gradio here.

Results are cached per (checkpoint, its weights' fingerprint, N, seed) in memory and on disk (the system's temporary
folder), so a classroom asking for the same comparison gets it at once.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import time
from pathlib import Path

import torch

from .measure import METRICS, WorldJudge
from .samplers import fingerprint, load, sample, split, world_of

WORLDS = ("digits", "faces")
NUM_RANGE = (100, 2000)
MOST = 8  # checkpoints in one comparison
_MEMORY: dict[str, dict] = {}
_LOCK = threading.Lock()
HEADERS = ["#", "checkpoint"] + [label for label, _ in METRICS.values()] + ["s per 100"]


CACHE_DAYS = 7


def cache_folder() -> Path:
    """The disk cache, in the system's temporary folder; results untouched for a week are swept out on write."""
    folder = Path(tempfile.gettempdir()) / "genlab-evaluation"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _cache_key(key: str, num: int, seed: int) -> str:
    return json.dumps([key, fingerprint(key), num, seed])


def _cache_file(cache_key: str) -> Path:
    return cache_folder() / f"{hashlib.sha1(cache_key.encode()).hexdigest()[:20]}.json"


def cached(key: str, num: int, seed: int) -> dict | None:
    """The stored result of (checkpoint, N, seed) if its weights have not changed since."""
    ck = _cache_key(key, num, seed)
    with _LOCK:
        if ck in _MEMORY:
            return _MEMORY[ck]
    path = _cache_file(ck)
    try:
        stored = json.loads(path.read_text())
        if stored.get("cache_key") == ck:
            with _LOCK:
                _MEMORY[ck] = stored
            return stored
    except (OSError, ValueError):
        pass
    return None


def _store(key: str, num: int, seed: int, result: dict) -> None:
    ck = _cache_key(key, num, seed)
    result = {**result, "cache_key": ck}
    with _LOCK:
        _MEMORY[ck] = result
    from core.engine.hosting import sweep

    sweep(cache_folder(), CACHE_DAYS * 86400)
    path = _cache_file(ck)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(path)


def check_request(world, checkpoints, num, seed) -> tuple[str, list[str], int, int]:
    """Validated (world, checkpoints, N, seed); ValueError names what is wrong."""
    from core.engine import check_seed

    if world not in WORLDS:
        raise ValueError(f"world must be one of {list(WORLDS)}, got {world!r}")
    if isinstance(checkpoints, str):
        checkpoints = [c.strip() for c in checkpoints.split(",") if c.strip()]
    checkpoints = list(dict.fromkeys(checkpoints or []))
    if not 1 <= len(checkpoints) <= MOST:
        raise ValueError(f"choose 1 to {MOST} checkpoints, got {len(checkpoints)}")
    for key in checkpoints:
        method, name = split(key)
        if world_of(method, name) != world:
            raise ValueError(f"{key} was trained on {world_of(method, name)!r}, not on {world!r}: its samples cannot "
                             "be measured against this world's images")
    try:
        whole = float(num) == int(float(num))
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole:
        raise ValueError(f"sample size must be a whole number, got {num!r}")
    num = int(float(num))
    if not NUM_RANGE[0] <= num <= NUM_RANGE[1]:
        raise ValueError(f"sample size must be in [{NUM_RANGE[0]}, {NUM_RANGE[1]}], got {num}")
    return world, checkpoints, num, check_seed(seed)


def measure_checkpoint(ctx, judge: WorldJudge, key: str, num: int, seed: int, progress=None) -> dict:
    """One checkpoint's result (cached): metrics, their std, the floor, seconds per 100 images, 8 sample images."""
    hit = cached(key, num, seed)
    if hit is not None:
        return hit
    model = ctx.cache.get(("evaluation", key, fingerprint(key)), lambda: load(key, ctx.device))
    t0 = time.perf_counter()
    images = sample(key, num, seed, model=model, device=ctx.device, progress=progress)
    seconds = time.perf_counter() - t0
    result = judge.measure(images, seed)
    result["seconds_per_100"] = 100 * seconds / num
    result["thumbnails"] = (images[:8] * 255).round().byte().tolist()
    _store(key, num, seed, result)
    return result


def judge_for(ctx, world: str, num: int) -> WorldJudge:
    return ctx.cache.get(("evaluation-judge", world, num), lambda: WorldJudge(world, num))


def evaluate_stream(ctx, world="digits", checkpoints=("gans/dcgan-digits",), num=500, seed=0, cancel=None):
    """Measure each checkpoint in turn; yield (status, results {key: result}) after each step (for a progress line)."""
    world, checkpoints, num, seed = check_request(world, checkpoints, num, seed)
    results: dict[str, dict] = {}
    yield f"loading the {world} classifier and {num} held-out images…", results
    judge = judge_for(ctx, world, num)
    for i, key in enumerate(checkpoints):
        if cancel is not None and cancel.is_set():
            yield f"cancelled after {i} of {len(checkpoints)} checkpoints", results
            return
        if cached(key, num, seed) is None:
            yield f"**{key}** ({i + 1}/{len(checkpoints)}): generating {num} images…", results
        results[key] = measure_checkpoint(ctx, judge, key, num, seed)
        yield f"**{key}** measured ({i + 1}/{len(checkpoints)})", results
    yield f"done: {len(checkpoints)} checkpoint(s), {num} samples each, seed {seed}", results


def table_rows(results: dict) -> list[list]:
    """One row per checkpoint: each metric as "value ± std" (the floor row first)."""
    if not results:
        return []
    floor = next(iter(results.values()))["floor"]
    rows = [["R", "real vs real (the floor)"] + [f"{floor[m]:.3g}" for m in METRICS] + ["-"]]
    for i, (key, r) in enumerate(results.items()):
        rows.append([str(i + 1), key] + [f"{r['values'][m]:.3g} ± {r['std'][m]:.1g}" for m in METRICS]
                    + [f"{r['seconds_per_100']:.2f}"])
    return rows


def metric_chart(results: dict, metric: str = "FID"):
    """The bar chart of one metric (its label, e.g. "FID" or "recall") across the measured checkpoints."""
    from .charts import bar_chart

    keys = {label: k for k, (label, _) in METRICS.items()}
    if metric not in keys:
        raise ValueError(f"metric must be one of {list(keys)}, got {metric!r}")
    if not results:
        return None
    k, better = keys[metric], METRICS[keys[metric]][1]
    floor = next(iter(results.values()))["floor"][k]
    return bar_chart([f"{i + 1}. {key}" for i, key in enumerate(results)], [r["values"][k] for r in results.values()],
                     [r["std"][k] for r in results.values()], floor,
                     f"{metric} ({'higher' if better else 'lower'} is better; whiskers: ±1 std over 80 % subsets)")


def pr_chart(results: dict):
    from .charts import pr_plot

    if not results:
        return None
    floor = next(iter(results.values()))["floor"]
    return pr_plot(list(results), [r["values"]["precision"] for r in results.values()],
                   [r["values"]["recall"] for r in results.values()], (floor["precision"], floor["recall"]))


def samples_sheet(results: dict):
    """Eight samples of each checkpoint, side by side (a row each), enlarged with visible pixels."""
    from PIL import Image

    from core.data import to_pil
    from core.data.labelled import labelled_grid

    if not results:
        return None
    rows = []
    for r in results.values():
        cells = [to_pil(torch.tensor(t, dtype=torch.uint8).float() / 255) for t in r["thumbnails"]]
        rows.append([c.resize((72, 72), Image.NEAREST) for c in cells])
    return labelled_grid(rows, [f"{i + 1}. {k}" for i, k in enumerate(results)], [""] * 8, left=230, top=6)


def disagreements(results: dict) -> str:
    """Where a number and the eye part ways, read from the results: fidelity without diversity (mode collapse or
    blur), or the reverse; and when a gap is inside the error bars."""
    lines = []
    for key, r in results.items():
        v, floor = r["values"], r["floor"]
        if v["precision"] >= 0.6 and v["recall"] < 0.5 * floor["recall"]:
            lines.append(f"- **{key}**: precision {v['precision']:.2f} but recall {v['recall']:.2f}: what it draws "
                         "looks like real data, yet it covers a small part of it (few kinds of image, or blurred averages). "
                         "FID alone mixes both; look at the samples row.")
        elif v["recall"] >= 0.6 and v["precision"] < 0.5 * floor["precision"]:
            lines.append(f"- **{key}**: recall {v['recall']:.2f} but precision {v['precision']:.2f}: it spreads over "
                         "the data's variety but many samples fall off the data (artefacts).")
        if v["score"] >= 0.9 * floor["score"] and v["fid"] > 5 * max(floor["fid"], 1e-3):
            lines.append(f"- **{key}**: its IS-style score is near real data's ({v['score']:.2f} vs "
                         f"{floor['score']:.2f}) while its FID is {v['fid']:.3g} (floor {floor['fid']:.3g}): the score "
                         "only asks whether each image is confidently one class and the classes are balanced, not whether images look real.")
    keys = list(results)
    for a, b in zip(keys, keys[1:]):
        fa, fb = results[a], results[b]
        gap = abs(fa["values"]["fid"] - fb["values"]["fid"])
        if gap < fa["std"]["fid"] + fb["std"]["fid"]:
            lines.append(f"- **{a}** and **{b}**: their FIDs differ by {gap:.3g}, less than their error bars: "
                         "this sample size cannot rank them.")
    return "\n".join(lines) or "The metrics agree with each other here: no model trades fidelity for diversity."
