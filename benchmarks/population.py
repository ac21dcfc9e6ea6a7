"""Member-steps/s of populations of K trials vs. the same K trials trained singly.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/population.py [--quick] [--repeats N]

For each model and K, four arms, interleaved and repeated (the best of each kept, so
other engineers' load hits every arm alike). Every arm runs one thread per process:
on this shared 2-core machine a second torch thread made a population 10-30x slower
(OpenMP threads waiting on each other under load), so "the same cores" means two
one-thread processes, as a sweep runs trials (concurrency 2, cpus_per_trial 1):

- population, 2 processes: the K members as two PopulationTrainers of K/2 (one for
  K = 1), one per process, side by side;
- singles, 2 processes: K single Trainers spread over the same two processes, each
  process running its trials back to back;
- population, 1 process: one PopulationTrainer of all K on one thread;
- one trial: a single Trainer on one thread (K of them one after another run at this
  rate whatever K is, so it is measured once per model and repeat).

Rates are training member-steps/s from the trainers' own `perf/steps_per_s`: start-up,
data loading and the eval at the end of each window are left out of every arm alike.
`--clock process` counts each process's CPU seconds over the window instead (its
closing eval included, one per member in every arm): on a machine other engineers load,
wall-clock windows swing with their jobs, CPU seconds much less.
The GPU table is benchmarks/population_gpu.py.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import torch

from gan_core.config import GanConfig
from gan_core.data import load_dataset
from gan_core.population.trainer import PopulationTrainer
from gan_core.trainer import Trainer

# name -> (config file, overrides, member-steps per measured window at K members)
CASES = {
    "mixture base: MLP G 4x400 / D 3x200, grid25": ("configs/grid25_mlp.yaml", {}, 60),
    "MLP 3x128, grid25": (
        "configs/grid25_mlp.yaml",
        {"model.ngf": 128, "model.ndf": 128, "model.g_depth": 3, "model.d_depth": 3},
        160,
    ),
    "digits DCGAN ngf/ndf 16": (
        "configs/digits_dcgan.yaml",
        {"model.ngf": 16, "model.ndf": 16},
        96,
    ),
    "digits DCGAN ngf/ndf 32": (
        "configs/digits_dcgan.yaml",
        {"model.ngf": 32, "model.ndf": 32},
        48,
    ),
    "tabular MLP (breast cancer)": ("configs/breast_cancer_mlp.yaml", {}, 160),
}
MEMBERS = (1, 2, 4, 8, 16, 32)
WARMUP = 3  # steps before each measured window (first-call allocations)
MIN_STEPS = 4  # per member and window, however large K


def case_config(name: str, seed: int = 0) -> GanConfig:
    path, overrides, _ = CASES[name]
    return GanConfig.load(path).with_overrides(
        {
            **overrides,
            "train.device": "cpu",
            "train.threads": 1,
            "train.seed": seed,
            "train.eval_every": 100_000,  # one eval, at the end of each window
            "train.eval_samples": 64,  # kept small: evals are not what is measured
        }
    )


def steps_per_member(name: str, k: int, quick: bool) -> int:
    budget = CASES[name][2] // (8 if quick else 1)
    return max(MIN_STEPS, budget // k)


def window_seconds(trainer, steps: int, clock: str) -> float:
    """Seconds of training in one fit window of `steps` after the warm-up.

    clock "wall": the trainer's own train time (perf/steps_per_s; the slowest member's for
    a population). clock "process": this process's CPU seconds over the window, so that
    on a loaded machine the turns other processes take on the core are left out (the
    window's closing eval counts: one per member in every arm alike).
    """
    trainer.fit(until=WARMUP)
    cpu = time.process_time()
    records = trainer.fit(until=WARMUP + steps)
    if clock == "process":
        return time.process_time() - cpu
    if isinstance(trainer, PopulationTrainer):  # {member id: record}; the slowest member
        return steps / min(r["perf/steps_per_s"] for r in records.values())
    return steps / records["perf/steps_per_s"]


def population_seconds(task: tuple[str, list[int], int, str]) -> tuple[int, float]:
    """One PopulationTrainer of these seeds: (pid, seconds of training for `steps`)."""
    name, seeds, steps, clock = task
    cfgs = [case_config(name, seed) for seed in seeds]
    trainer = PopulationTrainer(cfgs, load_dataset(cfgs[0].data, 0))
    return os.getpid(), window_seconds(trainer, steps, clock)


def single_seconds(task: tuple[str, int, int, str]) -> tuple[int, float]:
    """One single trial: (pid, seconds of training for `steps`)."""
    name, seed, steps, clock = task
    cfg = case_config(name, seed)
    return os.getpid(), window_seconds(Trainer(cfg, load_dataset(cfg.data, 0)), steps, clock)


def pooled_rate(pool, job, tasks: list, member_steps: int) -> float:
    """member_steps / the training seconds of the busier of the pool's two processes."""
    busy: dict[int, float] = {}
    for pid, seconds in pool.imap_unordered(job, tasks):
        busy[pid] = busy.get(pid, 0.0) + seconds
    return member_steps / max(busy.values())


def run_case(
    pool, name: str, members: tuple[int, ...], repeats: int, quick: bool, clock: str
) -> None:
    best: dict[tuple[str, int], float] = {}

    def keep(arm: str, k: int, rate: float) -> None:
        best[arm, k] = max(best.get((arm, k), 0.0), rate)

    for _ in range(repeats):  # interleaved: every arm of every K once per repeat
        steps = steps_per_member(name, 1, quick)
        keep("one", 0, steps / single_seconds((name, 0, steps, clock))[1])
        for k in members:
            steps = steps_per_member(name, k, quick)
            seeds = list(range(k))
            halves = [seeds[: (k + 1) // 2], seeds[(k + 1) // 2 :]]
            tasks = [(name, half, steps, clock) for half in halves if half]
            keep("pop2", k, pooled_rate(pool, population_seconds, tasks, k * steps))
            singles = [(name, seed, steps, clock) for seed in seeds]
            keep("singles2", k, pooled_rate(pool, single_seconds, singles, k * steps))
            keep("pop1", k, k * steps / population_seconds((name, seeds, steps, clock))[1])
    one = best["one", 0]
    for k in members:
        pop2, singles2, pop1 = best["pop2", k], best["singles2", k], best["pop1", k]
        print(
            f"| {name} | {k} | {pop2:.0f} | {singles2:.0f} | **{pop2 / singles2:.2f}** | "
            f"{pop1:.0f} | {one:.0f} | {pop1 / one:.2f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: K 1 and 4, short windows")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats, best kept")
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--members", nargs="+", type=int, help=f"K values (default {MEMBERS})")
    parser.add_argument(
        "--clock",
        choices=("wall", "process"),
        default="wall",
        help="wall: the trainers' own train time; process: each process's CPU seconds "
        "(steadier on a machine others load; see window_seconds)",
    )
    args = parser.parse_args()
    members = tuple(args.members or ((1, 4) if args.quick else MEMBERS))
    repeats = 1 if args.quick else args.repeats
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"load before: {os.getloadavg()[0]:.1f} (1-min average); clock: {args.clock}")
    print(
        "| model | K | population, 2 processes | singles, 2 processes | ratio | "
        "population, 1 process | one trial | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    start = time.perf_counter()
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter per worker, as Ray's
    with spawn.Pool(2, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        for name in args.cases:
            run_case(pool, name, members, repeats, args.quick, args.clock)
    print(f"load after: {os.getloadavg()[0]:.1f}; wall {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
