"""Pruning in a population sweep: the same `PruningRules`, owned by one named Ray actor.

In a plain sweep each Ray trial is one GAN and Ray's scheduler stops it (pipelines/sweep/
pruning.py: `MilestoneScheduler`). A population trial holds K members (budget.population,
docs/population.md) and a pruned member must leave its batch while the others train on,
so the worker needs the decision itself, at the eval point, before it trains another step.
A Ray Tune report cannot carry an answer back, so the rules live in a `PruningJudge`
actor: the worker asks it synchronously for each member at each eval point
(`observe`), and the driver asks it why a member was stopped (`PopulationScheduler.reason`)
when it settles the member's outcome (pipelines/outcome.decide). One set of rules judges
every member of the sweep, whichever population it is in, exactly as in a plain sweep.

The judge writes `pruning.json` at every decision, as the plain scheduler does, and a
resumed driver's judge reads it back, so a member pruned before a kill stays pruned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray
from ray.tune.schedulers import TrialScheduler

from pipelines.sweep.pruning import (
    RULES_FILE,
    MilestoneScheduler,
    PruningRules,
    load_rules,
    save_rules,
)

NAMESPACE = "gansweep"
_STARTED: dict[str, Any] = {}  # the driver's handles of the judges it started


def judge_name(folder: str | Path) -> str:
    return f"pruning-judge-{Path(folder).name}"


class PruningJudge:
    """The rules of one sweep, behind a Ray actor (`start_judge`)."""

    def __init__(self, rules: PruningRules, folder: str):
        self.rules = rules
        self.path = Path(folder) / RULES_FILE
        load_rules(self.rules, self.path)

    def observe(self, member_id: str, step: int, reported: Any, health: str) -> str | None:
        reason = self.rules.observe(member_id, step, reported, health)
        save_rules(self.rules, self.path)
        return reason

    def reason(self, member_id: str) -> str | None:
        return self.rules.reasons.get(member_id)

    def keep_only(self, member_ids: set[str]) -> list[str]:
        gone = self.rules.keep_only(member_ids)
        if gone:
            save_rules(self.rules, self.path)
        return gone


def start_judge(rules: PruningRules, folder: str | Path):
    """The sweep's judge, started by the driver (it dies with the driver; a resumed driver
    starts it again from pruning.json). No CPU: it must never wait for a trial's slot. The
    driver keeps its handle until `stop_judge`: Ray ends an actor nobody holds. If its node
    dies, Ray starts it again (it reads pruning.json back) and repeats the call in flight,
    which the rules answer as before (`PruningRules.observe` replays a decision)."""
    actor = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(PruningJudge)
    handle = actor.options(
        name=judge_name(folder), namespace=NAMESPACE, get_if_exists=True, max_concurrency=1
    ).remote(rules, str(folder))
    _STARTED[judge_name(folder)] = handle
    return handle


def find_judge(folder: str | Path):
    return ray.get_actor(judge_name(folder), namespace=NAMESPACE)


class PopulationScheduler(MilestoneScheduler):
    """Ray's scheduler of a population sweep: population trials run in submission order and
    are never stopped by Ray (their members are, by the judge, in the worker). `rules` here
    only names the milestones and the metric for the ledger; the rules' state is the
    judge's."""

    def __init__(self, rules: PruningRules, metric: str, folder, members_of):
        super().__init__(rules, metric=metric, folder=None)
        self.folder = str(folder)
        self.members_of = members_of  # Ray trial ids -> the member ids they hold
        self._judge = None

    def __getstate__(self) -> dict:  # an actor handle is no state (a resume finds it again)
        return {**self.__dict__, "_judge": None}

    @property
    def judge(self):
        if self._judge is None:
            self._judge = find_judge(self.folder)
        return self._judge

    def set_search_properties(self, metric: str | None, mode: str | None, **spec) -> bool:
        return True

    def reconcile(self, known: set[str]) -> None:
        self._reconciled = True
        ray.get(self.judge.keep_only.remote(self.members_of(known)))

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        return TrialScheduler.CONTINUE

    def reason(self, trial_id: str) -> str | None:
        return ray.get(self.judge.reason.remote(trial_id))

    def debug_string(self) -> str:
        return f"PopulationScheduler: milestones {list(self.rules.milestones)}"


def stop_judge(folder: str | Path) -> None:
    """At the end of the sweep (its state is in pruning.json)."""
    handle = _STARTED.pop(judge_name(folder), None)
    if handle is not None:
        ray.kill(handle)
