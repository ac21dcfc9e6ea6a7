"""Ray Tune's OptunaSearch, told the truth about how each trial ended.

Ray hands a trial its scheduler stopped to the searcher as complete, with its early
value (TuneController calls `on_trial_complete` with the last result; docs/design.md), so TPE would mix 500-step and 2000-step scores and could call a
pruned trial the best. Here Optuna hears:

- COMPLETE with the final value only for trials that ran to the end,
- PRUNED for trials the scheduler stopped (TPE still learns from their intermediate
  values, which Optuna ranks below every complete trial),
- FAIL for trials that raised or never reported a finite value,
as `pipelines.outcome.decide` says: the same answer the ledger and MLflow record.

Intermediate values are reported with the GAN step, not Ray's report counter.

It is also where a trial's config is made: each sampled set of keys becomes the trial's
full, validated config once, written to the trial's folder (`TrialPlan.record_config`),
and the worker and the MLflow logger read it from there.
"""

from __future__ import annotations

import pickle
from typing import Any

from optuna.trial import TrialState
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from gan_core.config import population_role
from pipelines.outcome import FAILED, FINISHED, PRUNED, Outcome, decide, finite_or_none
from pipelines.sweep.members import (
    ENDED_KEY,
    MEMBER_ID_KEY,
    MEMBERS_KEY,
    member_id,
    member_records,
)
from pipelines.sweep.pruning import MilestoneScheduler
from pipelines.sweep.trial import TrialPlan

OPTUNA_STATE = {FINISHED: TrialState.COMPLETE, PRUNED: TrialState.PRUNED, FAILED: TrialState.FAIL}

LOST_IN_RESTART = "asked after the searcher's last snapshot; redone as another trial"


class PruneAwareOptunaSearch(OptunaSearch):
    def __init__(self, *args: Any, scheduler: MilestoneScheduler, plan: TrialPlan, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # The scheduler and the plan live in the same tuner.pkl, so the links survive
        # Tuner.restore; `save` leaves them out so a restore never swaps in stale copies.
        self._scheduler = scheduler
        self._plan = plan

    def suggest(self, trial_id: str) -> dict | str | None:
        sampled = super().suggest(trial_id)
        if isinstance(sampled, dict):  # not None (wait) or Searcher.FINISHED
            self._plan.record_config(trial_id, sampled)
        return sampled

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
        ended = self.outcome(trial_id, result, error)
        value = finite_or_none((result or {}).get(self.metric))
        final = value if ended.state == FINISHED else None  # only a finished trial has a value
        # what optuna-dashboard shows beside the sampled values (`make dashboard`)
        ot_trial.set_user_attr("trial_id", trial_id)
        if ended.reason:
            ot_trial.set_user_attr("prune_reason", ended.reason)
        self._ot_study.tell(ot_trial, final, state=OPTUNA_STATE[ended.state])
        self._completed_trials.add(trial_id)

    def outcome(self, trial_id: str, result: dict | None, error: bool) -> Outcome:
        """How the trial ended, from what Ray hands the searcher (its last result)."""
        result = result or {}
        failed = result.get("state") == "failed"
        message = str(result.get("error") or "failed") if failed else ""
        return decide(
            self._scheduler.reason(trial_id),
            message or ("the trial raised in Ray" if error else ""),
            reported="step" in result,
            final_value=finite_or_none(result.get(self.metric)),
        )

    def save(self, checkpoint_path: str) -> None:
        state = self.__dict__.copy()
        state.pop("_scheduler", None)
        state.pop("_plan", None)
        with open(checkpoint_path, "wb") as f:
            pickle.dump(state, f)

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        self._catch_up_with_storage()

    def _catch_up_with_storage(self) -> None:
        """The study's database (pipelines/sweep/study.py) may be ahead of Ray's last
        snapshot of this searcher, which a killed driver restores: a trial told after the
        snapshot is finished there (tell it nothing more), and a trial asked after it is
        running there but unknown here (Ray starts that work again as a new trial), so it
        is closed as FAIL instead of showing as running for ever."""
        storage, known = self._ot_study._storage, set()
        for trial_id, ot_trial in self._ot_trials.items():
            known.add(ot_trial._trial_id)
            if storage.get_trial(ot_trial._trial_id).state.is_finished():
                self._completed_trials.add(trial_id)
        for frozen in self._ot_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if frozen._trial_id not in known:
                storage.set_trial_user_attr(frozen._trial_id, "lost", LOST_IN_RESTART)
                storage.set_trial_state_values(frozen._trial_id, TrialState.FAIL)

    @property
    def study(self):
        """The Optuna study (the sampler's view of the sweep)."""
        return self._ot_study


class PopulationOptunaSearch(PruneAwareOptunaSearch):
    """The searcher of a population sweep (budget.population K > 1): each Ray trial is a
    population, and Optuna is asked one trial per member. The first member samples every
    key; the others are enqueued with the first one's shape keys fixed (the keys members
    must share: gan_core/config.py `population_role`) and sample the rest, so TPE still
    chooses every member's member keys from the whole study. Each member is told COMPLETE,
    PRUNED or FAIL when it leaves its batch (its record says so: pipelines/sweep/members.py),
    from `outcome.decide` as a plain trial is."""

    def __init__(self, *args: Any, population: int, trials: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._population = population
        self._trials = trials  # members in all, as budget.trials counts trials
        self._asked = 0
        self._members: dict[str, list[str]] = {}  # Ray trial id -> its member ids

    def suggest(self, trial_id: str) -> dict | str | None:
        n = min(self._population, self._trials - self._asked)
        if n <= 0:
            return Searcher.FINISHED
        members: dict[str, dict] = {}
        shape: dict[str, Any] | None = None
        for k in range(n):
            mid = member_id(trial_id, k)
            if shape:  # the population's shape, as its first member drew it
                self._ot_study.enqueue_trial(shape)
            sampled = OptunaSearch.suggest(self, mid)
            if shape is None:
                shape = {key: v for key, v in sampled.items() if population_role(key) != "member"}
            self._plan.record_config(mid, sampled)
            members[mid] = sampled
        self._asked += n
        self._members[trial_id] = list(members)
        return {MEMBERS_KEY: members}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        for record in member_records(result):
            mid = record[MEMBER_ID_KEY]
            super().on_trial_result(mid, record)
            if record.get(ENDED_KEY):
                super().on_trial_complete(mid, record)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        """The population ended: members not yet told ended with it (its process died,
        or it ended before they reached an eval point)."""
        for mid in self._members.get(trial_id, []):
            super().on_trial_complete(mid, None, error)
