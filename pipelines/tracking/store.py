"""MLflow records of a sweep: one experiment per space, one parent run per sweep, one child
run per trial.

Everything is written from the driver: the parent run here, the child runs by
`TrialRunLogger`, a Ray Tune callback (pipelines/tracking/trial_runs.py). Why the driver and not
the trial workers:
- the default store is one SQLite file; one writer avoids "database is locked" from
  workers writing at once, and on a cluster only the driver needs to reach the tracking
  server (workers need no network path or credentials to it);
- how a trial ended (pruned, and why) is known only to the scheduler in the driver; a
  worker that is stopped or dies cannot tag its own run;
- sample grids reach the driver inside the trials' checkpoints on the storage path,
  which a cluster shares anyway.
The cost is one `log_batch` per eval point per trial in the driver: 0.9-1.5 s of the
driver's time per 200-step trial against a PostgreSQL-backed server, run creation and
artifacts included (docs/benchmarks.md, "MLflow s/trial").
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Param, RunTag
from mlflow.exceptions import MlflowException

from pipelines.tracking.schema import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    KIND_TAG,
    LOST,
    PARENT_TAG,
    STATE_TAG,
    SWEEP,
    TRIAL_ID_TAG,
)

REPO_ROOT = Path(__file__).resolve().parents[2]  # pipelines/tracking/store.py -> the repo


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else a SQLite file in the repo root."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{REPO_ROOT / 'mlflow.db'}"


def client(uri: str | None = None) -> MlflowClient:
    """A client of `uri`, else of `tracking_uri()`."""
    # Against a server, MLflow prints two "View run ... at" lines each time a run ends, which
    # would bury the sweep's progress line; the sweep's summary says where to look instead.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    return MlflowClient(tracking_uri=uri or tracking_uri())


def experiment_id(c: MlflowClient, name: str) -> str:
    """The experiment's id, created on first use; local stores keep artifacts in the repo."""
    found = c.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    exp_id = c.create_experiment(name, artifact_location=local_artifact_root(c.tracking_uri, name))
    # MLflow 3's UI opens new experiments in GenAI mode; ours are training runs to compare.
    c.set_experiment_tag(exp_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return exp_id


def local_artifact_root(uri: str, name: str) -> str | None:
    """For a SQLite store, artifacts go next to the database file (mlartifacts/<experiment>),
    not wherever the sweep happened to start; a server decides for itself (None)."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri[len("sqlite:///") :])
    return (db.parent / "mlartifacts" / name).as_uri()


def start_parent_run(
    c: MlflowClient, exp_id: str, name: str, params: dict[str, Any], tags: dict[str, str]
) -> str:
    run = c.create_run(exp_id, run_name=name, tags={**tags, KIND_TAG: SWEEP})
    log_params(c, run.info.run_id, params)
    return run.info.run_id


def log_params(c: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    """Params in batches of 100 (MLflow's limit per call); values as text."""
    items = [Param(k, _param_text(v)) for k, v in params.items()]
    for start in range(0, len(items), 100):
        c.log_batch(run_id, params=items[start : start + 100])


def set_tags(c: MlflowClient, run_id: str, tags: dict[str, Any]) -> None:
    c.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def child_runs(c: MlflowClient, exp_id: str, parent_run_id: str) -> list:
    """Every child run of a sweep (all pages)."""
    runs, token = [], None
    while True:
        page = c.search_runs(
            [exp_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}'", page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def close_lost_runs(c: MlflowClient, exp_id: str, parent_run_id: str, trial_ids: set[str]) -> int:
    """Child runs of trials the sweep does not have: they started after Ray's last snapshot
    before the driver died, so the resumed sweep ran their work again under new trials.
    Tag them `state=lost` and delete them (MLflow keeps deleted runs restorable), so the
    sweep's runs are its trials, once each. Returns how many."""
    lost = 0
    for run in child_runs(c, exp_id, parent_run_id):
        if run.data.tags.get(TRIAL_ID_TAG) not in trial_ids:
            set_tags(c, run.info.run_id, {STATE_TAG: LOST})
            if run.info.status == "RUNNING":
                c.set_terminated(run.info.run_id, "KILLED")
            c.delete_run(run.info.run_id)
            lost += 1
    return lost


def metric_values(record: dict[str, Any], skip=frozenset({"step"})) -> dict[str, float]:
    """The entries of a record MLflow takes as metrics: finite numbers (not booleans), as
    floats, except the keys in `skip`."""
    return {
        k: float(v)
        for k, v in record.items()
        if k not in skip
        and isinstance(v, (int, float))
        and not isinstance(v, bool)
        and math.isfinite(float(v))
    }


def refused(err: BaseException) -> bool:
    """True when writing the same thing again cannot succeed: the store answered and said no
    (MLflow's 4xx codes: an invalid or conflicting value, a run that is gone), or the write
    itself is broken (a bug in what we send). False when the store could not be reached or
    failed on its side (no answer, a timeout, a 5xx, an OSError): that write can wait and be
    retried. MLflow raises both as MlflowException; its error code tells them apart (a
    connection failure comes as INTERNAL_ERROR, i.e. 500)."""
    if isinstance(err, MlflowException):
        status = err.get_http_status_code()
        return 400 <= status < 500 and status != 429  # 429: too many requests, wait
    return not isinstance(err, OSError)


def git_commit() -> str:
    """The repo's commit (with `-dirty` for uncommitted changes), or `unknown`."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha or "unknown") + ("-dirty" if sha and dirty else "")


def now_ms() -> int:
    return int(time.time() * 1000)


def _param_text(value: Any) -> str:
    text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return text[:6000]  # MLflow's limit on a param value
