"""Portfolio reports: one self-contained HTML page per model (its card, training curves, samples, measurements with
their floors, the command that reproduces it) and one page per comparison. Every image is embedded (data URIs), so
the page is one file to keep, mail or publish.

    python -m core.report gans/dcgan-digits --out reports/            # the card, curves and samples
    python -m core.report gans/dcgan-digits --evaluate 500 --out reports/   # + the Evaluate tab's measurements
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import re
from pathlib import Path

from core.engine import resolve_checkpoint

STYLE = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#1f2937}
body{line-height:1.5}
img{max-width:100%;image-rendering:pixelated}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #d1d5db;padding:4px 8px;text-align:left}pre{background:#f3f4f6;padding:1em;overflow-x:auto}
code{background:#f3f4f6;padding:0 3px}h1{font-size:1.8em}.card{border-top:2px solid #e5e7eb;margin-top:2em}"""


def data_uri(image) -> str:
    """A PIL image (or PNG/GIF file path) as a data URI."""
    if isinstance(image, (str, Path)):
        data, kind = Path(image).read_bytes(), Path(image).suffix.lstrip(".").lower().replace("jpg", "jpeg")
    else:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data, kind = buffer.getvalue(), "png"
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


def markdown_html(text: str, folder: Path) -> str:
    """The card's markdown as HTML, its front matter dropped and its local images embedded."""
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)

    def embed(match):
        alt, src = match.group(1), match.group(2)
        path = (folder / src).resolve()
        inside = folder.resolve() in path.parents and path.is_file()
        return f"![{alt}]({data_uri(path)})" if inside else match.group(0)

    text = re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)", embed, text)
    try:
        from markdown_it import MarkdownIt  # installed with gradio

        return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    except ImportError:
        return f"<pre>{html.escape(text)}</pre>"


def curves_charts(folder: Path) -> list:
    """The run's logged losses (losses.json), one chart per loss (a running mean over 10 logged steps)."""
    from core.evaluation.charts import line_chart

    from core.engine.loss_log import read_loss_log

    rows = read_loss_log(folder)
    keys = [k for k in rows[0] if k != "step"][:8] if rows else []
    charts = []
    for key in keys:
        points = [(r["step"], r[key]) for r in rows if key in r]
        smooth = [(x, sum(v for _, v in points[max(0, i - 9):i + 1]) / len(points[max(0, i - 9):i + 1]))
                  for i, (x, _) in enumerate(points)]
        charts.append(line_chart({key: smooth}, key, width=460, height=240))
    return charts


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}"
            "<p><small>Made with GenLab (python -m core.report).</small></p></body></html>")


def measurements_html(results: dict) -> str:
    """The Evaluate tab's results as a table, the charts and the samples side by side."""
    from core.evaluation.service import (CONDITIONAL_HEADERS, HEADERS, conditional_rows, disagreements, metric_chart,
                                         pr_chart, samples_sheet, table_rows)

    def table(headers, rows):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    charts = "".join(f'<img alt="{m}" src="{data_uri(metric_chart(results, m))}">' for m in ("FID", "recall"))
    asked = conditional_rows(results)
    if asked:
        charts = (f"<h3>Does each image follow what it was asked for?</h3>{table(CONDITIONAL_HEADERS, asked)}"
                  + charts)
    first = next(iter(results.values()))
    return (f"<h2>Measurements</h2><p>{first['images']} samples per model against as many held-out images, in "
            f"{first.get('features', 'the world classifier features')}. Value ± std (a jackknife over 20 random 80 % subsets: about "
            "what another seed would give); row R is real data against real data, the floor.</p>"
            f"{table(HEADERS, table_rows(results))}{charts}"
            f'<img alt="precision vs recall" src="{data_uri(pr_chart(results))}">'
            f'<h3>Samples</h3><img alt="samples" src="{data_uri(samples_sheet(results))}">'
            f"<h3>Where a number and the eye disagree</h3>{markdown_html(disagreements(results), Path('.'))}")


def checkpoint_html(key: str, results: dict | None = None) -> str:
    """The portfolio page of checkpoint "method/name"; ``results``: the Evaluate tab's, if any."""
    from core.evaluation.samplers import split

    method, name = split(key) if "/" in key else (None, None)
    if method is None:
        raise ValueError(f"give the checkpoint as method/name, got {key!r}")
    folder = resolve_checkpoint(method, name)
    state = json.loads((folder / "trainer_state.json").read_text()) if (folder / "trainer_state.json").is_file() else {}
    command = state.get("command") or "(not recorded)"
    body = f"<h2>Reproduce it</h2><pre>{html.escape(command)}</pre>"
    charts = curves_charts(folder)
    body += "<h2>Training curves</h2>" + ("".join(f'<img alt="curve" src="{data_uri(c)}" style="width:470px">'
                                                  for c in charts) or
                                          "<p>Not logged: this run predates GenLab's <code>losses.json</code>; a run "
                                          "continued or retrained now logs them.</p>")
    if results:
        body += measurements_html(results)
    if (folder / "README.md").is_file():
        card = markdown_html((folder / "README.md").read_text(), folder)
        body += f'<div class="card"><h2>Model card</h2>{card}</div>'
    return page(f"GenLab · {key}", body)


def comparison_html(results: dict, world: str) -> str:
    """One page for a whole comparison (the Evaluate tab's results on ``world``)."""
    models = "".join(f"<li><code>{html.escape(k)}</code></li>" for k in results)
    return page(f"GenLab · {world}: {len(results)} models compared", f"<ul>{models}</ul>" + measurements_html(results))


def main(argv=None) -> int:
    """The command line; a user error (bad name, range, world) is one ``error:`` line and exit status 2."""
    from core.engine.cli import run_cli

    return run_cli(_main, argv)


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="method/name, e.g. gans/dcgan-digits")
    parser.add_argument("--out", default="reports", help="folder for the HTML page")
    parser.add_argument("--evaluate", type=int, default=0, metavar="N",
                        help="also measure N samples (100-2000) as the Evaluate tab does")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = None
    if args.evaluate:
        from core.engine import AppContext
        from core.evaluation.samplers import split, world_of
        from core.evaluation.service import evaluate_stream

        world = world_of(*split(args.checkpoint))
        for line, results in evaluate_stream(AppContext(), world, [args.checkpoint], args.evaluate, args.seed):
            print(line.replace("**", ""))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.checkpoint.replace('/', '-')}.html"
    path.write_text(checkpoint_html(args.checkpoint, results))
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
