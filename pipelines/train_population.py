"""`gansweep train --population`: K configs of one shape trained at once as one batched model
(gan_core/population, docs/population.md), one run folder per member.

Each member's folder holds what a single `gansweep train` run writes: config.yaml,
metrics.jsonl, samples/ at every eval point, and, once the member is done, checkpoint.pt
(a plain Trainer checkpoint: `gansweep train --config member-3/config.yaml --out member-3
--resume` continues it alone), samples.png and scores.png. The population's own checkpoint,
population.pt, lets `--resume` continue the members still training.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from gan_core.checks import preflight
from gan_core.config import ConfigError, GanConfig
from gan_core.plots import save_samples, save_score_plot
from gan_core.population.trainer import PopulationTrainer
from pipelines.train import (
    CHECKPOINT,
    FINAL_SAMPLES,
    METRICS,
    SCORE_PLOT,
    RunDirError,
    grid_path,
    keep_metrics_until,
)

POPULATION_CHECKPOINT = "population.pt"
GRID_SAMPLES = 256


def population_configs(base: GanConfig, population: str) -> tuple[list[GanConfig], list[str]]:
    """`--population K`: K seeds from train.seed on; `--population FILE`: a YAML list of
    override dicts (dotted keys, e.g. {optim.lr_d: 1e-3, train.seed: 2}), one per member."""
    if population.isdigit():
        k = int(population)
        if k < 1:
            raise ConfigError(f"--population {population}: give at least 1 member")
        seeds = [base.train.seed + i for i in range(k)]
        cfgs = [base.with_overrides({"train.seed": s}, source="--population") for s in seeds]
        return cfgs, [f"--population {k}: member {i} (train.seed={s})" for i, s in enumerate(seeds)]
    path = Path(population)
    if not path.is_file():
        raise ConfigError(
            f"--population {population}: neither a member count nor a file; give a number "
            f"(K seeds) or a YAML list of override dicts"
        )
    members = yaml.safe_load(path.read_text())
    if (
        not isinstance(members, list)
        or not members
        or not all(isinstance(m, dict) for m in members)
    ):
        raise ConfigError(
            f"{path}: a population file is a YAML list of override dicts, one per member, "
            f"e.g. - {{optim.lr_d: 1.0e-3}}"
        )
    sources = [f"{path} member {i}" for i in range(len(members))]
    cfgs = [base.with_overrides(m, source=s) for m, s in zip(members, sources, strict=True)]
    return cfgs, sources


def member_dir(out: Path, member_id: int) -> Path:
    return out / f"member-{member_id}"


def train_population(
    cfgs: list[GanConfig],
    out: str | Path,
    sources: list[str] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[int, dict]:
    """Train the members to their train.steps; returns each member's last eval record."""
    from tqdm import tqdm

    out = Path(out)
    ckpt = out / POPULATION_CHECKPOINT
    if ckpt.exists() and not resume:
        raise RunDirError(
            f"{out} already holds a population ({ckpt}); pass --resume or another --out"
        )
    if resume and ckpt.exists():
        pop = PopulationTrainer.from_checkpoint(ckpt)
        for k, member_id in enumerate(pop.ids):
            keep_metrics_until(member_dir(out, member_id) / METRICS, pop.steps[k])
    else:
        pop = PopulationTrainer(cfgs, sources=sources)
        for warning in preflight(cfgs[0], pop._data_for(cfgs[0])):
            print(f"warning: {warning}")
    for k, member_id in enumerate(pop.ids):
        member_dir(out, member_id).mkdir(parents=True, exist_ok=True)
        pop.cfgs[k].save(member_dir(out, member_id) / "config.yaml")
    total = sum(c.train.steps for c in pop.cfgs)
    bar = tqdm(total=total, initial=sum(pop.steps), disable=not progress, unit="member-step")
    every_ckpt = pop.shape.train.checkpoint_every
    last_ckpt = [max(pop.steps, default=0)]
    written: set[int] = set()

    def handle(records: dict[int, dict]) -> None:
        bar.update(sum(pop.steps) + sum(s["step"] for s in pop.left.values()) - bar.n)
        slots = {member_id: k for k, member_id in enumerate(pop.ids)}
        fakes = pop.sample(GRID_SAMPLES, [slots[i] for i in records])
        for member_id, record in records.items():
            folder = member_dir(out, member_id)
            with open(folder / METRICS, "a") as f:
                f.write(json.dumps(record) + "\n")
            k = slots[member_id]
            dataset = pop._data_for(pop.cfgs[k])
            save_samples(
                fakes[k], dataset, grid_path(folder, record["step"]), title=f"step {record['step']}"
            )
        step = max(r["step"] for r in records.values())
        if every_ckpt and step - last_ckpt[0] >= every_ckpt:
            pop.save_checkpoint(ckpt)
            last_ckpt[0] = step

    def finish_members() -> None:
        for member_id, state in pop.left.items():
            if member_id not in written:
                _write_member(out, member_id, state, pop)
                written.add(member_id)

    def on_eval(records: dict[int, dict]) -> None:
        handle(records)
        finish_members()  # the members that left at the previous eval point

    last = pop.fit(on_eval=on_eval)
    bar.close()
    finish_members()
    ckpt.unlink(missing_ok=True)  # every member's own checkpoint.pt now holds its end state
    return last


def _write_member(out: Path, member_id: int, state: dict, pop: PopulationTrainer) -> None:
    """A member that left: its plain checkpoint, final samples and score plot."""
    folder = member_dir(out, member_id)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (CHECKPOINT + ".tmp")
    torch.save(state, tmp)
    tmp.replace(folder / CHECKPOINT)
    cfg = GanConfig.from_dict(state["config"])
    alone = PopulationTrainer([cfg], dataset=pop._data_for(cfg))
    alone.load_member_state(0, state)
    fake = alone.sample(GRID_SAMPLES, [0])[0]
    save_samples(fake, alone._data_for(cfg), folder / FINAL_SAMPLES, title=f"step {state['step']}")
    save_score_plot(state["history"], folder / SCORE_PLOT, title="G and D scores")


def train_from_cli(
    base: GanConfig, population: str, out: Path, resume: bool, quiet: bool, tracking: bool
) -> int:
    """`gansweep train --population K|FILE`: files only (--no-tracking), one folder per member."""
    if tracking:
        raise ConfigError(
            "--population writes run folders only: add --no-tracking (MLflow runs per member "
            "are not recorded yet, docs/population.md)"
        )
    cfgs, sources = population_configs(base, population)
    last = train_population(cfgs, out, sources, resume=resume, progress=not quiet)
    for member_id, record in sorted(last.items()):
        print(
            f"member {member_id}: step {record['step']}  objective {record['objective']:.4g}  "
            f"G score {record['score/g']:.2f}  D score {record['score/d']:.2f}  "
            f"health {record['health']}"
        )
    print(
        f"wrote {out}/member-<id>/ (config.yaml, checkpoint.pt, samples.png, scores.png, metrics.jsonl)"
    )
    return 0
