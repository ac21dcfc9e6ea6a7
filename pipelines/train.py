"""Production training from a config: the same core as a sweep trial, run longer,
with a progress bar, checkpoints, sample grids and the score plot on disk.

MLflow stays out of this file: `TrainHooks` lets a caller see the run start, every eval
point, every checkpoint and the end (pipelines/tracking/train_runs.py records them in MLflow).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from gan_core.checks import preflight
from gan_core.config import GanConfig
from gan_core.data import load_dataset
from gan_core.plots import save_samples, save_score_plot
from gan_core.trainer import Trainer

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
FINAL_SAMPLES = "samples.png"
SCORE_PLOT = "scores.png"


class RunDirError(ValueError):
    """The output folder already holds a run that would be overwritten."""


class TrainHooks:
    """What a caller may want to see of a production run; every method is optional."""

    def started(self, trainer: Trainer, out: Path) -> None:
        """The trainer is ready (fresh, or restored from the checkpoint when resuming)."""

    def evaluated(self, trainer: Trainer, record: dict, grid: Path) -> None:
        """An eval point: its record and the sample grid drawn there."""

    def checkpointed(self, trainer: Trainer, path: Path) -> None:
        """A checkpoint was written: everything up to trainer.step survives a crash."""

    def finished(self, trainer: Trainer, record: dict, out: Path) -> None:
        """The last step is done; samples.png and scores.png are written."""


def default_out_dir(config_path: str | Path | None) -> Path:
    stem = Path(config_path).stem if config_path else "run"
    return Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def latest_out_dir(config_path: str | Path | None) -> Path | None:
    """The newest run folder of this config that holds a checkpoint (RESUME=1 without OUT)."""
    stem = Path(config_path).stem if config_path else "run"
    found = sorted(Path("runs").glob(f"{stem}-*/{CHECKPOINT}"), reverse=True)
    return found[0].parent if found else None


def refuse_overwrite(out: Path, resume: bool) -> None:
    ckpt = out / CHECKPOINT
    if ckpt.exists() and not resume:
        raise RunDirError(
            f"{out} already holds a run ({ckpt}); pass --resume (make train ... RESUME=1) "
            "to continue it, or choose another --out"
        )


def open_trainer(cfg: GanConfig, out: Path, resume: bool) -> Trainer:
    """A fresh trainer after the pre-flight checks, or the one saved in `out` when resuming."""
    refuse_overwrite(out, resume)
    ckpt = out / CHECKPOINT
    dataset = load_dataset(cfg.data, cfg.train.seed)
    if resume and ckpt.exists():
        return Trainer.from_checkpoint(ckpt, dataset=dataset, cfg=cfg)
    for warning in preflight(cfg, dataset):
        print(f"warning: {warning}")
    return Trainer(cfg, dataset)


def grid_path(out: Path, step: int) -> Path:
    """The sample grid drawn at an eval point."""
    return out / "samples" / f"step_{step:07d}.png"


def keep_metrics_until(path: Path, step: int) -> None:
    """Drop the lines past the checkpoint's step: a resumed run writes them again."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept))


def train_production(
    cfg: GanConfig,
    out: str | Path,
    resume: bool = False,
    progress: bool = True,
    on_eval=None,
    hooks: TrainHooks | None = None,
) -> dict:
    """Train to cfg.train.steps; write config, checkpoints, samples, scores, metrics.jsonl.

    `on_eval(trainer, record)` lets a caller see every eval point; `hooks` sees the run's
    start, eval points, checkpoints and end. Returns the last eval record.
    """
    from tqdm import tqdm

    hooks = hooks or TrainHooks()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = open_trainer(cfg, out, resume)
    keep_metrics_until(out / METRICS, trainer.step)
    cfg.save(out / "config.yaml")
    hooks.started(trainer, out)
    every_ckpt = cfg.train.checkpoint_every
    last_ckpt = trainer.step
    bar = tqdm(total=cfg.train.steps, initial=trainer.step, disable=not progress, unit="step")

    def handle(record: dict) -> None:
        nonlocal last_ckpt
        if record["step"] == cfg.train.steps:  # the end: SDMetrics on held-out table rows
            record.update(trainer.held_out_report())
        bar.update(record["step"] - bar.n)
        bar.set_postfix(
            G=f"{record['score/g']:.2f}",
            D=f"{record['score/d']:.2f}",
            obj=f"{record['objective']:.3g}",
            health=record["health"],
        )
        with open(out / METRICS, "a") as f:
            f.write(json.dumps(record) + "\n")
        fake = trainer.sample(256, seed=cfg.train.seed + 2)
        grid = save_samples(
            fake, trainer.dataset, grid_path(out, record["step"]), title=f"step {record['step']}"
        )
        if on_eval is not None:
            on_eval(trainer, record)
        hooks.evaluated(trainer, record, grid)
        if every_ckpt and record["step"] - last_ckpt >= every_ckpt:
            hooks.checkpointed(trainer, trainer.save_checkpoint(out / CHECKPOINT))
            last_ckpt = record["step"]

    record = trainer.fit(on_eval=handle)
    bar.close()
    hooks.checkpointed(trainer, trainer.save_checkpoint(out / CHECKPOINT))
    save_samples(
        trainer.sample(256, seed=cfg.train.seed + 2),
        trainer.dataset,
        out / FINAL_SAMPLES,
        title=f"step {trainer.step}",
    )
    save_score_plot(trainer.history, out / SCORE_PLOT, title="G and D scores")
    hooks.finished(trainer, record, out)
    return record
