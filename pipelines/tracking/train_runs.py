"""`make train` in MLflow: one run per production run, continued (same run id, no step
twice) when the run resumes after an interruption.

- at start: the run in experiment `gansweep-train`, tagged with the sweep trial it came
  from when the config was exported (`source.trial_run_id`, ...); the config as params
  and as the file it was read from;
- at eval points: the numeric record, buffered and sent with `log_batch` every
  FLUSH_EVERY eval points and at every checkpoint (one call per eval point costs ms on
  SQLite, more against a server: docs/benchmarks.md, "MLflow s/trial");
- at checkpoints: the buffer, the sample grids of the flushed steps, the score plot so far
  and the checkpoint itself (`checkpoint/checkpoint.pt`);
- at the end: samples.png, scores.png, metrics.jsonl and the generator (EMA weights if
  enabled) as an MLflow PyTorch model (pipelines/tracking/generator_model.py).

Nothing is lost across a crash: the checkpoint holds every eval record up to its step,
and a resumed run first sends those MLflow does not have yet; the steps after the
checkpoint are trained again and sent then. The run's id lives in the run folder
(mlflow_run.json), so RESUME=1 finds it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric

from gan_core.config import GanConfig
from gan_core.platform import platform_name
from gan_core.trainer import Trainer
from pipelines.export import read_provenance
from pipelines.tracking import schema, store
from pipelines.tracking.generator_model import log_generator
from pipelines.tracking.schema import SOURCE_TAG
from pipelines.train import (
    FINAL_SAMPLES,
    METRICS,
    SCORE_PLOT,
    TrainHooks,
    grid_path,
    refuse_overwrite,
)

EXPERIMENT = "gansweep-train"
RUN_FILE = "mlflow_run.json"
FLUSH_EVERY = 10
# every eval record has them, the second finite even when a run diverges: the last step
# MLflow holds is the largest step of either
STEP_METRICS = ("objective", "perf/steps_per_s")


@dataclass
class RunHandle:
    uri: str
    run_id: str
    experiment_id: str


class TrainRunLogger(TrainHooks):
    def __init__(self, c: MlflowClient, handle: RunHandle, source: dict | None):
        self.c = c
        self.handle = handle
        self.source = source or {}
        self.logged_step = tracking_last_step(c, handle.run_id)
        self.buffer: list[dict] = []
        self.grids: dict[int, Path] = {}
        self.platform = ""  # set when training starts (`started`)

    @property
    def run_id(self) -> str:
        return self.handle.run_id

    # --- TrainHooks ------------------------------------------------------------
    def started(self, trainer: Trainer, out: Path) -> None:
        """Tag where it trains; a resumed run: send what the checkpoint knows and MLflow
        does not."""
        self.platform = platform_name(trainer.device)
        store.set_tags(self.c, self.run_id, {schema.PLATFORM_TAG: self.platform})
        self.buffer = [r for r in trainer.history if r["step"] > self.logged_step]
        self.grids = {r["step"]: grid_path(out, r["step"]) for r in self.buffer}
        self.flush()

    def evaluated(self, trainer: Trainer, record: dict, grid: Path) -> None:
        if record["step"] <= self.logged_step:
            return
        self.buffer.append(record)
        self.grids[record["step"]] = grid
        self._compare_with_source(record)
        if len(self.buffer) >= FLUSH_EVERY:
            self.flush()

    def checkpointed(self, trainer: Trainer, path: Path) -> None:
        from gan_core.plots import save_score_plot

        self.flush()
        plot = save_score_plot(trainer.history, path.parent / SCORE_PLOT, "G and D scores")
        self.c.log_artifact(self.run_id, str(plot))
        self.c.log_artifact(self.run_id, str(path), "checkpoint")

    def finished(self, trainer: Trainer, record: dict, out: Path) -> None:
        self.flush()
        for name in (FINAL_SAMPLES, SCORE_PLOT, METRICS):
            if (out / name).is_file():
                self.c.log_artifact(self.run_id, str(out / name))
        info = log_generator(self.handle.uri, self.run_id, trainer)
        store.set_tags(self.c, self.run_id, {schema.MODEL_URI_TAG: info.model_uri})
        self.c.set_terminated(self.run_id, "FINISHED")

    # --- sending -----------------------------------------------------------------
    def flush(self) -> None:
        if not self.buffer:
            return
        stamp = store.now_ms()
        metrics = [
            Metric(k, v, stamp, int(r["step"]))
            for r in self.buffer
            for k, v in store.metric_values(r).items()
        ]
        for start in range(0, len(metrics), 1000):  # MLflow's limit per log_batch
            self.c.log_batch(self.run_id, metrics=metrics[start : start + 1000])
        health = self.buffer[-1].get("health", "ok")
        store.set_tags(self.c, self.run_id, {schema.HEALTH_TAG: health})
        for r in self.buffer:
            grid = self.grids.pop(r["step"], None)
            if grid is not None and grid.is_file():
                self.c.log_artifact(self.run_id, str(grid), "samples")
        self.logged_step = max(self.logged_step, max(r["step"] for r in self.buffer))
        self.buffer = []

    def stopped(self, status: str) -> None:
        """Interrupted or failed: keep what was measured; RESUME=1 continues the run. Best
        effort: the error that stopped training is the one to show, not one from here."""
        try:
            self.flush()
            self.c.set_terminated(self.run_id, status)
        except Exception as err:  # e.g. the tracking server is down too
            print(f"warning: could not close MLflow run {self.run_id}: {err}", file=sys.stderr)

    def _compare_with_source(self, record: dict) -> None:
        """At the exported trial's step, say whether retraining reproduced its value."""
        src = self.source
        if not src or record["step"] != src.get("step"):
            return
        metric = src.get("metric", "objective")
        value = record.get(metric)
        if value is None:
            return
        same = float(value) == float(src["value"])
        store.set_tags(
            self.c,
            self.run_id,
            {
                schema.SOURCE_PREFIX + "reproduced": str(same).lower(),
                schema.SOURCE_PREFIX + "value_retrained": repr(float(value)),
            },
        )
        print(reproduction_verdict(src, float(value), self.platform), file=sys.stderr)


