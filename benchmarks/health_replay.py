"""A vectorised replay of the monitor over every eval record at once, for the grid search.

Replaying tens of thousands of settings through `HealthMonitor` one record at a
time takes minutes; this computes the same verdicts with numpy on arrays of all
records. It mirrors `gan_core.monitor.condition_at` and `HealthMonitor.update`
rule for rule, and `check_against_monitor` compares the two on given settings
(the report runs it on the chosen setting and on random ones), so a change to
the monitor that is not made here too shows up as an error, not as wrong numbers.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from health_analysis import HEALTH_FROM, first_flag, replay

from gan_core.config import MonitorConfig
from gan_core.monitor import HEALTH_STATES

CODES = {name: i for i, name in enumerate(HEALTH_STATES)}  # ok = 0


@dataclasses.dataclass
class RecordArrays:
    """Every eval record of every run, flattened in run order."""

    names: list[str]
    run: np.ndarray  # index into names
    step: np.ndarray
    finite: np.ndarray  # loss/d, loss/g and objective all finite
    g: np.ndarray
    d: np.ndarray
    diversity: np.ndarray
    coverage: np.ndarray
    starts: np.ndarray  # index of each run's first record

    @classmethod
    def from_runs(cls, runs: list[dict]) -> RecordArrays:
        rows = [(i, x) for i, r in enumerate(runs) for x in r["records"]]

        def col(key: str, default: float) -> np.ndarray:
            return np.array([float(x.get(key, default)) for _, x in rows])

        watched = [col(k, 0.0) for k in ("loss/d", "loss/g", "objective")]
        run = np.array([i for i, _ in rows])
        return cls(
            names=[r["name"] for r in runs],
            run=run,
            step=col("step", 0),
            finite=np.logical_and.reduce([np.isfinite(w) for w in watched]),
            g=col("score/g", 0.5),
            d=col("score/d", 0.5),
            diversity=col("diversity_ratio", 1.0),
            coverage=col("coverage", 1.0),
            starts=np.flatnonzero(np.r_[True, run[1:] != run[:-1]]),
        )


def conditions(a: RecordArrays, m: MonitorConfig) -> np.ndarray:
    """condition_at for every record, as codes of HEALTH_STATES (first match wins)."""
    near_half = (np.abs(a.g - 0.5) < m.stall_band) & (np.abs(a.d - 0.5) < m.stall_band)
    rules = [
        ~a.finite,
        (a.g < m.d_dominates_g_score) & (a.d > m.d_dominates_d_score),
        a.g > m.g_dominates_g_score,
        a.diversity < m.collapse_diversity,
        near_half & (a.coverage < m.stall_coverage),
    ]
    names = ["diverged", "d_dominates", "g_dominates", "mode_collapse", "stall"]
    return np.select(rules, [CODES[n] for n in names], default=CODES["ok"])


def verdicts(a: RecordArrays, m: MonitorConfig) -> np.ndarray:
    """HealthMonitor.update for every record: a mode once it has held `patience` points."""
    cond = conditions(a, m)
    new_streak = np.ones(len(cond), dtype=bool)
    new_streak[1:] = cond[1:] != cond[:-1]
    new_streak[a.starts] = True
    start = np.maximum.accumulate(np.where(new_streak, np.arange(len(cond)), 0))
    streak = np.arange(len(cond)) - start + 1
    needed = np.where(cond == CODES["stall"], stall_patience(m), m.patience)
    report = (cond == CODES["diverged"]) | ((cond != CODES["ok"]) & (streak >= needed))
    return np.where(report, cond, CODES["ok"])


def stall_patience(m: MonitorConfig) -> int:
    return getattr(m, "stall_patience", m.patience)


def first_flag_steps(a: RecordArrays, m: MonitorConfig) -> np.ndarray:
    """Per run, the step at which the pruner stops it (inf: never); as `first_flag`."""
    v = verdicts(a, m)
    stops = (v == CODES["diverged"]) | ((v != CODES["ok"]) & (a.step >= HEALTH_FROM))
    out = np.full(len(a.names), math.inf)
    np.minimum.at(out, a.run[stops], a.step[stops])
    return out


def check_against_monitor(runs: list[dict], settings: list[MonitorConfig]) -> None:
    """Raise if the vectorised replay disagrees with HealthMonitor on any run and setting."""
    a = RecordArrays.from_runs(runs)
    for m in settings:
        fast = first_flag_steps(a, m)
        for i, r in enumerate(runs):
            flag = first_flag(replay(r["records"], m))
            slow = math.inf if flag is None else flag[0]
            if fast[i] != slow:
                raise AssertionError(
                    f"vectorised replay says {fast[i]} but HealthMonitor says {slow} "
                    f"for {r['name']} with {m}: mirror the monitor change in health_replay.py"
                )
