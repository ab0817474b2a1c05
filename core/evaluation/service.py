"""The Evaluate tab's plain functions: measure chosen checkpoints on one world, cache the results, and lay them out
(table, charts, samples side by side, and why a metric can disagree with the eye). No gradio here.

Results are cached per (checkpoint, its weights' fingerprint, N, seed) in memory and on disk (the system's temporary
folder), so a classroom asking for the same comparison gets it at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import threading
import time
from pathlib import Path

import torch

from core.engine.events import MeasurementCancelled, stoppable

from .charts import number
from .conditional import ASKED, CONDITIONAL
from .measure import FEATURES, METRICS, WorldJudge
from .samplers import fingerprint, judge_fingerprint, load, parameters, sample, split, world_of

WORLDS = ("digits", "faces", "shapes")
NUM_RANGE = (100, 2000)
MOST = 8  # checkpoints in one comparison
SMALL_N = 500  # below this, the status line warns that FID is biased and the error bars wide
_MEMORY: dict[str, dict] = {}
_LOCK = threading.Lock()
_TURN = threading.Lock()  # one measurement generates at a time on a server; cached results never wait for it
HEADERS = ["#", "checkpoint"] + [label for label, _ in METRICS.values()] + ["s per 100", "params (M)"]
CONDITIONAL_HEADERS = ["#", "checkpoint", "asked for", "metric", "value ± std", "real data (the floor)"]
APPLIES_TO = {"class_accuracy": "class-conditional models (cGANs, class-conditional DDPM)",
              "clip_score": "text-to-image models", "clip_score_openai": "text-to-image models, with OpenAI's CLIP on disk",
              "psnr": "paired translation (pix2pix)",
              "ssim": "paired translation (pix2pix)", "lpips_style": "paired translation (pix2pix)",
              "in_target": "unpaired translation (CycleGAN)"}
CHART_METRICS = [label for label, _ in METRICS.values()] + [label for label, _ in CONDITIONAL.values()]


CACHE_DAYS = 7
CACHE_VERSION = 7  # raise when a result gains a field or a sampler changes what it draws


def cache_folder() -> Path:
    """The disk cache, in the system's temporary folder; results untouched for a week are swept out on write."""
    folder = Path(tempfile.gettempdir()) / "genlab-evaluation"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _cache_key(key: str, num: int, seed: int, features: str = "world") -> str:
    """Names a result: the checkpoint and its weights, the judge (its world classifier's weights), N, seed, features."""
    return json.dumps([key, fingerprint(key), judge_fingerprint(key), num, seed, features, CACHE_VERSION])


def _cache_file(cache_key: str) -> Path:
    return cache_folder() / f"{hashlib.sha1(cache_key.encode()).hexdigest()[:20]}.json"


def cached(key: str, num: int, seed: int, features: str = "world") -> dict | None:
    """The stored result of (checkpoint, N, seed, features) if neither its weights nor the judge's have changed since."""
    ck = _cache_key(key, num, seed, features)
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


def _store(key: str, num: int, seed: int, result: dict, features: str = "world") -> None:
    ck = _cache_key(key, num, seed, features)
    result = {**result, "cache_key": ck}
    with _LOCK:
        _MEMORY[ck] = result
    from core.engine.hosting import sweep

    sweep(cache_folder(), CACHE_DAYS * 86400)
    path = _cache_file(ck)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(path)


def listed(checkpoints) -> list:
    """The checkpoint keys as asked: a list of them, or one comma-separated string."""
    if isinstance(checkpoints, str):
        return [c.strip() for c in checkpoints.split(",") if c.strip()]
    return list(checkpoints or [])


def check_request(world, checkpoints, num, seed) -> tuple[str, list[str], int, int]:
    """Validated (world, checkpoints, N, seed); ValueError names what is wrong."""
    from core.engine import check_seed

    if world not in WORLDS:
        raise ValueError(f"world must be one of {list(WORLDS)}, got {world!r}")
    checkpoints = list(dict.fromkeys(listed(checkpoints)))  # each once
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


