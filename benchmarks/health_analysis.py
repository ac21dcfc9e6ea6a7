"""Analysis of the calibration set: labels, detector recall and false alarms, rank correlations.

Health is recomputed from the raw eval records by replaying them through
`gan_core.monitor.HealthMonitor` with a given `MonitorConfig`, so every number
here is what the shipped monitor code would have said, for any thresholds.

A run is *flagged by step s* when the pruner of pipelines/sweep/pruning.py would have
stopped it by then: the monitor said "diverged" at some eval point <= s, or
reported a failure mode at an eval point between HEALTH_FROM and s.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.stats import spearmanr

from gan_core.config import MonitorConfig
from gan_core.monitor import HealthMonitor

MILESTONES = (500, 1000)
END = 10**9  # "by the end of the run": the pruner acts at every eval point from HEALTH_FROM on
CHECKS = (*MILESTONES, END)
HEALTH_FROM = 500  # pipelines' pruning.health_from default: failure modes stop trials from here
MAX_FALSE_ALARMS = 0.05  # the target on the best quarter
TARGET_RECALL = 0.9  # at step 1000

# End-state labels, fixed before any detector setting was scored (the definitions):
# a run failed when its final objective is far worse than its data set's best quarter, or
# when a known failure is visible at the end.
OBJECTIVE_FACTOR = 3.0  # failed: final objective > 3x the median of the data set's best quarter
POINTS_MAX_COVERAGE = 0.25  # failed: at most a quarter of the modes covered at the end ...
POINTS_MIN_HQ = 2.0  # ... or < 2 % high quality: a uniform spray over grid25's square gets 1.45 %
MODES = {"ring8": 8, "grid25": 25}
IMAGE_MIN_CLASS_COVERAGE = 0.5  # failed: the generated digits hit at most half the classes


# --- labels -------------------------------------------------------------------


def final_objective(run: dict) -> float:
    """The last record's objective; +inf for a run that diverged (NaN) or stopped early."""
    last = run["records"][-1]
    value = float(last["objective"])
    if not math.isfinite(value) or last["step"] < run["steps"]:
        return math.inf
    return value


def best_quarter(runs: list[dict]) -> set[str]:
    """Names of the best quarter (rounded up) by final objective, within each data set."""
    out: set[str] = set()
    for data in sorted({r["data"] for r in runs}):
        group = sorted((r for r in runs if r["data"] == data), key=final_objective)
        out.update(r["name"] for r in group[: math.ceil(len(group) / 4)])
    return out


def end_failure(run: dict, quarter_median: float) -> str | None:
    """Why the run's end state counts as failed, or None when it ended good."""
    last, objective = run["records"][-1], final_objective(run)
    if not math.isfinite(objective):
        return "diverged"
    if objective > OBJECTIVE_FACTOR * quarter_median:
        return f"objective {objective / quarter_median:.1f}x best quarter"
    if run["family"] == "points":
        if last["coverage"] <= POINTS_MAX_COVERAGE:
            return f"{last['metric/modes']:.0f}/{MODES[run['data']]} modes"
        if last["metric/hq_percent"] < POINTS_MIN_HQ:
            return f"{last['metric/hq_percent']:.1f} % high quality"
    elif last.get("metric/class_coverage", 1.0) <= IMAGE_MIN_CLASS_COVERAGE:
        return f"class coverage {last['metric/class_coverage']:.1f}"
    return None  # tables and unlabelled images: the objective alone says it


def label_runs(runs: list[dict]) -> dict[str, dict]:
    """name -> {"failed": reason or None, "best_quarter": bool} for every run."""
    quarter = best_quarter(runs)
    labels = {}
    for data in {r["data"] for r in runs}:
        group = [r for r in runs if r["data"] == data]
        medians = [final_objective(r) for r in group if r["name"] in quarter]
        median = float(np.median(medians))
        for r in group:
            labels[r["name"]] = {
                "failed": end_failure(r, median),
                "best_quarter": r["name"] in quarter,
            }
    return labels


# --- the detector -------------------------------------------------------------


