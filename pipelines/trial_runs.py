"""One MLflow child run per trial, written from the driver by a Ray Tune callback
(pipelines/tracking.py says why the driver).

- at start: the run (tag mlflow.parentRunId), the trial's full config as dotted params;
- at each eval point: the numeric results as one `log_batch` with the GAN step as step,
  and the sample grid the trial drew there, if any (samples/step_000500.png, ...);
- at the end: tags state (finished | pruned | failed), prune_reason, final_health, error,
  node; the score plot, the last grid as samples/final.png and the config as YAML.

Resume-safe without state of its own: a trial's run is found again by its trial_id tag
and the steps it holds are read back from MLflow, so a resumed sweep neither duplicates
runs nor repeats metrics, also for results logged after Ray's last snapshot.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from mlflow.entities import Metric
from ray import tune
from ray.tune.result import AUTO_RESULT_KEYS

from pipelines import tracking
from pipelines.ledger import SweepLedger
from pipelines.trial import GRID_KEY, SAMPLES_PREFIX, TrialPlan

STATUS = {"finished": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}
SKIPPED_RESULT_KEYS = {*AUTO_RESULT_KEYS, "step", "done"} - {"time_total_s"}


class TrialRunLogger(tune.Callback):
    def __init__(
        self,
        ledger: SweepLedger,
        plan: TrialPlan,
        experiment_id: str,
        parent_run_id: str,
        space_name: str,
        uri: str,
    ):
        self.ledger = ledger
        self.plan = plan
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.space_name = space_name
        self.uri = uri
        self.run_ids: dict[str, str] = {}
        self.logged_step: dict[str, int] = {}
        self._client = None

    def __getstate__(self) -> dict:  # Ray pickles callbacks into tuner.pkl; a client is no state
        state = self.__dict__.copy()
        state["_client"] = None
        return state

    @property
    def client(self):
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    # --- Ray hooks -------------------------------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.run_id(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if "step" not in result:
            return
        run_id, step = self.run_id(trial), int(result["step"])
        if (
            step <= self.logged_step.get(trial.trial_id, -1)
            or self.ledger.row(trial).state != "running"
        ):
            return  # replayed after a resume: MLflow has it already, or the trial had ended
        stamp = tracking.now_ms()
        metrics = [
            Metric(key, float(value), stamp, step)
            for key, value in result.items()
            if _loggable(key, value)
        ]
        self.client.log_batch(run_id, metrics=metrics)
        self.logged_step[trial.trial_id] = step
        if result.get(GRID_KEY):
            self.log_grid(run_id, self.plan.trial_folder(trial.trial_id) / result[GRID_KEY])

    def log_grid(self, run_id: str, grid: Path) -> None:
        """As samples/step_NNNNNN.png, and also as samples/final.png (overwritten each time,
        so the last grid a trial drew stays there)."""
        if not grid.is_file():
            return  # a grid is a picture, not a record: never fail a sweep over one
        step_name = "step_" + grid.name[len(SAMPLES_PREFIX) :]
        with tempfile.TemporaryDirectory(prefix="gansweep-grid-") as tmp:
            for name in (step_name, "final.png"):
                copy = Path(tmp) / name
                copy.write_bytes(grid.read_bytes())
                self.client.log_artifact(run_id, str(copy), "samples")

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.finish(trial)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.finish(trial)

    # --- runs ---------------------------------------------------------------------
    def run_id(self, trial) -> str:
        tid = trial.trial_id
        if tid not in self.run_ids:
            self.run_ids[tid] = self._find_run(tid) or self._create_run(trial)
        return self.run_ids[tid]

    def _find_run(self, trial_id: str) -> str | None:
        for run in tracking.child_runs(self.client, self.experiment_id, self.parent_run_id):
            if run.data.tags.get("trial_id") == trial_id:
                history = self.client.get_metric_history(run.info.run_id, "objective")
                self.logged_step[trial_id] = max((m.step for m in history), default=-1)
                return run.info.run_id
        return None

    def _create_run(self, trial) -> str:
        tags = {
            tracking.PARENT_TAG: self.parent_run_id,
            "trial_id": trial.trial_id,
            "space": self.space_name,
            "state": "running",
            "sampled_keys": ",".join(sorted(trial.config)),
        }
        run = self.client.create_run(self.experiment_id, run_name=trial.trial_id, tags=tags)
        cfg = self.plan.config_for(trial.config)
        tracking.log_params(self.client, run.info.run_id, cfg.flat())
        return run.info.run_id

    def finish(self, trial) -> None:
        run_id, row = self.run_id(trial), self.ledger.row(trial)
        tags = {"state": row.state, "prune_reason": row.reason, "final_health": row.health}
        if row.error:
            tags["error"] = row.error[:5000]
        if row.node:
            tags["node"] = row.node
        tracking.set_tags(self.client, run_id, tags)
        self._log_end_artifacts(run_id, trial, row)
        self.client.set_terminated(run_id, STATUS.get(row.state, "FAILED"))

    def _log_end_artifacts(self, run_id: str, trial, row) -> None:
        from gan_core.plots import save_score_plot  # matplotlib only here

        cfg = self.plan.config_for(trial.config)
        self.client.log_text(run_id, cfg.to_yaml(), "config.yaml")
        if not row.history:
            return
        with tempfile.TemporaryDirectory(prefix="gansweep-art-") as tmp:
            title = f"{trial.trial_id}: {row.state} {row.reason}".strip()
            plot = save_score_plot(row.history, Path(tmp) / "scores.png", title)
            self.client.log_artifact(run_id, str(plot))


def _loggable(key: str, value: Any) -> bool:
    if key in SKIPPED_RESULT_KEYS or not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    return math.isfinite(float(value))
