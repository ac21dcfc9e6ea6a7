"""Ray Tune's OptunaSearch, told the truth about how each trial ended.

Ray hands a trial its scheduler stopped to the searcher as complete, with its early
value (DESIGN.md), so TPE would mix 500-step and 2000-step scores and could call a
pruned trial the best. Here Optuna hears:

- COMPLETE with the final value only for trials that ran to the end,
- PRUNED for trials the scheduler stopped (TPE still learns from their intermediate
  values, which Optuna ranks below every complete trial),
- FAIL for trials that raised or never reported a finite value.

Intermediate values are reported with the GAN step, not Ray's report counter.
"""

from __future__ import annotations

import pickle
from typing import Any

from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from pipelines.sweep.pruning import MilestoneScheduler, finite_or_none


class PruneAwareOptunaSearch(OptunaSearch):
    def __init__(self, *args: Any, scheduler: MilestoneScheduler, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # The scheduler lives in the same tuner.pkl, so the link survives Tuner.restore;
        # `save` leaves it out so a restore never swaps in a stale copy.
        self._scheduler = scheduler

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        value = finite_or_none(result.get(self.metric))
        if ot_trial is None or trial_id in self._completed_trials or value is None:
            return
        step = int(result.get("step", result.get("training_iteration", 0)))
        ot_trial.report(value, step)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or trial_id in self._completed_trials:
            return
        state, value = self.outcome(trial_id, result, error)
        self._ot_study.tell(ot_trial, value, state=state)
        self._completed_trials.add(trial_id)

    def outcome(
        self, trial_id: str, result: dict | None, error: bool
    ) -> tuple[TrialState, float | None]:
        result = result or {}
        value = finite_or_none(result.get(self.metric))
        if self._scheduler.reason(trial_id):
            return TrialState.PRUNED, None
        if error or result.get("state") == "failed" or value is None:
            return TrialState.FAIL, None
        return TrialState.COMPLETE, value

    def save(self, checkpoint_path: str) -> None:
        state = self.__dict__.copy()
        state.pop("_scheduler", None)
        with open(checkpoint_path, "wb") as f:
            pickle.dump(state, f)

    @property
    def study(self):
        """The Optuna study (the sampler's view of the sweep)."""
        return self._ot_study