def reproduction_verdict(src: dict, value: float, platform: str) -> str:
    """What the user reads at the exported trial's step: the same number, or why not."""
    step, metric, theirs = src["step"], src.get("metric", "objective"), float(src["value"])
    if value == theirs:
        return f"reproduced trial {src.get('trial_id', '')}: {metric} {value!r} at step {step}"
    head = f"not reproduced: {metric} {value!r} at step {step}, the trial had {theirs!r}"
    where = src.get("platform", "unknown")
    if where != platform:
        return (
            f"{head}. The trial trained on {where}, this run on {platform}: other kernels "
            "round differently and a GAN grows the difference (docs/design.md, "
            '"Reproducing a trial"); retrain where the trial ran to get its number'
        )
    return f"{head} on the same platform ({platform}): a bug, please report it"


def open_run(
    cfg: GanConfig, out: Path, config_path: str | None, resume: bool, experiment: str
) -> TrainRunLogger:
    """The run of this run folder when resuming, else a new one."""
    c = store.client()
    source = read_provenance(config_path) if config_path else None
    saved = out / RUN_FILE
    if resume and saved.is_file():
        handle = RunHandle(**json.loads(saved.read_text()))
        c = MlflowClient(tracking_uri=handle.uri)  # the store it started in
        c.update_run(handle.run_id, status="RUNNING")
        return TrainRunLogger(c, handle, source)
    exp_id = store.experiment_id(c, experiment)
    c.set_experiment_tag(exp_id, schema.EXPERIMENT_KIND_TAG, schema.EXPERIMENT_KIND)
    run = c.create_run(exp_id, run_name=out.name, tags=start_tags(out, config_path, source))
    handle = RunHandle(store.tracking_uri(), run.info.run_id, exp_id)
    out.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(handle.__dict__, indent=2))
    store.log_params(c, handle.run_id, cfg.flat())
    c.log_text(handle.run_id, cfg.to_yaml(), schema.CONFIG_ARTIFACT)
    if config_path:
        c.log_artifact(handle.run_id, str(config_path), "source_config")
    return TrainRunLogger(c, handle, source)


def start_tags(out: Path, config_path: str | None, source: dict | None) -> dict[str, str]:
    tags = {
        schema.KIND_TAG: schema.TRAIN,
        schema.GIT_COMMIT_TAG: store.git_commit(),
        "run_dir": str(out.resolve()),
        "config_path": str(config_path or ""),
    }
    if source:
        tags[SOURCE_TAG] = source.get("trial_run_id", "")
        for key in (
            "sweep_run_id",
            "sweep_name",
            "trial_id",
            "metric",
            "value",
            "step",
            "platform",
        ):
            tags[schema.SOURCE_PREFIX + key] = str(source.get(key, ""))
    return tags


def train_tracked(
    cfg: GanConfig,
    out: Path,
    config_path: str | None = None,
    resume: bool = False,
    progress: bool = True,
    experiment: str = EXPERIMENT,
) -> tuple[dict, TrainRunLogger]:
    """train_production with an MLflow run; returns the last record and the run's logger."""
    from pipelines.train import train_production

    refuse_overwrite(out, resume)  # before creating a run that would stay empty
    logger = open_run(cfg, out, config_path, resume, experiment)
    try:
        record = train_production(cfg, out, resume=resume, progress=progress, hooks=logger)
    except KeyboardInterrupt:
        logger.stopped("KILLED")
        raise
    except Exception:
        logger.stopped("FAILED")
        raise
    return record, logger


def tracking_last_step(c: MlflowClient, run_id: str) -> int:
    steps = [m.step for key in STEP_METRICS for m in c.get_metric_history(run_id, key)]
    return max(steps, default=-1)
