"""The Ray Tune trainable: one trial is one `Trainer` run of base config + sampled keys.

It reports at the trainer's eval points only, with the GAN step as the time axis, so the
sweep's costs are paid there alone (docs/benchmarks.md: a trial runs at 0.92-0.97 of the
bare trainer's speed). At each of them it first replaces its checkpoint in its own
folder, `<sweep>/trials/<trial_id>/trainer.pt`, and at milestones, the last step and when
the health turns bad it draws a sample grid there too; the driver logs the grid to MLflow
from that folder (pipelines/tracking/trial_runs.py), so workers need no MLflow access,
only the storage path that all nodes share.

Why its own folder and not Ray's checkpoints: Ray's experiment snapshot names a trial's
latest checkpoint, and `num_to_keep` deletes older ones; a driver killed between a deletion
and the next snapshot leaves a snapshot that names a deleted checkpoint, and the trial
cannot resume ("Could not recover from checkpoint as it does not exist on storage
anymore": measured in tests/test_sweep_integration.py's kill test). One file per trial,
found by the trial id that Ray keeps across a resume, has no such window, and the final
one stays for `make export`.

The trial's full config (the plan's base with its sampled keys) is built and validated
once, where the searcher samples it (pipelines/sweep/searcher.py), and written beside the
checkpoint as `config.json`; this worker and the driver's MLflow logger read that file and
build nothing themselves (docs/design.md, "one owner for each piece of state").

A trial that raises reports `state: failed` with the error and returns, so the sweep goes
on and the failure is recorded like any other outcome.
"""

from __future__ import annotations

import json
import math
import socket
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune

from gan_core.config import ConfigError, GanConfig
from gan_core.data import BUILTIN_NAMES, DataError
from gan_core.platform import platform_name
from gan_core.trainer import Trainer
from pipelines.files import write_atomic

CHECKPOINT_FILE = "trainer.pt"
CONFIG_FILE = "config.json"  # the trial's full config, written once where it is sampled
SAMPLES_PREFIX = "samples_"  # samples_000500.png: the grid at step 500
GRID_KEY = "grid_file"  # result key naming the grid drawn at this eval point
MAX_ERROR_CHARS = 2000
NODE: dict[str, str] = {}  # this worker process's node, looked up once


@dataclass(frozen=True)
class TrialPlan:
    """What every trial of a sweep shares; travels to the workers with the trainable."""

    base: dict  # GanConfig.to_dict() of the space's base (budget, data and threads applied)
    milestones: tuple[int, ...]
    folder: str  # the sweep's folder on the storage path every node shares
    metric: str = "objective"
    direction: str = "min"

    def config_for(self, overrides: dict[str, Any]) -> GanConfig:
        return GanConfig.from_dict(self.base).with_overrides(dict(overrides), source="trial")

    def record_config(self, trial_id: str, sampled: dict[str, Any]) -> None:
        """Build and validate the trial's config once and write it to its folder. A sampled
        combination the config rules refuse is written as its error: the trial then fails
        with that message, and the sweep goes on."""
        try:
            content = {"config": self.config_for(sampled).to_dict()}
        except ConfigError as err:
            content = {"error": str(err)}
        write_atomic(self.trial_folder(trial_id) / CONFIG_FILE, json.dumps(content, indent=1))

    def trial_config(self, trial_id: str) -> GanConfig:
        """The config `record_config` wrote for the trial (loading checks it as any file)."""
        path = self.trial_folder(trial_id) / CONFIG_FILE
        content = json.loads(path.read_text())
        if "error" in content:
            raise ConfigError(content["error"])
        return GanConfig.from_dict(content["config"], source=str(path))

    def trial_folder(self, trial_id: str) -> Path:
        return Path(self.folder) / "trials" / trial_id


def run_trial(config: dict[str, Any], plan: TrialPlan) -> None:
    """Ray Tune function trainable. `config` holds the sampled dotted keys, which Ray shows
    and records; the trial trains the full config the searcher wrote for it."""
    trainer = None
    trial_id = tune.get_context().get_trial_id()
    folder = plan.trial_folder(trial_id)
    try:
        trainer = start_trainer(plan, trial_id)
        report = EvalReporter(trainer, plan, folder)
        if trainer.history:
            # resumed: the driver may have died between this checkpoint and its report, so
            # say it again (the driver skips steps it has); then go on if steps are left
            report(trainer.history[-1])
        if trainer.step < trainer.cfg.train.steps:
            trainer.fit(on_eval=report)
    except Exception as err:  # a failed trial must not end the sweep
        tune.report(failed_result(err, trainer, plan.metric))


