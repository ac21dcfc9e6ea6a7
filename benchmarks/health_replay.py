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


def rules(a: RecordArrays, m: MonitorConfig) -> dict[str, np.ndarray]:
    """Each rule of condition_at on every record, in condition_at's order of priority."""
    near_half = (np.abs(a.g - 0.5) < m.stall_band) & (np.abs(a.d - 0.5) < m.stall_band)
    return {
        "diverged": ~a.finite,
        "d_dominates": (a.g < m.d_dominates_g_score) & (a.d > m.d_dominates_d_score),
        "g_dominates": a.g > m.g_dominates_g_score,
        "mode_collapse": a.diversity < m.collapse_diversity,
        "stall": near_half & (a.coverage < m.stall_coverage),
    }


def conditions(a: RecordArrays, m: MonitorConfig) -> np.ndarray:
    """condition_at for every record, as codes of HEALTH_STATES (first match wins)."""
    masks = rules(a, m)
    return np.select(list(masks.values()), [CODES[n] for n in masks], default=CODES["ok"])


def _streaks(a: RecordArrays, values: np.ndarray) -> np.ndarray:
    """Length of the run of equal values ending at each record, within each run."""
    new_streak = np.ones(len(values), dtype=bool)
    new_streak[1:] = values[1:] != values[:-1]
    new_streak[a.starts] = True
    start = np.maximum.accumulate(np.where(new_streak, np.arange(len(values)), 0))
    return np.arange(len(values)) - start + 1


def verdicts(a: RecordArrays, m: MonitorConfig) -> np.ndarray:
    """HealthMonitor.update for every record: a mode once it has held `patience` points."""
    cond = conditions(a, m)
    streak = _streaks(a, cond)
    report = (cond == CODES["diverged"]) | ((cond != CODES["ok"]) & (streak >= m.patience))
    return np.where(report, cond, CODES["ok"])


def _first_step(a: RecordArrays, stops: np.ndarray) -> np.ndarray:
    out = np.full(len(a.names), math.inf)
    np.minimum.at(out, a.run[stops], a.step[stops])
    return out


def first_flag_steps(a: RecordArrays, m: MonitorConfig) -> np.ndarray:
    """Per run, the step at which the pruner stops it (inf: never); as `first_flag`."""
    v = verdicts(a, m)
    return _first_step(a, (v == CODES["diverged"]) | ((v != CODES["ok"]) & (a.step >= HEALTH_FROM)))


def solo_flag_steps(a: RecordArrays, m: MonitorConfig) -> dict[str, np.ndarray]:
    """Per failure mode, the step at which that rule ALONE would stop each run (inf: never).

    A diagnostic, not the verdict: it shows which rules see a failure, also where a
    rule of higher priority reports it first.
    """
    out = {}
    for name, mask in rules(a, m).items():
        if name == "diverged":
            continue
        held = mask & (_streaks(a, mask) >= m.patience)
        out[name] = _first_step(a, held & (a.step >= HEALTH_FROM))
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
