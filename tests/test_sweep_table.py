"""The driver's book of trials and what it turns into: states, the table, the summary."""

from __future__ import annotations

import json
from types import SimpleNamespace

from pipelines.sweep.ledger import SweepLedger, load_rows
from pipelines.sweep.progress import progress_text
from pipelines.sweep.pruning import MilestoneScheduler, PruningRules
from pipelines.sweep.summary import summarize, summary_text, trials_table
from search_spaces import load_space


def make_ledger(tmp_path, space):
    sched = MilestoneScheduler(PruningRules.from_space(space), folder=tmp_path)
    return SweepLedger(
        sched, space.direction, space.budget.max_steps, space.budget.trials, tmp_path
    ), sched


def trial(tid, **params):
    return SimpleNamespace(trial_id=tid, config=params)


def report(ledger, t, step, objective, health="ok", **extra):
    """As Ray does: the scheduler decides on a result, then the callbacks see it."""
    result = {"step": step, "objective": objective, "health": health, **extra}
    decision = ledger.scheduler.on_trial_result(None, t, result)
    ledger.on_trial_result(0, [], t, result)
    return decision


def test_ledger_states_table_and_summary(tmp_path):
    space = load_space("tiny")  # milestones 40, 80; 120 steps; 6 trials
    ledger, sched = make_ledger(tmp_path, space)
    params = {"optim.lr_g": 1e-3, "optim.lr_d": 1e-3, "loss.type": "hinge"}
    done, cut, broken = trial("done", **params), trial("cut", **params), trial("broken", **params)
    for step, value in ((20, 9.0), (40, 5.0), (80, 3.0), (120, 2.0)):
        report(ledger, done, step, value, hostname="node-a")
    report(ledger, cut, 20, 8.0)
    assert report(ledger, cut, 40, 7.0) == "STOP"  # 2 results at 40 (min_peers 2): worse half
    ledger.on_trial_result(0, [], broken, {"step": 0, "state": "failed", "error": "DataError: x"})
    for t in (done, cut, broken):
        ledger.on_trial_complete(0, [], t)

    rows = {r.trial_id: r for r in load_rows(tmp_path)}  # what the folder's ledger.json says
    assert (rows["done"].state, rows["done"].steps, rows["done"].node) == (
        "finished",
        120,
        "node-a",
    )
    assert rows["done"].at_milestone == {40: 5.0, 80: 3.0} and rows["done"].best_objective == 2.0
    assert (rows["cut"].state, rows["cut"].reason, rows["cut"].steps) == ("pruned", "rank@40", 40)
    assert (rows["broken"].state, rows["broken"].error) == ("failed", "DataError: x")

    table = trials_table(list(rows.values()), space)
    assert list(table.columns[:9]) == [
        "trial_id",
        "state",
        "reason",
        "steps",
        "wall_s",
        "objective",
        "best_objective",
        "objective@40",
        "objective@80",
    ]
    assert table.loc[table.trial_id == "done", "optim.lr_g"].item() == 1e-3
    summary = summarize(table, space)
    assert summary["counts"] == {"finished": 1, "pruned": 1, "failed": 1, "running": 0}
    assert summary["prune_reasons"] == {"rank@40": 1}
    assert summary["steps_saved_by_pruning"] == 80  # the pruned trial stopped at 40 of 120
    assert summary["top"][0]["trial_id"] == "done"
    text = summary_text(summary, ["make ui"])
    assert "pruned by reason: rank@40 1" in text and "1. done" in text

    line = progress_text(ledger)
    assert "1 finished, 1 pruned (rank@40 1), 1 failed" in line and "best 2 (done)" in line


def test_resumed_ledger_reloads_and_drops_trials_ray_lost(tmp_path):
    space = load_space("tiny")
    ledger, sched = make_ledger(tmp_path, space)
    kept, lost = trial("kept", **{"optim.lr_g": 1e-3}), trial("lost", **{"optim.lr_g": 2e-3})
    report(ledger, kept, 40, 5.0)
    report(ledger, lost, 40, 9.0)

    again, sched2 = make_ledger(tmp_path, space)
    again.setup()  # a resumed driver: reads ledger.json
    sched2.set_search_properties(None, None)  # Ray's call at the resumed start: pruning.json
    assert set(again.rows) == {"kept", "lost"} and sched2.rules.values[40] == {
        "kept": 5.0,
        "lost": 9.0,
    }
    again.on_step_begin(0, [kept])  # the first step shows the trials Ray restored
    sched2.reconcile({kept.trial_id})  # the first choose_trial_to_run: the same trials
    assert set(again.rows) == {"kept"} and again.lost == ["lost"]
    assert sched2.rules.values[40] == {"kept": 5.0}
    state = json.loads((tmp_path / "ledger.json").read_text())
    assert [r["trial_id"] for r in state["rows"]] == ["kept", "lost"]  # saved at the next change
    report(again, kept, 60, 4.0)
    state = json.loads((tmp_path / "ledger.json").read_text())
    assert [r["trial_id"] for r in state["rows"]] == ["kept"] and state["lost"] == ["lost"]


def test_results_after_a_trial_ended_change_nothing(tmp_path):
    space = load_space("tiny")
    ledger, sched = make_ledger(tmp_path, space)
    t = trial("t")
    report(ledger, t, 40, 5.0)
    sched.rules.reasons["t"] = "stall"
    ledger.on_trial_complete(0, [], t)
    report(ledger, t, 60, 1.0)  # Ray resumed it after a driver crash; it is stopped again
    row = ledger.rows["t"]
    assert (row.state, row.steps, row.objective) == ("pruned", 40, 5.0)
