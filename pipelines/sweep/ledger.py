"""The sweep's book of trials, kept in the driver: what each trial sampled, reached and how
it ended. It feeds the progress line, the MLflow tags, the Parquet table and the summary.

It is written to the sweep's folder (ledger.json) at every change rather than only with
Ray's periodic experiment snapshot, so a driver killed between two snapshots loses no
outcome (the pruning rules keep their own state the same way: pipelines/sweep/pruning.py).
Trials that started after Ray's last snapshot are unknown to the resumed Ray; they are
dropped from the book (`lost`).

A trial ends in one of three states, as `pipelines.outcome.decide` says (the same answer
Optuna and MLflow get): finished, pruned with the reason (diverged, stall, rank@500, ...),
or failed with the error.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

from ray import tune

from pipelines.files import write_atomic
from pipelines.outcome import RUNNING, Outcome, decide, finite_or_none, rank_finished, sign
from pipelines.sweep.pruning import MilestoneScheduler

LEDGER_FILE = "ledger.json"
HISTORY_KEYS = ("step", "score/g", "score/d", "objective", "health")
STATE, OBJECTIVE = attrgetter("state"), attrgetter("objective")  # of a TrialRow, for ranking


@dataclass
class TrialRow:
    trial_id: str
    params: dict[str, Any]
    state: str = RUNNING  # running | finished | pruned | failed (pipelines/outcome.py)
    reason: str = ""  # why it was pruned
    error: str = ""
    steps: int = 0
    objective: float | None = None  # at the last step it reported
    best_objective: float | None = None
    at_milestone: dict[int, float] = field(default_factory=dict)
    health: str = "ok"
    wall_s: float = 0.0
    node: str = ""
    platform: str = ""  # torch and its kernels where it trained (gan_core/platform.py)
    history: list[dict] = field(default_factory=list)  # for the score plot


@dataclass
class TrialRef:
    """What the ledger and the MLflow logger read of a Ray trial: a population's member
    (pipelines/sweep/members.py), or a trial known only from its row (a resume)."""

    trial_id: str
    config: dict[str, Any] = field(default_factory=dict)  # the sampled keys

    def get_error(self):
        return None


class SweepLedger(tune.Callback):
    def __init__(
        self,
        scheduler: MilestoneScheduler,
        direction: str,
        max_steps: int,
        trials: int,
        folder: str | Path,
    ):
        self.scheduler = scheduler
        self.direction = direction
        self.max_steps = max_steps
        self.trials = trials
        self.folder = Path(folder)
        self.rows: dict[str, TrialRow] = {}
        self.started = time.time()
        self.lost: list[str] = []
        self.session = (time.time(), 0)  # (start, steps then) of this driver: the pace to come
        self._reconciled = False

    # --- Ray hooks -----------------------------------------------------------
    def setup(self, **info) -> None:
        """A resumed sweep: take the book up where the dead driver left it."""
        path = self.folder / LEDGER_FILE
        if path.is_file():
            self.load(json.loads(path.read_text()))

    def on_step_begin(self, iteration, trials, **info) -> None:
        if not self._reconciled:  # the first step sees the trials Ray restored
            self.drop_unknown({t.trial_id for t in trials})
            self._reconciled = True

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.row(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if "step" in result:  # Ray's repeat of a finished trial's last result never reaches here
            self.update(self.row(trial), result)
            self.save()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.settle(self.row(trial), self.row(trial).error)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        row = self.row(trial)
        self.settle(row, row.error or ray_error(trial))

    def settle(self, row: TrialRow, error: str) -> Outcome:
        """Record how the trial ended (the one decision), then save the book."""
        ended = decide(self.scheduler.reason(row.trial_id), error, bool(row.history), row.objective)
        row.state, row.reason = ended.state, ended.reason
        row.error = ended.error or row.error
        self.save()
        return ended

    def on_experiment_end(self, trials, **info) -> None:
        self.save()

    # --- bookkeeping ------------------------------------------------------------
    def row(self, trial) -> TrialRow:
        if trial.trial_id not in self.rows:
            self.rows[trial.trial_id] = TrialRow(trial.trial_id, dict(trial.config))
        return self.rows[trial.trial_id]

    def update(self, row: TrialRow, result: dict) -> None:
        if row.state != RUNNING:
            return  # resumed by Ray after it ended (the driver died before the snapshot)
        step = int(result["step"])
        row.steps = max(row.steps, step)
        row.health = str(result.get("health", row.health))
        row.wall_s = float(result.get("time_total_s", row.wall_s))
        row.node = str(
            result.get("node") or result.get("hostname") or result.get("node_ip") or row.node
        )
        row.platform = str(result.get("platform") or row.platform)
        if result.get("state") == "failed":
            row.error = str(result.get("error", "failed"))
            return
        value = finite_or_none(result.get(self.scheduler.metric))
        row.objective = value
        if value is not None and (
            row.best_objective is None
            or sign(self.direction) * value > sign(self.direction) * row.best_objective
        ):
            row.best_objective = value
        if step in self.scheduler.rules.milestones and value is not None:
            row.at_milestone.setdefault(step, value)
        if not row.history or row.history[-1]["step"] < step:
            row.history.append({k: result.get(k) for k in HISTORY_KEYS})

    def drop_unknown(self, known: set[str]) -> None:
        for trial_id in [t for t in self.rows if t not in known]:
            del self.rows[trial_id]
            self.lost.append(trial_id)

    def best_finished(self) -> TrialRow | None:
        ranked = rank_finished(self.rows.values(), STATE, OBJECTIVE, self.direction)
        return ranked[0] if ranked else None

    # --- persistence ------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "rows": [asdict(r) for r in self.rows.values()],
            "started": self.started,
            "lost": self.lost,
        }

    def load(self, state: dict) -> None:
        self.rows = {r["trial_id"]: _row_from_dict(r) for r in state["rows"]}
        self.started = state.get("started", self.started)
        self.lost = list(state.get("lost", []))
        self.session = (time.time(), sum(r.steps for r in self.rows.values()))

    def save(self) -> None:
        write_atomic(self.folder / LEDGER_FILE, json.dumps(self.state_dict(), default=str))


def load_rows(folder: str | Path) -> list[TrialRow]:
    """The trials of a sweep as its folder's ledger.json has them."""
    path = Path(folder) / LEDGER_FILE
    if not path.is_file():
        return []
    return [_row_from_dict(r) for r in json.loads(path.read_text())["rows"]]


def _row_from_dict(raw: dict) -> TrialRow:
    raw = dict(raw)
    raw["at_milestone"] = {int(k): v for k, v in raw.get("at_milestone", {}).items()}
    return TrialRow(**raw)


def ray_error(trial) -> str:
    """The last line of Ray's error of a trial whose worker died (the exception itself)."""
    try:
        error = trial.get_error()
    except Exception:  # reading an error must not raise another
        error = None
    text = str(error).strip().splitlines() if error else []
    return text[-1][:2000] if text else "the trial's worker died"
