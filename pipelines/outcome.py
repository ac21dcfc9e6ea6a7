"""How a trial ended, decided once, and which finished trial is best, ranked once.

Every consumer reads these answers instead of deciding again: the Optuna searcher
(COMPLETE / PRUNED / FAIL), the ledger (and so the table, the summary and the progress
line), the trial's MLflow run (its `state` tag and run status) and, through MLflow, export
and the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

FINISHED, PRUNED, FAILED, RUNNING = "finished", "pruned", "failed", "running"
ENDED = (FINISHED, PRUNED, FAILED)
MLFLOW_STATUS = {FINISHED: "FINISHED", PRUNED: "KILLED", FAILED: "FAILED"}
NO_EVAL_POINT = "ended before its first eval point"

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    state: str  # finished | pruned | failed
    reason: str = ""  # why the scheduler stopped it (pruned only)
    error: str = ""  # what went wrong (failed only)

    @property
    def mlflow_status(self) -> str:
        return MLFLOW_STATUS[self.state]


def decide(
    prune_reason: str | None, error: str, reported: bool, final_value: float | None
) -> Outcome:
    """How a trial that Ray no longer runs ended.

    - pruned: the scheduler stopped it (pipelines/sweep/pruning.py), whatever came after;
    - failed: it raised or its worker died (`error`), it never reached an eval point, or
      its last value is not a finite number (the rules prune such a trial as diverged, so
      this is a safety net, not a path a sweep takes);
    - finished: it ran to its last step.
    """
    if prune_reason:
        return Outcome(PRUNED, reason=prune_reason)
    if error:
        return Outcome(FAILED, error=error)
    if not reported:
        return Outcome(FAILED, error=NO_EVAL_POINT)
    if final_value is None:
        return Outcome(FAILED, error="its last eval point has no finite objective")
    return Outcome(FINISHED)


def sign(direction: str) -> float:
    """+1 when larger is better, -1 when smaller is: goodness = sign * value."""
    return 1.0 if direction == "max" else -1.0


def rank_finished(
    trials: Iterable[T],
    state: Callable[[T], str],
    value: Callable[[T], Any],
    direction: str,
) -> list[T]:
    """The finished trials with a finite value, best first (ties keep their order). A
    pruned trial's value is an early one and a failed trial has none: neither competes."""
    s = sign(direction)
    scored = [
        (v, t)
        for t in trials
        if state(t) == FINISHED and (v := finite_or_none(value(t))) is not None
    ]
    return [t for _, t in sorted(scored, key=lambda vt: -s * vt[0])]


def finite_or_none(value: Any) -> float | None:
    """A reported metric as a float, or None when it is missing, not a number, NaN or inf."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
