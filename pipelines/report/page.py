"""`make report [SWEEP=...]`: one HTML file that says why the sweep's winner won.

Objective vs. step for every trial with the pruning points marked, trials stopped per
reason, parameter importance, the best trials' sample grids side by side, the winner's
score plot (how to read it: docs/health.md) and the table of trials. Every image is embedded (base64), so the
file stands alone: mail it, open it offline. It is also logged on the sweep's parent run
(`report/report.html`).
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path

from pipelines.formatting import short
from pipelines.report.data import (
    SweepView,
    TrialView,
    artifact_bytes,
    collect,
)
from pipelines.report.plots import bar_plot, objective_plot
from pipelines.tracking import store
from pipelines.tracking.lookup import find_sweep
from pipelines.tracking.schema import GIT_COMMIT_TAG, GRID_ARTIFACT, REPORT_ARTIFACT, SCORE_ARTIFACT

TOP_GRIDS = 4
REPORT_DIR = "runs/reports"  # runs/ is git-ignored

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: .2em; } .sub { color: #666; margin-top: 0; }
.row { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0; } figcaption { font-size: .8em; color: #444; max-width: 250px; }
.grid img { width: 250px; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: .85em; }
td, th { border-bottom: 1px solid #ddd; padding: .25em .6em; text-align: left; }
.finished { color: #1f5fa8; } .pruned { color: #777; } .failed { color: #b22; }
.counts span { margin-right: 1.2em; }
"""


def write_report(sweep: str | None = None, out: str | Path | None = None) -> Path:
    """Render the sweep's report, write it (default runs/reports/<sweep>.html), log it on the
    parent run; returns the path."""
    c = store.client()
    found = find_sweep(c, sweep)
    view = collect(c, found)
    out = Path(out) if out else Path(REPORT_DIR) / f"{found.name}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    page = render(view, lambda run_id, path: artifact_bytes(c, run_id, path))
    out.write_text(page)
    c.log_text(found.run_id, page, REPORT_ARTIFACT)  # one name on the run, whatever `out` is
    return out


def render(view: SweepView, fetch) -> str:
    """The HTML page; `fetch(run_id, artifact_path) -> bytes | None` reads pictures."""
    s = view.sweep
    counts = view.state_counts
    sections = [
        f"<h1>Sweep {_e(s.name)}</h1>",
        f"<p class='sub'>experiment {_e(s.experiment)} · parent run {_e(s.run_id)} · "
        f"code {_e(s.run.data.tags.get(GIT_COMMIT_TAG, 'unknown'))} · "
        f"{_e(view.direction)} {_e(view.metric)} is the objective · "
        f"written {time.strftime('%Y-%m-%d %H:%M')}</p>",
        "<p class='counts'>"
        + "".join(f"<span class='{k}'><b>{v}</b> {k}</span>" for k, v in counts.items() if v)
        + "</p>",
        _winner(view),
        "<h2>Objective of every trial</h2>",
        "<p class='sub'>trials rank by their value at their last step (the one retraining "
        "reproduces); x: where a trial was pruned, and why; dashed: the milestones</p>",
        _img(objective_plot(view), f"{view.metric} vs step"),
        "<div class='row'>",
        _prune_section(view),
        _importance_section(view),
        "</div>",
        _grids(view, fetch),
        _score_plot(view, fetch),
        "<h2>All trials</h2>",
        _table(view),
    ]
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>gansweep report: {_e(s.name)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )


def _winner(view: SweepView) -> str:
    if not view.ranked:
        return "<p><b>No trial ran to its end</b>: nothing to export. See why below.</p>"
    best = view.ranked[0]
    params = ", ".join(f"{_e(k)}={_e(short(v))}" for k, v in best.params.items())
    return (
        f"<p><b>Winner: {_e(best.trial_id)}</b> — {_e(view.metric)} {best.value:.4g} at step "
        f"{best.last_step} ({params}). Export it: "
        f"<code>make export SWEEP={_e(view.sweep.run_id)}</code></p>"
    )


def _prune_section(view: SweepView) -> str:
    counts = view.prune_counts
    if not counts:
        return "<div><h2>Pruned trials</h2><p>none were pruned</p></div>"
    chart = bar_plot(counts, "trials stopped per reason", "trials", "tab:orange")
    return f"<div><h2>Pruned trials</h2>{_img(chart, 'prune reasons')}</div>"


def _importance_section(view: SweepView) -> str:
    importance = view.summary.get("importance") or {}
    if not importance:
        why = "the sweep's summary has none: too few finished trials (Optuna needs 3)"
        return f"<div><h2>Parameter importance</h2><p>{why}</p></div>"
    chart = bar_plot(importance, "Optuna importance (finished trials)", "importance", "tab:blue")
    return f"<div><h2>Parameter importance</h2>{_img(chart, 'parameter importance')}</div>"


def _grids(view: SweepView, fetch) -> str:
    figures = []
    for rank, t in enumerate(view.ranked[:TOP_GRIDS], 1):
        data = fetch(t.run_id, GRID_ARTIFACT)
        if data:
            figures.append(
                f"<figure>{_img(data, t.trial_id)}<figcaption>#{rank} {_e(t.trial_id)}: "
                f"{_e(view.metric)} {t.value:.4g} · {_params(t)}</figcaption></figure>"
            )
    if not figures:
        return "<h2>Best trials' samples</h2><p>no finished trial logged a sample grid</p>"
    return "<h2>Best trials' samples</h2><div class='row grid'>" + "".join(figures) + "</div>"


def _score_plot(view: SweepView, fetch) -> str:
    if not view.ranked:
        return ""
    best = view.ranked[0]
    data = fetch(best.run_id, SCORE_ARTIFACT)
    if not data:
        return ""
    return (
        f"<h2>Generator and discriminator scores of the winner ({_e(best.trial_id)})</h2>"
        "<p class='sub'>ideal near 0.5; D score near 1 with G score near 0 is D winning, "
        "both near 0.5 without progress is a stall (shaded: health verdicts)</p>" + _img(data, "")
    )


def _table(view: SweepView) -> str:
    keys = sorted({k for t in view.trials for k in t.params})
    head = ["trial", "state", "reason", "steps", view.metric, "final health", *keys]
    order = {t.run_id: i for i, t in enumerate(view.ranked)}
    trials = sorted(view.trials, key=lambda t: (order.get(t.run_id, len(order)), t.trial_id))
    rows = []
    for t in trials:
        value = "" if t.value is None else f"{t.value:.4g}"
        cells = [t.trial_id, t.state, t.reason, t.last_step, value, t.health]
        cells += [short(t.params.get(k, "")) for k in keys]
        tds = "".join(f"<td>{_e(cell)}</td>" for cell in cells)
        rows.append(f"<tr class='{_e(t.state)}'>{tds}</tr>")
    header = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"
    return f"<table>{header}{''.join(rows)}</table>"


def _params(t: TrialView) -> str:
    return ", ".join(f"{_e(k.split('.')[-1])}={_e(short(v))}" for k, v in t.params.items())


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt='{_e(alt)}' src='data:image/png;base64,{data}'>"


def _e(value) -> str:
    return html.escape(str(value), quote=True)
