"""Grid search of the monitor's thresholds on the labelled calibration set.

The rule: among the settings of GRID whose false alarms on the best quarter stay
<= MAX_FALSE_ALARMS at step 500, at step 1000 and over the whole run (the pruner
watches health from step 500 to the end), take the one with the highest recall
at step 1000 (the issue's target), then by the end; among ties, the one that
flags the fewest good-ending runs (a margin against false alarms), then the one
with the higher recall at step 500, then the one where fewer eval points of
good-ending runs meet any failure rule (a margin), then the one where more
rules see each failure on their own (redundancy: a verdict that does not hang
on one signal, and a stall rule that stays on where it costs nothing), then the
one closest to the previous defaults (the smallest change the data ask for). Verdicts come from the vectorised replay,
checked against HealthMonitor itself (health_replay.check_against_monitor).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from health_analysis import (
    END,
    MAX_FALSE_ALARMS,
    MILESTONES,
    DetectorScore,
    score_flags,
)
from health_replay import (
    RecordArrays,
    check_against_monitor,
    first_flag_steps,
    rules,
    solo_flag_steps,
)

from gan_core.config import MonitorConfig

GRID: dict[str, tuple] = {
    "patience": (1, 2, 3),
    "d_dominates_g_score": (0.05, 0.1, 0.15, 0.2, 0.25, 0.3),
    "d_dominates_d_score": (0.7, 0.75, 0.8, 0.85, 0.9),
    "g_dominates_g_score": (0.6, 0.7, 0.8, 0.9),
    "collapse_diversity": (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5),
    "stall_band": (0.01, 0.02, 0.05, 0.1, 0.2),
    "stall_coverage": (0.0, 0.05, 0.1, 0.2, 0.3),  # 0 turns the stall rule off
}
PREVIOUS_DEFAULTS = MonitorConfig(
    patience=2,
    d_dominates_g_score=0.1,
    d_dominates_d_score=0.9,
    g_dominates_g_score=0.9,
    collapse_diversity=0.1,
    stall_band=0.2,
    stall_coverage=0.1,
)


def settings(grid: dict[str, tuple] = GRID, base: MonitorConfig = PREVIOUS_DEFAULTS):
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        yield dataclasses.replace(base, **dict(zip(keys, values, strict=True)))


def distance(cfg: MonitorConfig, grid: dict[str, tuple] = GRID) -> float:
    """How far a setting moves from the previous defaults, each key scaled by its grid's span."""
    total = 0.0
    for key, values in grid.items():
        span = (max(values) - min(values)) or 1.0
        total += abs(getattr(cfg, key) - getattr(PREVIOUS_DEFAULTS, key, 0)) / span
    return total


def feasible(score: DetectorScore) -> bool:
    return all(v <= MAX_FALSE_ALARMS for v in score.false_alarms.values())


def redundancy(arrays: RecordArrays, failed: np.ndarray, cfg: MonitorConfig) -> int:
    """(failed run, rule) pairs where the rule alone flags the run by the last milestone."""
    solo = solo_flag_steps(arrays, cfg)
    return int(sum((steps[failed] <= MILESTONES[-1]).sum() for steps in solo.values()))


def near_misses(arrays: RecordArrays, good: np.ndarray, cfg: MonitorConfig) -> int:
    """Eval points of good-ending runs that meet some failure rule, persistent or not.

    Fewer means more room between the thresholds and healthy training: a margin.
    """
    hit = np.logical_or.reduce(
        [mask for name, mask in rules(arrays, cfg).items() if name != "diverged"]
    )
    return int((hit & good[arrays.run]).sum())


def rank_key(score: DetectorScore, cfg: MonitorConfig, grid, margin: int, redundant: int):
    first, last = MILESTONES[0], MILESTONES[-1]
    return (
        -score.recall[last],
        -score.recall[END],
        score.good_flagged[END],
        score.good_flagged[last],
        -score.recall[first],
        margin,
        -redundant,
        distance(cfg, grid),
    )


@dataclasses.dataclass
class Tuned:
    cfg: MonitorConfig
    score: DetectorScore
    tried: int
    feasible: int


def tune(runs: list[dict], labels: dict, grid: dict[str, tuple] = GRID) -> Tuned:
    """The best feasible setting of `grid` on `runs` (see the module's docstring)."""
    arrays = RecordArrays.from_runs(runs)
    sub = {r["name"]: labels[r["name"]] for r in runs}
    failed = np.array([bool(sub[n]["failed"]) for n in arrays.names])
    best, best_key, tried, n_feasible = None, None, 0, 0
    for cfg in settings(grid):
        tried += 1
        steps = dict(zip(arrays.names, first_flag_steps(arrays, cfg), strict=True))
        score = score_flags(steps, sub)
        if not feasible(score):
            continue
        n_feasible += 1
        margin = near_misses(arrays, ~failed, cfg)
        key = rank_key(score, cfg, grid, margin, redundancy(arrays, failed, cfg))
        if best_key is None or key < best_key:
            best, best_key = (cfg, score), key
    if best is None:
        raise RuntimeError("no setting of the grid keeps false alarms within the target")
    rng = np.random.default_rng(0)
    spot_checks = [c for c in settings(grid) if rng.random() < 20 / tried]
    check_against_monitor(runs, [best[0], *spot_checks])
    return Tuned(best[0], best[1], tried, n_feasible)


def leave_one_data_set_out(
    runs: list[dict], labels: dict, grid=GRID, within_family: bool = False
) -> list[tuple]:
    """Tune on all data sets but one, score on the one left out: how far the tuning generalises.
    Rows of (data set left out, its tuned setting, its score, its runs' first-flag steps).

    within_family: tune only on the other data sets of the left-out one's family (images,
    points, tables): thresholds per family, chosen by the same rule (issue 14). A data set
    alone in its family has nothing to be tuned on and gets no row.
    """
    rows = []
    for data in sorted({r["data"] for r in runs}):
        test = [r for r in runs if r["data"] == data]
        family = test[0]["family"]
        train = [
            r for r in runs if r["data"] != data and (not within_family or r["family"] == family)
        ]
        if not train:
            continue  # nothing to tune on: the records hold one data set (of this family) so far
        cfg = tune(train, labels, grid).cfg
        arrays = RecordArrays.from_runs(test)
        steps = dict(zip(arrays.names, first_flag_steps(arrays, cfg), strict=True))
        score = score_flags(steps, {r["name"]: labels[r["name"]] for r in test})
        rows.append((data, cfg, score, steps))
    return rows
