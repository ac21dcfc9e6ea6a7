"""Early rankings of healthy trials: which summary of a run's first eval points ranks runs as their end.

    .venv/bin/python benchmarks/health_ranking.py     # tables of docs/health.md, "Milestones"
    .venv/bin/python benchmarks/health_ranking.py --records benchmarks/results/health_calibration_large.json

Each variant maps a run's eval records up to a milestone to one number (lower is
better, as every objective here); Spearman's rho between that number and the end
objective is measured among the runs that end good (`health_analysis.label_runs`):
the runs the health verdict lets through, which the milestone rule must rank.
The end is the last record's objective (`final_objective`) and, as a check of how
noisy one eval point is, the mean of the last four eval points.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules, from any cwd

from health_analysis import final_objective, label_runs  # noqa: E402
from health_calibration import DEFAULT_OUT, load_runs  # noqa: E402
from health_report import _table, groups  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

MILESTONES = (500, 1000, 1500, 2000, 3000)
# each family's first milestone in the shipped spaces (stabilizers, mixture, tabular)
FIRST = {"image": 500, "points": 1000, "table": 500}


def curve(run: dict, until: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, objectives) of the eval points <= until; a non-finite objective reads +inf."""
    pts = [(x["step"], float(x["objective"])) for x in run["records"] if x["step"] <= until]
    steps = np.array([s for s, _ in pts], dtype=float)
    values = np.array([v if math.isfinite(v) else math.inf for _, v in pts])
    return steps, values


def last(k: int, how: Callable) -> Callable:
    return lambda steps, values: float(how(values[-k:]))


def ema(alpha: float) -> Callable:
    def summary(steps, values):
        out = values[0]
        for v in values[1:]:
            out = alpha * v + (1 - alpha) * out
        return float(out)

    return summary


def extrapolate(k: int, to: float, log_step: bool) -> Callable:
    """Fit log(objective) on step (or log step) over the last k points, read it at step `to`."""

    def summary(steps, values):
        x, y = steps[-k:], values[-k:]
        if not np.all(np.isfinite(y)) or len(x) < 2:
            return math.inf
        fx = np.log(x) if log_step else x
        slope, intercept = np.polyfit(fx, np.log(y), 1)
        at = math.log(to) if log_step else to
        return float(math.exp(min(intercept + slope * at, 50.0)))

    return summary


def relative_to_start(steps, values):
    """Objective now over the objective at the run's first eval point: progress since start."""
    return float(values[-1] / values[0]) if math.isfinite(values[0]) else math.inf


VARIANTS: dict[str, Callable] = {
    "raw (today)": lambda steps, values: float(values[-1]),
    "best so far": lambda steps, values: float(values.min()),
    "mean of last 3": last(3, np.mean),
    "mean of last 4": last(4, np.mean),
    "median of last 3": last(3, np.median),
    "median of last 4": last(4, np.median),
    "EMA 0.5": ema(0.5),
    "EMA 0.3": ema(0.3),
    "log-linear fit of last 4, at 4000": extrapolate(4, 4000, log_step=False),
    "power-law fit of last 4, at 4000": extrapolate(4, 4000, log_step=True),
    "power-law fit of all, at 4000": extrapolate(10**6, 4000, log_step=True),
    "relative to own start": relative_to_start,
}


def end_mean(run: dict, k: int = 4) -> float:
    """Mean of the last k objectives: the end, less the noise of a single eval point."""
    values = curve(run, run["steps"])[1]
    return float(np.mean(values[-k:])) if final_objective(run) < math.inf else math.inf


def rho(runs: list[dict], variant: Callable, step: int, end: Callable) -> float:
    if len(runs) < 3:
        return math.nan
    early = [variant(*curve(r, step)) for r in runs]
    return float(spearmanr(early, [end(r) for r in runs]).statistic)


def resamples(runs: list[dict], n_boot: int):
    """Bootstrap resamples of the runs (seed 0); those with < 3 distinct runs are skipped."""
    rng = np.random.default_rng(0)
    for _ in range(n_boot):
        idx = rng.integers(0, len(runs), len(runs))
        if len(set(idx)) >= 3:
            yield [runs[i] for i in idx]


def rho_interval(runs, variant, step, end, n_boot: int = 500) -> tuple[float, float]:
    """90 % bootstrap interval of rho over runs (`resamples`)."""
    values = []
    for sample in resamples(runs, n_boot):
        v = rho(sample, variant, step, end)
        if math.isfinite(v):
            values.append(v)
    return (float(np.percentile(values, 5)), float(np.percentile(values, 95))) if values else (
        math.nan, math.nan)  # fmt: skip


def paired_gain(runs, variant, step, end, n_boot: int = 1000) -> tuple[float, float, float]:
    """rho(variant) - rho(raw) at `step`, with a 90 % interval from the same bootstrap resamples."""
    raw = VARIANTS["raw (today)"]
    gains = []
    for sample in resamples(runs, n_boot):
        gain = rho(sample, variant, step, end) - rho(sample, raw, step, end)
        if math.isfinite(gain):
            gains.append(gain)
    point = rho(runs, variant, step, end) - rho(runs, raw, step, end)
    return point, float(np.percentile(gains, 5)), float(np.percentile(gains, 95))


def gain_table(runs: list[dict], end: Callable) -> str:
    """Each variant against today's raw objective, at each family's first milestone."""
    labels = label_runs(runs)
    rows = []
    for family, step in FIRST.items():
        good = [r for r in runs if r["family"] == family and not labels[r["name"]]["failed"]]
        if not good:
            continue  # a record file without this family
        for name, variant in VARIANTS.items():
            if name == "raw (today)":
                continue
            point, lo, hi = paired_gain(good, variant, step, end)
            rows.append(
                [f"{family} @{step} ({len(good)})", name, f"{point:+.2f} [{lo:+.2f}, {hi:+.2f}]"]
            )
    return _table(
        ["family, milestone (good-ending runs)", "variant", "rho gain over raw [90 % CI]"], rows
    )


def table(runs: list[dict], end: Callable, interval_at: int | None = None) -> str:
    labels = label_runs(runs)
    good = {g: [r for r in m if not labels[r["name"]]["failed"]] for g, m in groups(runs).items()}
    good.pop("all", None)
    rows = []
    for name, variant in VARIANTS.items():
        for group, members in good.items():
            cells = [name, f"{group} ({len(members)})"]
            for m in MILESTONES:
                cell = f"{rho(members, variant, m, end):.2f}"
                if m == interval_at:
                    lo, hi = rho_interval(members, variant, m, end)
                    cell += f" [{lo:.2f}, {hi:.2f}]"
                cells.append(cell)
            rows.append(cells)
    header = ["variant", "good-ending runs (n)"] + [f"rho @{m}" for m in MILESTONES]
    return _table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=Path, nargs="+", default=[DEFAULT_OUT],
                        help="calibration record files, analysed together (default: the first set)")  # fmt: skip
    runs = [r for path in parser.parse_args().records for r in load_runs(path)]
    print("## rho with the end objective (last eval point), good-ending runs only\n")
    print(table(runs, final_objective, interval_at=1000))
    print("\n## rho with the mean of the last four eval points, good-ending runs only\n")
    print(table(runs, end_mean))
    print("\n## gain over the raw objective (paired bootstrap), end = last eval point\n")
    print(gain_table(runs, final_objective))


if __name__ == "__main__":
    main()
