"""A sweep written straight into MLflow in the layout pipelines/tracking/store.py and
trial_runs.py use (parent run, child runs with state/prune_reason tags, dotted params,
objective per step, config.yaml, samples/final.png, scores.png; summary.json on the
parent), without Ray: export and report tests then take a second, not a minute.
The slow end-to-end test checks the same code against a real sweep."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.entities import Metric

from gan_core.config import GanConfig
from pipelines.tracking import store as tracking
from tests.helpers import tiny_points_config


@dataclass
class FakeTrial:
    trial_id: str
    state: str  # finished | pruned | failed
    values: list[float]  # objective at steps 40, 80, ... (as many as it reached)
    lr_d: float
    reason: str = ""
    modes: float = 1.0  # a second metric to rank by


def png_bytes(colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (24, 24), colour).save(buf, format="PNG")
    return buf.getvalue()


def trial_config(t: FakeTrial) -> GanConfig:
    return tiny_points_config(**{"optim.lr_d": t.lr_d, "train.steps": 120, "train.threads": 1})


def write_fake_sweep(
    uri: str, trials: list[FakeTrial], name: str = "fake-20260101-000000"
) -> tuple[str, dict[str, str]]:
    """Returns (parent run id, {trial_id: child run id})."""
    c = MlflowClient(uri)
    exp_id = tracking.experiment_id(c, "fake")
    params = {"space": "fake", "objective": "min objective", "pruning.milestones": [40, 80]}
    tags = {"space": "fake", "git_commit": "0123abc", "sweep_path": "/nowhere"}
    parent = tracking.start_parent_run(c, exp_id, name, params, tags)
    ids = {t.trial_id: write_trial(c, exp_id, parent, t) for t in trials}
    summary = {"importance": {"optim.lr_d": 0.7, "loss.type": 0.3}, "counts": {}}
    c.log_text(parent, json.dumps(summary), "summary.json")
    c.set_terminated(parent, "FINISHED")
    return parent, ids


def write_trial(c: MlflowClient, exp_id: str, parent: str, t: FakeTrial) -> str:
    tags = {
        tracking.PARENT_TAG: parent,
        "trial_id": t.trial_id,
        "space": "fake",
        "state": t.state,
        "sampled_keys": "optim.lr_d",
        "prune_reason": t.reason,
        "final_health": "ok",
    }
    run_id = c.create_run(exp_id, run_name=t.trial_id, tags=tags).info.run_id
    cfg = trial_config(t)
    tracking.log_params(c, run_id, cfg.flat())
    stamp = tracking.now_ms()
    metrics = [Metric("objective", v, stamp, 40 * (i + 1)) for i, v in enumerate(t.values)]
    metrics.append(Metric("metric/modes", t.modes, stamp, 40 * len(t.values)))
    c.log_batch(run_id, metrics=metrics)
    c.log_text(run_id, cfg.to_yaml(), "config.yaml")
    for path, colour in (("samples/final.png", (200, 30, 30)), ("scores.png", (30, 30, 200))):
        _log_bytes(c, run_id, path, png_bytes(colour))
    status = {"finished": "FINISHED", "pruned": "KILLED"}.get(t.state, "FAILED")
    c.set_terminated(run_id, status)
    return run_id


def _log_bytes(c: MlflowClient, run_id: str, path: str, data: bytes) -> None:
    import tempfile
    from pathlib import Path

    folder, _, name = path.rpartition("/")
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / name
        local.write_bytes(data)
        c.log_artifact(run_id, str(local), folder or None)


STANDARD_TRIALS = [
    FakeTrial("t_good", "finished", [9.0, 6.0, 5.0], lr_d=1e-4, modes=6),
    FakeTrial("t_best", "finished", [8.0, 5.0, 3.0], lr_d=2e-4, modes=4),
    FakeTrial("t_pruned", "pruned", [1.0], lr_d=3e-4, reason="rank@40", modes=8),
    FakeTrial("t_stall", "pruned", [2.0, 1.5], lr_d=4e-4, reason="stall", modes=8),
    FakeTrial("t_failed", "failed", [0.5], lr_d=5e-4, modes=9),
]
