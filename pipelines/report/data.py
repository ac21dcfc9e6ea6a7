"""What the sweep report shows, gathered from MLflow alone: every trial's objective
history, how it ended, the sweep's summary (parameter importance) and the pictures the
trials logged (sample grids, score plots)."""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from pipelines.outcome import ENDED, PRUNED, RUNNING
from pipelines.tracking import schema
from pipelines.tracking.lookup import Sweep, finished_ranked, trial_runs
from pipelines.tracking.schema import SUMMARY_ARTIFACT


@dataclass
class TrialView:
    run_id: str
    trial_id: str
    state: str  # finished | pruned | failed | running
    reason: str
    health: str
    value: float | None  # the metric at the trial's last step
    params: dict[str, str]  # the sampled keys only
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, metric)

    @property
    def last_step(self) -> int:
        return self.history[-1][0] if self.history else 0


@dataclass
class SweepView:
    sweep: Sweep
    metric: str
    direction: str
    milestones: list[int]
    trials: list[TrialView]
    ranked: list[TrialView]  # finished trials, best first
    summary: dict

    @property
    def prune_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for t in self.trials:
            if t.state == PRUNED:
                key = t.reason or "unknown"
                counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    @property
    def state_counts(self) -> dict[str, int]:
        counts = dict.fromkeys((*ENDED, RUNNING), 0)
        for t in self.trials:
            counts[t.state] = counts.get(t.state, 0) + 1
        return counts


def collect(c: MlflowClient, sweep: Sweep) -> SweepView:
    metric, direction = sweep.objective
    runs = trial_runs(c, sweep)
    trials = [trial_view(c, run, metric) for run in runs]
    trials.sort(key=lambda t: t.trial_id)
    by_id = {t.run_id: t for t in trials}
    ranked = [by_id[r.info.run_id] for r in finished_ranked(runs, metric, direction)]
    return SweepView(
        sweep=sweep,
        metric=metric,
        direction=direction,
        milestones=_ints(sweep.run.data.params.get(schema.MILESTONES_PARAM, "")),
        trials=trials,
        ranked=ranked,
        summary=read_summary(c, sweep.run_id),
    )


def trial_view(c: MlflowClient, run, metric: str) -> TrialView:
    tags = run.data.tags
    sampled = [k for k in tags.get(schema.SAMPLED_KEYS_TAG, "").split(",") if k]
    history = sorted(
        (m.step, m.value)
        for m in c.get_metric_history(run.info.run_id, metric)
        if math.isfinite(m.value)
    )
    value = run.data.metrics.get(metric)
    return TrialView(
        run_id=run.info.run_id,
        trial_id=tags.get(schema.TRIAL_ID_TAG, run.info.run_name),
        state=tags.get(schema.STATE_TAG, RUNNING),
        reason=tags.get(schema.PRUNE_REASON_TAG, ""),
        health=tags.get(schema.FINAL_HEALTH_TAG, ""),
        value=value if value is not None and math.isfinite(value) else None,
        params={k: run.data.params.get(k, "") for k in sampled},
        history=history,
    )


def read_summary(c: MlflowClient, run_id: str) -> dict:
    data = artifact_bytes(c, run_id, SUMMARY_ARTIFACT)
    return json.loads(data) if data else {}


def artifact_bytes(c: MlflowClient, run_id: str, path: str) -> bytes | None:
    """One artifact's content, or None when the run does not have it."""
    with tempfile.TemporaryDirectory(prefix="gansweep-report-") as tmp:
        try:
            local = c.download_artifacts(run_id, path, tmp)
        except (MlflowException, OSError):
            return None
        return Path(local).read_bytes() if Path(local).is_file() else None


def _ints(text: str) -> list[int]:
    out = []
    for part in text.replace("[", "").replace("]", "").split(","):
        part = part.strip()
        if part.isdigit():
            out.append(int(part))
    return out