def check_features(features, world: str = "shapes") -> str:
    """ "world", "inception" (only when the Inception-v3 weights are on disk) or "clip" (OpenAI's CLIP on disk for
    any world; GenLab's shapes CLIP for the shapes world only: it has seen no digit or face, so distances in its
    features say nothing about them); ValueError says what is missing."""
    if features not in FEATURES:
        raise ValueError(f"features must be one of {list(FEATURES)}, got {features!r}")
    if features == "clip":
        from core.metrics.clip import best_clip, openai_folder

        if best_clip() is None:
            raise ValueError("no CLIP on this machine: GenLab's text2image/clip-shapes is missing, and OpenAI's "
                             "clip-vit-base-patch32 is neither in checkpoints/metrics/ nor in the Hugging Face cache")
        if world != "shapes" and openai_folder() is None:
            raise ValueError(f"features 'clip' on the {world} world needs OpenAI's CLIP (clip-vit-base-patch32 in "
                             "checkpoints/metrics/ or the Hugging Face cache): GenLab's CLIP knows only the shapes "
                             "world; use features 'world' here")
    if features == "inception":
        from core.metrics.inception import FILES, find_weights

        if find_weights() is None:
            raise ValueError(f"Inception-v3 weights are not on this machine: put {FILES[0]} in checkpoints/metrics/ "
                             "(or torch's hub cache), or run python -m core.metrics.inception --download when online")
    return features


def measure_checkpoint(ctx, world: str, key: str, num: int, seed: int, progress=None, features: str = "world") -> dict:
    """One checkpoint's result (cached): metrics, their std, the floor, conditional metrics if any, seconds per 100
    images, parameters, 8 sample images. ``progress(done, num)`` follows the generation."""
    hit = cached(key, num, seed, features)
    if hit is not None:
        return hit
    model = ctx.cache.get(("evaluation", key, fingerprint(key)), lambda: load(key, ctx.device))
    t0 = time.perf_counter()
    drawn = sample(key, num, seed, model=model, device=ctx.device, progress=progress)
    seconds = time.perf_counter() - t0
    judge = judge_for(ctx, world, num, drawn.reference, features)
    result = judge.measure(drawn.images, seed, condition=drawn.condition)
    result["seconds_per_100"] = 100 * seconds / len(drawn.images)
    result["features"] = judge.description
    result["parameters"] = parameters(model)
    result["reference"] = "=".join(drawn.reference) if drawn.reference else None
    result["thumbnails"] = (drawn.images[:8] * 255).round().byte().tolist()
    if drawn.condition.get("kind") == "text":  # what the eight thumbnails were asked for
        result["prompts"] = list(drawn.condition["prompts"][:8])
    if drawn.inputs is not None:  # a translator: what it was given, above what it made
        result["input_thumbnails"] = (drawn.inputs[:8].float() * 255).round().byte().tolist()
    _store(key, num, seed, result, features)
    return result


def judge_for(ctx, world: str, num: int, domain: tuple[str, str] | None = None, features: str = "world") -> WorldJudge:
    return ctx.cache.get(("evaluation-judge", world, num, domain, features),
                         lambda: WorldJudge(world, num, domain, features))


def evaluate_stream(ctx, world="digits", checkpoints=("gans/dcgan-digits",), num=500, seed=0, cancel=None,
                    progress=None, features="world"):
    """Measure each checkpoint in turn; yield (status, results {key: result}) after each step (for a progress line).
    ``progress(fraction, text)``, if given, follows the generation batch by batch; ``cancel`` (an Event) stops it
    between two batches, or two sampling steps of a diffusion model (a batch of 500 was seconds). Visitors measure
    one at a time (a lock around the generation), while results already measured come back without waiting."""
    asked = listed(checkpoints)
    world, checkpoints, num, seed = check_request(world, asked, num, seed)
    features = check_features(features, world)
    repeats = len(asked) - len(checkpoints)
    results: dict[str, dict] = {}
    yield f"loading the {world} classifier and {num} held-out images…", results
    description = judge_for(ctx, world, num, features=features).description
    for i, key in enumerate(checkpoints):
        if cancel is not None and cancel.is_set():
            yield f"cancelled after {i} of {len(checkpoints)} checkpoints", results
            return

        def step(done, total, i=i, key=key):
            if progress is not None:
                progress((i + done / total) / len(checkpoints), f"{key}: {done}/{total} images")
            if cancel is not None and cancel.is_set():
                raise Cancelled()

        turn = False
        try:
            if cached(key, num, seed, features) is None:
                if not _TURN.acquire(blocking=False):
                    yield (f"**{key}** ({i + 1}/{len(checkpoints)}): waiting for another visitor's measurement "
                           "to finish (one generates at a time; measured results come back at once)…"), results
                    while not _TURN.acquire(timeout=0.25):
                        if cancel is not None and cancel.is_set():
                            yield f"cancelled while waiting: {i} of {len(checkpoints)} checkpoints measured", results
                            return
                turn = True
                yield f"**{key}** ({i + 1}/{len(checkpoints)}): generating {num} images…", results
            with stoppable(cancel) if cancel is not None else contextlib.nullcontext():
                results[key] = measure_checkpoint(ctx, world, key, num, seed, step, features)  # (stops at a step)
        except (Cancelled, MeasurementCancelled):
            yield f"cancelled while generating {key}: {i} of {len(checkpoints)} checkpoints measured", results
            return
        finally:
            if turn:
                _TURN.release()
        drawn = results[key]["images"]
        fewer = (f" on {drawn} images: all the held-out inputs of its task, fewer than the {num} asked"
                 if drawn < num else "")
        yield f"**{key}** measured ({i + 1}/{len(checkpoints)}){fewer}", results
    small = (f". With N = {num} the FID is biased upwards and the error bars are wide: compare models at one N, "
             "and prefer 1,000 or more") if num < SMALL_N else ""
    short = [f"{k}: {r['images']}" for k, r in results.items() if r["images"] < num]
    each = f"{num} samples each" + (f" ({', '.join(short)})" if short else "")
    once = f" (measured once each: {repeats} repeated name{'s' * (repeats > 1)} left out)" if repeats else ""
    yield f"done: {len(checkpoints)} checkpoint(s){once}, {each}, seed {seed}, in {description}{small}", results


