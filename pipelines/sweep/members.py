"""Members of a population as trials: their ids, their results inside a population's Ray
result, and the fan-out that shows each member to the ledger, MLflow and the progress
line as a trial of its own (docs/design.md, "Populations under the sweep").

A population trial (pipelines/sweep/population_trial.py) reports one Ray result per eval
point that holds the records of the members evaluated there, as JSON text under
`MEMBERS_KEY`: Ray flattens nested results with "/" for its searcher and scheduler, which
would mix member ids with metric names such as `score/g`. Each record is what a plain
trial reports (pipelines/sweep/trial.py: `result_of`, node, grid) plus its member id and
whether the member left its batch there (`ENDED_KEY`).
"""

from __future__ import annotations

import json

from ray import tune

from pipelines.outcome import RUNNING
from pipelines.sweep.ledger import TrialRef

MEMBERS_KEY = "members"  # the member records of one population result (JSON text)
MEMBER_ID_KEY = "member_id"
ENDED_KEY = "ended"  # the member left its batch at this record (finished, pruned, failed)


def member_id(population_id: str, k: int) -> str:
    """`<Ray trial id>-m<k>`: a member's trial id everywhere a trial id is shown."""
    return f"{population_id}-m{k}"


def member_ids_of(population_ids: set[str], population: int) -> set[str]:
    """Every member id the populations with these Ray trial ids can hold."""
    return {member_id(t, k) for t in population_ids for k in range(population)}


def member_records(result: dict) -> list[dict]:
    """The member records of a population's result (none in a result without them)."""
    text = result.get(MEMBERS_KEY)
    return json.loads(text) if isinstance(text, str) else []


def encode_members(records: list[dict]) -> str:
    return json.dumps(records, allow_nan=True)


def views_of(trial) -> list[TrialRef]:
    """The members of a population trial (Ray's trial.config: {members: {id: sampled}})."""
    members = trial.config.get(MEMBERS_KEY) or {}
    return [TrialRef(mid, dict(sampled)) for mid, sampled in members.items()]


class MemberCallbacks(tune.Callback):
    """The plain sweep's callbacks (ledger, MLflow runs, progress line), each member of a
    population trial handed to them as a trial: its row, its run, its outcome."""

    def __init__(self, ledger, runs, progress, population: int):
        self.ledger, self.runs, self.progress = ledger, runs, progress
        self.population = population
        self._reconciled = False

    def setup(self, **info) -> None:
        for callback in (self.ledger, self.runs, self.progress):
            callback.setup(**info)

    def on_step_begin(self, iteration, trials, **info) -> None:
        if not self._reconciled:  # the first step sees the trials Ray restored
            known = member_ids_of({t.trial_id for t in trials}, self.population)
            self.ledger.drop_unknown(known)
            self._reconciled = True

    def on_step_end(self, iteration, trials, **info) -> None:
        self.progress.on_step_end(iteration, trials, **info)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        for view in views_of(trial):
            self.ledger.on_trial_start(iteration, trials, view)
            self.runs.on_trial_start(iteration, trials, view)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        views = {v.trial_id: v for v in views_of(trial)}
        for record in member_records(result):
            view = views[record.pop(MEMBER_ID_KEY)]
            ended = bool(record.pop(ENDED_KEY, False))
            # A member's wall time is its population's (Ray times the trial, not the members):
            # members share it, so the summary's trial-seconds count it once per member.
            record.setdefault("time_total_s", result.get("time_total_s", 0.0))
            if self.ledger.row(view).state != RUNNING:
                continue  # said again by a resumed population: the book has it
            self.ledger.on_trial_result(iteration, trials, view, record)
            self.runs.on_trial_result(iteration, trials, view, record)
            if ended:
                self.end(iteration, trials, view, "")

    def end(self, iteration, trials, view: TrialRef, error: str) -> None:
        """A member's outcome, settled once (outcome.decide), then its run closed."""
        row = self.ledger.row(view)
        self.ledger.settle(row, error or row.error)
        self.runs.on_trial_complete(iteration, trials, view)
        self.progress.on_trial_complete(iteration, trials, view)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._end_the_rest(iteration, trials, trial, "")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        from pipelines.sweep.ledger import ray_error

        self._end_the_rest(iteration, trials, trial, ray_error(trial))

    def _end_the_rest(self, iteration, trials, trial, error: str) -> None:
        """Members still running when their population ended: their process died (error),
        or it ended before they reached an eval point (outcome.decide: failed)."""
        for view in views_of(trial):
            if self.ledger.row(view).state == RUNNING:
                self.end(iteration, trials, view, error)

    def on_experiment_end(self, trials, **info) -> None:
        for callback in (self.ledger, self.runs, self.progress):
            callback.on_experiment_end(trials, **info)
