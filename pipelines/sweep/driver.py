"""`make sweep SPACE=stabilizers`: a search space as a Ray Tune run.

Optuna's multivariate TPE proposes (through Ray's OptunaSearch, told how each trial
ended: pipelines/sweep/searcher.py) under a concurrency limit; the milestone scheduler
prunes (pipelines/sweep/pruning.py); each trial trains with the shared core
(pipelines/sweep/trial.py); the driver records everything in MLflow
(pipelines/tracking/store.py, pipelines/tracking/trial_runs.py).

Local or cluster by environment alone: RAY_ADDRESS unset starts a Ray on this machine,
set joins that cluster. Trial results and checkpoints go under the storage path
(GANSWEEP_STORAGE, default runs/sweeps in the repo), which all nodes of a cluster must
share. A sweep whose driver died continues with `resume=True` (RESUME=1).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from mlflow import MlflowClient

from gan_core.data import BUILTIN_NAMES
from pipelines.files import META_FILE, write_atomic
from pipelines.sweep.assembly import build_tuner, check_trials_fit, init_ray, restore_tuner
from pipelines.sweep.judge import stop_judge
from pipelines.sweep.ledger import load_rows
from pipelines.sweep.space_checks import check_space_before_start
from pipelines.sweep.study import STORAGE_ENV
from pipelines.sweep.summary import summarize, summary_text, trials_table
from pipelines.sweep.trial import TrialPlan
from pipelines.tracking import schema, store
from search_spaces import Space, SpaceError, load_space

TABLE_FILE = "trials.parquet"
SUMMARY_FILE = schema.SUMMARY_ARTIFACT  # on disk and on the parent run
# Ray snapshots the experiment (trials, searcher, callbacks) at most this often; a driver
# killed between snapshots loses at most this much bookkeeping (trials resume anyway).
SNAPSHOT_EVERY_S = "2"


@dataclass
class SweepResult:
    space: str
    path: Path  # the sweep's folder: Ray's results and checkpoints, the trials table
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    table: pd.DataFrame
    summary: dict[str, Any]
    complete: bool  # False when interrupted: continue with resume=True

    @property
    def best(self) -> dict[str, Any] | None:
        top = self.summary.get("top") or []
        return top[0] if top else None


def storage_root() -> Path:
    root = os.environ.get("GANSWEEP_STORAGE") or store.REPO_ROOT / "runs" / "sweeps"
    return Path(root).expanduser().resolve()


def run_sweep(
    space_name: str,
    *,
    trials: int | None = None,
    concurrency: int | None = None,
    gpus_per_trial: float | None = None,
    data: str | None = None,
    resume: bool = False,
    max_steps: int | None = None,
    experiment: str | None = None,
    population: int | None = None,
) -> SweepResult:
    """Run (or resume) a sweep of a named space or a space file; print progress and summary."""
    quiet_libraries()
    if resume:
        folder, meta = latest_unfinished(space_name)
        space = space_from_meta(meta)
        print(f"resuming {folder} (the budget and overrides of its first start apply)")
    else:
        space = load_space(space_name).with_budget(
            trials=trials,
            concurrency=concurrency,
            gpus_per_trial=gpus_per_trial,
            max_steps=max_steps,
            population=population,
        )
        space = space.with_data(data)
        folder = storage_root() / f"{space.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        overrides = {
            "trials": trials,
            "concurrency": concurrency,
            "gpus_per_trial": gpus_per_trial,
            "max_steps": max_steps,
            "data": data,
            "population": population,
        }
        meta = new_meta(space_name, space, overrides, experiment)
    for warning in check_space_before_start(space):
        print(f"warning: {warning}")
    plan = plan_for(space, folder)
    init_ray()
    check_trials_fit(space)  # before the parent run: a sweep refused here leaves no record
    client, exp_id = open_tracking(meta, space, folder)
    write_meta(folder, meta)

    parts = dict(
        space=space, plan=plan, folder=folder, exp_id=exp_id, parent_run_id=meta["parent_run_id"]
    )
    tuner = restore_tuner(**parts) if resume else build_tuner(**parts)
    tuner.fit()
    stop_judge(folder)
    return finish(space, folder, client, meta)


def open_tracking(meta: dict, space: Space, folder: Path) -> tuple[MlflowClient, str]:
    """The experiment and the sweep's parent run; a resumed sweep keeps its first store."""
    uri = meta.get("tracking_uri") or store.tracking_uri()
    client = store.client(uri)
    exp_id = store.experiment_id(client, meta["experiment"])
    if not meta.get("parent_run_id"):
        meta["parent_run_id"] = start_parent(client, exp_id, space, folder)
    meta.update(experiment_id=exp_id, tracking_uri=uri, status="running")
    return client, exp_id