class Cancelled(Exception):
    """Raised inside the sampling loop when the user cancels."""


def _pm(value: float, std: float) -> str:
    """"value ± std" that a narrow table column breaks only before the "±" (a no-break space after it): "0.748" over
    "± 0.02", never inside a number (held together whole, the cell broke it at any character: "0.748 ± 0" over ".02")."""
    return f"{number(value)} ±\u00a0{number(std, 1)}"


def _world_floor(results: dict) -> dict:
    """The floor of the world's own held-out images (a CycleGAN's result carries its target domain's instead)."""
    return next((r["floor"] for r in results.values() if not r.get("reference")), next(iter(results.values()))["floor"])


def table_rows(results: dict) -> list[list]:
    """One row per checkpoint: each metric as "value ± std" (the floor row first; a model measured against one
    domain's faces gets that domain's floor row after it)."""
    if not results:
        return []
    floor_row = lambda tag, what, floor: [tag, what] + [number(floor[m]) for m in METRICS] + ["-", "-"]
    rows = []
    if any(not r.get("reference") for r in results.values()):
        rows.append(floor_row("R", "real vs real (the floor)", _world_floor(results)))
    for i, (key, r) in enumerate(results.items()):
        rows.append([str(i + 1), key] + [_pm(r["values"][m], r["std"][m]) for m in METRICS]
                    + [f"{r['seconds_per_100']:.2f}", f"{r.get('parameters', 0) / 1e6:.2f}"])
        if r.get("reference"):
            rows.append(floor_row(f"R{i + 1}", f"real vs real ({r['reference'].replace('=', ' ')} only: row {i + 1} "
                                  "is measured against these)", r["floor"]))
    return rows


def conditional_rows(results: dict) -> list[list]:
    """A row per conditional metric of each conditional model: value ± std and the same reading of real data."""
    rows = []
    for i, (key, r) in enumerate(results.items()):
        for m, value in r.get("conditional", {}).items():
            floor = r.get("conditional_floor", {}).get(m)
            rows.append([str(i + 1), key, ASKED.get(r.get("condition"), ""), CONDITIONAL[m][0],
                         _pm(value, r["std"][m]), "-" if floor is None else number(floor)])
    return rows


def metric_chart(results: dict, metric: str = "FID"):
    """The bar chart of one metric (its label, e.g. "FID", "recall" or "CLIP score") across the measured checkpoints
    that have it (the conditional ones only for the models they apply to)."""
    from .charts import bar_chart

    every = {**METRICS, **CONDITIONAL}
    keys = {label: k for k, (label, _) in every.items()}
    if metric not in keys:
        raise ValueError(f"metric must be one of {list(keys)}, got {metric!r}")
    k, better = keys[metric], every[keys[metric]][1]
    table = "values" if k in METRICS else "conditional"
    shown = [(i, key, r) for i, (key, r) in enumerate(results.items()) if k in r.get(table, {})]
    if not shown:
        from .charts import message_image

        return message_image(f"No measured model has a {metric}: it applies to "
                             f"{APPLIES_TO.get(k, 'other models')}. Pick another metric, or measure such a model.")
    if table == "values":
        floor = _world_floor(results)[k]
    else:  # conditional floors are per kind; draw one only when every shown model has the same
        floors = {r.get("conditional_floor", {}).get(k) for _, _, r in shown}
        floor = floors.pop() if len(floors) == 1 else None
    return bar_chart([f"{i + 1}. {key}" for i, key, _ in shown], [r[table][k] for _, _, r in shown],
                     [r["std"][k] for _, _, r in shown], floor,
                     f"{metric} ({'higher' if better else 'lower'} is better; whiskers: ±1 std, jackknife over 80 % subsets)")


