"""Grid search of the monitor's thresholds on the labelled calibration set.

Every setting of GRID is replayed through the real HealthMonitor (records up to
the last milestone only: later points cannot change a flag by then). The rule:
maximise recall at the last milestone, then at the first, subject to false alarms
on the best quarter <= MAX_FALSE_ALARMS at every milestone; among settings that
tie, flag the fewest good-ending runs, then stay closest to the previous defaults
(the smallest change the data asks for).
"""

from __future__ import annotations

import dataclasses
import itertools

from health_analysis import MAX_FALSE_ALARMS, MILESTONES, DetectorScore, score_detector

from gan_core.config import MonitorConfig

GRID: dict[str, tuple] = {
    "patience": (1, 2, 3),
    "d_dominates_g_score": (0.05, 0.1, 0.15, 0.2, 0.25),
    "d_dominates_d_score": (0.75, 0.8, 0.85, 0.9),
    "g_dominates_g_score": (0.6, 0.7, 0.8, 0.9),
    "collapse_diversity": (0.05, 0.1, 0.15, 0.2, 0.3),
    "stall_band": (0.02, 0.05, 0.1, 0.2),
    "stall_coverage": (0.0, 0.05, 0.1, 0.2, 0.3),
}


def settings(base: MonitorConfig, grid: dict[str, tuple] = GRID):
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        yield dataclasses.replace(base, **dict(zip(keys, values, strict=True)))


def _early(runs: list[dict]) -> list[dict]:
    """Runs cut after the last milestone: the flags up to it need nothing later."""
    last = max(MILESTONES)
    return [{**r, "records": [x for x in r["records"] if x["step"] <= last]} for r in runs]


def _distance(cfg: MonitorConfig, base: MonitorConfig, grid: dict[str, tuple]) -> float:
    """How far a setting moves from `base`, each key scaled by its grid's span."""
    total = 0.0
    for key, values in grid.items():
        span = (max(values) - min(values)) or 1.0
        total += abs(getattr(cfg, key) - getattr(base, key)) / span
    return total


def rank_key(score: DetectorScore, cfg: MonitorConfig, base: MonitorConfig, grid) -> tuple:
    first, last = MILESTONES[0], MILESTONES[-1]
    return (
        -score.recall[last],
        -score.recall[first],
        score.good_flagged[last],
        score.good_flagged[first],
        _distance(cfg, base, grid),
    )


def feasible(score: DetectorScore) -> bool:
    return all(score.false_alarms[m] <= MAX_FALSE_ALARMS for m in MILESTONES)


def tune(
    runs: list[dict],
    labels: dict,
    base: MonitorConfig | None = None,
    grid: dict[str, tuple] = GRID,
) -> tuple[MonitorConfig, DetectorScore, int]:
    """The best feasible setting, its score on `runs`, and how many settings were tried."""
    base = base or MonitorConfig()
    early = _early(runs)
    sub = {r["name"]: labels[r["name"]] for r in runs}
    best, best_key, tried = None, None, 0
    for cfg in settings(base, grid):
        tried += 1
        score = score_detector(early, sub, cfg)
        if not feasible(score):
            continue
        key = rank_key(score, cfg, base, grid)
        if best_key is None or key < best_key:
            best, best_key = cfg, key
    if best is None:
        raise RuntimeError("no setting of the grid keeps false alarms within the target")
    return best, score_detector(runs, sub, best), tried


def leave_one_data_set_out(runs: list[dict], labels: dict, grid=GRID) -> list[tuple]:
    """Tune on all data sets but one, score on the one left out: how far the tuning generalises."""
    rows = []
    for data in sorted({r["data"] for r in runs}):
        train = [r for r in runs if r["data"] != data]
        test = [r for r in runs if r["data"] == data]
        cfg, _, _ = tune(train, labels, grid=grid)
        score = score_detector(test, {r["name"]: labels[r["name"]] for r in test}, cfg)
        rows.append((data, cfg, score))
    return rows
