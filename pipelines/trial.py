"""The Ray Tune trainable: one trial is one `Trainer` run of base config + sampled keys.

It reports at the trainer's eval points only (reporting every step cost more than half
the throughput, DESIGN.md), with the GAN step as the time axis, and checkpoints at each
of them so a trial resumed after a driver crash continues from its last report. A sample
grid rides along in the checkpoint at milestones, at the last step and when the health
turns bad: the driver logs it to MLflow from there (pipelines/tracking.py), which works
wherever the storage path is shared, with no MLflow access from the workers.

A trial that raises reports `state: failed` with the error and returns, so the sweep goes
on and the failure is recorded like any other outcome.
"""

from __future__ import annotations

import math
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune

from gan_core.config import GanConfig
from gan_core.trainer import Trainer

CHECKPOINT_FILE = "trainer.pt"
SAMPLES_PREFIX = "samples_"  # samples_000500.png: the grid at step 500
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class TrialPlan:
    """What every trial of a sweep shares; travels to the workers with the trainable."""

    base: dict  # GanConfig.to_dict() of the space's base (budget, data and threads applied)
    milestones: tuple[int, ...]
    metric: str = "objective"
    direction: str = "min"

    def config_for(self, overrides: dict[str, Any]) -> GanConfig:
        return GanConfig.from_dict(self.base).with_overrides(dict(overrides), source="trial")


def run_trial(config: dict[str, Any], plan: TrialPlan) -> None:
    """Ray Tune function trainable; `config` holds the sampled dotted keys."""
    trainer = None
    try:
        trainer = start_trainer(plan, config)
        report = EvalReporter(trainer, plan)
        if trainer.step >= trainer.cfg.train.steps and trainer.history:
            report(trainer.history[-1])  # resumed from its final checkpoint: say it again
        else:
            trainer.fit(on_eval=report)
    except Exception as err:  # a failed trial must not end the sweep
        tune.report(failed_result(err, trainer, plan.metric))


def start_trainer(plan: TrialPlan, overrides: dict[str, Any]) -> Trainer:
    cfg = plan.config_for(overrides)
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        trainer = Trainer(cfg)
    else:
        with checkpoint.as_directory() as folder:
            trainer = Trainer.from_checkpoint(Path(folder) / CHECKPOINT_FILE, cfg=cfg)
    if plan.metric == "objective" and trainer.evaluator.direction != plan.direction:
        raise ValueError(
            f"the space says direction {plan.direction!r} but the {trainer.dataset.family} "
            f"objective ({trainer.evaluator.objective}) is better when "
            f"{trainer.evaluator.direction}; fix objective.direction in the space"
        )
    return trainer


class EvalReporter:
    """The trainer's on_eval callback: one Ray report with a checkpoint per eval point."""

    def __init__(self, trainer: Trainer, plan: TrialPlan):
        self.trainer = trainer
        self.grid_steps = set(plan.milestones) | {trainer.cfg.train.steps}

    def __call__(self, record: dict) -> None:
        metrics = result_of(record)
        with tempfile.TemporaryDirectory(prefix="gansweep-ckpt-") as folder:
            self.trainer.save_checkpoint(Path(folder) / CHECKPOINT_FILE)
            if self._wants_grid(record):
                self._save_grid(Path(folder), record["step"])
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))

    def _wants_grid(self, record: dict) -> bool:
        health = record.get("health", "ok")
        return record["step"] in self.grid_steps or health not in ("ok", "diverged")

    def _save_grid(self, folder: Path, step: int) -> None:
        from gan_core.plots import save_samples  # matplotlib only when a grid is drawn

        dataset = self.trainer.dataset
        n = 64 if dataset.family == "image" else 1000
        fake = self.trainer.sample(n, seed=self.trainer.cfg.train.seed + 3)
        save_samples(fake, dataset, folder / f"{SAMPLES_PREFIX}{step:06d}.png", f"step {step}")


def result_of(record: dict) -> dict[str, Any]:
    """A trainer record as a Ray result: numbers as floats, health as text."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "health":
            out[key] = str(value)
        elif key == "step":
            out[key] = int(value)
        elif isinstance(value, (int, float)):
            out[key] = float(value)
    return out


def failed_result(err: BaseException, trainer: Trainer | None, metric: str) -> dict[str, Any]:
    traceback.print_exc()  # the full trace goes to the worker's log
    last = trainer.history[-1] if trainer is not None and trainer.history else {}
    return {
        "step": int(trainer.step) if trainer is not None else 0,
        "objective": math.nan,
        metric: math.nan,  # Ray wants the searcher's metric in every result
        "health": str(last.get("health", "ok")),
        "state": "failed",
        "error": f"{type(err).__name__}: {err}"[:MAX_ERROR_CHARS],
    }
