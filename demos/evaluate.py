"""Evaluate tab: measure models of every method the same way on one world (FID, KID, precision / recall, density /
coverage, an Inception-Score-style score, class coverage; for conditional models condition accuracy, CLIP score,
PSNR / SSIM / LPIPS-style distance, target-domain share), with error bars, the real-vs-real floor, charts, samples
side by side, and where a metric disagrees with the eye. A view over ``core.evaluation.service``.
"""

from __future__ import annotations

import threading

import gradio as gr

from core.evaluation.samplers import evaluable, why_not_evaluable
from core.evaluation.service import (CHART_METRICS, CONDITIONAL_HEADERS, HEADERS, MOST, NUM_RANGE, WORLDS,
                                     conditional_rows, disagreements, evaluate_stream, metric_chart, pr_chart,
                                     samples_sheet, table_rows)
from demos.common import (AppContext, Dropdown, Radio, CheckboxGroup, Number, Slider, endpoint, page_open, run_standalone,
                          session_of, ui_errors, warn_and_keep, word_fit_widths)
from demos.page import reveal_js

TITLE = "Evaluate"
TRY = """
1. Keep the ticked digits models and press **Measure**: each is sampled with its own sampler and measured.
2. Read the **precision-recall** plot: the VAE draws real-looking digits (high precision) but few kinds (low recall).
3. Change the **metric** of the bar chart: the dashed red line is what real data scores against real data.
4. Pick the **faces** world and tick the pix2pix models: their PSNR / SSIM against the real targets sit in the
   second table, next to FID, which looks at the whole set instead of each pair.
"""
ABOUT = """**Evaluating generative models.** There is no single number: FID
([Heusel et al. 2017](https://arxiv.org/abs/1706.08500)) compares Gaussian fits of features; KID ([Binkowski et al. 2018](https://arxiv.org/abs/1801.01401)) is its unbiased
kernel cousin; precision and recall ([Kynkäänniemi et al. 2019](https://arxiv.org/abs/1904.06991)) split fidelity
from diversity, density and coverage ([Naeem et al. 2020](https://arxiv.org/abs/2002.09797)) do it robustly to
outliers; the Inception Score ([Salimans et al. 2016](https://arxiv.org/abs/1606.03498)) asks only for confident,
balanced classes. Conditional models are also asked whether each image follows its condition: the label
(classifier accuracy), the caption (CLIP score, [Hessel et al. 2021](https://arxiv.org/abs/2104.08718)), the paired
target (PSNR, SSIM, and an LPIPS-style distance after [Zhang et al. 2018](https://arxiv.org/abs/1801.03924)) or the
other domain. By default every feature comes from GenLab's bundled world classifier (and GenLab's own CLIP): the
numbers compare only inside GenLab, on the same world. With the Inception-v3 weights on disk
(`python -m core.metrics.inception --download` fetches them when online), the *features* switch gives the standard FID
and the Inception Score, comparable with papers' figures (about 10 s per 100 images on a 2-core CPU); *CLIP* measures
in CLIP image embeddings (OpenAI's ViT-B/32 when on disk, which also adds its CLIP score)."""

FEATURE_CHOICES = [("world classifier", "world"), ("Inception-v3", "inception"), ("CLIP", "clip")]
DEFAULT = {"digits": ["vae/vae2d-digits", "gans/dcgan-digits", "gans/cgan-projection-ms-digits"],
           "faces": ["vae/vae16-faces", "stylegan/stylegan-faces64", "translation/pix2pix-labels2face"],
           "shapes": ["text2image/t2i-minilm-shapes"]}  # the text-to-image model that draws the most right shapes


_CANCELS: dict[str, threading.Event] = {}  # session -> the Cancel flag of its measurement in progress


def _choices(world):
    names = evaluable(world)
    return gr.update(choices=names, value=[n for n in DEFAULT.get(world, []) if n in names] or names[:2])


