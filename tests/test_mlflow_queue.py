"""The driver's MLflow queue (pipelines/tracking/trial_runs.py) against real stores: a
server that goes away keeps the writes for later, a store that refuses one write costs
that write alone."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
from mlflow import MlflowClient

from gan_core.config import GanConfig
from pipelines.sweep.ledger import SweepLedger
from pipelines.sweep.pruning import MilestoneScheduler, PruningRules
from pipelines.sweep.trial import TrialPlan
from pipelines.tracking import store, trial_runs
from search_spaces import load_space


def sweep_parts(tmp_path, uri: str):
    """A ledger and the MLflow logger of a sweep of the tiny space, as build_tuner wires
    them, with the sweep's parent run in `uri`."""
    space = load_space("tiny")
    scheduler = MilestoneScheduler(PruningRules.from_space(space))
    ledger = SweepLedger(
        scheduler, space.direction, space.budget.max_steps, space.budget.trials, tmp_path
    )
    client = MlflowClient(uri)
    exp = store.experiment_id(client, "queue")
    parent = client.create_run(exp).info.run_id
    plan = TrialPlan(base=GanConfig().to_dict(), milestones=space.milestones, folder=str(tmp_path))
    logger = trial_runs.TrialRunLogger(ledger, plan, exp, parent, space.name, uri)
    return ledger, logger, client


def sampled_trial(logger):
    """A trial as the searcher hands it on: sampled keys, its full config in its folder."""
    trial = SimpleNamespace(trial_id="t1", config={"optim.lr_g": 1e-3})
    logger.plan.record_config(trial.trial_id, trial.config)
    return trial


def report(ledger, logger, trial, step: int, **extra) -> None:
    """One eval point as Ray hands it on: the scheduler, then the ledger, then MLflow."""
    result = {"step": step, "objective": 1.0 / step, "health": "ok", **extra}
    ledger.scheduler.on_trial_result(None, trial, result)
    ledger.on_trial_result(0, [], trial, result)
    logger.on_trial_result(0, [], trial, result)


def end(ledger, logger, trial) -> None:
    ledger.on_trial_complete(0, [], trial)
    logger.on_trial_complete(0, [], trial)


def objective_steps(client, logger, trial) -> list[int]:
    run_id = logger.run_ids[trial.trial_id]
    return [m.step for m in client.get_metric_history(run_id, "objective")]


def test_a_refused_write_is_reported_and_set_aside_and_the_rest_goes_on(tmp_path, capsys):
    """A metric name the store refuses (400 INVALID_PARAMETER_VALUE from SQLite's own
    validation): that one batch is set aside, named with its run and key; the later
    writes of the trial are not held back behind it."""
    ledger, logger, client = sweep_parts(tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}")
    trial = sampled_trial(logger)
    logger.on_trial_start(0, [], trial)
    report(ledger, logger, trial, 40, **{"../escape": 1.0})
    run_id = logger.run_ids["t1"]
    err = capsys.readouterr().err
    assert "refused" in err and run_id in err and "../escape" in err, err
    assert logger.pending == [] and logger.down_since is None

    report(ledger, logger, trial, 80)
    report(ledger, logger, trial, 120)
    end(ledger, logger, trial)
    assert objective_steps(client, logger, trial) == [80, 120]  # only step 40's batch lost
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["state"] == "finished"
    refused = json.loads((tmp_path / trial_runs.REFUSED_FILE).read_text())
    assert [(r["op"][0], r["op"][2], r["run_id"]) for r in refused] == [("metrics", 40, run_id)]
    assert "../escape" in refused[0]["error"]


@pytest.mark.slow
def test_a_server_that_went_away_gets_the_queued_writes_when_it_is_back(tmp_path, monkeypatch):
    """A real `mlflow server` on loopback, stopped mid-trial: the writes wait in the queue
    (nothing is set aside as refused), and reach the server, in order, once it is back."""
    from pipelines.ui import free_port, start_ui, stop_ui

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    db, port = f"sqlite:///{tmp_path / 'mlflow.db'}", free_port()
    server, url = start_ui(db, port=port)
    try:
        ledger, logger, client = sweep_parts(tmp_path, url)
        trial = sampled_trial(logger)
        logger.on_trial_start(0, [], trial)
        report(ledger, logger, trial, 40)
        assert objective_steps(client, logger, trial) == [40]

        stop_ui(server)
        report(ledger, logger, trial, 80)
        assert logger.down_since is not None
        assert [op[0] for op in logger.pending] == ["metrics"]
        assert not (tmp_path / trial_runs.REFUSED_FILE).exists()  # away is not refused

        server, _ = start_ui(db, port=port)
        logger.last_try = -math.inf  # the next result retries at once, not RETRY_EVERY_S later
        report(ledger, logger, trial, 120)
        end(ledger, logger, trial)
        assert logger.pending == [] and logger.down_since is None
        assert objective_steps(client, logger, trial) == [40, 80, 120]
        assert client.get_run(logger.run_ids["t1"]).info.status == "FINISHED"
        assert not (tmp_path / trial_runs.REFUSED_FILE).exists()
    finally:
        stop_ui(server)


def test_a_resumed_driver_finishes_runs_whose_end_died_in_the_queue(tmp_path):
    """The driver killed after the ledger settled a trial but before its run's end left
    the queue: the resumed driver's logger (set up after the ledger read its file back)
    finishes that run from the ledger's row; a run already finished is left alone."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ledger, logger, client = sweep_parts(tmp_path, uri)
    trial = sampled_trial(logger)
    logger.on_trial_start(0, [], trial)
    report(ledger, logger, trial, 120)
    ledger.on_trial_complete(0, [], trial)  # settled and saved; the driver dies here
    run_id = logger.run_ids["t1"]
    assert client.get_run(run_id).data.tags["state"] == "running"

    resumed_ledger, resumed, _ = sweep_parts(tmp_path, uri)
    resumed.experiment_id, resumed.parent_run_id = logger.experiment_id, logger.parent_run_id
    resumed_ledger.setup()
    resumed.ledger = resumed_ledger
    resumed.setup()
    run = client.get_run(run_id)
    assert run.data.tags["state"] == "finished" and run.info.status == "FINISHED"
    assert "config.yaml" in {a.path for a in client.list_artifacts(run_id)}
    resumed.setup()  # again: nothing left to finish, nothing written twice
    assert resumed.pending == []
