"""Which trials stop early, and why: the rules (plain Python) and their Ray Tune scheduler.

Three rules, checked at each eval point a trial reports, each with the reason recorded:

1. `diverged`: a NaN/inf objective or the monitor's "diverged" verdict stops it at once.
2. A failure mode (d_dominates, g_dominates, mode_collapse, stall: gan_core/monitor.py)
   that the monitor reports from `health_from` (step 500) on stops it: the monitor already
   asks it to persist for `monitor.patience` eval points, and on the calibration set no
   best-quarter run was flagged at 500 or later (docs/health.md).
3. `rank@M`: at each milestone M (500, 1000, then doubling: docs/design.md) a trial whose
   objective lies in the worse `quantile` of all values seen at M stops.

Rule 3 is made "synchronous enough" without pausing anyone. ASHA promotes whoever reaches
a rung first (docs/design.md); here a milestone ranks nobody until it holds `min_peers` values.
A trial that arrives before that keeps training, and its value at M stays on the books: at
each later report it is judged against everything seen at M by then, once enough values
exist. So the first trials of a sweep are not promoted by arriving early, only spared
until there is something to compare them with; a late arrival that proves them worse stops
them at their next eval point (reason still `rank@M`). Values stay at M forever, also of
trials that were stopped or finished, so later trials face the whole history.

No rule fires at a trial's last step except `diverged`: stopping it there saves nothing,
and it counts as finished (its final health is recorded as a tag).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from pipelines.files import write_atomic
from pipelines.outcome import finite_or_none, sign
from search_spaces import Space

DIVERGED = "diverged"
RULES_FILE = "pruning.json"


class PruningRules:
    """The decisions, free of Ray, with a JSON-able state so a resumed sweep keeps them."""

    def __init__(
        self,
        milestones: tuple[int, ...],
        direction: str,
        max_steps: int,
        quantile: float = 0.5,
        min_peers: int = 3,
        health_modes: tuple[str, ...] = (),
        health_from: int = 500,
    ):
        self.milestones = tuple(milestones)
        self.sign = sign(direction)  # goodness = sign * objective
        self.max_steps = max_steps
        self.quantile = quantile
        self.min_peers = min_peers
        self.health_modes = tuple(health_modes)
        self.health_from = health_from
        self.values: dict[int, dict[str, float]] = {m: {} for m in self.milestones}
        self.judged: dict[str, list[int]] = {}
        self.reasons: dict[str, str] = {}

    @classmethod
    def from_space(cls, space: Space) -> PruningRules:
        p = space.pruning
        return cls(
            milestones=space.milestones,
            direction=space.direction,
            max_steps=space.budget.max_steps,
            quantile=p.quantile,
            min_peers=p.min_peers,
            health_modes=p.health,
            health_from=p.health_from,
        )

    def observe(self, trial_id: str, step: int, reported: Any, health: str) -> str | None:
        """Record one eval point of a trial; return the reason to stop it, or None."""
        if trial_id in self.reasons:  # a result replayed after a resume
            return self.reasons[trial_id]
        objective = finite_or_none(reported)  # missing, NaN or inf: the trial diverged
        if health == DIVERGED or objective is None:
            return self._stop(trial_id, DIVERGED)
        if step in self.values:
            self.values[step].setdefault(trial_id, objective)
        if step >= self.max_steps:
            return None
        if step >= self.health_from and health in self.health_modes:
            return self._stop(trial_id, health)
        return self._judge(trial_id)

    def _judge(self, trial_id: str) -> str | None:
        judged = self.judged.setdefault(trial_id, [])
        for m in self.milestones:
            seen = self.values[m]
            if m in judged or trial_id not in seen or len(seen) < self.min_peers:
                continue  # not there yet, done already, or too few to rank: ask again later
            judged.append(m)
            if self.is_worse(seen[trial_id], list(seen.values())):
                return self._stop(trial_id, f"rank@{m}")
        return None

    def is_worse(self, value: float, values: list[float]) -> bool:
        """In the worse `quantile` of `values` (ties with the cut-off go on)."""
        goodness = self.sign * np.asarray(values, dtype=float)
        return bool(self.sign * value < np.quantile(goodness, self.quantile))

    def _stop(self, trial_id: str, reason: str) -> str:
        self.reasons[trial_id] = reason
        return reason

    def forget(self, trial_id: str) -> None:
        """Drop a trial that a resumed Ray does not know (it started after the last snapshot)."""
        for seen in self.values.values():
            seen.pop(trial_id, None)
        self.judged.pop(trial_id, None)
        self.reasons.pop(trial_id, None)

    def keep_only(self, trial_ids: set[str]) -> list[str]:
        """Forget every trial not in `trial_ids`; returns the ones forgotten."""
        known = set(self.judged) | set(self.reasons) | {t for v in self.values.values() for t in v}
        gone = sorted(known - trial_ids)
        for trial_id in gone:
            self.forget(trial_id)
        return gone

    # --- state (its own file, so a resumed sweep judges the same) ------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "values": {str(m): dict(v) for m, v in self.values.items()},
            "judged": {t: list(ms) for t, ms in self.judged.items()},
            "reasons": dict(self.reasons),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for m, values in state["values"].items():
            self.values.setdefault(int(m), {}).update(values)
        self.judged = {t: list(ms) for t, ms in state["judged"].items()}
        self.reasons = dict(state["reasons"])


class MilestoneScheduler(FIFOScheduler):
    """Ray Tune's view of `PruningRules`: trials run in submission order, never paused.

    With a `folder` it keeps the rules' state in `<folder>/pruning.json`, written at every
    result rather than only with Ray's periodic experiment snapshot: a driver killed after
    a trial was pruned but before the next snapshot still knows it was pruned, and why,
    when the sweep resumes (Ray restarts such a trial from its checkpoint; the rules stop
    it again at its first report). Ray's copy of this scheduler is the one of the first
    start, so a resume reads the file back; trials the resumed Ray does not know (they
    started after its last snapshot) are forgotten before any trial runs."""

    def __init__(self, rules: PruningRules, metric: str = "objective", folder=None):
        super().__init__()
        self.rules = rules
        self._metric = metric
        self.path = Path(folder) / RULES_FILE if folder is not None else None
        self._reconciled = False

    def set_search_properties(self, metric: str | None, mode: str | None, **spec) -> bool:
        """Ray calls this at every start of the run, a resume's included."""
        if self.path is not None:
            load_rules(self.rules, self.path)
        return True  # metric and direction come from the space, not from TuneConfig

    def choose_trial_to_run(self, tune_controller):
        if not self._reconciled:  # the first call, before any trial runs, sees every trial
            self.reconcile({t.trial_id for t in tune_controller.get_trials()})  # Ray restored
        return super().choose_trial_to_run(tune_controller)

    def reconcile(self, known: set[str]) -> None:
        """Forget the trials Ray does not know (a resume: they began after its snapshot)."""
        self._reconciled = True
        if self.rules.keep_only(known):
            self.save()

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        # `done` marks Ray's repeat of a finished trial's last result; `failed` is a trial
        # that caught its own error (pipelines/sweep/trial.py): neither is a training result.
        if result.get("done") or result.get("state") == "failed" or "step" not in result:
            return TrialScheduler.CONTINUE
        health = str(result.get("health", "ok"))
        objective = result.get(self._metric)
        reason = self.rules.observe(trial.trial_id, int(result["step"]), objective, health)
        self.save()
        return TrialScheduler.STOP if reason else TrialScheduler.CONTINUE

    def save(self) -> None:
        if self.path is not None:
            save_rules(self.rules, self.path)

    def reason(self, trial_id: str) -> str | None:
        """Why the trial was stopped; None if it was not."""
        return self.rules.reasons.get(trial_id)

    def debug_string(self) -> str:
        return f"MilestoneScheduler: milestones {list(self.rules.milestones)}, {len(self.rules.reasons)} stopped"


def load_rules(rules: PruningRules, path: Path) -> None:
    """Take up the rules' state from their file, if a first start wrote one."""
    if path.is_file():
        rules.load_state_dict(json.loads(path.read_text()))


def save_rules(rules: PruningRules, path: Path) -> None:
    write_atomic(path, json.dumps(rules.state_dict()))
