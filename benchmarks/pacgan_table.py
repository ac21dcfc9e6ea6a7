"""PacGAN's Table 1 yardstick: train a config on fresh seeds, score each run's last step.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/pacgan_table.py \
        --config configs/grid25_mlp.yaml --seeds 10 [--steps N] [--set model.pack=4]

Seeds start at 1000, a range no sweep draws from (trials use 0..n_trials). Each run
is evaluated once, at its last step, on PacGAN's protocol through the points metrics
(`gan_core/metrics/points.py`): 2500 samples, high quality = within 3 sigma of the
nearest mode, a mode covered by at least one high-quality sample, reverse KL of the
high-quality mode histogram to uniform. Runs go in parallel processes of one torch
thread each (`--workers`, default 2); every finished seed writes one JSON record
under `--out`, and a rerun skips the seeds already recorded for the same config and
steps, so an interrupted table resumes. docs/pacgan.md holds the tables.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from gan_core.config import GanConfig, parse_overrides

FIRST_SEED = 1000  # above any sweep's trial seeds
PACGAN_SAMPLES = 2500  # PacGAN's evaluation sample count
METRICS = ("metric/modes", "metric/hq_percent", "metric/reverse_kl")

# PacGAN (Lin et al. 2018) Table 1: modes, high-quality %, reverse KL; mean of 10 runs.
PUBLISHED = {
    "grid25": {
        "GAN": (17.3, 94.8, 0.70),
        "PacGAN2": (23.8, 91.3, 0.13),
        "PacGAN3": (24.6, 94.2, 0.06),
        "PacGAN4": (24.8, 93.6, 0.04),
    },
    "ring8": {
        "GAN": (6.3, 98.2, 0.45),
        "PacGAN2": (7.9, 95.6, 0.07),
        "PacGAN3": (7.8, 97.7, 0.10),
        "PacGAN4": (7.8, 95.9, 0.07),
    },
}


def run_config(args: argparse.Namespace) -> GanConfig:
    cfg = GanConfig.load(args.config).with_overrides(parse_overrides(args.set))
    changes = {"train.eval_samples": PACGAN_SAMPLES, "train.threads": 1, "train.device": "cpu"}
    if args.steps:
        changes["train.steps"] = args.steps
    changes["train.eval_every"] = changes.get("train.steps", cfg.train.steps)  # last step only
    cfg = cfg.with_overrides(changes)
    if cfg.data.source not in PUBLISHED:
        sys.exit(
            f"{args.config}: data.source is {cfg.data.source!r}; PacGAN's table covers "
            f"{sorted(PUBLISHED)}"
        )
    return cfg


def config_tag(cfg: GanConfig) -> str:
    """Short hash of the keys away from their defaults but the seed: records of another
    config are never reused, and a key added later (at its default) keeps the records."""
    default = GanConfig().flat()
    flat = {k: v for k, v in cfg.flat().items() if k != "train.seed" and v != default[k]}
    return hashlib.sha1(json.dumps(flat, sort_keys=True).encode()).hexdigest()[:10]


def train_one(cfg_dict: dict, seed: int, path: str) -> dict:
    """Train one seed to the end and write its record (runs in a worker process)."""
    from gan_core.trainer import Trainer

    cfg = GanConfig.from_dict(cfg_dict).with_overrides({"train.seed": seed})
    start = time.perf_counter()
    last = Trainer(cfg).fit()
    record = {
        "seed": seed,
        "steps": cfg.train.steps,
        "config_tag": config_tag(cfg),
        **{k: last[k] for k in METRICS},
        "wall_s": round(time.perf_counter() - start, 1),
    }
    tmp = Path(path + ".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)
    return record


def train_records(jobs: list[tuple[dict, int, str]], workers: int) -> Iterator[dict]:
    """Train (config dict, seed, record path) jobs in `workers` processes; yield each
    record in job order as it is written."""
    ctx = multiprocessing.get_context("spawn")  # fresh torch per worker, one thread each
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(train_one, *job) for job in jobs]
        for future in futures:
            yield future.result()


def scores(record: dict) -> str:
    """A record's three PacGAN figures, as the progress lines print them."""
    return (
        f"{record['metric/modes']:.0f} modes, {record['metric/hq_percent']:.1f} % hq, "
        f"rev-KL {record['metric/reverse_kl']:.3f}"
    )


def load_records(out: Path, tag: str, seeds: list[int]) -> dict[int, dict]:
    done = {}
    for seed in seeds:
        path = out / f"seed_{seed}.json"
        if path.is_file():
            record = json.loads(path.read_text())
            if record.get("config_tag") == tag:
                done[seed] = record
    return done


def mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    return f"{statistics.mean(values):.2f} ± {std:.2f}"


def table(data: str, label: str, records: list[dict]) -> str:
    lines = ["| run | seeds | modes | high-quality % | reverse KL |", "|---|---|---|---|---|"]
    for name, (modes, hq, kl) in PUBLISHED[data].items():
        lines.append(f"| PacGAN paper: {name} | 10 | {modes} | {hq} | {kl} |")
    cells = [mean_std([r[k] for r in records]) for k in METRICS]
    lines.append(f"| {label} | {len(records)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", required=True, help="a config YAML (e.g. configs/grid25_mlp.yaml)"
    )
    parser.add_argument("--seeds", type=int, default=10, help="how many seeds (from 1000)")
    parser.add_argument("--steps", type=int, default=0, help="train.steps (0: the config's)")
    parser.add_argument("--set", action="append", default=[], help="override key=value")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes")
    parser.add_argument("--out", default="", help="record folder (default: runs/pacgan/<tag>)")
    args = parser.parse_args(argv)

    cfg = run_config(args)
    tag = config_tag(cfg)
    out = Path(args.out or f"runs/pacgan/{Path(args.config).stem}-{tag}")
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(FIRST_SEED, FIRST_SEED + args.seeds))
    done = load_records(out, tag, seeds)
    todo = [s for s in seeds if s not in done]
    print(
        f"{args.config} {' '.join(args.set)}: {cfg.train.steps} steps, seeds "
        f"{seeds[0]}..{seeds[-1]}, {len(done)} recorded, {len(todo)} to train -> {out}"
    )
    jobs = [(cfg.to_dict(), s, str(out / f"seed_{s}.json")) for s in todo]
    for r in train_records(jobs, args.workers):
        done[r["seed"]] = r
        print(f"  seed {r['seed']}: {scores(r)} ({r['wall_s']:.0f} s)", flush=True)
    label = f"{Path(args.config).name} {' '.join(args.set)} @ {cfg.train.steps} steps".strip()
    print(table(cfg.data.source, label, [done[s] for s in seeds]))


if __name__ == "__main__":
    main()
