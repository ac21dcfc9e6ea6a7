"""The pruning rules, their Ray scheduler, and what Optuna is told about each trial."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
from optuna.trial import TrialState
from ray.tune.schedulers import TrialScheduler

from gan_core.config import ConfigError, GanConfig
from pipelines.sweep.pruning import MilestoneScheduler, PruningRules
from pipelines.sweep.sampling import define_by_run, sampler_for
from pipelines.sweep.searcher import PruneAwareOptunaSearch
from pipelines.sweep.trial import CONFIG_FILE, TrialPlan
from search_spaces import load_space

MODES = ("d_dominates", "g_dominates", "mode_collapse", "stall")


def rules(**kw) -> PruningRules:
    args = dict(
        milestones=(500, 1000),
        direction="min",
        max_steps=2000,
        quantile=0.5,
        min_peers=3,
        health_modes=MODES,
        health_from=500,
    )
    return PruningRules(**{**args, **kw})


def test_non_finite_objective_or_diverged_health_stops_at_once():
    r = rules()
    assert r.observe("a", 250, math.nan, "ok") == "diverged"
    assert r.observe("b", 250, 1.0, "diverged") == "diverged"
    assert r.observe("c", 2000, math.inf, "ok") == "diverged"  # even at the last step
    assert r.reasons == {"a": "diverged", "b": "diverged", "c": "diverged"}


def test_failure_mode_stops_only_from_health_from_and_if_enabled():
    r = rules()
    assert r.observe("a", 250, 1.0, "d_dominates") is None  # before step 500: may recover
    assert r.observe("a", 750, 1.0, "d_dominates") == "d_dominates"
    assert rules(health_modes=("stall",)).observe("b", 750, 1.0, "mode_collapse") is None
    assert r.observe("c", 2000, 1.0, "stall") is None  # the last step: nothing left to save


def test_rank_waits_for_peers_then_judges_early_arrivals_late():
    r = rules()
    assert r.observe("first", 500, 5.0, "ok") is None  # alone at 500: cannot rank, goes on
    assert r.observe("second", 500, 3.0, "ok") is None
    # the third arrival is ranked at once: median of {5, 3, 1} is 3, 1 is better
    assert r.observe("third", 500, 1.0, "ok") is None
    # `first` (worst at 500) is judged at its next report, with the reason of the milestone
    assert r.observe("first", 750, 0.5, "ok") == "rank@500"
    assert r.observe("second", 750, 0.5, "ok") is None  # equal to the cut-off: goes on
    assert r.observe("fourth", 500, 9.0, "ok") == "rank@500"  # late arrivals face everyone


def test_rank_uses_direction_and_does_not_rejudge():
    r = rules(direction="max", min_peers=2)
    r.observe("a", 500, 5.0, "ok")
    assert r.observe("b", 500, 1.0, "ok") == "rank@500"  # lower is worse when maximizing
    assert r.observe("a", 750, 0.0, "ok") is None  # a was judged at 500 already (better)
    assert r.judged["a"] == [500]


def test_no_rank_pruning_at_the_last_step():
    r = rules(milestones=(500,), max_steps=500, min_peers=2)
    r.observe("a", 500, 1.0, "ok")
    assert r.observe("b", 500, 9.0, "ok") is None  # finished, not pruned


def test_state_survives_json_and_replays_decisions():
    r = rules(min_peers=2)
    r.observe("a", 500, 1.0, "ok")
    r.observe("b", 500, 2.0, "ok")
    again = rules(min_peers=2)
    again.load_state_dict(json.loads(json.dumps(r.state_dict())))
    assert again.observe("b", 750, 0.1, "ok") == "rank@500"  # replayed, not re-decided
    assert again.values[500] == {"a": 1.0, "b": 2.0}
    again.forget("b")
    assert "b" not in again.values[500] and "b" not in again.reasons


def test_scheduler_skips_failed_and_repeated_results():
    sched = MilestoneScheduler(rules(min_peers=2))
    trial = SimpleNamespace(trial_id="t")
    failed = {"step": 250, "objective": math.nan, "state": "failed", "health": "ok"}
    assert sched.on_trial_result(None, trial, failed) == TrialScheduler.CONTINUE
    assert (
        sched.on_trial_result(None, trial, {"step": 250, "objective": math.nan, "done": True})
        == TrialScheduler.CONTINUE
    )
    assert sched.reason("t") is None
    assert (
        sched.on_trial_result(None, trial, {"step": 250, "objective": math.nan})
        == TrialScheduler.STOP
    )
    assert sched.reason("t") == "diverged"


def tiny_plan(folder) -> TrialPlan:
    space = load_space("tiny")
    return TrialPlan(base=space.base.to_dict(), milestones=space.milestones, folder=str(folder))


def tiny_searcher(folder, cls=PruneAwareOptunaSearch, **extra):
    """A searcher of the tiny space as build_tuner wires it (in memory), and its scheduler."""
    space = load_space("tiny")
    sched = MilestoneScheduler(PruningRules.from_space(space))
    searcher = cls(
        define_by_run(space),
        metric="objective",
        mode="min",
        sampler=sampler_for(space),
        scheduler=sched,
        plan=tiny_plan(folder),
        **extra,
    )
    return searcher, sched


@pytest.fixture()
def searcher_and_scheduler(tmp_path):
    return tiny_searcher(tmp_path)


def test_a_trial_config_is_built_once_where_it_is_sampled(searcher_and_scheduler, tmp_path):
    """The searcher writes the full config beside the trial's checkpoint; the worker and the
    MLflow logger read that file, so what a trial trains is what was sampled, exactly."""
    searcher, _ = searcher_and_scheduler
    sampled = searcher.suggest("t1")
    cfg = searcher._plan.trial_config("t1")
    assert (tmp_path / "trials" / "t1" / CONFIG_FILE).is_file()
    assert {k: cfg.get(k) for k in sampled} == sampled
    base = load_space("tiny").base
    assert cfg.train.steps == base.train.steps and cfg.data.source == base.data.source


def test_a_sampled_config_the_rules_refuse_fails_its_trial_with_the_message(tmp_path):
    """Two update ratios above 1 at once: the config rules refuse it where it is sampled;
    the trial then fails with that message (the sweep goes on), as it did in the worker."""
    plan = TrialPlan(base=GanConfig().to_dict(), milestones=(40,), folder=str(tmp_path))
    plan.record_config("bad", {"optim.d_steps_per_g": 2, "optim.g_steps_per_d": 2})
    with pytest.raises(ConfigError, match="set at most one of them above 1"):
        plan.trial_config("bad")


def test_optuna_hears_pruned_failed_and_complete_apart(searcher_and_scheduler):
    searcher, sched = searcher_and_scheduler
    for tid in ("pruned", "failed", "finished"):
        assert "optim.lr_g" in searcher.suggest(tid)
    # the pruned trial reported a better value than the finished one, at an earlier step
    searcher.on_trial_result("pruned", {"objective": 0.1, "step": 40})
    sched.rules.reasons["pruned"] = "rank@40"
    searcher.on_trial_complete("pruned", result={"objective": 0.1, "step": 40})
    searcher.on_trial_complete(
        "failed", result={"objective": math.nan, "state": "failed", "step": 0}
    )
    searcher.on_trial_result("finished", {"objective": 5.0, "step": 120})
    searcher.on_trial_complete("finished", result={"objective": 5.0, "step": 120})
    states = {t.number: t.state for t in searcher.study.trials}
    assert states == {0: TrialState.PRUNED, 1: TrialState.FAIL, 2: TrialState.COMPLETE}
    assert searcher.study.best_value == 5.0  # a pruned trial's early value is never "best"
    assert searcher.study.trials[0].intermediate_values == {40: 0.1}  # keyed by GAN step


def test_searcher_state_saves_without_the_scheduler(searcher_and_scheduler, tmp_path):
    searcher, sched = searcher_and_scheduler
    searcher.suggest("x")
    searcher.save(str(tmp_path / "s.pkl"))
    other_sched = MilestoneScheduler(sched.rules)
    plan = tiny_plan(tmp_path / "moved")
    fresh = PruneAwareOptunaSearch(
        define_by_run(load_space("tiny")),
        metric="objective",
        mode="min",
        scheduler=other_sched,
        plan=plan,
    )
    fresh.restore(str(tmp_path / "s.pkl"))
    assert fresh._scheduler is other_sched  # the live link is kept, not a stale copy
    assert fresh._plan is plan
    assert "x" in fresh._ot_trials


def test_a_population_is_asked_of_optuna_member_by_member_sharing_its_shape(tmp_path):
    """budget.population 4 over 6 trials: Ray trial p1 holds members p1-m0..m3 with one
    loss.type (a shape key) and their own learning rates, each with its config file; p2
    holds the last 2; then the searcher is done. Each member is told its own state."""
    from ray.tune.search import Searcher

    from pipelines.sweep.members import encode_members
    from pipelines.sweep.searcher import PopulationOptunaSearch

    searcher, sched = tiny_searcher(tmp_path, PopulationOptunaSearch, population=4, trials=6)
    members = searcher.suggest("p1")["members"]
    assert list(members) == ["p1-m0", "p1-m1", "p1-m2", "p1-m3"]
    assert len({m["loss.type"] for m in members.values()}) == 1
    assert len({m["optim.lr_g"] for m in members.values()}) == 4
    for mid, sampled in members.items():
        cfg = searcher._plan.trial_config(mid)
        assert {k: cfg.get(k) for k in sampled} == sampled
    fixed = [t.system_attrs.get("fixed_params") for t in searcher.study.trials]
    assert fixed[0] is None and fixed[1:] == [{"loss.type": members["p1-m0"]["loss.type"]}] * 3
    assert list(searcher.suggest("p2")["members"]) == ["p2-m0", "p2-m1"]
    assert searcher.suggest("p3") == Searcher.FINISHED

    sched.rules.reasons["p1-m0"] = "rank@40"
    records = [
        {"member_id": "p1-m0", "step": 40, "objective": 0.1, "ended": True},
        {"member_id": "p1-m1", "step": 120, "objective": 5.0, "ended": True},
        {"member_id": "p1-m2", "step": 40, "objective": 7.0, "ended": False},
    ]
    searcher.on_trial_result("p1", {"step": 120, "members": encode_members(records)})
    searcher.on_trial_complete("p1", error=True)  # its process died: the rest fail
    states = [t.state for t in searcher.study.trials[:4]]
    assert states == [TrialState.PRUNED, TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL]
    assert searcher.study.trials[2].intermediate_values == {40: 7.0}