def start_trainer(plan: TrialPlan, trial_id: str) -> Trainer:
    """A new trainer, or the trial's own from its last eval point when Ray resumes it."""
    cfg = on_the_device_ray_gave(plan.trial_config(trial_id))
    check_data_on_this_node(cfg)
    checkpoint = plan.trial_folder(trial_id) / CHECKPOINT_FILE
    resuming = checkpoint.is_file()
    trainer = Trainer.from_checkpoint(checkpoint, cfg=cfg) if resuming else Trainer(cfg)
    if plan.metric == "objective" and trainer.evaluator.direction != plan.direction:
        raise ValueError(
            f"the space says direction {plan.direction!r} but the {trainer.dataset.family} "
            f"objective ({trainer.evaluator.objective}) is better when "
            f"{trainer.evaluator.direction}; fix objective.direction in the space"
        )
    return trainer


def on_the_device_ray_gave(cfg: GanConfig) -> GanConfig:
    """`train.device: auto` in a trial means the GPU Ray reserved for it, else the CPU.
    Ray leaves CUDA_VISIBLE_DEVICES alone for a trial that asked for no GPU, so without this
    every CPU trial on a GPU machine would land on GPU 0, reserved by nobody. Only the
    trial's runtime changes: its recorded and exported config keeps `auto`."""
    if cfg.train.device != "auto":
        return cfg
    import ray

    device = "cuda" if ray.get_gpu_ids() else "cpu"
    return cfg.with_overrides({"train.device": device}, source="Ray's resources")


def whereabouts(device) -> dict[str, str]:
    """Where a worker trains, sent with every result: its node (looked up once) and its
    platform, which a retrained export must share to reproduce it (gan_core/platform.py)."""
    return {"node": NODE.setdefault("name", node_name()), "platform": platform_name(device)}


def node_name() -> str:
    """Where this trial runs: `<node ip>/<Ray node id>` (on a loopback cluster every node has
    the same IP and host name; the node id tells them apart)."""
    import ray

    ctx = ray.get_runtime_context()
    return f"{ray.util.get_node_ip_address()}/{ctx.get_node_id()}"


def check_data_on_this_node(cfg: GanConfig) -> None:
    """A data file must exist on every node a trial may run on (the driver only checked its
    own disk): name the path and the node when it does not."""
    source = cfg.data.source
    if source in BUILTIN_NAMES or Path(source).exists():
        return
    raise DataError(
        f"data.source {source!r} does not exist on node {socket.gethostname()} "
        f"({node_name()}), though the driver saw it: put the data on storage every node "
        "mounts at the same path (docs/cluster.md), or copy it to each node"
    )


class EvalReporter:
    """The trainer's on_eval callback: checkpoint (and grid), then one Ray report."""

    def __init__(self, trainer: Trainer, plan: TrialPlan, folder: Path):
        self.trainer = trainer
        self.folder = folder
        self.grid_steps = set(plan.milestones) | {trainer.cfg.train.steps}

    def __call__(self, record: dict) -> None:
        metrics = result_of(record)
        metrics.update(whereabouts(self.trainer.device))
        self.trainer.save_checkpoint(self.folder / CHECKPOINT_FILE)  # atomic replace
        if self._wants_grid(record):
            metrics[GRID_KEY] = self._save_grid(record["step"])
        tune.report(metrics)

    def _wants_grid(self, record: dict) -> bool:
        return wants_grid(record, self.grid_steps)

    def _save_grid(self, step: int) -> str:
        dataset = self.trainer.dataset
        fake = self.trainer.sample(grid_size(dataset), seed=self.trainer.cfg.train.seed + 3)
        return save_grid(fake, dataset, self.folder, step)


def wants_grid(record: dict, grid_steps: set[int]) -> bool:
    """A grid at the milestones, the last step, and whenever the health turns bad."""
    health = record.get("health", "ok")
    return record["step"] in grid_steps or health not in ("ok", "diverged")


def grid_size(dataset) -> int:
    return 64 if dataset.family == "image" else 1000


def save_grid(fake, dataset, folder: Path, step: int) -> str:
    """The trial's samples at this step as `samples_NNNNNN.png` in its folder; its name."""
    from gan_core.plots import save_samples  # matplotlib only when a grid is drawn

    name = f"{SAMPLES_PREFIX}{step:06d}.png"
    save_samples(fake, dataset, folder / name, f"step {step}")
    return name


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
        "node": node_name(),
        "error": f"{type(err).__name__}: {err}"[:MAX_ERROR_CHARS],
    }
