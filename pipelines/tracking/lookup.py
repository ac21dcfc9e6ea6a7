"""A sweep and its trials as MLflow has them, read from the tracking store alone, so export
and the report work from any machine that reaches the tracking server, not only the one
that ran the sweep (pipelines/tracking/store.py writes this layout).

A sweep is named by its parent run id, its run name (the folder name, e.g.
`tiny-20261122-005031`), the path of its folder (its sweep.json names the parent run), or
nothing: the latest sweep in the store.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException

from gan_core.config import GanConfig, all_keys
from pipelines.files import META_FILE
from pipelines.outcome import rank_finished
from pipelines.tracking import schema, store
from pipelines.tracking.schema import CONFIG_ARTIFACT, KIND_TAG

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class SweepNotFound(ValueError):
    """No sweep matches what the user named; the message lists the latest ones."""


@dataclass
class Sweep:
    run: Run  # the parent run
    experiment: str

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    @property
    def name(self) -> str:
        return self.run.info.run_name

    @property
    def objective(self) -> tuple[str, str]:
        """(metric, direction) the sweep ranked by: the parent's `objective` param,
        written as "min objective"."""
        text = self.run.data.params.get(schema.OBJECTIVE_PARAM, "min objective")
        direction, _, metric = text.partition(" ")
        return metric or "objective", direction if direction in ("min", "max") else "min"


def find_sweep(c: MlflowClient, ref: str | None = None) -> Sweep:
    """The sweep `ref` names (run id, run name or folder), or the latest one."""
    if not ref:
        latest = latest_sweeps(c, 1)
        if not latest:
            raise SweepNotFound(
                f"no sweep in the tracking store {c.tracking_uri}; run one with "
                "`make sweep SPACE=tiny`, or set MLFLOW_TRACKING_URI to the store that has it"
            )
        return _as_sweep(c, latest[0])
    run = _by_folder(c, ref) or _by_run_id(c, ref) or _by_name(c, ref)
    if run is None:
        raise SweepNotFound(
            f"no sweep {ref!r} in the tracking store {c.tracking_uri} (looked for a parent run "
            f"id, a sweep name and a sweep folder); {describe_latest(c)}"
        )
    return _as_sweep(c, run)


def latest_sweeps(c: MlflowClient, n: int = 5) -> list[Run]:
    ids = [e.experiment_id for e in c.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    if not ids:
        return []
    return list(
        c.search_runs(
            ids,
            filter_string=f"tags.`{KIND_TAG}` = '{schema.SWEEP}'",
            order_by=["attributes.start_time DESC"],
            max_results=n,
        )
    )


def describe_latest(c: MlflowClient, n: int = 5) -> str:
    runs = latest_sweeps(c, n)
    if not runs:
        return "the store holds no sweeps yet: run `make sweep SPACE=tiny` first"
    lines = [f"the latest {len(runs)} sweep(s):"]
    for r in runs:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.info.start_time / 1000))
        lines.append(
            f"  {r.info.run_name}  {r.info.run_id}  (space {r.data.tags.get(schema.SPACE_TAG, '?')}, "
            f"started {started}, {r.info.status.lower()})"
        )
    return "\n".join(lines)


def trial_runs(c: MlflowClient, sweep: Sweep) -> list[Run]:
    return store.child_runs(c, sweep.run.info.experiment_id, sweep.run_id)


def finished_ranked(runs: list[Run], metric: str, mode: str) -> list[Run]:
    """Trials that ran to their end (never pruned or failed) with a finite `metric`, best
    first. The value is the run's latest one, at its last step: the one retraining gives."""
    return rank_finished(
        runs,
        lambda r: r.data.tags.get(schema.STATE_TAG),
        lambda r: r.data.metrics.get(metric),
        mode,
    )


def last_step(c: MlflowClient, run_id: str, metric: str) -> int:
    history = c.get_metric_history(run_id, metric)
    return max((m.step for m in history), default=0)


def trial_config(c: MlflowClient, run: Run) -> GanConfig:
    """The trial's full config: its config.yaml artifact, else rebuilt from its params."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gansweep-config-") as tmp:
        try:
            path = c.download_artifacts(run.info.run_id, CONFIG_ARTIFACT, tmp)
        except (MlflowException, OSError):
            return config_from_params(run.data.params, f"params of run {run.info.run_id}")
        return GanConfig.load(path)


def config_from_params(params: dict[str, str], source: str) -> GanConfig:
    """MLflow params (dotted keys, values as text) back to a validated config."""
    keys = all_keys()
    known = {k: v for k, v in params.items() if k in keys}
    for key, value in known.items():
        if value == "" and isinstance(GanConfig().get(key), list):
            known[key] = []  # an empty list was logged as "" (YAML would read None)
    return GanConfig().with_overrides(known, source=source)


def _as_sweep(c: MlflowClient, run: Run) -> Sweep:
    return Sweep(run, c.get_experiment(run.info.experiment_id).name)


def _by_run_id(c: MlflowClient, ref: str) -> Run | None:
    if not RUN_ID.match(ref):
        return None
    try:
        run = c.get_run(ref)
    except MlflowException:
        return None
    if run.data.tags.get(KIND_TAG) != schema.SWEEP:
        raise SweepNotFound(
            f"run {ref} is not a sweep's parent run (it has no tag {KIND_TAG}={schema.SWEEP}; a trial's "
            f"run names its sweep in the tag {schema.PARENT_TAG}); {describe_latest(c)}"
        )
    return run


def _by_name(c: MlflowClient, ref: str) -> Run | None:
    ids = [e.experiment_id for e in c.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    if not ids:
        return None
    found = c.search_runs(
        ids,
        filter_string=f"tags.`{KIND_TAG}` = '{schema.SWEEP}' and attributes.run_name = '{_quote(ref)}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return found[0] if found else None


def _by_folder(c: MlflowClient, ref: str) -> Run | None:
    meta = Path(ref).expanduser() / META_FILE
    if not meta.is_file():
        return None
    parent = json.loads(meta.read_text()).get("parent_run_id")
    return _by_run_id(c, parent) if parent else None


def _quote(text: str) -> str:
    return text.replace("'", "\\'")
