"""The report's charts as PNG bytes: objective vs. step with the pruning points marked,
trials stopped per reason, and parameter importance."""

from __future__ import annotations

import io

from gan_core.plots import pyplot
from pipelines.report.data import SweepView

STATE_STYLE = {  # colour, line width, alpha: the finished trials stand out
    "finished": ("tab:blue", 1.8, 0.95),
    "pruned": ("0.55", 1.0, 0.7),
    "failed": ("tab:red", 1.0, 0.8),
    "running": ("tab:purple", 1.0, 0.8),
}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    pyplot().close(fig)
    return buf.getvalue()


def objective_plot(view: SweepView) -> bytes:
    """Every trial's metric over steps; a pruned trial ends in an x with its reason, the
    milestones are dashed lines, the winner is drawn thick."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.6))
    for m in view.milestones:
        ax.axvline(m, color="0.8", ls="--", lw=1)
    best = view.ranked[0].run_id if view.ranked else None
    for t in view.trials:
        if not t.history:
            continue
        colour, width, alpha = STATE_STYLE.get(t.state, STATE_STYLE["running"])
        steps, values = zip(*t.history, strict=True)
        ax.plot(steps, values, color=colour, lw=3 if t.run_id == best else width, alpha=alpha)
        if t.state == "pruned":
            ax.plot(steps[-1], values[-1], "x", color="tab:orange", ms=9, mew=2)
            ax.annotate(
                t.reason,
                (steps[-1], values[-1]),
                fontsize=7,
                xytext=(4, 3),
                textcoords="offset points",
                color="tab:orange",
            )
        if t.run_id == best:
            ax.annotate(
                f"best: {t.trial_id}",
                (steps[-1], values[-1]),
                fontsize=8,
                xytext=(4, -10),
                textcoords="offset points",
                color="tab:blue",
            )
    _legend(ax, plt)
    ax.set_xlabel("step")
    better = "lower" if view.direction == "min" else "higher"
    ax.set_ylabel(f"{view.metric} ({better} is better)")
    ax.set_title(f"{view.sweep.name}: {view.metric} of every trial")
    if _spans_decades(view):
        from matplotlib.ticker import FormatStrFormatter

        ax.set_yscale("log")
        for set_formatter in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
            set_formatter(FormatStrFormatter("%g"))  # 30, 40, 100, not 3x10^1
    fig.tight_layout()
    return _png(fig)


def _legend(ax, plt) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=STATE_STYLE[s][0], lw=STATE_STYLE[s][1], label=s)
        for s in ("finished", "pruned", "failed")
    ]
    handles.append(Line2D([], [], color="tab:orange", marker="x", ls="", label="pruned here"))
    handles.append(Line2D([], [], color="0.8", ls="--", label="milestone"))
    ax.legend(handles=handles, fontsize=8, loc="best")


def _spans_decades(view: SweepView) -> bool:
    values = [v for t in view.trials for _, v in t.history if v > 0]
    return (
        bool(values)
        and len(values) == sum(len(t.history) for t in view.trials)
        and (max(values) / min(values) > 10)
    )


def bar_plot(counts: dict[str, float], title: str, xlabel: str, colour: str) -> bytes:
    """Horizontal bars, largest on top: prune reasons or parameter importances."""
    plt = pyplot()
    items = list(counts.items())[::-1]
    fig, ax = plt.subplots(figsize=(5.2, 0.45 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [v for _, v in items], color=colour)
    for i, (_, v) in enumerate(items):
        ax.text(v, i, f" {v:g}", va="center", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.margins(x=0.15)
    fig.tight_layout()
    return _png(fig)