def quiet_libraries() -> None:
    """Our progress line replaces Ray's tables; snapshots are small, so frequent is fine."""
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", SNAPSHOT_EVERY_S)
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no status tables
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def plan_for(space: Space, folder: Path) -> TrialPlan:
    threads = max(1, int(space.budget.cpus_per_trial))  # torch threads = the CPUs Ray gave
    base = space.base
    if base.train.threads == 0:
        base = base.with_overrides({"train.threads": threads}, source="sweep")
    source = Path(base.data.source).expanduser()
    if base.data.source not in BUILTIN_NAMES and source.exists():
        # Ray runs each trial in its own working directory: a relative path would not resolve
        base = base.with_overrides({"data.source": str(source.resolve())}, source="sweep")
    return TrialPlan(
        base=base.to_dict(),
        milestones=space.milestones,
        folder=str(folder),
        metric=space.metric,
        direction=space.direction,
    )


def start_parent(client, exp_id: str, space: Space, folder: Path) -> str:
    params = {
        "space": space.name,
        **{f"budget.{k}": v for k, v in dataclasses.asdict(space.budget).items()},
        schema.MILESTONES_PARAM: list(space.milestones),
        "pruning.quantile": space.pruning.quantile,
        "pruning.min_peers": space.pruning.min_peers,
        "pruning.health": list(space.pruning.health),
        "pruning.health_from": space.pruning.health_from,
        "sampler.seed": space.seed,
        "sampler.startup_trials": space.startup_trials,
        schema.OBJECTIVE_PARAM: f"{space.direction} {space.metric}",
    }
    tags = {
        schema.SPACE_TAG: space.name,
        schema.GIT_COMMIT_TAG: store.git_commit(),
        schema.SWEEP_PATH_TAG: str(folder),
    }
    run_id = store.start_parent_run(client, exp_id, folder.name, params, tags)
    client.log_text(run_id, space.base.to_yaml(), schema.BASE_CONFIG_ARTIFACT)
    client.log_artifact(run_id, str(space.path))
    return run_id


def finish(space: Space, folder: Path, client, meta: dict) -> SweepResult:
    rows = load_rows(folder)
    table = trials_table(rows, space)
    summary = summarize(table, space)
    complete = summary["counts"]["running"] == 0 and len(table) >= space.budget.trials
    parent = meta["parent_run_id"]
    try:
        lost = store.close_lost_runs(client, meta["experiment_id"], parent, set(table.trial_id))
    except Exception as err:  # the server is down: the table and summary still go to disk
        lost = None
        print(f"MLflow unreachable at the end ({type(err).__name__}); parent run not updated")
    summary["lost_runs"] = lost
    table.to_parquet(folder / TABLE_FILE, index=False)
    (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str))
    text = summary_text(summary, next_commands(folder, meta, complete))
    if lost is not None:
        client.log_artifact(parent, str(folder / TABLE_FILE))
        client.log_artifact(parent, str(folder / SUMMARY_FILE))
        client.log_text(parent, text, schema.SUMMARY_TEXT_ARTIFACT)
        if complete:
            client.set_terminated(parent, "FINISHED")
    meta["status"] = "finished" if complete else "interrupted"
    write_meta(folder, meta)
    print(text)
    return SweepResult(
        space.name,
        folder,
        meta["tracking_uri"],
        meta["experiment_id"],
        parent,
        table,
        summary,
        complete,
    )


def next_commands(folder: Path, meta: dict, complete: bool) -> list[str]:
    if not complete:
        return [f"make sweep SPACE={meta['space_arg']} RESUME=1   # continue this sweep"]
    return [
        "make ui        # compare the trials in the MLflow UI",
        f"make export SWEEP={folder}   # the best trial's config, ready for `make train`",
        f"make report SWEEP={folder}   # an HTML report of the sweep",
    ]


# --- the sweep's folder: what a resume needs to start the same sweep again ---------------


def new_meta(space_arg, space: Space, overrides: dict, experiment: str | None) -> dict:
    return {
        "space_arg": str(space_arg),
        "space_path": str(space.path),
        "overrides": dict(overrides),  # the command line's budget, for a resume
        "experiment": experiment or space.name,
        # which Optuna storage holds the study (pipelines/sweep/study.py); never its URL
        "optuna_storage": "env" if os.environ.get(STORAGE_ENV) else "folder",
    }


def space_from_meta(meta: dict) -> Space:
    o = meta["overrides"]
    space = load_space(meta["space_path"]).with_budget(
        trials=o["trials"],
        concurrency=o["concurrency"],
        gpus_per_trial=o["gpus_per_trial"],
        max_steps=o["max_steps"],
        population=o.get("population"),  # absent in sweeps started before populations
    )
    return space.with_data(o["data"])


def write_meta(folder: Path, meta: dict) -> None:
    write_atomic(folder / META_FILE, json.dumps(meta, indent=2))


def latest_unfinished(space_arg: str) -> tuple[Path, dict]:
    """The newest sweep of this space that did not finish."""
    name = Path(space_arg).stem
    candidates = sorted(storage_root().glob(f"{name}-*/{META_FILE}"), reverse=True)
    for meta_path in candidates:
        meta = json.loads(meta_path.read_text())
        if meta.get("status") != "finished":
            return meta_path.parent, meta
    raise SpaceError(
        f"no unfinished sweep of {name!r} under {storage_root()} to resume; "
        f"start one with `make sweep SPACE={space_arg}`"
    )