def replay(records: list[dict], cfg: MonitorConfig) -> list[tuple[int, str]]:
    """(step, health) at every eval point, as a fresh monitor with `cfg` reports them."""
    monitor = HealthMonitor(cfg)
    return [(r["step"], monitor.update(r)) for r in records]


def first_flag(verdicts: list[tuple[int, str]]) -> tuple[int, str] | None:
    """The eval point where the pruner would stop the run, and why; None if never."""
    for step, health in verdicts:
        if health == "diverged" or (health != "ok" and step >= HEALTH_FROM):
            return step, health
    return None


@dataclasses.dataclass
class DetectorScore:
    """Shares of runs flagged by each step of CHECKS (the milestones, then END: ever)."""

    recall: dict[int, float]  # step -> share of failed runs flagged by then
    false_alarms: dict[int, float]  # step -> share of best-quarter runs flagged by then
    good_flagged: dict[int, float]  # step -> share of all good-ending runs flagged by then


def score_flags(flag_steps: dict[str, float], labels: dict) -> DetectorScore:
    """Score first-flag steps (inf: never flagged) of the runs named in `labels`."""

    def share(names: list[str], step: int) -> float:
        hit = [n for n in names if flag_steps[n] <= step]
        return len(hit) / len(names) if names else math.nan

    failed = [n for n, lab in labels.items() if lab["failed"]]
    quarter = [n for n, lab in labels.items() if lab["best_quarter"]]
    good = [n for n, lab in labels.items() if not lab["failed"]]
    return DetectorScore(
        recall={m: share(failed, m) for m in CHECKS},
        false_alarms={m: share(quarter, m) for m in CHECKS},
        good_flagged={m: share(good, m) for m in CHECKS},
    )


def share_interval(hits: list[bool], n_boot: int = 1000) -> tuple[float, float]:
    """A 90 % bootstrap interval of the share of True in `hits` (resampling runs, seed 0)."""
    if not hits:
        return math.nan, math.nan
    rng = np.random.default_rng(0)
    draws = np.asarray(hits, dtype=float)[rng.integers(0, len(hits), (n_boot, len(hits)))]
    return tuple(float(q) for q in np.percentile(draws.mean(axis=1), [5, 95]))


def flags_of(runs: list[dict], cfg: MonitorConfig) -> dict[str, tuple[int, str] | None]:
    """Run name -> (step, mode) of its first flag with `cfg`, replayed through HealthMonitor."""
    return {r["name"]: first_flag(replay(r["records"], cfg)) for r in runs}


def score_detector(runs: list[dict], labels: dict, cfg: MonitorConfig) -> DetectorScore:
    flags = flags_of(runs, cfg)
    steps = {n: math.inf if f is None else f[0] for n, f in flags.items()}
    return score_flags(steps, {r["name"]: labels[r["name"]] for r in runs})


# --- rank correlation -----------------------------------------------------------


def objective_at(run: dict, step: int) -> float:
    """The objective at an eval step; +inf once the run has diverged or stopped before it."""
    for r in run["records"]:
        if r["step"] == step:
            value = float(r["objective"])
            return value if math.isfinite(value) else math.inf
    return math.inf


def spearman(runs: list[dict], step: int) -> float:
    """Spearman's rho between the objective at `step` and at the end (inf ranks last)."""
    early = [objective_at(r, step) for r in runs]
    end = [final_objective(r) for r in runs]
    if len(runs) < 3:
        return math.nan
    return float(spearmanr(early, end).statistic)


def spearman_interval(runs: list[dict], step: int, n_boot: int = 1000) -> tuple[float, float]:
    """A 90 % bootstrap interval of the rho above (resampling runs, seed 0)."""
    rng = np.random.default_rng(0)
    values = []
    for _ in range(n_boot):
        sample = [runs[i] for i in rng.integers(0, len(runs), len(runs))]
        rho = spearman(sample, step)
        if math.isfinite(rho):
            values.append(rho)
    if not values:
        return math.nan, math.nan
    return float(np.percentile(values, 5)), float(np.percentile(values, 95))


def eval_steps(runs: list[dict]) -> list[int]:
    steps = sorted({r["step"] for run in runs for r in run["records"]})
    return [s for s in steps if s < max(steps)]
