"""One MLflow child run per trial, written from the driver by a Ray Tune callback
(pipelines/tracking/store.py says why the driver).

- at start: the run (tag mlflow.parentRunId), the trial's full config as dotted params;
- at each eval point: the numeric results as one `log_batch` with the GAN step as step,
  and the sample grid the trial drew there, if any (samples/step_000500.png, ...);
- at the end: tags state (finished | pruned | failed), prune_reason, final_health, error,
  node; the score plot, the last grid as samples/final.png and the config as YAML.

Never blocks or fails the sweep on MLflow: every write is queued and the queue is flushed
in order; when the server cannot be reached (restarting, down) the writes wait in the
queue and are retried at the next result (at most every RETRY_EVERY_S), so nothing is lost
and nothing is written twice. A write the store refuses (`store.refused`: a 4xx such as an
invalid value, or a bug in the write) would fail again however often it is sent: it is
reported with its trial, run and keys, kept in `<sweep>/mlflow_refused.json`, and the
queue goes on without it. The queue is part of the callback, which Ray snapshots with
the experiment. If the server is still down when the sweep ends, after waiting up to
GANSWEEP_MLFLOW_WAIT_S (default 60 s), the sweep says so and writes the queue to
`<sweep>/mlflow_pending.json`; `python -m pipelines.tracking.trial_runs <sweep folder>` logs it
later (pipelines/tracking/trial_runs.py: relog).

Resume-safe without state of its own: a trial's run is found again by its trial_id tag
and the steps it holds are read back from MLflow, so a resumed sweep neither duplicates
runs nor repeats metrics, also for results logged after Ray's last snapshot.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mlflow.entities import Metric
from ray import tune
from ray.tune.result import AUTO_RESULT_KEYS

from gan_core.config import ConfigError, GanConfig
from pipelines.files import write_atomic
from pipelines.outcome import MLFLOW_STATUS, RUNNING
from pipelines.sweep.ledger import SweepLedger, TrialRef
from pipelines.sweep.trial import GRID_KEY, SAMPLES_PREFIX, TrialPlan
from pipelines.tracking import schema, store

PENDING_FILE = "mlflow_pending.json"
REFUSED_FILE = "mlflow_refused.json"  # writes the store said no to, with its answer
RETRY_EVERY_S = 2.0
# a blip is ridden out by the queue, not by the client's own retries, which block the driver
# (MLflow's default: 7 retries with exponential backoff, minutes)
CLIENT_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
SKIPPED_RESULT_KEYS = {*AUTO_RESULT_KEYS, "step", "done"} - {"time_total_s"}
# files MLflow uploads are staged in the sweep's own folder, not in /tmp: a driver killed
# mid-upload leaves the leftover there, where the resumed driver's setup removes it
STAGING_PREFIX = ".mlflow-upload-"


class TrialRunLogger(tune.Callback):
    def __init__(
        self,
        ledger: SweepLedger | None,
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
        self.logged_step: dict[str, int] = {}  # the last step queued per trial
        self.configs: dict[str, dict] = {}  # the sampled keys of each trial
        self._full: dict[str, GanConfig] = {}  # built from them once (not pickled: rebuilt)
        self.found_step: dict[str, int] = {}  # the last step MLflow held when a run was found
        self.pending: list[list] = []  # writes not yet in MLflow, in order (JSON-able)
        self.refused: list[dict] = []  # writes the store refused, with its answer
        self.down_since: float | None = None
        self.last_try = 0.0
        self.log_seconds = 0.0  # time spent in MLflow calls (benchmarks/cluster_throughput.py)
        self._client = None

    def __getstate__(self) -> dict:  # Ray pickles callbacks into tuner.pkl; a client is no state
        state = self.__dict__.copy()
        state["_client"] = None
        state["_full"] = {}
        return state

    @property
    def client(self):
        if self._client is None:
            if self.uri.startswith("http"):
                for key, value in CLIENT_RETRIES.items():
                    os.environ.setdefault(key, value)
            self._client = store.client(self.uri)
        return self._client

    # --- Ray hooks: queue, then flush -------------------------------------------------
    def setup(self, **info) -> None:
        """A resumed sweep: a trial the dead driver had settled in its ledger may have died
        with the end of its run still in this queue, and Ray does not run it again; its run
        still says running, so it is finished now from the ledger's row."""
        for leftover in Path(self.plan.folder).glob(STAGING_PREFIX + "*"):
            shutil.rmtree(leftover, ignore_errors=True)  # a killed driver's half-done upload
        ended = [r for r in self.ledger.rows.values() if r.state != RUNNING] if self.ledger else []
        if not ended:
            return  # a first start (the ledger reads its file back in its own setup)
        try:
            runs = store.child_runs(self.client, self.experiment_id, self.parent_run_id)
        except Exception as err:  # unreachable: those runs stay open, the sweep goes on
            print(
                f"MLflow at {self.uri} unreachable at resume ({err}); runs of trials "
                "that ended before the restart may still say running",
                file=sys.stderr,
            )
            return
        still_open = {
            run.data.tags.get(schema.TRIAL_ID_TAG)
            for run in runs
            if run.data.tags.get(schema.STATE_TAG) == RUNNING
        }
        for row in ended:
            if row.trial_id in still_open:
                self.queue_finish(TrialRef(row.trial_id, row.params))

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.configs[trial.trial_id] = dict(trial.config)
        self.pending.append(["run", trial.trial_id])
        self.flush()

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if "step" not in result:
            return
        tid, step = trial.trial_id, int(result["step"])
        self.configs.setdefault(tid, dict(trial.config))
        if tid not in self.logged_step and self._reachable():
            self.pending.insert(0, ["run", tid])  # a resumed sweep: which steps MLflow has
            self.flush()
        if step <= self.logged_step.get(tid, -1) or self.ledger.row(trial).state != RUNNING:
            return  # replayed after a resume: MLflow has it already, or the trial had ended
        metrics = store.metric_values(result, SKIPPED_RESULT_KEYS)
        self.pending.append(["metrics", tid, step, store.now_ms(), metrics])
        self.logged_step[tid] = step
        if result.get(GRID_KEY):
            grid = self.plan.trial_folder(tid) / result[GRID_KEY]
            self.pending.append(["grid", tid, str(grid)])
        self.flush()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.queue_finish(trial)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.queue_finish(trial)

    def on_experiment_end(self, trials, **info) -> None:
        self.flush_or_keep(float(os.environ.get("GANSWEEP_MLFLOW_WAIT_S", "60")))

    def queue_finish(self, trial) -> None:
        """Everything the end of a run needs, taken now (the ledger row is settled)."""
        row = self.ledger.row(trial)
        self.configs.setdefault(trial.trial_id, dict(trial.config))
        tags = {
            schema.STATE_TAG: row.state,
            schema.PRUNE_REASON_TAG: row.reason,
            schema.FINAL_HEALTH_TAG: row.health,
        }
        if row.error:
            tags[schema.ERROR_TAG] = row.error[:5000]
        if row.node:
            tags[schema.NODE_TAG] = row.node
        if row.platform:
            tags[schema.PLATFORM_TAG] = row.platform
        title = f"{trial.trial_id}: {row.state} {row.reason}".strip()
        self.pending.append(["finish", trial.trial_id, tags, row.state, row.history, title])
        self.flush()

    # --- the queue ----------------------------------------------------------------------
    def _reachable(self) -> bool:
        return self.down_since is None or time.time() - self.last_try >= RETRY_EVERY_S

    def flush(self) -> bool:
        """Write the queue in order. A write the store refuses is set aside and the queue
        goes on; when the store cannot be reached, that write and the rest wait."""
        if not self.pending or not self._reachable():
            return not self.pending
        self.last_try = time.time()
        started = time.perf_counter()
        try:
            while self.pending:
                try:
                    self._apply(self.pending[0])
                except Exception as err:
                    if not store.refused(err):
                        raise
                    self.set_aside(self.pending[0], err)
                self.pending.pop(0)
        except Exception as err:  # unreachable (store.refused says no): retry later
            if self.down_since is None:
                self.down_since = time.time()
                print(
                    f"MLflow at {self.uri} failed ({type(err).__name__}: {err}); "
                    f"{len(self.pending)} writes queued, retrying",
                    file=sys.stderr,
                )
            return False
        finally:
            self.log_seconds += time.perf_counter() - started
        if self.down_since is not None:
            print(
                f"MLflow at {self.uri} back after {time.time() - self.down_since:.0f} s; "
                "queued writes logged",
                file=sys.stderr,
            )
            self.down_since = None
        return True

    def set_aside(self, op: list, err: BaseException) -> None:
        """Say which write was refused and why, keep it in the sweep's folder, go on."""
        kind, tid = op[0], op[1]
        run_id = self.run_ids.get(tid, "not created")
        error = f"{type(err).__name__}: {err}"[:2000]
        self.refused.append({"op": op, "run_id": run_id, "keys": _keys(op), "error": error})
        path = Path(self.plan.folder) / REFUSED_FILE
        write_atomic(path, json.dumps(self.refused, indent=1, default=str))
        print(
            f"MLflow at {self.uri} refused the {kind} write of trial {tid} (run {run_id}, "
            f"keys {', '.join(_keys(op)) or '-'}): {error}; kept in {path}, the sweep goes on",
            file=sys.stderr,
        )

    def flush_or_keep(self, wait_s: float) -> bool:
        """At the end: retry for up to `wait_s`, then keep what is left in the sweep's folder."""
        deadline = time.time() + wait_s
        while not self.flush() and time.time() < deadline:
            time.sleep(RETRY_EVERY_S)
        if not self.pending:
            return True
        path = Path(self.plan.folder) / PENDING_FILE
        path.write_text(json.dumps(self.saved_state()))
        trials = sorted({op[1] for op in self.pending})
        print(
            f"MLFLOW NOT UPDATED: {self.uri} unreachable since "
            f"{time.strftime('%H:%M:%S', time.localtime(self.down_since or time.time()))}; "
            f"{len(self.pending)} writes of {len(trials)} trials kept in {path} (results are "
            f"also in Ray's storage there). Log them when the server is back: "
            f"python -m pipelines.tracking.trial_runs {self.plan.folder}",
            file=sys.stderr,
        )
        return False

    def saved_state(self) -> dict:
        keep = ("experiment_id", "parent_run_id", "space_name", "uri", "run_ids", "configs")
        state = {key: getattr(self, key) for key in keep}
        return {**state, "plan": dataclasses.asdict(self.plan), "pending": self.pending}

    def _apply(self, op: list) -> None:
        kind, tid = op[0], op[1]
        if kind == "run":
            self.run_id(tid)
        elif kind == "metrics":
            _, _, step, stamp, values = op
            run_id = self.run_id(tid)
            if step <= self.found_step.get(tid, -1):
                return  # MLflow had it (a resumed sweep queued it before it could look)
            metrics = [Metric(k, v, stamp, step) for k, v in values.items()]
            self.client.log_batch(run_id, metrics=metrics)
        elif kind == "grid":
            self.log_grid(self.run_id(tid), Path(op[2]))
        elif kind == "finish":
            self.finish(tid, *op[2:])

    def log_grid(self, run_id: str, grid: Path) -> None:
        """As samples/step_NNNNNN.png, and also as samples/final.png (overwritten each time,
        so the last grid a trial drew stays there)."""
        if not grid.is_file():
            return  # a grid is a picture, not a record: never fail a sweep over one
        step_name = "step_" + grid.name[len(SAMPLES_PREFIX) :]
        with self.staging() as tmp:
            for name in (step_name, schema.FINAL_GRID):
                copy = Path(tmp) / name
                copy.write_bytes(grid.read_bytes())
                self.client.log_artifact(run_id, str(copy), schema.GRID_DIR)

    def staging(self) -> tempfile.TemporaryDirectory:
        return tempfile.TemporaryDirectory(prefix=STAGING_PREFIX, dir=self.plan.folder)

    # --- runs ---------------------------------------------------------------------
    def run_id(self, tid: str) -> str:
        if tid not in self.run_ids:
            self.run_ids[tid] = self._find_run(tid) or self._create_run(tid)
        return self.run_ids[tid]

    def _find_run(self, trial_id: str) -> str | None:
        for run in store.child_runs(self.client, self.experiment_id, self.parent_run_id):
            if run.data.tags.get(schema.TRIAL_ID_TAG) == trial_id:
                history = self.client.get_metric_history(run.info.run_id, "objective")
                logged = max((m.step for m in history), default=-1)
                self.found_step[trial_id] = logged
                self.logged_step[trial_id] = max(self.logged_step.get(trial_id, -1), logged)
                return run.info.run_id
        return None

    def _create_run(self, tid: str) -> str:
        config = self.configs.get(tid, {})
        tags = {
            schema.PARENT_TAG: self.parent_run_id,
            schema.TRIAL_ID_TAG: tid,
            schema.SPACE_TAG: self.space_name,
            schema.STATE_TAG: RUNNING,
            schema.SAMPLED_KEYS_TAG: ",".join(sorted(config)),
        }
        run = self.client.create_run(self.experiment_id, run_name=tid, tags=tags)
        if (cfg := self.config(tid)) is not None:
            store.log_params(self.client, run.info.run_id, cfg.flat())
        return run.info.run_id

    def config(self, tid: str) -> GanConfig | None:
        """The trial's full config, as the searcher wrote it where it sampled the trial;
        None where it wrote the config's error instead (the trial failed with it, and its
        run says so in its `error` tag)."""
        if tid not in self._full:
            try:
                self._full[tid] = self.plan.trial_config(tid)
            except ConfigError:
                return None
        return self._full[tid]

    def finish(self, tid: str, tags: dict, state: str, history: list, title: str) -> None:
        run_id = self.run_id(tid)
        store.set_tags(self.client, run_id, tags)
        if (cfg := self.config(tid)) is not None:
            self.client.log_text(run_id, cfg.to_yaml(), schema.CONFIG_ARTIFACT)
        if history:
            from gan_core.plots import save_score_plot  # matplotlib only here

            with self.staging() as tmp:
                plot = save_score_plot(history, Path(tmp) / schema.SCORE_ARTIFACT, title)
                self.client.log_artifact(run_id, str(plot))
        self.client.set_terminated(run_id, MLFLOW_STATUS.get(state, "FAILED"))


def relog(folder: Path) -> bool:
    """Log the writes a sweep kept in `<folder>/mlflow_pending.json` when MLflow was down."""
    path = Path(folder) / PENDING_FILE
    state = json.loads(path.read_text())
    logger = TrialRunLogger.__new__(TrialRunLogger)
    logger.__dict__.update(state, _client=None, down_since=None, last_try=0.0, log_seconds=0.0)
    logger.__dict__.update(plan=TrialPlan(**state["plan"]), ledger=None, found_step={}, _full={})
    logger.refused = []
    logger.logged_step = {}
    if logger.flush():
        path.unlink()
        print(f"logged {path} to {logger.uri}")
        return True
    print(f"{logger.uri} still unreachable; {path} kept", file=sys.stderr)
    return False


def _keys(op: list) -> list[str]:
    """The MLflow keys a queued write holds: metric names, tag names, a grid's file."""
    kind = op[0]
    if kind == "metrics":
        return sorted(op[4])
    if kind == "finish":
        return sorted(op[2])
    if kind == "grid":
        return [Path(op[2]).name]
    return []


if __name__ == "__main__":
    sys.exit(0 if relog(Path(sys.argv[1])) else 1)