def pr_chart(results: dict):
    from .charts import pr_plot

    if not results:
        return None
    floor = _world_floor(results)
    return pr_plot(list(results), [r["values"]["precision"] for r in results.values()],
                   [r["values"]["recall"] for r in results.values()], (floor["precision"], floor["recall"]))


def samples_sheet(results: dict):
    """Eight samples of each checkpoint, side by side (a row each; a translator's inputs in a row above its
    translations), enlarged with visible pixels; text-to-image columns numbered, with their prompts listed below
    (every text-to-image model of a run draws the same prompts)."""
    from PIL import Image

    from core.data import to_pil
    from core.data.labelled import labelled_grid, with_legend

    if not results:
        return None
    cell = lambda t: to_pil(torch.tensor(t, dtype=torch.uint8).float() / 255).resize((72, 72), Image.NEAREST)
    rows, labels = [], []
    for i, (key, r) in enumerate(results.items()):
        if "input_thumbnails" in r:
            rows.append([cell(t) for t in r["input_thumbnails"]])
            labels.append(f"{i + 1}. its inputs")
        rows.append([cell(t) for t in r["thumbnails"]])
        labels.append(f"{i + 1}. {key}")
    prompts = next((r["prompts"] for r in results.values() if r.get("prompts")), None)
    if not prompts:
        return labelled_grid(rows, labels, [""] * 8, left=230, top=6)
    sheet = labelled_grid(rows, labels, [str(j + 1) for j in range(8)], left=230, top=24)
    return with_legend(sheet, [f"{j + 1}. {p}" for j, p in enumerate(prompts)], title="text-to-image prompts:")


def disagreements(results: dict) -> str:
    """Where a number and the eye part ways, read from the results: fidelity without diversity (mode collapse or
    blur), or the reverse; and when a gap is inside the error bars."""
    lines = _scale_note(results)
    for key, r in results.items():
        v, floor = r["values"], r["floor"]
        if v["precision"] >= 0.6 and v["recall"] < 0.5 * floor["recall"]:
            lines.append(f"- **{key}**: precision {v['precision']:.2f} but recall {v['recall']:.2f}: in the "
                         "features measured, what it draws lies near real data, yet it covers a small part of it (few "
                         "kinds of image, or blurred averages that the features read as ordinary ones). FID alone "
                         "mixes both; look at the samples row.")
        elif v["recall"] >= 0.6 and v["precision"] < 0.5 * floor["precision"]:
            lines.append(f"- **{key}**: recall {v['recall']:.2f} but precision {v['precision']:.2f}: it spreads over "
                         "the data's variety but many samples fall off the data (artefacts).")
        if v["score"] >= 0.9 * floor["score"] and v["fid"] > 5 * max(floor["fid"], 1e-3):
            lines.append(f"- **{key}**: its IS-style score is near real data's ({v['score']:.2f} vs "
                         f"{floor['score']:.2f}) while its FID is {number(v['fid'])} (floor {number(floor['fid'])}): the score "
                         "only asks whether each image is confidently one class and the classes are balanced, not whether images look real.")
    for reference in {r.get("reference") for r in results.values()}:  # neighbours in FID order, same reference
        keys = sorted((k for k, r in results.items() if r.get("reference") == reference),
                      key=lambda k: results[k]["values"]["fid"])
        lines += _too_close(results, keys)
    return "\n".join(lines) or "The metrics agree with each other here: no model trades fidelity for diversity."


LARGE_FLOOR_FID = 50  # a world whose real-vs-real FID reaches this has features of a large scale (faces: ~400)


def _scale_note(results: dict) -> list[str]:
    """Where the world's own real-vs-real FID is large: read each FID as a multiple of it (faces' "2.63k" beside
    digits' "2" read as a catastrophe, and nothing said why the scales differ)."""
    own = {k: r for k, r in results.items() if not r.get("reference")}
    floor = _world_floor(results)["fid"] if own else 0.0
    if floor < LARGE_FLOOR_FID:
        return []
    ratios = ", ".join(f"**{k}** {r['values']['fid'] / floor:.1f}x" for k, r in own.items())
    return [f"- This world's classifier features put even two sets of real images far apart: row R reads FID "
            f"{number(floor)} at this sample size. Read each model's FID as a multiple of R's ({ratios}; real data: "
            "1x), not against another world's figures (the digits' run near 1)."]


def _too_close(results: dict, keys: list[str]) -> list[str]:
    lines = []
    for a, b in zip(keys, keys[1:]):
        fa, fb = results[a], results[b]
        gap = abs(fa["values"]["fid"] - fb["values"]["fid"])
        if gap < fa["std"]["fid"] + fb["std"]["fid"]:
            lines.append(f"- **{a}** and **{b}**: their FIDs differ by {number(gap)}, less than their error bars: "
                         "this sample size cannot rank them.")
    return lines