def explain_refused(key) -> str:
    """Why ``key`` is not among the checkpoints Evaluate takes: another dataset's run, or no checkpoint at all (with an
    example of each world: one example, a digits model, led a faces request into a second refusal)."""
    examples = ", ".join(f"{world}: {names[0]!r}" for world, names in DEFAULT.items())
    return (why_not_evaluable(key, WORLDS) or
            f"{str(key)[:60]!r} is not a checkpoint Evaluate measures (give 'method/name' of the world's; for "
            f"example {examples})")


def table_widths() -> list[str]:
    """The measurements table's column widths: numbers of six characters ("± 0.02") whole, seven in the KID
    column (a floor below 0: "-0.0645")."""
    return word_fit_widths(HEADERS, flexible=1, min_chars=6, wider={"KID x 100": 7})


def build(ctx: AppContext) -> None:
    gr.Markdown("Pick a world and up to eight of its checkpoints. Each is sampled with its own sampler and a recorded "
                "seed, then measured against the world's held-out images in the world classifier's features. "
                "Results are kept: asking again (or a classmate asking) shows them at once.")
    first = DEFAULT["digits"]
    with gr.Row():
        world = Radio(list(WORLDS), value="digits", label="world", scale=1)
        # every world's checkpoints, so the endpoint takes any of them; the page shows the chosen world's only
        everything = [n for w in WORLDS for n in evaluable(w)]
        picks = CheckboxGroup(everything, value=[n for n in first if n in everything],
                                 label=f"checkpoints (1-{MOST})", scale=4, elem_id="evaluate-checkpoints")
        picks.live = lambda: [n for w in WORLDS for n in evaluable(w)]  # (a run trained since the app started too)
        picks.explain = explain_refused  # an MNIST run: why, not "not one of the choices"; an example of each world
    with gr.Row():
        num = Slider(*NUM_RANGE, value=500, step=100, precision=0, label="samples per model (N)", scale=3,
                     elem_id="evaluate-n",
                     info="more: smaller error bars, slower (diffusion models: minutes on a CPU)")
        seed = Number(value=0, precision=0, minimum=0, maximum=2**32 - 1, label="seed", scale=1)
        features = Radio(FEATURE_CHOICES, value="world", label="features", scale=2,
                         info="the world classifier's: comparable within GenLab only; Inception-v3: the standard "
                              "FID, its weights on disk (About)")
    with gr.Row():
        go = gr.Button("Measure", variant="primary", elem_id="evaluate-go")
        stop = gr.Button("Cancel", variant="stop", elem_id="evaluate-cancel")
    status = gr.Markdown(elem_id="evaluate-status", label="status")
    table = gr.Dataframe(headers=HEADERS, label="value ± std (a jackknife over 20 random 80 % subsets: about what another seed would "
                         "give); row R: real vs real. KID is unbiased: near 0, or below it, when two sets match; "
                         "noisy at small N",
                         interactive=False, wrap=True, elem_id="evaluate-table",
                         column_widths=table_widths())
    asked = gr.Dataframe(headers=CONDITIONAL_HEADERS, label="conditional models: does each image follow what it was "
                         "asked for? (value ± std over the same subsets; the floor is the same reading of real data)",
                         interactive=False, wrap=True, elem_id="evaluate-conditional", visible=False,
                         column_widths=["4%", "30%", "20%", "18%", "14%", "14%"])
    metric = Dropdown(CHART_METRICS, value="FID", label="metric of the bar chart (conditional metrics: the models "
                      "they apply to)")
    bars = gr.Image(label="one metric per model", type="pil", format="png", interactive=False,
                    elem_id="evaluate-bars")
    pr = gr.Image(label="precision (fidelity) vs recall (diversity)", type="pil", format="png", interactive=False,
                  elem_id="evaluate-pr")
    why = gr.Markdown(elem_id="evaluate-why", label="why")
    samples = gr.Image(label="eight samples of each model, side by side", type="pil", format="png",
                       interactive=False, elem_id="evaluate-samples")
    with gr.Row():
        report_model = Dropdown([], label="model for a portfolio page", scale=3)
        report_btn = gr.Button("Portfolio page of this model (HTML)", scale=2)
        compare_btn = gr.Button("Page of the whole comparison (HTML)", scale=2)
    report_file = gr.File(label="report: one self-contained HTML file (images embedded)", interactive=False)
    results = gr.State({})

    def run(world, checkpoints, num, seed, metric, features="world", request: gr.Request = None,
            progress=gr.Progress()):
        session = session_of(request)
        cancel = _CANCELS[session] = threading.Event()  # this visitor's run: another's Cancel cannot stop it
        try:
            for line, res in evaluate_stream(ctx, world, checkpoints, num, seed, cancel, progress, features):
                done = dict(res)
                yield (line, table_rows(done), conditional_rows(done), metric_chart(done, metric), pr_chart(done),
                       samples_sheet(done), disagreements(done) if done else "", done)
        finally:
            if _CANCELS.get(session) is cancel:
                del _CANCELS[session]

    def stop_run(request: gr.Request = None):
        if session_of(request) in _CANCELS:
            _CANCELS[session_of(request)].set()

    endpoint(go.click, run, [world, picks, num, seed, metric, features],
             [status, table, asked, bars, pr, samples, why, results], api_name="evaluate",
             concurrency_limit=8,  # the service takes turns
             js=reveal_js("evaluate-go", "evaluate-table"))  # status and table formed under a projector's fold
    stop.click(stop_run, api_visibility="private", queue=False)
    metric.change(ui_errors(lambda res, m: metric_chart(res, m)), inputs=[results, metric], outputs=bars,
                  api_visibility="private")
    gr.on([world.change, *page_open()], _choices, inputs=world, outputs=picks, api_visibility="private", queue=False)
    # another world: the last world's results leave (its table, charts and samples stayed beside the new world's
    # ticks, and its page would have been titled with the new world)
    world.input(lambda: ("", None, None, None, None, None, "", {}, None), None,
                [status, table, asked, bars, pr, samples, why, results, report_file], api_visibility="private",
                queue=False)
    # a ninth tick goes back at once, with a warning (it stayed ticked until Measure refused the set)
    last_picks = gr.State(list(picks.value or []))
    picks.change(lambda ticked: list(ticked) if len(ticked or []) <= MOST else gr.skip(), picks, last_picks,
                 api_visibility="private", queue=False)
    picks.input(at_most_picks, [picks, last_picks], picks, api_visibility="private", concurrency_limit=None,
                show_progress="hidden")
    results.change(lambda res: gr.update(choices=list(res), value=next(iter(res), None)), inputs=results,
                   outputs=report_model, api_visibility="private", queue=False)
    results.change(lambda res: gr.update(visible=bool(conditional_rows(res))), inputs=results, outputs=asked,
                   api_visibility="private", queue=False)  # the second table only when a model is conditional
    # a page asked for before measuring: one toast, and no "Error" badge left on the file box after the next success
    report_btn.click(warn_and_keep(1)(model_report), inputs=[report_model, results], outputs=report_file,
                     api_visibility="private")
    compare_btn.click(warn_and_keep(1)(whole_report), inputs=[world, results], outputs=report_file,
                      api_visibility="private")


def at_most_picks(ticked, last):
    """The checkpoints ticked as they are, or the ``last`` ticks (a warning says why) when a tick made them more than
    ``MOST``."""
    if len(ticked or []) <= MOST:
        return gr.skip()
    gr.Warning(f"at most {MOST} checkpoints at once: untick one to add another")
    return last


def model_report(key, results):
    """The portfolio page of one measured model, as a file in the scratch folder (swept hourly)."""
    from core.engine.hosting import scratch_file
    from core.report import checkpoint_html

    if not key or key not in (results or {}):
        raise ValueError("measure the models first, then pick one of them")
    path = scratch_file(".html", prefix=key.replace("/", "-") + "-")
    path.write_text(checkpoint_html(key, {key: results[key]}))
    return str(path)


def whole_report(world, results):
    from core.engine.hosting import scratch_file
    from core.report import comparison_html

    if not results:
        raise ValueError("measure some models first")
    path = scratch_file(".html", prefix=f"comparison-{world}-")
    path.write_text(comparison_html(results, world))
    return str(path)

if __name__ == "__main__":
    run_standalone(build, TITLE)
