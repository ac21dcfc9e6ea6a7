"""Production training from a config: the same core as a sweep trial, run longer,
with a progress bar, checkpoints, sample grids and the score plot on disk."""

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


class RunDirError(ValueError):
    """The output folder already holds a run that would be overwritten."""


def default_out_dir(config_path: str | Path | None) -> Path:
    stem = Path(config_path).stem if config_path else "run"
    return Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def open_trainer(cfg: GanConfig, out: Path, resume: bool) -> Trainer:
    """A fresh trainer after the pre-flight checks, or the one saved in `out` when resuming."""
    ckpt = out / CHECKPOINT
    if ckpt.exists() and not resume:
        raise RunDirError(
            f"{out} already holds a run ({ckpt}); pass --resume (make train ... RESUME=1) "
            "to continue it, or choose another --out"
        )
    dataset = load_dataset(cfg.data, cfg.train.seed)
    if resume and ckpt.exists():
        return Trainer.from_checkpoint(ckpt, dataset=dataset, cfg=cfg)
    for warning in preflight(cfg, dataset):
        print(f"warning: {warning}")
    return Trainer(cfg, dataset)


def train_production(
    cfg: GanConfig, out: str | Path, resume: bool = False, progress: bool = True, on_eval=None
) -> dict:
    """Train to cfg.train.steps; write config, checkpoints, samples, scores, metrics.jsonl.

    `on_eval(trainer, record)` lets a caller (MLflow logging) see every eval point.
    Returns the last eval record.
    """
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = open_trainer(cfg, out, resume)
    cfg.save(out / "config.yaml")
    every_ckpt = cfg.train.checkpoint_every
    last_ckpt = trainer.step
    bar = tqdm(total=cfg.train.steps, initial=trainer.step, disable=not progress, unit="step")

    def handle(record: dict) -> None:
        nonlocal last_ckpt
        bar.update(record["step"] - bar.n)
        bar.set_postfix(
            G=f"{record['score/g']:.2f}",
            D=f"{record['score/d']:.2f}",
            obj=f"{record['objective']:.3g}",
            health=record["health"],
        )
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        fake = trainer.sample(256, seed=cfg.train.seed + 2)
        save_samples(
            fake,
            trainer.dataset,
            out / "samples" / f"step_{record['step']:07d}.png",
            title=f"step {record['step']}",
        )
        if every_ckpt and record["step"] - last_ckpt >= every_ckpt:
            trainer.save_checkpoint(out / CHECKPOINT)
            last_ckpt = record["step"]
        if on_eval is not None:
            on_eval(trainer, record)

    record = trainer.fit(on_eval=handle)
    bar.close()
    trainer.save_checkpoint(out / CHECKPOINT)
    save_samples(
        trainer.sample(256, seed=cfg.train.seed + 2),
        trainer.dataset,
        out / "samples.png",
        title=f"step {trainer.step}",
    )
    save_score_plot(trainer.history, out / "scores.png", title="G and D scores")
    return record
